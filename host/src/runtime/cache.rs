//! The bounded LRU of live instances. Evicting a run drops its instance;
//! its next activation rebuilds it by replaying history.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::ids::RunId;
use crate::runtime::RunHandle;
use crate::sandbox::MemoryBudget;

/// See the module docs.
pub(crate) struct InstanceCache {
    /// `None` when caching is off: every instance is dropped after use.
    lru: Option<Mutex<LruCache<RunId, Arc<RunHandle>>>>,
}

impl InstanceCache {
    pub(crate) fn new(capacity: usize) -> Self {
        InstanceCache {
            lru: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
        }
    }

    /// Whether instances are kept between activations.
    pub(crate) fn enabled(&self) -> bool {
        self.lru.is_some()
    }

    /// Mark `run` most recently used, evicting the least recently used run's
    /// instance if the cache is full.
    pub(crate) fn touch(&self, run: &Arc<RunHandle>) {
        let Some(lru) = &self.lru else { return };
        let evicted = lru
            .lock()
            .ok()
            .and_then(|mut lru| lru.push(run.id, run.clone()));
        if let Some((id, handle)) = evicted
            && id != run.id
        {
            drop(handle.take_live());
        }
    }

    /// Drop idle instances, least recently used first, until `bytes` more
    /// fit in `budget` or none is left. An instance in use is not in its
    /// handle, so it is skipped (and cached again after its activation).
    pub(crate) fn shed(&self, budget: &MemoryBudget, bytes: usize) {
        let Some(lru) = &self.lru else { return };
        let mut dropped = 0usize;
        while !budget.fits(bytes) {
            let Some((_, handle)) = lru.lock().ok().and_then(|mut lru| lru.pop_lru()) else {
                break;
            };
            dropped += usize::from(handle.take_live().is_some());
        }
        if dropped > 0 {
            tracing::debug!(
                dropped,
                used_bytes = budget.used(),
                "memory budget spent: dropped idle instances"
            );
        }
    }

    /// Forget `run` (it closed).
    pub(crate) fn remove(&self, run: RunId) {
        if let Some(lru) = &self.lru
            && let Ok(mut lru) = lru.lock()
        {
            lru.pop(&run);
        }
    }

    /// Drop every cached instance.
    pub(crate) fn clear(&self) {
        let Some(lru) = &self.lru else { return };
        let handles: Vec<_> = lru
            .lock()
            .map(|mut lru| {
                let all = lru.iter().map(|(_, h)| h.clone()).collect();
                lru.clear();
                all
            })
            .unwrap_or_default();
        for handle in handles {
            drop(handle.take_live());
        }
    }
}
