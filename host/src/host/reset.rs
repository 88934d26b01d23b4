//! Reset: re-run a workflow from an earlier activation boundary, on the
//! current version of its type (Temporal's reset). A new run of the same
//! workflow id starts with the history up to the boundary; the signals
//! recorded after it are delivered again; the run being reset, if open, is
//! terminated naming the new run. Both histories are kept.

use std::collections::BTreeMap;

use super::Host;
use crate::error::{Error, Result};
use crate::history::{Event, HistoryEvent, RunMachine, split_activations};
use crate::host::{Verdict, deliver_external, outbox_entry};
use crate::ids::{RunId, WorkflowId};
use crate::runtime::activation::{facts, wake};
use crate::runtime::deadline::Deadlines;
use crate::runtime::recording::{replaced, task, timer};
use crate::runtime::retry::Retry;
use crate::runtime::{RunHandle, upgrade};
use crate::store::{
    ActivityTask, Batch, Check, Op, OutboxEntry, RunRecord, StoreError, TimerRecord,
};
use crate::types::{Outcome, RunStatus};
use crate::worker::dispatch::dispatch;

impl Host {
    /// Reset `workflow_id`'s latest run to the activation boundary
    /// `event_id` (an `ActivationCompleted` event of its history); returns
    /// the new run.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workflow id;
    /// [`Error::InvalidArgument`] if `event_id` is not a boundary the run
    /// can go on from; [`Error::FailedPrecondition`] if the history up to
    /// it does not replay on the type's current version.
    pub async fn reset(
        &self,
        workflow_id: &WorkflowId,
        event_id: u64,
        reason: &str,
    ) -> Result<RunId> {
        self.check_reason(reason)?;
        // On a task of the host's own, so that a caller who goes away does
        // not leave a reset committed but not taken up; one at a time, as
        // each holds a history and replays it.
        let (host, workflow_id, reason) = (self.clone(), workflow_id.clone(), reason.to_string());
        self.core
            .tasks
            .spawn(async move {
                let _one = host.core.upgrading.lock().await;
                for _ in 0..RESET_ATTEMPTS {
                    if let Some(run) = host.try_reset(&workflow_id, event_id, &reason).await? {
                        return Ok(run);
                    }
                }
                Err(Error::FailedPrecondition(format!(
                    "workflow {workflow_id} kept changing while it was reset; try again"
                )))
            })
            .await
            .map_err(|e| Error::internal("resetting a run", e))?
    }

