//! The wasm side of the host: the wasmtime engine configured for
//! determinism, compiled components cached by content hash, and instances
//! that run activations.

mod component;
mod instance;
pub mod names;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lru::LruCache;
use wasmtime::component::Linker;
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::{Error, Result};
use crate::ids::ComponentId;
use crate::sandbox::{self, HostState, Limits, MemoryBudget};

pub use component::LoadedComponent;
pub(crate) use instance::{Activated, ActivationFailure, WorkflowInstance};

/// How often the epoch advances; the unit of the activation deadline.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits and sizes of the wasm engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Linear memory one instance may use, bytes. Exceeding it fails that
    /// workflow.
    pub memory_limit_bytes: usize,
    /// Linear memory all instances together may use, bytes. When it is
    /// spent, idle cached instances are dropped first; a run that still
    /// finds no room waits (shown in `describe`), and a growth that finds
    /// none fails only the workflow task, which is retried.
    pub memory_budget_bytes: usize,
    /// Compiled components kept in memory. One that is needed again after
    /// it was dropped is compiled again from the store (from wasmtime's
    /// on-disk cache when that is on).
    pub compiled_components: usize,
    /// Longest one activation may run before the deadlock detector fails the
    /// workflow task (retried after backoff).
    pub activation_timeout: Duration,
    /// Instances the pooling allocator holds at once (live workflows plus
    /// replays in progress).
    pub max_instances: u32,
    /// Largest payload a workflow may hand the host, bytes.
    pub max_payload_bytes: usize,
    /// Commands one activation may issue; more fail the workflow task.
    pub max_commands_per_activation: usize,
    /// Bytes of payloads (activity inputs) one activation's commands may
    /// carry together; more fail the workflow task.
    pub max_activation_payload_bytes: usize,
    /// Largest component accepted by a deploy, bytes.
    pub max_component_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            memory_limit_bytes: 64 << 20,
            memory_budget_bytes: 1 << 30,
            compiled_components: 64,
            activation_timeout: Duration::from_secs(2),
            max_instances: 1_000,
            max_payload_bytes: 2 << 20,
            max_commands_per_activation: 10_000,
            max_activation_payload_bytes: 16 << 20,
            max_component_bytes: 64 << 20,
        }
    }
}

/// The wasmtime engine, the sandbox's linker and the compiled components.
pub struct WasmEngine {
    engine: wasmtime::Engine,
    linker: Linker<HostState>,
    config: EngineConfig,
    components: Mutex<LruCache<ComponentId, Arc<LoadedComponent>>>,
    memory: Arc<MemoryBudget>,
    stop_ticker: Arc<AtomicBool>,
}

impl std::fmt::Debug for WasmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmEngine")
            .field("config", &self.config)
            .finish()
    }
}

impl WasmEngine {
    /// Build the engine and start its epoch ticker.
    ///
    /// # Errors
    /// [`Error::Internal`] if wasmtime rejects the configuration.
    pub fn new(config: EngineConfig) -> Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances * 8)
            .total_memories(config.max_instances * 2)
            .total_tables(config.max_instances * 4)
            .total_stacks(0)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16)
            .max_memory_size(config.memory_limit_bytes);
        let mut wasm = Config::new();
        // Threads are not compiled into this wasmtime, so shared memory and
        // atomics waits cannot be used.
        wasm.wasm_component_model(true)
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if let Ok(cache) = wasmtime::Cache::from_file(None) {
            wasm.cache(Some(cache));
        }
        let engine =
            wasmtime::Engine::new(&wasm).map_err(|e| Error::internal("configuring wasmtime", e))?;
        let linker =
            sandbox::linker(&engine).map_err(|e| Error::internal("linking the sandbox", e))?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (ticking, stop) = (engine.clone(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("keel-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| Error::internal("starting the epoch ticker", e))?;
        let compiled = NonZeroUsize::new(config.compiled_components).unwrap_or(NonZeroUsize::MIN);
        Ok(WasmEngine {
            engine,
            linker,
            memory: MemoryBudget::new(config.memory_budget_bytes),
            config,
            components: Mutex::new(LruCache::new(compiled)),
            stop_ticker,
        })
    }

    /// The engine's limits.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Validate and compile a component, or return the cached one.
    ///
    /// # Errors
    /// [`Error::ComponentRejected`] naming what is wrong: not a component,
    /// forbidden imports, missing exports, a failing `describe`, names or
    /// a size past the limits.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<LoadedComponent>> {
        let limit = self.config.max_component_bytes;
        if bytes.len() > limit {
            return Err(Error::ComponentRejected(format!(
                "it is {} bytes, over the limit of {limit} bytes (EngineConfig::max_component_bytes); \
                 build it in release mode, or raise the limit",
                bytes.len()
            )));
        }
        let id = ComponentId::of(bytes);
        if let Some(loaded) = self.cached(&id) {
            return Ok(loaded);
        }
        let loaded = Arc::new(LoadedComponent::compile(self, id.clone(), bytes)?);
        let mut components = self
            .components
            .lock()
            .map_err(|e| Error::internal("component cache", e))?;
        Ok(components.get_or_insert(id, || loaded).clone())
    }

    /// A component compiled earlier, if it is still kept.
    pub fn cached(&self, id: &ComponentId) -> Option<Arc<LoadedComponent>> {
        self.components.lock().ok()?.get(id).cloned()
    }

    /// The budget all instances' memory is reserved from.
    pub(crate) fn memory(&self) -> &Arc<MemoryBudget> {
        &self.memory
    }

    /// The state of a new instance, its memory counted against the budget.
    fn host_state(&self, facts: sandbox::RunFacts) -> HostState {
        HostState::new(facts, self.limits(), self.memory.clone())
    }

    fn limits(&self) -> Limits {
        Limits {
            memory_bytes: self.config.memory_limit_bytes,
            payload_bytes: self.config.max_payload_bytes,
            commands: self.config.max_commands_per_activation,
            activation_payload_bytes: self.config.max_activation_payload_bytes,
        }
    }

    /// How long an activation of a run whose start set `task_timeout_ms`
    /// may run: that timeout, at most the engine's activation timeout.
    fn task_timeout(&self, task_timeout_ms: Option<u64>) -> Duration {
        task_timeout_ms
            .map(Duration::from_millis)
            .map_or(self.config.activation_timeout, |t| {
                t.min(self.config.activation_timeout)
            })
    }

    fn epoch_ticks(&self, task_timeout_ms: Option<u64>) -> u64 {
        let ticks = self.task_timeout(task_timeout_ms).as_millis() / EPOCH_TICK.as_millis();
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

impl Drop for WasmEngine {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}
