//! The sandbox a workflow runs in: the host state behind one instance, the
//! keel capabilities (one module per WIT interface) and the deterministic
//! WASI subset. Nothing else is linked; [`check_imports`] names anything
//! else a component asks for.

mod activity;
mod child;
mod clocks;
mod external;
mod info;
mod lifecycle;
mod log;
mod memory;
mod patch;
mod random;
mod timer;
mod wasi;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::history::Command;
use crate::limits::{Limit, LimitExceeded};
use crate::types::ContinuedAsNew;

pub(crate) use self::activity::{InvalidOption, MIN_RETRY_INTERVAL_MS};
pub(crate) use self::bindings::exports::keel::workflow::guest as exports;
pub(crate) use self::bindings::keel::workflow::activity as wit_activity;
pub(crate) use self::bindings::keel::workflow::signal as wit_signal;
pub(crate) use self::bindings::keel::workflow::types as wit_types;
pub(crate) use self::bindings::{Workflow as Bindings, WorkflowPre as BindingsPre};
pub(crate) use self::clocks::BlockingWait;
pub(crate) use self::memory::{INSTANCE_ROOM, MemoryBudget, Refusal};

mod bindings {
    wasmtime::component::bindgen!({
        world: "workflow",
        path: "../wit",
        imports: { default: trappable },
    });
}

/// Interfaces a component may import, without their versions.
const ALLOWED_IMPORTS: &[&str] = &[
    "keel:workflow/types",
    "keel:workflow/timer",
    "keel:workflow/activity",
    "keel:workflow/signal",
    "keel:workflow/random",
    "keel:workflow/log",
    "keel:workflow/info",
    "keel:workflow/patch",
    "keel:workflow/lifecycle",
    "keel:workflow/external",
    "keel:workflow/child",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// The imports of `component` that the sandbox does not offer, by name.
pub(crate) fn check_imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .filter(|name| {
            let unversioned = name.split('@').next().unwrap_or(name);
            !ALLOWED_IMPORTS.contains(&unversioned)
        })
        .collect()
}

/// What the instance is being called for; commands are legal only in an
/// activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Activation,
    ReadOnly,
}

/// Workflow code called something that changes the run (a command, the
/// seeded generator) from a query or `describe`, which must leave the run as
/// they found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} is not allowed in a query or describe: they are read-only and must not change \
     what the workflow does next"
)]
pub(crate) struct ReadOnlyViolation {
    /// What the code attempted.
    pub(crate) what: &'static str,
}

/// Identity of the run an instance belongs to.
#[derive(Debug, Clone)]
pub(crate) struct RunFacts {
    pub(crate) workflow_id: String,
    pub(crate) run_id: String,
    pub(crate) workflow_type: String,
    pub(crate) start_time_ms: u64,
    pub(crate) random_seed: u64,
    /// Which attempt of its workflow the run is, from 1.
    pub(crate) attempt: u32,
    /// The run's own workflow-task timeout, if its start set one.
    pub(crate) task_timeout_ms: Option<u64>,
}

/// Limits on what one instance may use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Linear memory per instance, bytes.
    pub(crate) memory_bytes: usize,
    /// Largest payload a guest may hand the host, bytes.
    pub(crate) payload_bytes: usize,
    /// Commands one activation may issue.
    pub(crate) commands: usize,
    /// Bytes of payloads (activity inputs) one activation's commands may
    /// carry together.
    pub(crate) activation_payload_bytes: usize,
}

/// Clock and replay flags shared with the WASI implementations, and the
/// end of what the current call wrote to stderr (where a Rust panic message
/// goes).
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) now_ms: AtomicU64,
    pub(crate) replaying: AtomicBool,
    pub(crate) stderr_tail: Mutex<String>,
    pub(crate) log_budget: log::LogBudget,
}

/// Bytes of stderr kept per call, to find a panic message in.
const STDERR_TAIL: usize = 4096;

impl Shared {
    /// Keep `text` as the end of this call's stderr.
    pub(crate) fn keep_stderr(&self, text: &str) {
        let mut tail = self
            .stderr_tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tail.push_str(text);
        if tail.len() > STDERR_TAIL {
            let mut cut = tail.len() - STDERR_TAIL;
            while !tail.is_char_boundary(cut) {
                cut += 1;
            }
            tail.drain(..cut);
        }
    }

    /// The message of a Rust panic written to stderr during this call.
    fn panic_message(&self) -> Option<String> {
        let tail = self
            .stderr_tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (_, after) = tail.rsplit_once("panicked at ")?;
        let (location, message) = after.split_once(":\n").unwrap_or((after, ""));
        let message = message
            .split("\nnote: run with")
            .next()
            .unwrap_or_default()
            .trim();
        Some(format!("{message} (at {})", location.trim()))
    }
}

/// The state behind one workflow instance.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    facts: RunFacts,
    shared: Arc<Shared>,
    rng: rand_pcg::Pcg64Mcg,
    next_seq: u32,
    commands: Vec<Command>,
    /// Commands that started something in this call.
    started_now: usize,
    /// Sequence numbers cancelled in this call.
    cancelled_now: HashSet<u32>,
    /// Payload bytes the commands of this call carry.
    payload_now: usize,
    /// When replaying, the patches whose markers the replayed activation
    /// recorded.
    replayed_patches: Vec<String>,
    /// The run continues as new (`lifecycle.continue-as-new` in this call).
    continued: Option<ContinuedAsNew>,
    mode: Mode,
    limits: Limits,
    memory: memory::Grant,
}

/// WASI resources (pollables, streams) one instance may hold at once; a
/// workflow needs a handful, and each costs host memory the budget does not
/// see.
pub(crate) const MAX_RESOURCES: usize = 1_000;

