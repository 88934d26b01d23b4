//! Continue-as-new and workflow retries: the run that closes and the run
//! that takes over are recorded in one commit, so a crash leaves either the
//! old run open or the new one started, never neither.

use std::sync::Arc;

use crate::history::{Event, HistoryEvent, WorkflowStarted};
use crate::ids::ComponentId;
use crate::ids::{self, RunId};
use crate::runtime::retry::Retry;
use crate::runtime::{Core, RunHandle, activation, delay};
use crate::store::{Batch, Op, RunRecord, TimerRecord};
use crate::types::{ContinuedAsNew, Payload, RunStatus};

/// The run that continues a closing one, before and after its commit.
pub(crate) struct Successor {
    handle: Arc<RunHandle>,
    started: Event,
    /// Its deadline timer, if it has timeouts.
    deadline: Option<TimerRecord>,
    /// When its code may run, if not at once (a retry's backoff).
    start_at: Option<u64>,
}

/// The run that continues `run` as `continued` says, at workflow time `now`:
/// same workflow id and type, a new run id and seed, and the type's current
/// version if asked for (else `run`'s).
pub(crate) fn successor(
    core: &Core,
    run: &RunHandle,
    continued: &ContinuedAsNew,
    now: u64,
) -> Successor {
    let component = continued
        .current_version
        .then(|| core.current_version(&run.workflow_type))
        .flatten()
        .unwrap_or_else(|| run.component());
    // A run continued as new is its workflow's first attempt again.
    next_run(run, continued.input.clone(), component, 1, None, now)
}

/// The next attempt of `run`, which failed and has a retry policy: the same
/// input and version, its code held until `at`.
pub(crate) fn retried(run: &RunHandle, retry: &Retry, at: u64, now: u64) -> Successor {
    let input = retry.input.as_ref().clone();
    let attempt = retry.attempt.saturating_add(1);
    next_run(run, input, run.component(), attempt, Some(at), now)
}

fn next_run(
    run: &RunHandle,
    input: Payload,
    component: ComponentId,
    attempt: u32,
    start_at: Option<u64>,
    now: u64,
) -> Successor {
    let (run_id, seed) = (RunId::generate(), ids::random_seed());
    // The run keeps its run timeout and the workflow's execution deadline.
    let deadlines = run.deadlines();
    let retry_policy = run.retry().map(|r| r.policy.clone());
    let started = WorkflowStarted {
        workflow_id: run.workflow_id.clone(),
        workflow_type: run.workflow_type.clone(),
        input,
        component: component.clone(),
        random_seed: seed,
        continued_from: Some(run.id),
        run_timeout_ms: deadlines.run_timeout_ms,
        execution_deadline_ms: deadlines.execution_deadline_ms,
        task_timeout_ms: deadlines.task_timeout_ms,
        parent: run.parent().cloned(),
        retry_policy,
        attempt,
    };
    let handle = RunHandle::new(
        run_id,
        run.workflow_id.clone(),
        run.workflow_type.clone(),
        component,
        now,
        seed,
    );
    handle.continues(run.id);
    handle.set_deadlines(deadlines);
    // The chain is the parent's child: its last run reports the close.
    if let Some(parent) = run.parent() {
        handle.set_parent(parent.clone());
    }
    if let Some(retry) = Retry::of(&started) {
        handle.set_retry(retry);
    }
    Successor {
        // A retry's run timeout counts from when its code may run.
        deadline: deadlines.timer(run_id, start_at.unwrap_or(now)),
        handle,
        started: Event::WorkflowStarted(started),
        start_at,
    }
}

impl Successor {
    /// Add the new run to `batch`, after the close of the run it continues
    /// (a workflow id has one open run at a time). Its start is the last
    /// event the batch appends.
    pub(crate) fn record(&self, batch: Batch, now: u64) -> Batch {
        let handle = &self.handle;
        let timers = self.deadline.iter().cloned().chain(self.start_timer());
        let batch = timers.fold(batch, |batch, timer| batch.op(Op::InsertTimer(timer)));
        batch
            .op(Op::InsertRun(RunRecord {
                run_id: handle.id,
                workflow_id: handle.workflow_id.clone(),
                workflow_type: handle.workflow_type.clone(),
                component: handle.component(),
                status: RunStatus::Running,
                created_at_ms: now,
                closed_at_ms: None,
                outcome: None,
                parent: handle.parent().cloned(),
            }))
            .op(Op::Append {
                run_id: handle.id,
                time_ms: now,
                events: vec![self.started.clone()],
            })
    }

    /// The timer that holds the new run's code until its start, if any.
    fn start_timer(&self) -> Option<TimerRecord> {
        self.start_at
            .map(|at| delay::start_timer(self.handle.id, at))
    }

    /// The batch is durable: take the new run's start out of what it
    /// appended and register the run, which its actor then starts.
    pub(crate) fn committed(self, core: &Arc<Core>, appended: &mut Vec<HistoryEvent>) {
        let Some(started) = appended.pop_if(|e| matches!(e.event, Event::WorkflowStarted(_)))
        else {
            tracing::error!(
                run_id = %self.handle.id,
                "the new run's start is not where its commit put it; it starts after a restart"
            );
            return;
        };
        self.handle.saw([started.id]);
        if self.start_at.is_some() {
            self.handle.mailbox().held = true;
        }
        self.handle.push_inputs([started]);
        core.insert_run(self.handle.clone());
        for timer in self.deadline.iter().cloned().chain(self.start_timer()) {
            core.timers.arm(timer);
        }
        match self.start_at {
            Some(at) => tracing::info!(
                workflow_id = %self.handle.workflow_id, run_id = %self.handle.id,
                attempt = self.handle.attempt(), at,
                "run failed; its next attempt is stored and runs after the retry backoff"
            ),
            None => tracing::info!(
                workflow_id = %self.handle.workflow_id, run_id = %self.handle.id,
                "run continues as new"
            ),
        }
        activation::wake(core, &self.handle);
    }
}