    /// One attempt at [`Host::reset`]: the new run, or `None` if the run
    /// changed between reading its history and committing.
    async fn try_reset(
        &self,
        workflow_id: &WorkflowId,
        event_id: u64,
        reason: &str,
    ) -> Result<Option<RunId>> {
        let old = self.latest(workflow_id).await?;
        // A reset re-runs a parent's code, not its children: open ones
        // would be left linked to the run it replaces.
        let open: Vec<String> = self
            .core
            .store
            .children(old.run_id)
            .await?
            .into_iter()
            .filter(|c| c.status == RunStatus::Running)
            .map(|c| c.workflow_id.to_string())
            .collect();
        if !open.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "workflow {workflow_id} has open child workflows ({}); wait for them or \
                 terminate them, then reset",
                open.join(", ")
            )));
        }
        let history = self.core.store.history(old.run_id).await?;
        let prefix = prefix_to(&history, event_id)?;
        let component = self
            .core
            .current_version(&old.workflow_type)
            .unwrap_or_else(|| old.component.clone());
        let loaded = self.core.component(&component).await?;
        let now = self.core.clock.now_ms();
        let new = RunHandle::new(
            RunId::generate(),
            old.workflow_id.clone(),
            old.workflow_type.clone(),
            component.clone(),
            prefix[0].time_ms,
            match &prefix[0].event {
                Event::WorkflowStarted(started) => started.random_seed,
                _ => 0,
            },
        );
        // The new run keeps the workflow's timeouts; its run timeout counts
        // from now.
        let deadlines = match &prefix[0].event {
            Event::WorkflowStarted(started) => Deadlines::of(started),
            _ => Deadlines::default(),
        };
        new.set_deadlines(deadlines);
        // A reset child stays its parent's child while the parent waits
        // for it (a closed one has reported already); the retry policy
        // stays.
        if let Event::WorkflowStarted(started) = &prefix[0].event {
            if let Some(parent) = &started.parent
                && old.status == RunStatus::Running
            {
                new.set_parent(parent.clone());
            }
            if let Some(retry) = Retry::of(started) {
                new.set_retry(retry);
            }
        }
        let (core, run_facts, replayed) = (self.core.clone(), facts(&new), prefix.clone());
        let (verdict, _) = tokio::task::spawn_blocking(move || {
            upgrade::check(&core.wasm, loaded, run_facts, &replayed)
        })
        .await
        .map_err(|e| Error::internal("replaying the history to reset to", e))?;
        match verdict {
            Verdict::Compatible => {}
            Verdict::Diverges(nd) => {
                return Err(Error::FailedPrecondition(format!(
                    "the history up to event {event_id} does not replay on the current version \
                     {}: {nd}",
                    component.short()
                )));
            }
            other => {
                return Err(Error::FailedPrecondition(format!(
                    "the history up to event {event_id} cannot be replayed: {other:?}"
                )));
            }
        }
        let mut machine = RunMachine::default();
        for event in &prefix {
            machine.apply(&event.event);
        }
        // Signals that came after the boundary are delivered to the new run,
        // and so are the outcomes of requests to other workflows made
        // before it: those requests are not made again.
        let after = prefix.last().map_or(event_id, |e| e.id);
        let pending: Vec<u32> = machine
            .pending_externals()
            .filter_map(|requested| outbox_entry(old.run_id, requested))
            .map(|entry| entry.seq)
            .collect();
        let children = machine.pending_children();
        let signals: Vec<Event> = history
            .iter()
            .filter(|e| e.id > after)
            .filter(|e| match &e.event {
                Event::SignalReceived(_) => true,
                Event::ExternalRequestCompleted(r) => pending.contains(&r.seq),
                Event::ExternalRequestFailed(r) => pending.contains(&r.seq),
                Event::ChildStarted(r) => pending.contains(&r.seq),
                Event::ChildStartFailed(r) => pending.contains(&r.seq),
                // Children asked for before the boundary closed after it.
                Event::ChildClosed(r) => children.contains(&r.seq),
                _ => false,
            })
            .map(|e| e.event.clone())
            .collect();
        let outbox = self
            .moved_outbox(&machine, &signals, old.run_id, new.id)
            .await?;
        let timers: Vec<TimerRecord> = machine
            .pending_timers()
            .map(|(seq, at)| timer(&new, seq, at))
            .chain(new.deadlines().timer(new.id, now))
            .collect();
        let tasks = pending_tasks(&prefix, &machine, &new, now);
        let mut batch = self.reset_batch(
            &old, &new, &prefix, signals, &timers, &tasks, event_id, reason, now,
        );
        for entry in &outbox {
            batch = batch
                .op(Op::DeleteOutbox(old.run_id, entry.seq))
                .op(Op::InsertOutbox(entry.clone()));
        }
        if old.status == RunStatus::Running {
            let last = history.last().map_or(0, |e| e.id);
            batch = batch.check(Check::NoEventsAfter(old.run_id, last));
        }
        let appended = match self.core.store.commit(batch).await {
            Ok(appended) => appended,
            Err(StoreError::CheckFailed(Check::NoEventsAfter(..) | Check::RunOpen(_))) => {
                return Ok(None);
            }
            Err(err) => return Err(err.into()),
        };
        if let Some(run) = self.core.run(old.run_id) {
            let mut old_machine = RunMachine::default();
            for event in &history {
                old_machine.apply(&event.event);
            }
            replaced(
                &self.core,
                &run,
                &old_machine,
                terminated(new.id, event_id, reason),
            );
        }
        // The old run's close comes first, if it was open.
        let was_open = usize::from(old.status == RunStatus::Running);
        let new_history: Vec<HistoryEvent> = appended.into_iter().skip(was_open).collect();
        new.saw(new_history.iter().map(|e| e.id));
        new.push_inputs(split_activations(&new_history).1);
        self.core.insert_run(new.clone());
        for timer in timers {
            self.core.timers.arm(timer);
        }
        for task in tasks {
            if machine.is_cancel_requested(task.seq) {
                // It was asked to stop and the run waits for it to.
                self.core.activity_token(new.id, task.seq).cancel();
            }
            dispatch(&self.core, task);
        }
        for entry in outbox {
            deliver_external(&self.core, entry);
        }
        wake(&self.core, &new);
        tracing::info!(
            %workflow_id, from = %old.run_id, to = %new.id, event_id, version = %component.short(),
            "run reset"
        );
        Ok(Some(new.id))
    }

    /// One commit: the old run terminated (if open), the new run with the
    /// history prefix (same ids, same times), the signals after it, and
    /// its pending timers and activities.
    #[allow(clippy::too_many_arguments, reason = "one commit's parts, named")]
    fn reset_batch(
        &self,
        old: &RunRecord,
        new: &RunHandle,
        prefix: &[HistoryEvent],
        signals: Vec<Event>,
        timers: &[TimerRecord],
        tasks: &[ActivityTask],
        event_id: u64,
        reason: &str,
        now: u64,
    ) -> Batch {
        let mut batch = Batch::default();
        if old.status == RunStatus::Running {
            let outcome = terminated(new.id, event_id, reason);
            batch = batch
                .check(Check::RunOpen(old.run_id))
                .op(Op::Append {
                    run_id: old.run_id,
                    time_ms: now,
                    events: vec![Event::closing(&outcome)],
                })
                .op(Op::CloseRun {
                    run_id: old.run_id,
                    outcome,
                    closed_at_ms: now,
                });
        }
        batch = batch.op(Op::InsertRun(RunRecord {
            run_id: new.id,
            workflow_id: new.workflow_id.clone(),
            workflow_type: new.workflow_type.clone(),
            component: new.component(),
            status: RunStatus::Running,
            created_at_ms: now,
            closed_at_ms: None,
            outcome: None,
            parent: new.parent().cloned(),
        }));
        // Consecutive events of the same time in one append each.
        let mut by_time: Vec<(u64, Vec<Event>)> = Vec::new();
        for event in prefix {
            match by_time.last_mut() {
                Some((at, events)) if *at == event.time_ms => events.push(event.event.clone()),
                _ => by_time.push((event.time_ms, vec![event.event.clone()])),
            }
        }
        if !signals.is_empty() {
            by_time.push((now, signals));
        }
        for (time_ms, events) in by_time {
            batch = batch.op(Op::Append {
                run_id: new.id,
                time_ms,
                events,
            });
        }
        for timer in timers {
            batch = batch.op(Op::InsertTimer(timer.clone()));
        }
        for task in tasks {
            batch = batch.op(Op::InsertTask(task.clone()));
        }
        batch
    }
}

