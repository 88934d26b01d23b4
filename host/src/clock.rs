//! Time enters the host only through [`Clock`]: what it reads (event times,
//! workflow time) and what it waits for (timers, activity retry backoffs
//! and timeouts, workflow task backoffs). Workflow code never sees the
//! host's wall clock directly. [`ManualClock`] moves only when told to, so a
//! test can fire an hour-long timer at once.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// A wait handed out by a [`Clock`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of wall-clock time in milliseconds since the Unix epoch, and of
/// waits on it.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now_ms(&self) -> u64;

    /// Resolves once the time is `at_ms` or later.
    fn sleep_until(&self, at_ms: u64) -> Sleep;

    /// Resolves once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> Sleep {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        self.sleep_until(self.now_ms().saturating_add(ms))
    }
}

/// The host's real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the system clock"
    )]
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn sleep_until(&self, at_ms: u64) -> Sleep {
        let wait = Duration::from_millis(at_ms.saturating_sub(self.now_ms()));
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that stands still until [`ManualClock::advance`] or
/// [`ManualClock::set`] moves it; every wait it handed out that is then due
/// resolves at once. For tests of workflows with long timers, retries and
/// timeouts.
#[derive(Debug)]
pub struct ManualClock {
    now: watch::Sender<u64>,
    /// The waits handed out and not yet over, by due time, and how many.
    waits: Arc<Mutex<BTreeMap<u64, usize>>>,
}

impl ManualClock {
    /// A clock showing `start_ms` (milliseconds since the Unix epoch).
    pub fn new(start_ms: u64) -> Self {
        ManualClock {
            now: watch::Sender::new(start_ms),
            waits: Arc::default(),
        }
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.now.send_modify(|now| *now = now.saturating_add(ms));
    }

    /// Move the clock to `ms`; it never goes back, so an earlier time is
    /// ignored.
    pub fn set(&self, ms: u64) {
        self.now.send_if_modified(|now| {
            let later = ms > *now;
            *now = (*now).max(ms);
            later
        });
    }

    /// When the earliest wait handed out and not yet over is due, if any
    /// is pending. A due time not after [`Clock::now_ms`] is a wait about
    /// to resolve.
    pub fn next_wait_ms(&self) -> Option<u64> {
        lock(&self.waits).keys().next().copied()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A wait counted in [`ManualClock::next_wait_ms`] until it ends or is
/// dropped.
struct Pending {
    waits: Arc<Mutex<BTreeMap<u64, usize>>>,
    at_ms: u64,
}

impl Pending {
    fn new(waits: &Arc<Mutex<BTreeMap<u64, usize>>>, at_ms: u64) -> Self {
        *lock(waits).entry(at_ms).or_default() += 1;
        Pending {
            waits: waits.clone(),
            at_ms,
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut waits = lock(&self.waits);
        if let Some(count) = waits.get_mut(&self.at_ms) {
            *count -= 1;
            if *count == 0 {
                waits.remove(&self.at_ms);
            }
        }
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        *self.now.borrow()
    }

    fn sleep_until(&self, at_ms: u64) -> Sleep {
        let mut now = self.now.subscribe();
        let pending = Pending::new(&self.waits, at_ms);
        Box::pin(async move {
            let _pending = pending;
            if now.wait_for(|&now| now >= at_ms).await.is_err() {
                // The clock is gone: its time never comes.
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_waits_only_when_moved_past_them() {
        let clock = ManualClock::new(1_000);
        let mut hour = tokio::spawn(clock.sleep(Duration::from_secs(3_600)));
        let mut minute = tokio::spawn(clock.sleep_until(61_000));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !hour.is_finished() && !minute.is_finished(),
            "nothing is due yet"
        );
        clock.advance(Duration::from_secs(60));
        (&mut minute).await.unwrap();
        clock.set(0);
        assert_eq!(clock.now_ms(), 61_000, "time never goes back");
        tokio::task::yield_now().await;
        assert!(!hour.is_finished());
        clock.advance(Duration::from_secs(3_600));
        (&mut hour).await.unwrap();
    }
}
