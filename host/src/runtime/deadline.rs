//! Run and execution timeouts: a run's deadline is a durable timer row
//! under a sequence number no command uses, armed like any timer (and so
//! again after a restart); when it fires, the host closes the run as timed
//! out, outside any activation. A start's workflow-task timeout is kept
//! with them (it bounds each activation, not the run).

use std::sync::Arc;

use crate::history::{MAX_TIME_MS, RunMachine, WorkflowStarted};
use crate::host::close_children;
use crate::ids::RunId;
use crate::runtime::{Core, RunHandle, continuation, failures, recording, retry};
use crate::store::{Check, StoreError, TimerRecord};
use crate::types::{Failure, Outcome};

/// The timer sequence number of a run's deadline; commands count from 1.
pub(crate) const DEADLINE_SEQ: u32 = 0;

/// How long after a failed attempt to record a timeout it is tried again.
const RETRY_MS: u64 = 1_000;

/// When a run times out, as its start set it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Deadlines {
    /// The run's own timeout, ms after it starts.
    pub(crate) run_timeout_ms: Option<u64>,
    /// When the workflow's execution (this run and those continuing it)
    /// times out, ms since the epoch.
    pub(crate) execution_deadline_ms: Option<u64>,
    /// How long one activation of the run may take, ms (the workflow-task
    /// timeout), if its start set it.
    pub(crate) task_timeout_ms: Option<u64>,
}

impl Deadlines {
    /// The deadlines a run's start recorded.
    pub(crate) fn of(started: &WorkflowStarted) -> Self {
        Deadlines {
            run_timeout_ms: started.run_timeout_ms,
            execution_deadline_ms: started.execution_deadline_ms,
            task_timeout_ms: started.task_timeout_ms,
        }
    }

    /// When a run that started at `start_ms` times out, if it can.
    pub(crate) fn due(&self, start_ms: u64) -> Option<u64> {
        let run = self
            .run_timeout_ms
            .map(|t| start_ms.saturating_add(t).min(MAX_TIME_MS));
        match (run, self.execution_deadline_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The deadline timer of run `run_id`, started at `start_ms`, if it has
    /// one.
    pub(crate) fn timer(&self, run_id: RunId, start_ms: u64) -> Option<TimerRecord> {
        self.due(start_ms).map(|fire_at_ms| TimerRecord {
            run_id,
            seq: DEADLINE_SEQ,
            fire_at_ms,
        })
    }
}

/// The deadline of `run_id` came: close it as timed out, naming which
/// timeout passed.
pub(crate) async fn time_out(core: &Arc<Core>, run_id: RunId) {
    let Some(run) = core.run(run_id) else {
        return;
    };
    let now = core.clock.now_ms();
    let deadlines = run.deadlines();
    let message = match deadlines.execution_deadline_ms {
        Some(at) if at <= now => "the workflow's execution timeout passed".to_string(),
        _ => format!(
            "the run's timeout of {} ms passed",
            deadlines.run_timeout_ms.unwrap_or_default()
        ),
    };
    // A run timeout, not the execution's, is retried as a failure is.
    let execution_over = deadlines.execution_deadline_ms.is_some_and(|at| at <= now);
    let failure = Failure::new("WorkflowRunTimedOut", message.clone());
    let successor = run
        .retry()
        .filter(|_| !execution_over)
        .zip(retry::next_attempt_at(&run, &failure, now))
        .map(|(retry, at)| continuation::retried(&run, retry, at, now));
    let outcome = Outcome::TimedOut(message);
    let batch = match &successor {
        Some(next) => next.record(failures::close_taken_over(&run, &outcome, now), now),
        None => failures::close_outside(&run, &outcome, now),
    }
    .check(Check::TimerPending(run.id, DEADLINE_SEQ));
    match core.store.commit(batch).await {
        Ok(mut appended) => match successor {
            Some(next) => {
                next.committed(core, &mut appended);
                close_children(core, &run);
                let machine = pending_machine(core, &run).await;
                recording::replaced(core, &run, &machine, outcome);
            }
            None => close_outside_committed(core, &run, outcome).await,
        },
        Err(StoreError::CheckFailed(_)) => {}
        Err(err) => {
            tracing::warn!(%run_id, "could not record the run's timeout, retrying: {err}");
            core.timers.arm(TimerRecord {
                run_id,
                seq: DEADLINE_SEQ,
                fire_at_ms: now.saturating_add(RETRY_MS),
            });
        }
    }
}

/// A close recorded outside the run's actor (a terminate, a timeout) is
/// durable: stop the run's timers and activities and announce it.
pub(crate) async fn close_outside_committed(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    outcome: Outcome,
) {
    let machine = pending_machine(core, run).await;
    recording::finish(core, run, &machine, outcome);
}

/// The pending timers to disarm at a close outside the actor: the cached
/// instance knows them; otherwise the history does.
async fn pending_machine(core: &Arc<Core>, run: &RunHandle) -> RunMachine {
    let mut machine = RunMachine::default();
    if !run.is_live()
        && let Ok(history) = core.store.history(run.id).await
    {
        for event in &history {
            machine.apply(&event.event);
        }
    }
    machine
}
