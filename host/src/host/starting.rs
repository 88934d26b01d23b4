//! Starting a run: the workflow id's policies, then the start committed
//! together with the run's first activation, or alone when that activation
//! failed (its failure recorded once, as the actor would have).

use std::sync::Arc;

use super::Host;
use super::calls::{StartWorkflow, Started};
use super::checks::{check_signal, list};
use crate::engine::Activated;
use crate::error::{Error, Result, quote};
use crate::history::{
    Event, HistoryEvent, MAX_TIME_MS, ParentLink, RetryPolicy, SignalReceived, WorkflowStarted,
};
use crate::ids::{self, RunId};
use crate::runtime::activation::{self, FirstActivation};
use crate::runtime::deadline::Deadlines;
use crate::runtime::delay;
use crate::runtime::retry::Retry;
use crate::runtime::{LiveRun, RunHandle, failures, limits, recording};
use crate::sandbox::MIN_RETRY_INTERVAL_MS;
use crate::store::{Batch, Check, Op, RunRecord, StoreError, TimerRecord};
use crate::types::{IdConflictPolicy, IdReusePolicy, Payload, RunStatus};

impl Host {
    pub(super) async fn start_with(
        &self,
        start: StartWorkflow,
        signal: Option<(&str, Payload)>,
        parent: Option<ParentLink>,
    ) -> Result<Started> {
        // Work in hand until the start is committed and handed over.
        let _working = self.core.busy.begin();
        // A retried request gets the run its first attempt started, even if
        // the type or the limits changed since.
        let request = start.request_id.clone();
        if let Some(started) = self
            .started_by(&start.workflow_id, request.as_ref())
            .await?
        {
            return Ok(started);
        }
        let component_id = self
            .core
            .current_version(&start.workflow_type)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no deployed component serves workflow type {} (known types: {})",
                    quote(&start.workflow_type),
                    list(&self.core.known_types())
                ))
            })?;
        self.check_payload("input", &start.input)?;
        for (name, timeout) in [
            ("run timeout", start.run_timeout),
            ("execution timeout", start.execution_timeout),
            ("start delay", start.start_delay),
            ("workflow-task timeout", start.task_timeout),
        ] {
            if timeout.is_some_and(|t| t.is_zero()) {
                return Err(Error::InvalidArgument(format!(
                    "the {name} is zero; leave it out for none"
                )));
            }
        }
        let most = self.core.config.engine.activation_timeout;
        if let Some(task_timeout) = start.task_timeout
            && task_timeout < MIN_TASK_TIMEOUT
        {
            return Err(Error::InvalidArgument(format!(
                "the workflow-task timeout is {task_timeout:?}; it must be at least \
                 {MIN_TASK_TIMEOUT:?} (an activation includes loading and replaying the run)"
            )));
        }
        if let Some(task_timeout) = start.task_timeout
            && task_timeout > most
        {
            return Err(Error::InvalidArgument(format!(
                "the workflow-task timeout is {task_timeout:?}, over the host's activation \
                 timeout of {most:?} (EngineConfig::activation_timeout), which bounds every \
                 activation; ask for at most that"
            )));
        }
        if let Some(policy) = &start.retry_policy {
            check_retry_policy(policy)?;
        }
        if let Some(open) = self.core.open_run(&start.workflow_id) {
            match start.id_conflict {
                IdConflictPolicy::Fail => {
                    let err = Error::AlreadyExists(format!(
                        "workflow id {} already has an open run ({})",
                        start.workflow_id, open.id
                    ));
                    return self
                        .start_refused(&start.workflow_id, request.as_ref(), err)
                        .await;
                }
                IdConflictPolicy::UseExisting => {
                    return Ok(Started {
                        run_id: open.id,
                        started: false,
                    });
                }
                IdConflictPolicy::TerminateExisting => {
                    self.terminate(
                        &start.workflow_id,
                        "terminated by a new start (terminate-existing)",
                    )
                    .await?;
                }
            }
        }
        // The reuse policy is checked again in the commit (a race); checked
        // here first, a refused start runs no workflow code.
        if let Some(err) = self.reuse_refused(&start).await? {
            return self
                .start_refused(&start.workflow_id, request.as_ref(), err)
                .await;
        }
        let mut events = Vec::new();
        // Signal-with-start starts at once.
        let delay = start.start_delay.filter(|_| signal.is_none());
        if let Some((name, input)) = signal {
            let loaded = self.core.component(&component_id).await?;
            let info = loaded.workflow_type(&start.workflow_type);
            check_signal(info, &start.workflow_type, name)?;
            self.check_payload("signal's input", &input)?;
            events.push(Event::SignalReceived(SignalReceived {
                name: name.to_string(),
                input,
            }));
        }
        let (run_id, seed) = (RunId::generate(), ids::random_seed());
        let now = self.core.clock.now_ms();
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let deadlines = Deadlines {
            task_timeout_ms: start.task_timeout.map(millis),
            run_timeout_ms: start.run_timeout.map(|t| millis(t).min(MAX_TIME_MS)),
            execution_deadline_ms: start
                .execution_timeout
                .map(|t| now.saturating_add(millis(t)).min(MAX_TIME_MS)),
        };
        events.insert(
            0,
            Event::WorkflowStarted(WorkflowStarted {
                workflow_id: start.workflow_id.clone(),
                workflow_type: start.workflow_type.clone(),
                input: start.input,
                component: component_id.clone(),
                random_seed: seed,
                continued_from: None,
                run_timeout_ms: deadlines.run_timeout_ms,
                execution_deadline_ms: deadlines.execution_deadline_ms,
                task_timeout_ms: deadlines.task_timeout_ms,
                parent: parent.clone(),
                retry_policy: start.retry_policy.clone(),
                attempt: 1,
            }),
        );
        let mut batch = Batch::default()
            .check(Check::IdReusable(start.workflow_id.clone(), start.id_reuse))
            .op(Op::InsertRun(RunRecord {
                run_id,
                workflow_id: start.workflow_id.clone(),
                workflow_type: start.workflow_type.clone(),
                component: component_id.clone(),
                status: RunStatus::Running,
                created_at_ms: now,
                closed_at_ms: None,
                outcome: None,
                parent: parent.clone(),
            }))
            .op(Op::Append {
                run_id,
                time_ms: now,
                events: events.clone(),
            });
        let deadline = deadlines.timer(run_id, now);
        if let Some(timer) = &deadline {
            batch = batch.op(Op::InsertTimer(timer.clone()));
        }
        if let Some(request) = &request {
            batch = batch
                .op(Op::RecordRequest(run_id, request.clone()))
                .op(Op::RecordStart {
                    workflow_id: start.workflow_id.clone(),
                    request_id: request.clone(),
                    run_id,
                });
        }
        let workflow_id = start.workflow_id.clone();
        let handle = RunHandle::new(
            run_id,
            start.workflow_id,
            start.workflow_type,
            component_id.clone(),
            now,
            seed,
        );
        handle.set_deadlines(deadlines);
        if let Some(Event::WorkflowStarted(started)) = events.first()
            && let Some(retry) = Retry::of(started)
        {
            handle.set_retry(retry);
        }
        if let Some(parent) = parent {
            handle.set_parent(parent);
        }
        let refused = |e: StoreError| match e {
            StoreError::CheckFailed(check) => Error::AlreadyExists(check.to_string()),
            other => other.into(),
        };
        if let Some(delay) = delay {
            let at = now
                .saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
                .min(MAX_TIME_MS);
            let stored = self.store_delayed(&handle, batch, at, deadline).await;
            if let Err(err) = stored {
                return self
                    .start_refused(&workflow_id, request.as_ref(), refused(err))
                    .await;
            }
            return Ok(Started {
                run_id,
                started: true,
            });
        }
        // The first activation runs before anything is stored and is
        // committed with the start: one durable write instead of two, and
        // its effects still follow the commit. New runs' events get ids 1..
        let inputs: Vec<HistoryEvent> = (1..)
            .zip(events)
            .map(|(id, event)| HistoryEvent {
                id,
                time_ms: now,
                event,
            })
            .collect();
        let component = self.core.component(&component_id).await?;
        let first =
            activation::first_activation(&self.core, &handle, component, &inputs, now).await;
        let clean = match &first {
            Ok((live, Ok(activated))) => {
                limits::check_limits(&self.core, &handle, &live.machine, &inputs, activated).is_ok()
            }
            _ => false,
        };
        let stored = match (clean, first) {
            (true, Ok((live, Ok(activated)))) => {
                self.store_with_first(&handle, batch, live, activated, &inputs, now)
                    .await
            }
            (_, first) => self.store_alone(&handle, batch, first, now).await,
        };
        if let Err(err) = stored {
            return self
                .start_refused(&workflow_id, request.as_ref(), refused(err))
                .await;
        }
        // Unless the first activation closed the run already.
        if let Some(timer) = deadline
            && self.core.run(run_id).is_some()
        {
            self.core.timers.arm(timer);
        }
        Ok(Started {
            run_id,
            started: true,
        })
    }

    /// Commit the start with its first activation, then let the
    /// activation's effects happen.
    async fn store_with_first(
        &self,
        handle: &Arc<RunHandle>,
        batch: Batch,
        mut live: LiveRun,
        activated: Activated,
        inputs: &[HistoryEvent],
        now: u64,
    ) -> std::result::Result<(), StoreError> {
        let machine = std::mem::take(&mut live.machine);
        let mut recording =
            recording::recording(&self.core, handle, machine, inputs, activated, now, batch);
        let appended = self
            .core
            .store
            .commit(std::mem::take(&mut recording.batch))
            .await?;
        self.core.insert_run(handle.clone());
        recording::committed(&self.core, handle, recording, Some(live), appended);
        Ok(())
    }

    /// Commit a start whose code runs only at `at` (or when a signal or
    /// cancel comes): its inputs are held until then.
    async fn store_delayed(
        &self,
        handle: &Arc<RunHandle>,
        batch: Batch,
        at: u64,
        deadline: Option<TimerRecord>,
    ) -> std::result::Result<(), StoreError> {
        let timer = delay::start_timer(handle.id, at);
        let appended = self
            .core
            .store
            .commit(batch.op(Op::InsertTimer(timer.clone())))
            .await?;
        handle.mark_fresh();
        handle.saw(appended.iter().map(|e| e.id));
        handle.mailbox().held = true;
        handle.push_inputs(appended.into_iter().filter(|e| e.event.is_input()));
        self.core.insert_run(handle.clone());
        self.core.timers.arm(timer);
        if let Some(deadline) = deadline {
            self.core.timers.arm(deadline);
        }
        Ok(())
    }

    /// The first activation failed or went past a limit: commit the start
    /// alone and record what happened once, as the actor would have, rather
    /// than run the activation again.
    async fn store_alone(
        &self,
        handle: &Arc<RunHandle>,
        batch: Batch,
        first: FirstActivation,
        now: u64,
    ) -> std::result::Result<(), StoreError> {
        let appended = self.core.store.commit(batch).await?;
        handle.mark_fresh();
        handle.saw(appended.iter().map(|e| e.id));
        // Held until the failure is handled, so that a signal arriving
        // meanwhile cannot be delivered before the start.
        handle.mailbox().driving = true;
        self.core.insert_run(handle.clone());
        match first {
            Ok((live, result)) => {
                activation::conclude(&self.core, handle, live, appended, result, now).await;
            }
            Err(err) => failures::rebuild_failed(&self.core, handle, appended, err).await,
        }
        handle.mailbox().driving = false;
        activation::wake(&self.core, handle);
        Ok(())
    }

    /// The error that refuses `start` if the workflow id's latest run does
    /// not let its reuse policy start another; `None` if it may start.
    async fn reuse_refused(&self, start: &StartWorkflow) -> Result<Option<Error>> {
        if start.id_reuse == IdReusePolicy::AllowDuplicate {
            return Ok(None);
        }
        let Some(last) = self.core.store.latest_run(&start.workflow_id).await? else {
            return Ok(None);
        };
        let refused = match start.id_reuse {
            IdReusePolicy::AllowDuplicate => false,
            IdReusePolicy::AllowDuplicateFailedOnly => last.status == RunStatus::Completed,
            IdReusePolicy::RejectDuplicate => true,
        };
        Ok(refused.then(|| {
            let check = Check::IdReusable(start.workflow_id.clone(), start.id_reuse);
            Error::AlreadyExists(check.to_string())
        }))
    }
}

/// The shortest workflow-task timeout a start may ask for.
const MIN_TASK_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(100);

/// A workflow retry policy's intervals and factor, checked as an
/// activity's are: a retry every few microseconds would turn one failing
/// workflow into a flood of runs.
fn check_retry_policy(policy: &RetryPolicy) -> Result<()> {
    let refuse = |what: &str| Err(Error::InvalidArgument(format!("the retry policy's {what}")));
    if policy.initial_interval_ms < MIN_RETRY_INTERVAL_MS {
        return refuse(&format!(
            "initial interval is {} ms; it must be at least {MIN_RETRY_INTERVAL_MS} ms",
            policy.initial_interval_ms
        ));
    }
    if !policy.backoff_coefficient.is_finite() || policy.backoff_coefficient < 1.0 {
        return refuse(&format!(
            "backoff coefficient is {}; it must be a number of at least 1",
            policy.backoff_coefficient
        ));
    }
    if policy.maximum_interval_ms < policy.initial_interval_ms {
        return refuse("maximum interval is below its initial interval");
    }
    Ok(())
}