impl Host {
    /// The requests to other workflows pending at the boundary whose
    /// outcome is not in `after` (the inputs carried past the boundary),
    /// moved from the old run's outbox to the new run's, under the request
    /// ids they were sent with, so the targets apply them once.
    async fn moved_outbox(
        &self,
        machine: &RunMachine,
        after: &[Event],
        old: RunId,
        new: RunId,
    ) -> Result<Vec<OutboxEntry>> {
        let resolved = |seq: u32| {
            after.iter().any(|e| match e {
                Event::ExternalRequestCompleted(r) => r.seq == seq,
                Event::ExternalRequestFailed(r) => r.seq == seq,
                Event::ChildStarted(r) => r.seq == seq,
                Event::ChildStartFailed(r) => r.seq == seq,
                _ => false,
            })
        };
        let stored = self.core.store.outbox().await?;
        Ok(machine
            .pending_externals()
            .filter_map(|requested| outbox_entry(old, requested))
            .filter(|entry| !resolved(entry.seq))
            .map(|entry| {
                let request_id = stored
                    .iter()
                    .find(|s| s.run_id == old && s.seq == entry.seq)
                    .map_or(entry.request_id, |s| s.request_id.clone());
                OutboxEntry {
                    run_id: new,
                    request_id,
                    ..entry
                }
            })
            .collect())
    }
}

/// Attempts at a reset while the run keeps changing under it.
const RESET_ATTEMPTS: usize = 3;

