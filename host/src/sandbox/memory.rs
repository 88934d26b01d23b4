//! Guest linear memory: each instance is held to its own limit, and all
//! instances together to the host's budget. An instance's [`Grant`] reserves
//! every byte its memories grow by from the [`MemoryBudget`] and gives them
//! back when the instance is dropped. When the budget is spent, the budget
//! first asks its shedder (the instance cache) to drop idle instances; only
//! if that frees too little is the growth refused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::Notify;

/// Drops idle instances until the budget has room for the given bytes.
pub(crate) type Shedder = Box<dyn Fn(&MemoryBudget, usize) + Send + Sync>;

/// Room a run needs to build an instance when it has not said otherwise:
/// about what a small guest's memory starts at.
pub(crate) const INSTANCE_ROOM: usize = 2 << 20;

/// The host-wide budget of guest linear memory, in bytes.
pub(crate) struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
    released: Notify,
    shedder: OnceLock<Shedder>,
}

impl MemoryBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
            released: Notify::new(),
            shedder: OnceLock::new(),
        })
    }

    /// The budget, bytes.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes reserved by live instances.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Set what drops idle instances when the budget is spent (once).
    pub(crate) fn set_shedder(&self, shedder: Shedder) {
        let _ = self.shedder.set(shedder);
    }

    /// True if `bytes` more fit.
    pub(crate) fn fits(&self, bytes: usize) -> bool {
        self.used().saturating_add(bytes) <= self.limit
    }

    /// True if `bytes` (at most the whole budget) fit, after shedding idle
    /// instances if needed.
    pub(crate) fn has_room(&self, bytes: usize) -> bool {
        let bytes = bytes.min(self.limit);
        self.fits(bytes) || {
            self.shed(bytes);
            self.fits(bytes)
        }
    }

    /// Resolves at the next release of memory.
    pub(crate) async fn released(&self) {
        self.released.notified().await;
    }

    /// Reserve `bytes`, shedding idle instances if the budget is spent.
    fn reserve(&self, bytes: usize) -> bool {
        self.try_reserve(bytes) || {
            self.shed(bytes);
            self.try_reserve(bytes)
        }
    }

    fn try_reserve(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn shed(&self, bytes: usize) {
        if let Some(shedder) = self.shedder.get() {
            shedder(self, bytes);
        }
    }

    fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            self.released.notify_waiters();
        }
    }
}

/// Why a memory growth was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Past the instance's own limit: the workflow's doing, it fails.
    InstanceLimit,
    /// The host's budget is spent by other runs: the task is retried once
    /// `needed` bytes (what the instance would have held) fit.
    HostBudget { needed: usize },
}

/// The memory one instance holds from the budget.
pub(crate) struct Grant {
    budget: Arc<MemoryBudget>,
    instance_limit: usize,
    reserved: usize,
    refused: Option<Refusal>,
}

impl Grant {
    pub(crate) fn new(budget: Arc<MemoryBudget>, instance_limit: usize) -> Self {
        Grant {
            budget,
            instance_limit,
            reserved: 0,
            refused: None,
        }
    }

    /// Decide a growth of one memory from `current` to `desired` bytes.
    pub(crate) fn growing(&mut self, current: usize, desired: usize) -> bool {
        if desired > self.instance_limit {
            self.refused = Some(Refusal::InstanceLimit);
            return false;
        }
        let more = desired.saturating_sub(current);
        if !self.budget.reserve(more) {
            self.refused = Some(Refusal::HostBudget {
                needed: self.reserved.saturating_add(more),
            });
            return false;
        }
        self.reserved += more;
        true
    }

    /// Why a growth was refused since the last [`Grant::clear`], if one was.
    pub(crate) fn refused(&self) -> Option<Refusal> {
        self.refused
    }

    /// Forget refusals: a new call starts.
    pub(crate) fn clear(&mut self) {
        self.refused = None;
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.budget.release(self.reserved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_reserve_from_the_budget_and_give_back_on_drop() {
        let budget = MemoryBudget::new(10 << 20);
        let mut a = Grant::new(budget.clone(), 8 << 20);
        assert!(a.growing(0, 6 << 20));
        let mut b = Grant::new(budget.clone(), 8 << 20);
        assert!(!b.growing(0, 6 << 20));
        assert_eq!(b.refused(), Some(Refusal::HostBudget { needed: 6 << 20 }));
        assert!(!a.growing(6 << 20, 9 << 20));
        assert_eq!(a.refused(), Some(Refusal::InstanceLimit));
        drop(a);
        assert_eq!(budget.used(), 0);
        b.clear();
        assert!(b.growing(0, 6 << 20));
        assert_eq!((b.refused(), budget.used()), (None, 6 << 20));
    }

    #[test]
    fn a_spent_budget_sheds_before_it_refuses() {
        let budget = MemoryBudget::new(4 << 20);
        let idle = Arc::new(std::sync::Mutex::new(Some(Grant::new(
            budget.clone(),
            4 << 20,
        ))));
        assert!(idle.lock().unwrap().as_mut().unwrap().growing(0, 3 << 20));
        let cache = idle.clone();
        budget.set_shedder(Box::new(move |_, _| drop(cache.lock().unwrap().take())));
        let mut fresh = Grant::new(budget.clone(), 4 << 20);
        assert!(fresh.growing(0, 3 << 20));
        assert!(idle.lock().unwrap().is_none());
    }
}
