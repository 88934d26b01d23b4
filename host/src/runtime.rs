//! The orchestration of runs: the shared [`Core`], one actor per open run
//! (its mailbox, its cached instance), the activation loop with replay, the
//! instance cache and recovery at startup.

pub(crate) mod activation;
mod busy;
mod cache;
pub(crate) mod continuation;
pub(crate) mod deadline;
pub(crate) mod delay;
pub(crate) mod failures;
pub(crate) mod limits;
mod memory;
pub(crate) mod recording;
mod recovery;
pub(crate) mod retry;
mod run;
pub(crate) mod upgrade;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::Clock;
use crate::engine::{LoadedComponent, WasmEngine};
use crate::error::{Error, Result};
use crate::history::HistoryEvent;
use crate::host::HostConfig;
use crate::ids::{ComponentId, RunId, WorkflowId};
use crate::store::Store;
use crate::worker::Activities;
use crate::worker::timers::TimerService;

pub(crate) use busy::{Busy, Working};
pub(crate) use cache::InstanceCache;
pub use recovery::Recovered;
pub(crate) use recovery::recover;
pub(crate) use run::{LiveRun, QueryRequest, RunHandle, UpgradeRequest};

/// The open runs, by run id and by workflow id.
#[derive(Default)]
struct Registry {
    runs: HashMap<RunId, Arc<RunHandle>>,
    by_workflow: HashMap<WorkflowId, RunId>,
}

/// Everything the host's tasks share.
pub(crate) struct Core {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) wasm: WasmEngine,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: HostConfig,
    pub(crate) activities: Activities,
    pub(crate) blocking: Arc<Semaphore>,
    pub(crate) timers: TimerService,
    pub(crate) cache: Arc<InstanceCache>,
    /// Cancelled when the host stops: every task ends.
    pub(crate) shutdown: CancellationToken,
    /// Cancelled when a graceful stop begins: long polls end, no activity
    /// attempt starts, attempts in flight finish.
    pub(crate) stopping: CancellationToken,
    /// Every task the host spawns, so that a stop can wait for them.
    pub(crate) tasks: TaskTracker,
    /// The activity tasks among them, drained first.
    pub(crate) activity_tasks: TaskTracker,
    /// The work in hand, for time-skipping tests.
    pub(crate) busy: Arc<Busy>,
    /// Held by a compatibility check or an upgrade: one at a time.
    pub(crate) upgrading: tokio::sync::Mutex<()>,
    registry: Mutex<Registry>,
    tokens: Mutex<HashMap<(RunId, u32), CancellationToken>>,
    versions: Mutex<HashMap<String, ComponentId>>,
}

