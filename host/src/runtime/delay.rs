//! Start delays: a run started with a delay is stored at once, with its
//! `WorkflowStarted`, and a durable timer under a sequence number no
//! command uses; its inputs are held until the timer fires, or until a
//! signal or cancel comes (as in Temporal, it then starts at once).

use std::sync::Arc;

use crate::ids::RunId;
use crate::runtime::{Core, activation};
use crate::store::{Batch, Check, Op, StoreError, TimerRecord};

/// The timer sequence number of a run's delayed start; commands count
/// from 1 and never get near it.
pub(crate) const START_SEQ: u32 = u32::MAX;

/// The timer that starts run `run_id` at `at_ms`.
pub(crate) fn start_timer(run_id: RunId, at_ms: u64) -> TimerRecord {
    TimerRecord {
        run_id,
        seq: START_SEQ,
        fire_at_ms: at_ms,
    }
}

/// The delay of `run_id` passed: drop its start timer and let it run.
pub(crate) async fn start(core: &Arc<Core>, run_id: RunId) {
    let batch = Batch::default()
        .check(Check::TimerPending(run_id, START_SEQ))
        .op(Op::DeleteTimer(run_id, START_SEQ));
    match core.store.commit(batch).await {
        Ok(_) | Err(StoreError::CheckFailed(_)) => release(core, run_id),
        Err(err) => {
            tracing::warn!(%run_id, "could not start a delayed run, retrying: {err}");
            core.timers.arm(start_timer(
                run_id,
                core.clock.now_ms().saturating_add(1_000),
            ));
        }
    }
}

/// Let the held inputs of `run_id` be delivered.
pub(crate) fn release(core: &Arc<Core>, run_id: RunId) {
    core.timers.disarm(run_id, START_SEQ);
    if let Some(run) = core.run(run_id) {
        run.mailbox().held = false;
        activation::wake(core, &run);
    }
}
