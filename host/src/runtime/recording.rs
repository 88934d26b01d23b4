//! Recording an activation: the one batch that makes what it produced
//! durable (its events, the boundary, follow-up inputs, timer and task rows,
//! the close), and, once it is committed, its effects (timers armed,
//! activities dispatched, the outcome announced, the instance cached).

use std::sync::Arc;

use crate::engine::Activated;
use crate::history::{ActivationCompleted, CancellationType, Event, HistoryEvent, RunMachine};
use crate::host::{close_children, deliver_external, outbox_entry, parent_notice};
use crate::limits::{Limit, LimitExceeded};
use crate::runtime::run::LiveRun;
use crate::runtime::{Core, RunHandle};
use crate::store::{ActivityTask, Batch, Check, Op, StoreError, TimerRecord};
use crate::types::{Failure, Outcome};
use crate::worker::dispatch::dispatch;

use super::activation::{produced_events, requeue};
use super::continuation::{self, Successor};
use super::deadline::DEADLINE_SEQ;
use super::delay::START_SEQ;
use super::failures::{back_off, fail_run};
use super::retry;

/// History bytes kept free for the events that record a run's failure
/// (its message is at most 32 KiB).
const CLOSE_ROOM_BYTES: u64 = 64 << 10;

/// The batch that records an activation, and what its effects need once
/// it is durable.
pub(crate) struct Recording {
    pub(crate) batch: Batch,
    consumed: Vec<u64>,
    produced: Vec<Event>,
    machine: RunMachine,
    outcome: Option<Outcome>,
    successor: Option<Successor>,
    now: u64,
}

/// Add to `batch` what records an activation of `run` that consumed
/// `inputs` and produced `activated` at workflow time `now`: its events, the
/// boundary, follow-up inputs, timer and task rows, and the close.
pub(crate) fn recording(
    core: &Core,
    run: &RunHandle,
    mut machine: RunMachine,
    inputs: &[HistoryEvent],
    activated: Activated,
    now: u64,
    mut batch: Batch,
) -> Recording {
    for input in inputs {
        machine.apply(&input.event);
    }
    let (mut events, followups) = produced_events(&machine, &activated, now);
    let produced = events.clone();
    let consumed: Vec<u64> = inputs.iter().map(|e| e.id).collect();
    events.push(Event::ActivationCompleted(ActivationCompleted {
        consumed: consumed.clone(),
    }));
    batch = batch.op(Op::Append {
        run_id: run.id,
        time_ms: now,
        events,
    });
    if !followups.is_empty() {
        batch = batch.op(Op::Append {
            run_id: run.id,
            time_ms: now,
            events: followups,
        });
    }
    let mut scratch = machine.clone();
    let started_now = |seq: u32| {
        produced
            .iter()
            .any(|e| matches!(e, Event::TimerStarted(t) if t.seq == seq))
    };
    for event in &produced {
        scratch.apply(event);
        match event {
            Event::TimerStarted(t) => {
                batch = batch.op(Op::InsertTimer(timer(run, t.seq, t.fire_at_ms)))
            }
            Event::TimerCancelled(t) => {
                // A timer resolves once: if it fired meanwhile, this
                // activation is stale and runs again with the firing.
                if !started_now(t.seq) {
                    batch = batch.check(Check::TimerPending(run.id, t.seq));
                }
                batch = batch.op(Op::DeleteTimer(run.id, t.seq));
            }
            Event::ActivityCancelRequested(a) => {
                // Likewise an activity that resolved meanwhile.
                batch = batch.check(Check::TaskPending(run.id, a.seq));
                if scratch.cancellation_type(a.seq)
                    != Some(CancellationType::WaitCancellationCompleted)
                {
                    batch = batch.op(Op::DeleteTask(run.id, a.seq));
                }
            }
            Event::ActivityScheduled(_) => {
                if let Some(task) = task(run, event, now) {
                    batch = batch.op(Op::InsertTask(task));
                }
            }
            Event::ExternalSignalRequested(_)
            | Event::ExternalCancelRequested(_)
            | Event::ChildStartRequested(_) => {
                if let Some(entry) = outbox_entry(run.id, event) {
                    batch = batch.op(Op::InsertOutbox(entry));
                }
            }
            _ => {}
        }
    }
    let successor = match &activated.outcome {
        Some(Outcome::ContinuedAsNew(continued)) => {
            Some(continuation::successor(core, run, continued, now))
        }
        Some(Outcome::Failed(failure)) if !machine.run_cancel_requested() => {
            let retry = run.retry();
            let at = retry::next_attempt_at(run, failure, now);
            retry
                .zip(at)
                .map(|(retry, at)| continuation::retried(run, retry, at, now))
        }
        _ => None,
    };
    if let Some(outcome) = &activated.outcome {
        batch = batch.op(Op::CloseRun {
            run_id: run.id,
            outcome: outcome.clone(),
            closed_at_ms: now,
        });
        // A run another takes over from does not report to its parent.
        if successor.is_none()
            && let Some(entry) = parent_notice(run, outcome)
        {
            batch = batch.op(Op::InsertOutbox(entry));
        }
    }
    if let Some(successor) = &successor {
        batch = successor.record(batch, now);
    }
    Recording {
        batch,
        consumed,
        produced,
        machine,
        outcome: activated.outcome,
        successor,
        now,
    }
}