impl Core {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        wasm: WasmEngine,
        clock: Arc<dyn Clock>,
        config: HostConfig,
        activities: Activities,
    ) -> Arc<Self> {
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let cache = Arc::new(InstanceCache::new(config.cache_capacity));
        let shedding = Arc::downgrade(&cache);
        wasm.memory().set_shedder(Box::new(move |budget, bytes| {
            if let Some(cache) = shedding.upgrade() {
                cache.shed(budget, bytes);
            }
        }));
        Arc::new_cyclic(|core| Core {
            timers: TimerService::start(core.clone(), clock.clone(), shutdown.clone(), &tasks),
            shutdown,
            stopping: CancellationToken::new(),
            tasks,
            activity_tasks: TaskTracker::new(),
            busy: Arc::default(),
            upgrading: tokio::sync::Mutex::default(),
            store,
            wasm,
            clock,
            blocking: Arc::new(Semaphore::new(config.blocking_threads.max(1))),
            cache,
            config,
            activities,
            registry: Mutex::default(),
            tokens: Mutex::default(),
            versions: Mutex::default(),
        })
    }

    /// Hand committed events to their run: inputs go to its mailbox.
    pub(crate) fn deliver(self: &Arc<Self>, run: RunId, appended: Vec<HistoryEvent>) {
        if let Some(handle) = self.run(run) {
            handle.push_inputs(appended.into_iter().filter(|e| e.event.is_input()));
            activation::wake(self, &handle);
        }
    }

    /// The open run `run`, if this host holds it.
    pub(crate) fn run(&self, run: RunId) -> Option<Arc<RunHandle>> {
        self.registry.lock().ok()?.runs.get(&run).cloned()
    }

    /// Every open run this host holds.
    pub(crate) fn open_runs(&self) -> Vec<Arc<RunHandle>> {
        self.registry
            .lock()
            .map(|registry| registry.runs.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The open run of `workflow_id`, if any.
    pub(crate) fn open_run(&self, workflow_id: &WorkflowId) -> Option<Arc<RunHandle>> {
        let registry = self.registry.lock().ok()?;
        registry
            .by_workflow
            .get(workflow_id)
            .and_then(|run| registry.runs.get(run))
            .cloned()
    }

    pub(crate) fn insert_run(&self, handle: Arc<RunHandle>) {
        if let Ok(mut registry) = self.registry.lock() {
            registry
                .by_workflow
                .insert(handle.workflow_id.clone(), handle.id);
            registry.runs.insert(handle.id, handle);
        }
    }

    pub(crate) fn remove_run(&self, handle: &RunHandle) {
        if let Ok(mut registry) = self.registry.lock() {
            registry.runs.remove(&handle.id);
            if registry.by_workflow.get(&handle.workflow_id) == Some(&handle.id) {
                registry.by_workflow.remove(&handle.workflow_id);
            }
        }
        self.cache.remove(handle.id);
    }

    /// The cancellation token of an activity task, created on first use.
    pub(crate) fn activity_token(&self, run: RunId, seq: u32) -> CancellationToken {
        self.tokens
            .lock()
            .map(|mut tokens| tokens.entry((run, seq)).or_default().clone())
            .unwrap_or_default()
    }

    pub(crate) fn cancel_activity(&self, run: RunId, seq: u32) {
        if let Some(token) = self
            .tokens
            .lock()
            .ok()
            .and_then(|t| t.get(&(run, seq)).cloned())
        {
            token.cancel();
        }
    }

    /// Tell every running activity of `run` to stop (the run closed).
    pub(crate) fn cancel_run_activities(&self, run: RunId) {
        if let Ok(tokens) = self.tokens.lock() {
            for ((owner, _), token) in tokens.iter() {
                if *owner == run {
                    token.cancel();
                }
            }
        }
    }

    pub(crate) fn forget_token(&self, run: RunId, seq: u32) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(&(run, seq));
        }
    }

    /// The current version of `workflow_type`.
    pub(crate) fn current_version(&self, workflow_type: &str) -> Option<ComponentId> {
        self.versions.lock().ok()?.get(workflow_type).cloned()
    }

    pub(crate) fn set_current_version(&self, workflow_type: String, component: ComponentId) {
        if let Ok(mut versions) = self.versions.lock() {
            versions.insert(workflow_type, component);
        }
    }

    /// The workflow types with a current version, sorted.
    pub(crate) fn known_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self
            .versions
            .lock()
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default();
        types.sort();
        types
    }

    /// A compiled component, loaded from the store if this host has not
    /// compiled it yet.
    pub(crate) async fn component(
        self: &Arc<Self>,
        id: &ComponentId,
    ) -> Result<Arc<LoadedComponent>> {
        if let Some(loaded) = self.wasm.cached(id) {
            return Ok(loaded);
        }
        let record = self.store.component(id).await?.ok_or_else(|| {
            Error::FailedPrecondition(format!("component {id} is not in the store"))
        })?;
        let core = self.clone();
        tokio::task::spawn_blocking(move || core.wasm.load(&record.bytes))
            .await
            .map_err(|e| Error::internal("compiling a component", e))?
    }
}
