//! Building a host: its tunables and the builder that opens its store,
//! recovers its runs and starts its services.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::Host;
use crate::clock::{Clock, SystemClock};
use crate::engine::{EngineConfig, WasmEngine};
use crate::error::{Error, Result};
use crate::limits::RunLimits;
use crate::runtime::{Core, Recovered, recover};
use crate::store::{SqliteStore, Store};
use crate::worker::Activities;

/// Tunables of a host. The defaults suit the embedded store.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Limits of the wasm engine.
    pub engine: EngineConfig,
    /// Live instances kept between activations; 0 turns caching off so
    /// every activation replays.
    pub cache_capacity: usize,
    /// Threads of the blocking-activity pool.
    pub blocking_threads: usize,
    /// First backoff after a failed workflow task; it doubles per failure.
    pub task_retry_initial: Duration,
    /// Longest backoff after failed workflow tasks.
    pub task_retry_max: Duration,
    /// What one run may make the host hold.
    pub limits: RunLimits,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            engine: EngineConfig::default(),
            cache_capacity: 500,
            blocking_threads: 16,
            task_retry_initial: Duration::from_secs(1),
            task_retry_max: Duration::from_secs(60),
            limits: RunLimits::default(),
        }
    }
}

/// Builds a [`Host`].
pub struct HostBuilder {
    store: StoreChoice,
    config: HostConfig,
    activities: Activities,
    clock: Arc<dyn Clock>,
}

enum StoreChoice {
    Sqlite(PathBuf),
    Custom(Arc<dyn Store>),
}

impl std::fmt::Debug for HostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder")
            .field("config", &self.config)
            .field("activities", &self.activities)
            .finish()
    }
}

impl HostBuilder {
    /// The defaults: SQLite at `keel.db`, system clock, no activities.
    pub(super) fn new() -> Self {
        HostBuilder {
            store: StoreChoice::Sqlite(PathBuf::from("keel.db")),
            config: HostConfig::default(),
            activities: Activities::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Store everything in the SQLite file at `path` (created if missing).
    pub fn sqlite(mut self, path: impl Into<PathBuf>) -> Self {
        self.store = StoreChoice::Sqlite(path.into());
        self
    }

    /// Use another store.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = StoreChoice::Custom(store);
        self
    }

    /// Set the tunables.
    pub fn config(mut self, config: HostConfig) -> Self {
        self.config = config;
        self
    }

    /// Offer these activities.
    pub fn activities(mut self, activities: Activities) -> Self {
        self.activities = activities;
        self
    }

    /// Read time from `clock` instead of the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Open the store, recover every open run and start serving. Must be
    /// called within a multi-threaded tokio runtime.
    ///
    /// # Errors
    /// The store cannot be opened or is corrupt; the engine cannot start.
    pub async fn build(self) -> Result<Host> {
        let store: Arc<dyn Store> = match self.store {
            StoreChoice::Sqlite(path) => Arc::new(
                tokio::task::spawn_blocking(move || SqliteStore::open(path))
                    .await
                    .map_err(|e| Error::internal("opening the store", e))??,
            ),
            StoreChoice::Custom(store) => store,
        };
        let wasm = WasmEngine::new(self.config.engine.clone())?;
        let core = Core::new(store, wasm, self.clock, self.config, self.activities);
        let recovered = recover(&core).await?;
        if recovered != Recovered::default() {
            tracing::info!(
                runs = recovered.runs,
                timers = recovered.timers,
                activities = recovered.activities,
                "recovered open runs from the store"
            );
        }
        Ok(Host { core, recovered })
    }
}