/// The recording is durable: let its effects happen, deliver its follow-up
/// inputs, and close the run or cache its instance.
pub(crate) fn committed(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    recording: Recording,
    live: Option<LiveRun>,
    mut appended: Vec<HistoryEvent>,
) {
    let Recording {
        consumed,
        produced,
        mut machine,
        outcome,
        successor,
        now,
        ..
    } = recording;
    let took_over = successor.is_some();
    if let Some(successor) = successor {
        successor.committed(core, &mut appended);
    }
    if produced
        .iter()
        .any(|e| matches!(e, Event::ChildStartRequested(_)))
    {
        run.started_children();
    }
    // Requests to other workflows are delivered even if the run was closed
    // meanwhile: they are durable in the outbox.
    for entry in produced.iter().filter_map(|e| outbox_entry(run.id, e)) {
        deliver_external(core, entry);
    }
    if run.is_closed() {
        tracing::debug!(run_id = %run.id, "run closed while it was activated; no effects");
        return;
    }
    tracing::debug!(
        workflow_id = %run.workflow_id, run_id = %run.id,
        consumed = consumed.len(), produced = ?produced.iter().map(Event::kind).collect::<Vec<_>>(),
        closed = outcome.is_some(), "activation recorded"
    );
    {
        let mut mailbox = run.mailbox();
        mailbox.task_failures = 0;
        mailbox.last_task_failure = None;
        mailbox.memory_needed = 0;
        mailbox.saw(appended.iter().map(|e| e.id));
    }
    for event in &produced {
        effect(core, run, &machine, event, now);
        machine.apply(event);
    }
    // Follow-up inputs only: a start committed with its first activation
    // appends inputs that activation already consumed.
    run.push_inputs(
        appended
            .into_iter()
            .filter(|e| e.event.is_input() && !consumed.contains(&e.id)),
    );
    match outcome {
        // A run another takes over from does not report to its parent.
        Some(outcome) if took_over => {
            close_children(core, run);
            replaced(core, run, &machine, outcome);
        }
        Some(outcome) => finish(core, run, &machine, outcome),
        None => {
            if let Some(mut live) = live
                && core.cache.enabled()
            {
                live.machine = machine;
                live.last_time_ms = now;
                run.put_live(live);
                core.cache.touch(run);
            }
        }
    }
}

