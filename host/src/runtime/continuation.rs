//! Continue-as-new: the run that closes and the run that takes over are
//! recorded in one commit, so a crash leaves either the old run open or the
//! new one started, never neither.

use std::sync::Arc;

use crate::history::{Event, HistoryEvent, WorkflowStarted};
use crate::ids::{self, RunId};
use crate::runtime::{Core, RunHandle, activation};
use crate::store::{Batch, Op, RunRecord, TimerRecord};
use crate::types::{ContinuedAsNew, RunStatus};

/// The run that continues a closing one, before and after its commit.
pub(crate) struct Successor {
    handle: Arc<RunHandle>,
    started: Event,
    /// Its deadline timer, if it has timeouts.
    deadline: Option<TimerRecord>,
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
    let (run_id, seed) = (RunId::generate(), ids::random_seed());
    // The run keeps its run timeout and the workflow's execution deadline.
    let deadlines = run.deadlines();
    let started = Event::WorkflowStarted(WorkflowStarted {
        workflow_id: run.workflow_id.clone(),
        workflow_type: run.workflow_type.clone(),
        input: continued.input.clone(),
        component: component.clone(),
        random_seed: seed,
        continued_from: Some(run.id),
        run_timeout_ms: deadlines.run_timeout_ms,
        execution_deadline_ms: deadlines.execution_deadline_ms,
        parent: run.parent().cloned(),
    });
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
    Successor {
        deadline: deadlines.timer(run_id, now),
        handle,
        started,
    }
}

impl Successor {
    /// Add the new run to `batch`, after the close of the run it continues
    /// (a workflow id has one open run at a time). Its start is the last
    /// event the batch appends.
    pub(crate) fn record(&self, batch: Batch, now: u64) -> Batch {
        let handle = &self.handle;
        let batch = match &self.deadline {
            Some(timer) => batch.op(Op::InsertTimer(timer.clone())),
            None => batch,
        };
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
        self.handle.push_inputs([started]);
        core.insert_run(self.handle.clone());
        if let Some(timer) = self.deadline {
            core.timers.arm(timer);
        }
        tracing::info!(
            workflow_id = %self.handle.workflow_id, run_id = %self.handle.id,
            "run continues as new"
        );
        activation::wake(core, &self.handle);
    }
}
