//! When an activation cannot be recorded as it ran: a failed workflow task
//! (recorded once, retried after a backoff), a parked run (non-determinism,
//! kept with its inputs) and a run the host fails (a memory or history
//! limit, recorded outside any activation).

use std::sync::Arc;

use super::activation::{RebuildError, requeue, wake};
use super::memory::note_refusal;
use super::recording::finish;
use crate::history::{Event, HistoryEvent, NonDeterminism, RunMachine, WorkflowTaskFailed};
use crate::host::{Parked, parent_notice};
use crate::runtime::{Core, RunHandle};
use crate::store::{Batch, Check, Op, StoreError};
use crate::types::{Failure, Outcome};

/// The batch that closes an open run with `outcome` outside any activation
/// (a terminate, a failure the host decides): the close event and the run's
/// row, nothing the code did.
pub(crate) fn close_outside(run: &RunHandle, outcome: &Outcome, now: u64) -> Batch {
    let batch = close_taken_over(run, outcome, now);
    match parent_notice(run, outcome) {
        Some(entry) => batch.op(Op::InsertOutbox(entry)),
        None => batch,
    }
}

/// As [`close_outside`], for a run another takes over from (a retry): it
/// does not report to its parent.
pub(crate) fn close_taken_over(run: &RunHandle, outcome: &Outcome, now: u64) -> Batch {
    Batch::default()
        .check(Check::RunOpen(run.id))
        .op(Op::Append {
            run_id: run.id,
            time_ms: now,
            events: vec![Event::closing(outcome)],
        })
        .op(Op::CloseRun {
            run_id: run.id,
            outcome: outcome.clone(),
            closed_at_ms: now,
        })
}

/// The host fails the run (its code cannot go on: a memory or history
/// limit). The failure is recorded like a terminate, outside any
/// activation, so the history still replays to where the code got.
pub(super) async fn fail_run(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    machine: &RunMachine,
    inputs: Vec<HistoryEvent>,
    failure: Failure,
    now: u64,
) {
    tracing::warn!(workflow_id = %run.workflow_id, run_id = %run.id, "workflow failed: {}", failure.message);
    let outcome = Outcome::Failed(failure);
    match core.store.commit(close_outside(run, &outcome, now)).await {
        Ok(_) => finish(core, run, machine, outcome),
        Err(StoreError::CheckFailed(_)) => {}
        Err(err) => {
            tracing::warn!(run_id = %run.id, "could not record the run's failure: {err}");
            requeue(run, inputs);
            run.mailbox().store_failed(&err);
            back_off(core, run);
        }
    }
}

/// The instance could not be rebuilt: park the run on non-determinism,
/// otherwise retry the workflow task after a backoff.
pub(crate) async fn rebuild_failed(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    inputs: Vec<HistoryEvent>,
    err: RebuildError,
) {
    if let RebuildError::NonDeterminism(nd) = err {
        return park(core, run, inputs, nd).await;
    }
    let code = match &err {
        RebuildError::Failure(failure) => {
            note_refusal(run, failure);
            failure.code()
        }
        _ => "KEEL-REPLAY",
    };
    task_failed(core, run, inputs, code, err.to_string()).await
}

/// Record the first of a series of workflow task failures in history.
pub(super) async fn record_task_failure(
    core: &Arc<Core>,
    run: &RunHandle,
    code: &str,
    message: &str,
) {
    let batch = Batch::default()
        .check(Check::RunOpen(run.id))
        .op(Op::Append {
            run_id: run.id,
            time_ms: core.clock.now_ms(),
            events: vec![Event::WorkflowTaskFailed(WorkflowTaskFailed {
                code: code.to_string(),
                message: message.to_string(),
            })],
        });
    match core.store.commit(batch).await {
        Ok(appended) => {
            run.saw(appended.iter().map(|e| e.id));
        }
        Err(err) => {
            tracing::warn!(run_id = %run.id, "could not record a workflow task failure: {err}")
        }
    }
}

/// A workflow task failed (deadlock, trap, replay could not run): keep the
/// inputs and retry after a backoff. Nothing is lost.
pub(super) async fn task_failed(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    inputs: Vec<HistoryEvent>,
    code: &str,
    message: String,
) {
    tracing::warn!(workflow_id = %run.workflow_id, run_id = %run.id, code, "workflow task failed: {message}");
    requeue(run, inputs);
    let first = {
        let mut mailbox = run.mailbox();
        mailbox.task_failures += 1;
        mailbox.last_task_failure = Some((code.to_string(), message.clone()));
        mailbox.task_failures == 1
    };
    if first {
        record_task_failure(core, run, code, &message).await;
    }
    back_off(core, run);
}

/// Hold the run's inputs until a backoff passes, then wake it.
pub(super) fn back_off(core: &Arc<Core>, run: &Arc<RunHandle>) {
    let delay = {
        let mut mailbox = run.mailbox();
        mailbox.backing_off = true;
        let exponent = mailbox.task_failures.saturating_sub(1).min(16);
        core.config
            .task_retry_initial
            .saturating_mul(1 << exponent)
            .min(core.config.task_retry_max)
    };
    let (core, run) = (core.clone(), run.clone());
    let backoff = core.clock.sleep(delay);
    core.clone().tasks.spawn(async move {
        tokio::select! {
            () = core.shutdown.cancelled() => return,
            () = backoff => {}
        }
        run.mailbox().backing_off = false;
        wake(&core, &run);
    });
}

/// Replay found non-determinism: park the run with its inputs until it is
/// fixed. It is neither failed nor lost.
pub(super) async fn park(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    inputs: Vec<HistoryEvent>,
    nd: NonDeterminism,
) {
    let message = nd.to_string();
    tracing::error!(workflow_id = %run.workflow_id, run_id = %run.id, "run parked: {message}");
    requeue(run, inputs);
    // Recorded first, so that whoever sees the run parked finds the reason
    // in its history too.
    record_task_failure(core, run, NonDeterminism::CODE, &message).await;
    run.mailbox().parked = Some(Parked::NonDeterminism(nd));
}
