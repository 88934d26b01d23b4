//! How much work the host has in hand: run actors, timers being fired and
//! activity attempts running. A time-skipping test moves the clock only
//! when there is none, so nothing is skipped over that would have happened
//! first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Busy {
    /// Work units in hand.
    count: AtomicUsize,
    /// Work units ever begun, so a caller can tell that nothing began
    /// between two looks.
    begun: AtomicU64,
}

/// One unit of work; the host is busy until it drops.
#[derive(Debug)]
pub(crate) struct Working {
    busy: Arc<Busy>,
}

impl Busy {
    /// Begin a unit of work. Taken before the task that does it is
    /// spawned, so there is never a gap between one unit and the next.
    pub(crate) fn begin(self: &Arc<Self>) -> Working {
        self.begun.fetch_add(1, Ordering::SeqCst);
        self.count.fetch_add(1, Ordering::SeqCst);
        Working { busy: self.clone() }
    }

    /// `None` while work is in hand; otherwise how many units have ever
    /// begun.
    pub(crate) fn quiet(&self) -> Option<u64> {
        let begun = self.begun.load(Ordering::SeqCst);
        (self.count.load(Ordering::SeqCst) == 0).then_some(begun)
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.busy.count.fetch_sub(1, Ordering::SeqCst);
    }
}
