//! Runs waiting for memory: a run whose instance must be rebuilt while the
//! host's memory budget is spent (by instances in use; idle ones are dropped
//! first) waits until memory is released, marked so that `describe` says so.

use std::time::Duration;

use crate::engine::ActivationFailure;
use crate::runtime::{Core, RunHandle};
use crate::sandbox::INSTANCE_ROOM;

/// How often a waiting run looks again, should a release go unnoticed.
const RECHECK: Duration = Duration::from_millis(100);

/// Return true once the budget has room for `run`'s instance (at once if
/// the instance is cached), false if the host stops first.
pub(crate) async fn wait_for_memory(core: &Core, run: &RunHandle) -> bool {
    if run.is_live() {
        return true;
    }
    let budget = core.wasm.memory();
    let needed = run.mailbox().memory_needed.max(INSTANCE_ROOM);
    if budget.has_room(needed) {
        return true;
    }
    run.mailbox().waiting_for_memory = true;
    tracing::info!(
        workflow_id = %run.workflow_id,
        run_id = %run.id,
        needed_mib = needed.div_ceil(1 << 20),
        budget_mib = budget.limit() >> 20,
        "the memory budget is in use by other runs; the run waits for memory"
    );
    let mut room = false;
    while !core.shutdown.is_cancelled() && !room {
        tokio::select! {
            () = budget.released() => {}
            () = tokio::time::sleep(RECHECK) => {}
            () = core.shutdown.cancelled() => {}
        }
        room = budget.has_room(needed);
    }
    run.mailbox().waiting_for_memory = false;
    room
}

/// Remember what the run's instance needed if `failure` is the budget's
/// refusal, so that its retry waits until that much fits.
pub(crate) fn note_refusal(run: &RunHandle, failure: &ActivationFailure) {
    if let ActivationFailure::MemoryBudget { needed_bytes, .. } = failure {
        run.mailbox().memory_needed = *needed_bytes;
    }
}