fn terminated(new: RunId, event_id: u64, reason: &str) -> Outcome {
    Outcome::Terminated(format!("reset to event {event_id} as run {new}: {reason}"))
}

/// The history up to and including the boundary `event_id`, if the run can
/// go on from there.
fn prefix_to(history: &[HistoryEvent], event_id: u64) -> Result<Vec<HistoryEvent>> {
    let boundaries: Vec<u64> = history
        .iter()
        .filter(|e| matches!(e.event, Event::ActivationCompleted(_)))
        .map(|e| e.id)
        .collect();
    let closed_at = history.iter().find(|e| e.event.is_terminal()).map(|e| e.id);
    // A boundary whose activation closed the run has nothing to go on from.
    let usable: Vec<u64> = boundaries
        .into_iter()
        .filter(|id| closed_at.is_none_or(|closed| *id < closed))
        .collect();
    if !usable.contains(&event_id) {
        let shown: Vec<String> = usable
            .iter()
            .rev()
            .take(10)
            .rev()
            .map(u64::to_string)
            .collect();
        return Err(Error::InvalidArgument(format!(
            "event {event_id} is not an activation boundary the run can go on from; reset to one \
             of its ActivationCompleted events: {}",
            if shown.is_empty() {
                "none".to_string()
            } else {
                shown.join(", ")
            }
        )));
    }
    let mut prefix: Vec<HistoryEvent> = history
        .iter()
        .take_while(|e| e.id <= event_id)
        .cloned()
        .collect();
    // The follow-ups the boundary's commit recorded after it (activities
    // its activation cancelled at once) belong with it.
    let boundary_time = prefix.last().map_or(0, |e| e.time_ms);
    prefix.extend(
        history
            .iter()
            .skip_while(|e| e.id <= event_id)
            .take_while(|e| {
                e.time_ms == boundary_time && matches!(e.event, Event::ActivityCancelled(_))
            })
            .cloned(),
    );
    Ok(prefix)
}

/// The tasks of the activities pending at the end of `prefix`, for `run`,
/// in sequence order.
fn pending_tasks(
    prefix: &[HistoryEvent],
    machine: &RunMachine,
    run: &RunHandle,
    now: u64,
) -> Vec<ActivityTask> {
    let scheduled: BTreeMap<u32, &Event> = prefix
        .iter()
        .filter_map(|e| match &e.event {
            Event::ActivityScheduled(s) => Some((s.seq, &e.event)),
            _ => None,
        })
        .collect();
    scheduled
        .into_iter()
        .filter(|(seq, _)| machine.cancellation_type(*seq).is_some())
        .filter_map(|(_, scheduled)| task(run, scheduled, now))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{
        ActivationCompleted, ActivityCancelRequested, ActivityCancelled, SignalReceived,
    };
    use crate::types::Payload;

    fn at(id: u64, time_ms: u64, event: Event) -> HistoryEvent {
        HistoryEvent { id, time_ms, event }
    }

    fn boundary(consumed: Vec<u64>) -> Event {
        Event::ActivationCompleted(ActivationCompleted { consumed })
    }

    #[test]
    fn a_boundary_takes_the_follow_ups_its_commit_recorded_after_it() {
        let signal = || {
            Event::SignalReceived(SignalReceived {
                name: "go".into(),
                input: Payload::default(),
            })
        };
        let history = [
            at(1, 10, signal()),
            at(2, 10, boundary(vec![1])),
            at(3, 20, signal()),
            at(
                4,
                30,
                Event::ActivityCancelRequested(ActivityCancelRequested { seq: 1 }),
            ),
            at(5, 30, boundary(vec![3])),
            at(
                6,
                30,
                Event::ActivityCancelled(ActivityCancelled { seq: 1 }),
            ),
            at(7, 40, signal()),
        ];
        let ids = |prefix: Vec<HistoryEvent>| prefix.iter().map(|e| e.id).collect::<Vec<_>>();
        assert_eq!(ids(prefix_to(&history, 5).unwrap()), [1, 2, 3, 4, 5, 6]);
        assert_eq!(ids(prefix_to(&history, 2).unwrap()), [1, 2]);
        let refused = prefix_to(&history, 4).unwrap_err().to_string();
        assert!(refused.contains("events: 2, 5"), "{refused}");
    }
}
