//! Moving an open run onto another version of its code: replay its whole
//! history on that version; if nothing diverges, record `VersionChanged` and
//! the new version in one commit, so a crash leaves the run entirely on one
//! version or the other. The actor does it between activations, so no
//! activation of the old code can slip in between the check and the move.

use std::sync::Arc;

use crate::engine::{LoadedComponent, WasmEngine};
use crate::history::{Event, HistoryEvent, VersionChanged};
use crate::host::Verdict;
use crate::runtime::activation::{RebuildError, facts, replay, wake};
use crate::runtime::run::LiveRun;
use crate::runtime::{Core, RunHandle};
use crate::sandbox::RunFacts;
use crate::store::{Batch, Check, Op, StoreError};

/// Replay `history` on `component` and say whether it would run there; the
/// rebuilt instance comes with a clean verdict.
pub(crate) fn check(
    wasm: &WasmEngine,
    component: Arc<LoadedComponent>,
    facts: RunFacts,
    history: &[HistoryEvent],
) -> (Verdict, Option<LiveRun>) {
    match replay(wasm, component, facts, history) {
        Ok((live, _)) => (Verdict::Compatible, Some(live)),
        Err(RebuildError::NonDeterminism(nd)) => (Verdict::Diverges(nd), None),
        Err(err) => (
            Verdict::Fails {
                message: err.to_string(),
            },
            None,
        ),
    }
}

/// Read `run`'s history and replay it on `component`, on the blocking
/// pool; see [`check`].
pub(crate) async fn replay_on(
    core: &Arc<Core>,
    run: &RunHandle,
    component: Arc<LoadedComponent>,
) -> (Verdict, Option<LiveRun>) {
    let history = match core.store.history(run.id).await {
        Ok(history) => history,
        Err(err) => {
            let message = format!("cannot read the run's history: {err}");
            return (Verdict::Fails { message }, None);
        }
    };
    let (checking, run_facts) = (core.clone(), facts(run));
    tokio::task::spawn_blocking(move || check(&checking.wasm, component, run_facts, &history))
        .await
        .unwrap_or_else(|panic| {
            let message = format!("replay stopped: {panic}");
            (Verdict::Fails { message }, None)
        })
}

/// Move `run` onto `component` if its history replays cleanly there. Runs
/// on the run's actor.
pub(super) async fn upgrade(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    component: Arc<LoadedComponent>,
) -> Verdict {
    let from = run.component();
    if &from == component.id() {
        return Verdict::Compatible;
    }
    let (verdict, live) = replay_on(core, run, component.clone()).await;
    let Some(live) = live else {
        return verdict;
    };
    let to = component.id().clone();
    let batch = Batch::default()
        .check(Check::RunOpen(run.id))
        .op(Op::Append {
            run_id: run.id,
            time_ms: core.clock.now_ms(),
            events: vec![Event::VersionChanged(VersionChanged {
                from: from.clone(),
                to: to.clone(),
            })],
        })
        .op(Op::MoveRun {
            run_id: run.id,
            component: to.clone(),
        });
    match core.store.commit(batch).await {
        Ok(appended) => {
            run.move_to(to.clone());
            let resumed = {
                let mut mailbox = run.mailbox();
                mailbox.saw(appended.iter().map(|e| e.id));
                let resumed = mailbox.parked.take().is_some() || mailbox.backing_off;
                mailbox.backing_off = false;
                mailbox.task_failures = 0;
                mailbox.last_task_failure = None;
                resumed
            };
            // The old version's instance goes; the replayed one takes its
            // place, unless the run closed meanwhile. It replayed the whole
            // history, so a later rebuild must too: the run is not fresh.
            drop(run.take_live());
            run.take_fresh();
            if core.cache.enabled() && !run.is_closed() {
                run.put_live(live);
                core.cache.touch(run);
            }
            tracing::info!(
                workflow_id = %run.workflow_id, run_id = %run.id,
                from = %from.short(), to = %to.short(), resumed, "run upgraded"
            );
            wake(core, run);
            Verdict::Compatible
        }
        Err(StoreError::CheckFailed(Check::RunOpen(_))) => Verdict::Closed,
        Err(err) => Verdict::Fails {
            message: format!("cannot record the move: {err}"),
        },
    }
}
