//! Testing workflows without waiting: an in-process host on a temporary
//! store whose clock moves only when the host has nothing else to do. While
//! a test awaits something through [`TestEnvironment::run`] (or
//! [`TestEnvironment::result`]), time jumps to the next timer, activity
//! retry or task backoff whenever every run is waiting on time, so a
//! workflow that sleeps 30 days finishes in milliseconds, and in the same
//! order as it would in real time. Activities are whatever the test
//! registers: the real ones, or test doubles. Time does not move while an
//! activity attempt runs, so a double that never returns (to test a
//! timeout) holds the clock: move it with [`TestEnvironment::clock`].
//!
//! ```no_run
//! use keel_host::testing::TestEnvironment;
//! use keel_host::{Activities, ActivityError, StartWorkflow};
//!
//! # async fn demo(component: Vec<u8>) -> keel_host::Result<()> {
//! let mut activities = Activities::new();
//! activities.register_async("do_purchase", |_ctx, _p: serde_json::Value| async move {
//!     Ok::<_, ActivityError>("bought".to_string())
//! });
//! let env = TestEnvironment::new(activities).await?;
//! env.host().deploy(component).await?;
//! let start = StartWorkflow::new("buy-1", "one-click-buy", &serde_json::json!({}))?;
//! env.host().start(start.clone()).await?;
//! // The workflow's 10-second grace period passes at once.
//! let bought: String = env.result(&start.workflow_id).await?.into_result()?;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, ManualClock, SystemClock};
use crate::error::{Error, Result};
use crate::host::{Host, HostConfig};
use crate::ids::WorkflowId;
use crate::types::Outcome;
use crate::worker::Activities;

/// How often the environment looks whether the host has gone quiet, in
/// real time.
const LOOK_EVERY: Duration = Duration::from_millis(1);

/// See the module docs.
pub struct TestEnvironment {
    host: Host,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnvironment")
            .field("now_ms", &self.clock.now_ms())
            .finish_non_exhaustive()
    }
}

impl TestEnvironment {
    /// An environment with the default host configuration and
    /// `activities`; its clock starts at the current time.
    ///
    /// # Errors
    /// The temporary store cannot be created.
    pub async fn new(activities: Activities) -> Result<Self> {
        Self::with_config(HostConfig::default(), activities).await
    }

    /// An environment with `config` and `activities`.
    ///
    /// # Errors
    /// The temporary store cannot be created.
    pub async fn with_config(config: HostConfig, activities: Activities) -> Result<Self> {
        let dir = tempfile::tempdir()
            .map_err(|e| Error::internal("creating a temporary directory for the store", e))?;
        let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
        let host = Host::builder()
            .sqlite(dir.path().join("keel.db"))
            .config(config)
            .activities(activities)
            .clock(clock.clone())
            .build()
            .await?;
        Ok(TestEnvironment {
            host,
            clock,
            _dir: dir,
        })
    }

    /// The host: deploy, start, signal, query and describe through it.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The environment's clock; [`ManualClock::advance`] moves it by hand.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// Await `until`, skipping time whenever every run waits on it.
    pub async fn run<F: Future>(&self, until: F) -> F::Output {
        let mut until = std::pin::pin!(until);
        loop {
            tokio::select! {
                biased;
                output = &mut until => return output,
                () = self.skip(None) => {}
            }
        }
    }

    /// The outcome of `workflow_id`'s run, skipping time until it closes.
    ///
    /// # Errors
    /// As [`Host::result`].
    pub async fn result(&self, workflow_id: &WorkflowId) -> Result<Outcome> {
        self.run(self.host.result(workflow_id)).await
    }

    /// Let `by` pass: everything due before then happens, in order, and the
    /// clock ends `by` later than it started.
    pub async fn sleep(&self, by: Duration) {
        let until = self
            .clock
            .now_ms()
            .saturating_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX));
        while self.clock.now_ms() < until {
            self.skip(Some(until)).await;
        }
        self.settle().await;
    }

    /// Wait until the host is quiet, then move the clock to the next wait
    /// (at most to `limit`). Returns without moving it only if nothing
    /// waits on time and there is no limit: then it waits for something
    /// else (a signal from the test) to happen.
    async fn skip(&self, limit: Option<u64>) {
        loop {
            self.settle().await;
            let next = match (self.clock.next_wait_ms(), limit) {
                (Some(next), Some(limit)) => next.min(limit),
                (Some(next), None) => next,
                (None, Some(limit)) => limit,
                (None, None) => continue,
            };
            self.clock.set(next);
            return;
        }
    }

    /// Wait until the host has no work in hand and no wait is due, twice
    /// in a row with nothing begun in between.
    async fn settle(&self) {
        let mut last = None;
        loop {
            tokio::time::sleep(LOOK_EVERY).await;
            let due = self
                .clock
                .next_wait_ms()
                .is_some_and(|at| at <= self.clock.now_ms());
            let quiet = self.host.quiet().filter(|_| !due);
            if quiet.is_some() && quiet == last {
                return;
            }
            last = quiet;
        }
    }
}