impl HostState {
    /// The run's own workflow-task timeout, if its start set one.
    pub(crate) fn task_timeout_ms(&self) -> Option<u64> {
        self.facts.task_timeout_ms
    }

    pub(crate) fn new(facts: RunFacts, limits: Limits, budget: Arc<MemoryBudget>) -> Self {
        let shared = Arc::new(Shared::default());
        shared.now_ms.store(facts.start_time_ms, Ordering::Relaxed);
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        HostState {
            wasi: wasi::context(&facts, &shared),
            table,
            rng: random::generator(facts.random_seed),
            facts,
            shared,
            next_seq: 1,
            commands: Vec::new(),
            started_now: 0,
            cancelled_now: HashSet::new(),
            payload_now: 0,
            replayed_patches: Vec::new(),
            continued: None,
            mode: Mode::ReadOnly,
            memory: memory::Grant::new(budget, limits.memory_bytes),
            limits,
        }
    }

    /// Prepare for a call: workflow time, replay flag and mode.
    pub(crate) fn begin(&mut self, now_ms: u64, replaying: bool, mode: Mode) {
        self.shared.now_ms.store(now_ms, Ordering::Relaxed);
        self.shared.replaying.store(replaying, Ordering::Relaxed);
        self.mode = mode;
        self.replayed_patches.clear();
        self.commands.clear();
        self.continued = None;
        self.started_now = 0;
        self.cancelled_now.clear();
        self.payload_now = 0;
        self.memory.clear();
        self.shared.log_budget.reset();
        self.shared
            .stderr_tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// The patches whose markers the activation being replayed recorded.
    pub(crate) fn set_replayed_patches(&mut self, patches: impl IntoIterator<Item = String>) {
        self.replayed_patches.extend(patches);
    }

    /// The commands issued since [`HostState::begin`].
    pub(crate) fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    /// How the run continues as new, if this call asked for it.
    pub(crate) fn take_continued(&mut self) -> Option<ContinuedAsNew> {
        self.continued.take()
    }

    /// The message of a Rust panic in workflow code during this call, if
    /// it panicked.
    pub(crate) fn panic_message(&self) -> Option<String> {
        self.shared.panic_message()
    }

    /// Why the instance could not grow its memory in this call, if it
    /// tried and could not.
    pub(crate) fn memory_refused(&self) -> Option<Refusal> {
        self.memory.refused()
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    fn is_replaying(&self) -> bool {
        self.shared.replaying.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        self.shared.now_ms.load(Ordering::Relaxed)
    }

    /// Trap with [`ReadOnlyViolation`] unless the call is an activation.
    fn check_writable(&self, what: &'static str) -> wasmtime::Result<()> {
        if self.mode != Mode::Activation {
            return Err(wasmtime::Error::new(ReadOnlyViolation { what }));
        }
        Ok(())
    }

    /// Count a command against the activation's limit, or trap if
    /// commands are not allowed now or the limit is reached.
    fn count_command(&mut self, what: &'static str) -> wasmtime::Result<()> {
        self.check_writable(what)?;
        if self.started_now >= self.limits.commands {
            return Err(wasmtime::Error::new(LimitExceeded {
                limit: Limit::CommandsPerActivation,
                value: self.started_now as u64 + 1,
                max: self.limits.commands as u64,
            }));
        }
        self.started_now += 1;
        Ok(())
    }

    /// Record a command that starts something (a timer, an activity) under
    /// its own sequence number; at most `limits.commands` per activation.
    fn command(
        &mut self,
        what: &'static str,
        make: impl FnOnce(u32) -> Command,
    ) -> wasmtime::Result<u32> {
        self.count_command(what)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.commands.push(make(seq));
        Ok(seq)
    }

    /// Record a command without a sequence number (a patch marker); counted
    /// against the activation's command limit like one that starts
    /// something.
    fn marker(&mut self, command: Command) -> wasmtime::Result<()> {
        self.count_command("recording a patch marker")?;
        self.commands.push(command);
        Ok(())
    }

    /// Record the cancellation of command `seq`. Cancels are not counted
    /// against the limit (a run may cancel all it has pending at once), so
    /// they are bounded otherwise: one per issued command per activation,
    /// and a cancel of a command never issued is ignored.
    fn cancel_command(
        &mut self,
        what: &'static str,
        seq: u32,
        command: Command,
    ) -> wasmtime::Result<()> {
        self.check_writable(what)?;
        if seq < self.next_seq && self.cancelled_now.insert(seq) {
            self.commands.push(command);
        }
        Ok(())
    }

    fn check_payload(&self, what: &str, len: usize) -> wasmtime::Result<()> {
        if len > self.limits.payload_bytes {
            wasmtime::bail!(
                "{what} is {len} bytes, over the limit of {} bytes",
                self.limits.payload_bytes
            );
        }
        Ok(())
    }

    /// Count a command payload of `len` bytes against the activation's
    /// total: the host holds every command until the activation ends, and
    /// a guest can hand over the same buffer again and again.
    fn count_payload(&mut self, len: usize) -> wasmtime::Result<()> {
        let total = self.payload_now.saturating_add(len);
        if total > self.limits.activation_payload_bytes {
            return Err(wasmtime::Error::new(LimitExceeded {
                limit: Limit::ActivationPayloadBytes,
                value: total as u64,
                max: self.limits.activation_payload_bytes as u64,
            }));
        }
        self.payload_now = total;
        Ok(())
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.memory.growing(current, desired))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl bindings::keel::workflow::types::Host for HostState {}
impl bindings::keel::workflow::signal::Host for HostState {}

/// A linker offering exactly the sandbox's imports.
pub(crate) fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    bindings::Workflow::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
    wasi::add_to_linker(&mut linker)?;
    Ok(linker)
}