/// Commit what an activation produced; then apply its effects.
pub(super) async fn record(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    machine: RunMachine,
    live: Option<LiveRun>,
    inputs: Vec<HistoryEvent>,
    activated: Activated,
    now: u64,
) {
    // Room is kept for the events that record the run's failure; a run
    // that continues as new (what a run near its limit is told to do) may
    // use it.
    let max_bytes = core.config.limits.max_history_bytes;
    let within = match activated.outcome {
        Some(Outcome::ContinuedAsNew(_)) => max_bytes,
        _ => max_bytes.saturating_sub(CLOSE_ROOM_BYTES),
    };
    let mut checks = Batch::default()
        .check(Check::RunOpen(run.id))
        .check(Check::HistoryWithin(run.id, within));
    if activated.outcome.is_some() {
        // Temporal's rule: a run does not close over inputs its code has not
        // seen (a signal that came while it ran). It runs again with them.
        let seen = run.mailbox().seen_through;
        checks = checks.check(Check::NoEventsAfter(run.id, seen));
    }
    let mut recording = recording(core, run, machine, &inputs, activated, now, checks);
    match core
        .store
        .commit(std::mem::take(&mut recording.batch))
        .await
    {
        Ok(appended) => committed(core, run, recording, live, appended),
        Err(StoreError::CheckFailed(Check::RunOpen(_))) => {
            tracing::debug!(run_id = %run.id, "run closed while it was activated; dropping the activation");
        }
        Err(StoreError::CheckFailed(Check::HistoryWithin(..))) => {
            let exceeded = LimitExceeded {
                limit: Limit::HistoryBytes,
                value: max_bytes.saturating_add(1),
                max: max_bytes,
            };
            let failure = Failure::new(exceeded.code(), exceeded.to_string()).non_retryable();
            fail_run(core, run, &recording.machine, inputs, failure, now).await;
        }
        Err(StoreError::CheckFailed(check)) => {
            // A command this activation cancels resolved while it ran, or
            // it closes the run over an input that came meanwhile. Its
            // instance saw a world that no longer holds: drop it and run the
            // activation again, from history, with what came.
            tracing::debug!(run_id = %run.id, "stale activation ({check}); running it again");
            drop(live);
            requeue(run, inputs);
            tokio::task::yield_now().await;
        }
        Err(err) => {
            tracing::warn!(run_id = %run.id, "could not record an activation: {err}");
            requeue(run, inputs);
            run.mailbox().store_failed(&err);
            back_off(core, run);
        }
    }
}

/// The effect of a committed event.
fn effect(core: &Arc<Core>, run: &Arc<RunHandle>, machine: &RunMachine, event: &Event, now: u64) {
    match event {
        Event::TimerStarted(t) => core.timers.arm(timer(run, t.seq, t.fire_at_ms)),
        Event::TimerCancelled(t) => core.timers.disarm(run.id, t.seq),
        Event::ActivityScheduled(_) => {
            if let Some(task) = task(run, event, now) {
                dispatch(core, task);
            }
        }
        Event::ActivityCancelRequested(a)
            if machine.cancellation_type(a.seq) != Some(CancellationType::Abandon) =>
        {
            core.cancel_activity(run.id, a.seq);
        }
        _ => {}
    }
}

/// The run closed: report it to its parent, apply its parent-close policy
/// to its children, announce it and stop its timers and activities.
pub(crate) fn finish(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    machine: &RunMachine,
    outcome: Outcome,
) {
    if let Some(entry) = parent_notice(run, &outcome) {
        deliver_external(core, entry);
    }
    close_children(core, run);
    replaced(core, run, machine, outcome);
}

/// The run closed and another run takes its place (a reset): announce it
/// and stop its timers and activities. Its children and parent are the new
/// run's.
pub(crate) fn replaced(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    machine: &RunMachine,
    outcome: Outcome,
) {
    // The cached instance knows the pending timers when the caller (a
    // terminate from outside the actor) does not.
    let live = run.take_live();
    let machine = live.as_ref().map_or(machine, |live| &live.machine);
    for (seq, _) in machine.pending_timers() {
        core.timers.disarm(run.id, seq);
    }
    core.timers.disarm(run.id, DEADLINE_SEQ);
    core.timers.disarm(run.id, START_SEQ);
    core.cancel_run_activities(run.id);
    tracing::info!(workflow_id = %run.workflow_id, run_id = %run.id, "run closed: {outcome}");
    core.remove_run(run);
    drop(live);
    run.close(outcome);
}

pub(crate) fn timer(run: &RunHandle, seq: u32, fire_at_ms: u64) -> TimerRecord {
    TimerRecord {
        run_id: run.id,
        seq,
        fire_at_ms,
    }
}

pub(crate) fn task(run: &RunHandle, event: &Event, now: u64) -> Option<ActivityTask> {
    let Event::ActivityScheduled(scheduled) = event else {
        return None;
    };
    Some(ActivityTask {
        run_id: run.id,
        seq: scheduled.seq,
        workflow_id: run.workflow_id.clone(),
        name: scheduled.name.clone(),
        input: scheduled.input.clone(),
        options: scheduled.options.clone(),
        attempt: 1,
        scheduled_at_ms: now,
        not_before_ms: now,
        heartbeat: None,
        last_failure: None,
    })
}
