//! The durable timer service: holds every pending timer in due order, and
//! when one is due records `TimerFired` (if the timer is still pending) and
//! delivers it to its run. Timers survive restarts through the store.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{Clock, Sleep};

use crate::history::{Event, TimerFired};
use crate::ids::RunId;
use crate::runtime::Core;
use crate::store::{Batch, Check, Op, StoreError, TimerRecord};

/// How long to wait before retrying a timer whose firing could not be stored.
const RETRY_FIRE_MS: u64 = 1_000;

enum Message {
    Arm(TimerRecord),
    Disarm(RunId, u32),
}

/// Handle to the timer service's task.
#[derive(Clone)]
pub(crate) struct TimerService {
    tx: mpsc::UnboundedSender<Message>,
}

impl TimerService {
    /// Start the service; it stops when `core` is gone or on `shutdown`.
    /// `core` may still be under construction: it is upgraded only to fire.
    pub(crate) fn start(
        core: Weak<Core>,
        clock: Arc<dyn Clock>,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.spawn(run(core, clock, shutdown, rx));
        TimerService { tx }
    }

    /// Fire `timer` when due.
    pub(crate) fn arm(&self, timer: TimerRecord) {
        let _ = self.tx.send(Message::Arm(timer));
    }

    /// Forget a timer (it was cancelled or its run closed).
    pub(crate) fn disarm(&self, run: RunId, seq: u32) {
        let _ = self.tx.send(Message::Disarm(run, seq));
    }
}

async fn run(
    core: Weak<Core>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
    mut rx: mpsc::UnboundedReceiver<Message>,
) {
    let mut due: BTreeSet<(u64, RunId, u32)> = BTreeSet::new();
    let mut armed: HashMap<(RunId, u32), u64> = HashMap::new();
    loop {
        let next_due: Sleep = match due.first() {
            Some(&(at, _, _)) => clock.sleep_until(at),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            message = rx.recv() => match message {
                None => return,
                Some(Message::Arm(timer)) => {
                    if let Some(old) = armed.insert((timer.run_id, timer.seq), timer.fire_at_ms) {
                        due.remove(&(old, timer.run_id, timer.seq));
                    }
                    due.insert((timer.fire_at_ms, timer.run_id, timer.seq));
                }
                Some(Message::Disarm(run, seq)) => {
                    if let Some(at) = armed.remove(&(run, seq)) {
                        due.remove(&(at, run, seq));
                    }
                }
            },
            () = next_due => {
                let Some(core) = core.upgrade() else { return };
                let now = clock.now_ms();
                while let Some(&(at, run, seq)) = due.first() {
                    if at > now {
                        break;
                    }
                    due.pop_first();
                    armed.remove(&(run, seq));
                    core.tasks.spawn(fire(core.clone(), run, seq));
                }
            }
        }
    }
}

async fn fire(core: Arc<Core>, run_id: RunId, seq: u32) {
    let now = core.clock.now_ms();
    let batch = Batch::default()
        .check(Check::TimerPending(run_id, seq))
        .op(Op::DeleteTimer(run_id, seq))
        .op(Op::Append {
            run_id,
            time_ms: now,
            events: vec![Event::TimerFired(TimerFired { seq })],
        });
    match core.store.commit(batch).await {
        Ok(appended) => core.deliver(run_id, appended),
        Err(StoreError::CheckFailed(_)) => {}
        Err(err) => {
            tracing::warn!(%run_id, seq, "could not record a fired timer, retrying: {err}");
            core.timers.arm(TimerRecord {
                run_id,
                seq,
                fire_at_ms: now + RETRY_FIRE_MS,
            });
        }
    }
}
