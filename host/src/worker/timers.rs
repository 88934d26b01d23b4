//! The durable timer service: holds every pending timer in due order, and
//! when one is due records `TimerFired` (if the timer is still pending) and
//! delivers it to its run. Timers survive restarts through the store.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{Clock, Sleep};

use crate::history::{Event, TimerFired};
use crate::ids::RunId;
use crate::runtime::deadline::{self, DEADLINE_SEQ};
use crate::runtime::delay::{self, START_SEQ};
use crate::runtime::{Core, Working};
use crate::store::{Batch, Check, Op, StoreError, TimerRecord};

/// How long to wait before retrying a timer whose firing could not be stored.
const RETRY_FIRE_MS: u64 = 1_000;

/// The pending timers, in due order and by id. Its size is the number of
/// pending timers (bounded per run), never a backlog of messages.
#[derive(Default)]
struct Due {
    by_time: BTreeSet<(u64, RunId, u32)>,
    by_id: HashMap<(RunId, u32), u64>,
}

impl Due {
    /// The earliest due time, if any timer is pending.
    fn first(&self) -> Option<u64> {
        self.by_time.first().map(|&(at, _, _)| at)
    }

    fn insert(&mut self, timer: &TimerRecord) {
        let key = (timer.run_id, timer.seq);
        if let Some(old) = self.by_id.insert(key, timer.fire_at_ms) {
            self.by_time.remove(&(old, timer.run_id, timer.seq));
        }
        self.by_time
            .insert((timer.fire_at_ms, timer.run_id, timer.seq));
    }

    fn remove(&mut self, run: RunId, seq: u32) {
        if let Some(at) = self.by_id.remove(&(run, seq)) {
            self.by_time.remove(&(at, run, seq));
        }
    }

    /// Take every timer due at `now`.
    fn take_due(&mut self, now: u64) -> Vec<(RunId, u32)> {
        let mut fired = Vec::new();
        while let Some(&(at, run, seq)) = self.by_time.first() {
            if at > now {
                break;
            }
            self.by_time.pop_first();
            self.by_id.remove(&(run, seq));
            fired.push((run, seq));
        }
        fired
    }
}

/// What the service's task and its handles share.
#[derive(Default)]
struct Shared {
    due: Mutex<Due>,
    /// Woken when a timer may have become the earliest.
    changed: Notify,
}

impl Shared {
    fn due(&self) -> MutexGuard<'_, Due> {
        self.due.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Handle to the timer service's task.
#[derive(Clone)]
pub(crate) struct TimerService {
    shared: Arc<Shared>,
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
        let shared = Arc::new(Shared::default());
        tasks.spawn(run(core, clock, shutdown, shared.clone()));
        TimerService { shared }
    }

    /// Fire `timer` when due.
    pub(crate) fn arm(&self, timer: TimerRecord) {
        let earliest = {
            let mut due = self.shared.due();
            due.insert(&timer);
            due.first() == Some(timer.fire_at_ms)
        };
        if earliest {
            self.shared.changed.notify_one();
        }
    }

    /// Forget a timer (it was cancelled or its run closed). If it was the
    /// earliest, the service stops waiting for it.
    pub(crate) fn disarm(&self, run: RunId, seq: u32) {
        let was_first = {
            let mut due = self.shared.due();
            let first = due.by_time.first().map(|&(_, r, s)| (r, s));
            due.remove(run, seq);
            first == Some((run, seq))
        };
        if was_first {
            self.shared.changed.notify_one();
        }
    }
}

async fn run(
    core: Weak<Core>,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
    shared: Arc<Shared>,
) {
    loop {
        let next_due: Sleep = match shared.due().first() {
            Some(at) => clock.sleep_until(at),
            None => Box::pin(std::future::pending()),
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            // An earlier timer came: wait for it instead.
            () = shared.changed.notified() => {}
            () = next_due => {
                let Some(core) = core.upgrade() else { return };
                let fired = shared.due().take_due(clock.now_ms());
                for (run, seq) in fired {
                    let working = core.busy.begin();
                    core.tasks.spawn(fire(core.clone(), run, seq, working));
                }
            }
        }
    }
}

async fn fire(core: Arc<Core>, run_id: RunId, seq: u32, _working: Working) {
    if seq == DEADLINE_SEQ {
        return deadline::time_out(&core, run_id).await;
    }
    if seq == START_SEQ {
        return delay::start(&core, run_id).await;
    }
    let now = core.clock.now_ms();
    tracing::debug!(%run_id, seq, "timer due");
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
