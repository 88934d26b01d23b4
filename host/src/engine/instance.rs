//! One live workflow instance: a wasmtime store with its host state and the
//! component's bindings. Activations and queries run here, synchronously,
//! under the epoch deadline and the memory limit.

use std::sync::Arc;

use wasmtime::component::ResourceTableError;
use wasmtime::{ResourceLimiter, Store, Trap};

use super::WasmEngine;
use super::component::{LoadedComponent, flatten};
use crate::error::Error;
use crate::history::{Command, Event, RecordedActivation};
use crate::limits::{Limit, LimitExceeded};
use crate::sandbox::exports::{self as guest, Outcome as GuestOutcome, QueryError};
use crate::sandbox::wit_activity::Resolution;
use crate::sandbox::wit_types::Failure as GuestFailure;
use crate::sandbox::{
    Bindings, BlockingWait, HostState, InvalidOption, MAX_RESOURCES, Mode, ReadOnlyViolation,
    Refusal, RunFacts,
};
use crate::types::{Failure, Outcome, Payload};

/// Why an activation did not produce an outcome.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ActivationFailure {
    /// The activation ran past its deadline (a loop that never yields).
    Deadlock { timeout_ms: u128 },
    /// The instance tried to grow its memory past the limit.
    MemoryExceeded { limit_bytes: usize },
    /// The host's memory budget was spent by other runs; the instance
    /// needed `needed_bytes`.
    MemoryBudget {
        budget_bytes: usize,
        needed_bytes: usize,
    },
    /// Workflow code waited on a clock (`std::thread::sleep`), which no
    /// activation may do.
    Blocking(BlockingWait),
    /// The activation went past a limit.
    Limit(LimitExceeded),
    /// A command had an option history cannot hold (a NaN, say).
    InvalidCommand(InvalidOption),
    /// A query or `describe` tried to change the run.
    ReadOnly(ReadOnlyViolation),
    /// Workflow code panicked, with this message.
    Panic(String),
    /// The workflow called WASI `exit`.
    Exit(i32),
    /// Any other trap (a panic in workflow code, a host limit).
    Trap(String),
}

impl ActivationFailure {
    /// The stable code recorded in `WorkflowTaskFailed`.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ActivationFailure::Deadlock { .. } => "KEEL-DEADLOCK",
            ActivationFailure::MemoryExceeded { .. } => "KEEL-MEMORY",
            ActivationFailure::MemoryBudget { .. } => "KEEL-MEMORY-BUDGET",
            ActivationFailure::Blocking(_) => "KEEL-BLOCKING",
            ActivationFailure::Limit(exceeded) => exceeded.code(),
            ActivationFailure::InvalidCommand(_) => "KEEL-INVALID-COMMAND",
            ActivationFailure::ReadOnly(_) => "KEEL-READONLY",
            ActivationFailure::Panic(_) => "KEEL-PANIC",
            ActivationFailure::Exit(_) => "KEEL-EXIT",
            ActivationFailure::Trap(_) => "KEEL-TRAP",
        }
    }

    /// Deterministic failures that would recur on every retry fail the
    /// workflow; the rest fail only the workflow task, which is retried.
    pub(crate) fn workflow_failure(&self) -> Option<Failure> {
        match self {
            ActivationFailure::MemoryExceeded { .. } | ActivationFailure::Exit(_) => {
                Some(Failure::new(self.code(), self.to_string()).non_retryable())
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for ActivationFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActivationFailure::Deadlock { timeout_ms } => write!(
                f,
                "the activation ran longer than {timeout_ms} ms (a loop that never awaits, or \
                 heavy computation: move it into an activity); the workflow task will be retried"
            ),
            ActivationFailure::MemoryExceeded { limit_bytes } => write!(
                f,
                "the workflow exceeded its memory limit of {} MiB",
                limit_bytes >> 20
            ),
            ActivationFailure::MemoryBudget {
                budget_bytes,
                needed_bytes,
            } => write!(
                f,
                "the workflow needs {} MiB of memory and the host's memory budget of {} MiB is in \
                 use by other runs; the workflow task will be retried when memory is released",
                needed_bytes.div_ceil(1 << 20),
                budget_bytes >> 20
            ),
            ActivationFailure::Blocking(wait) => {
                write!(f, "{wait}; the workflow task will be retried")
            }
            ActivationFailure::Limit(exceeded) => {
                write!(f, "{exceeded}; the workflow task will be retried")
            }
            ActivationFailure::InvalidCommand(invalid) => write!(
                f,
                "the workflow issued an invalid command: {invalid}; the workflow task will be retried"
            ),
            ActivationFailure::ReadOnly(violation) => violation.fmt(f),
            ActivationFailure::Panic(message) => write!(f, "workflow code panicked: {message}"),
            ActivationFailure::Exit(code) => write!(f, "the workflow called exit({code})"),
            ActivationFailure::Trap(message) => write!(f, "the workflow trapped: {message}"),
        }
    }
}

/// What an activation produced.
#[derive(Debug)]
pub(crate) struct Activated {
    pub(crate) commands: Vec<Command>,
    pub(crate) outcome: Option<Outcome>,
}

/// See the module docs.
pub(crate) struct WorkflowInstance {
    store: Store<HostState>,
    bindings: Bindings,
}

/// A store with the sandbox's limits and the deadlock detector armed.
pub(super) fn deadline_store(engine: &WasmEngine, state: HostState) -> Store<HostState> {
    let mut store = Store::new(&engine.engine, state);
    store.limiter(|state| state as &mut dyn ResourceLimiter);
    store.epoch_deadline_trap();
    let ticks = engine.epoch_ticks(store.data().task_timeout_ms());
    store.set_epoch_deadline(ticks);
    store
}

/// Facts for an instance that only answers `describe`.
pub(super) fn describe_facts() -> RunFacts {
    RunFacts {
        workflow_id: String::new(),
        run_id: String::new(),
        workflow_type: String::new(),
        start_time_ms: 0,
        random_seed: 0,
        attempt: 1,
        task_timeout_ms: None,
    }
}

impl WorkflowInstance {
    /// A fresh instance of `component` for the run `facts` describes.
    pub(crate) fn new(
        engine: &WasmEngine,
        component: Arc<LoadedComponent>,
        facts: RunFacts,
    ) -> Result<Self, ActivationFailure> {
        let mut store = deadline_store(engine, engine.host_state(facts));
        let bindings = component
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(engine, &store, e))?;
        Ok(WorkflowInstance { store, bindings })
    }

    /// Deliver `inputs` as one activation at workflow time `now_ms`; when
    /// replaying, `replayed` is the activation as history recorded it.
    /// After a failure the instance must be dropped.
    pub(crate) fn activate(
        &mut self,
        engine: &WasmEngine,
        inputs: &[&Event],
        now_ms: u64,
        replayed: Option<&RecordedActivation>,
    ) -> Result<Activated, ActivationFailure> {
        let jobs: Vec<guest::Job> = inputs.iter().filter_map(|e| job(e)).collect();
        let state = self.store.data_mut();
        state.begin(now_ms, replayed.is_some(), Mode::Activation);
        if let Some(recorded) = replayed {
            state.set_replayed_patches(recorded.produced.iter().filter_map(|e| match &e.event {
                Event::MarkerRecorded(marker) => Some(marker.patch_id.clone()),
                _ => None,
            }));
        }
        let ticks = engine.epoch_ticks(self.store.data().task_timeout_ms());
        self.store.set_epoch_deadline(ticks);
        let outcome = self
            .bindings
            .keel_workflow_guest()
            .call_activate(&mut self.store, &jobs);
        let outcome = outcome.map_err(|e| classify(engine, &self.store, e))?;
        let commands = self.store.data_mut().take_commands();
        let continued = self.store.data_mut().take_continued();
        let limit = self.store.data().limits().payload_bytes;
        let outcome = match (outcome, continued) {
            (GuestOutcome::Pending, Some(continued)) => Some(Outcome::ContinuedAsNew(continued)),
            (_, Some(_)) => {
                return Err(ActivationFailure::InvalidCommand(InvalidOption {
                    field: "continue-as-new",
                    value: "followed by another outcome".into(),
                    rule: "a run that continues as new returns pending",
                }));
            }
            (outcome, None) => match outcome {
                GuestOutcome::Pending => None,
                GuestOutcome::Completed(bytes) if bytes.len() > limit => {
                    return Err(ActivationFailure::Trap(format!(
                        "the workflow's result is {} bytes, over the limit of {limit} bytes",
                        bytes.len()
                    )));
                }
                GuestOutcome::Completed(bytes) => {
                    Some(Outcome::Completed(Payload::from_bytes(bytes)))
                }
                GuestOutcome::Failed(f) => Some(Outcome::Failed(failure(f))),
                GuestOutcome::Cancelled(f) => Some(Outcome::Cancelled(failure(f))),
            },
        };
        Ok(Activated { commands, outcome })
    }

    /// Answer a read-only query at workflow time `now_ms`.
    pub(crate) fn query(
        &mut self,
        engine: &WasmEngine,
        name: &str,
        input: &Payload,
        now_ms: u64,
    ) -> Result<Result<Payload, Error>, ActivationFailure> {
        self.store.data_mut().begin(now_ms, true, Mode::ReadOnly);
        let ticks = engine.epoch_ticks(self.store.data().task_timeout_ms());
        self.store.set_epoch_deadline(ticks);
        let answer = self
            .bindings
            .keel_workflow_guest()
            .call_query(&mut self.store, name, &input.as_bytes().to_vec())
            .map_err(|e| classify(engine, &self.store, e))?;
        Ok(answer.map(Payload::from_bytes).map_err(|e| match e {
            QueryError::UnknownQuery(message) => Error::NotFound(message),
            QueryError::BadInput(message) => Error::InvalidArgument(message),
            QueryError::Failed(message) => Error::QueryFailed(message),
        }))
    }
}

fn classify(
    engine: &WasmEngine,
    store: &Store<HostState>,
    err: wasmtime::Error,
) -> ActivationFailure {
    match store.data().memory_refused() {
        Some(Refusal::InstanceLimit) => {
            return ActivationFailure::MemoryExceeded {
                limit_bytes: engine.config.memory_limit_bytes,
            };
        }
        Some(Refusal::HostBudget { needed }) => {
            return ActivationFailure::MemoryBudget {
                budget_bytes: engine.memory().limit(),
                needed_bytes: needed,
            };
        }
        None => {}
    }
    if let Some(ResourceTableError::Full) = err.downcast_ref::<ResourceTableError>() {
        return ActivationFailure::Limit(LimitExceeded {
            limit: Limit::WasiResources,
            value: MAX_RESOURCES as u64 + 1,
            max: MAX_RESOURCES as u64,
        });
    }
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return ActivationFailure::Exit(exit.0);
    }
    if let Some(exceeded) = err.downcast_ref::<LimitExceeded>() {
        return ActivationFailure::Limit(*exceeded);
    }
    if let Some(invalid) = err.downcast_ref::<InvalidOption>() {
        return ActivationFailure::InvalidCommand(invalid.clone());
    }
    if let Some(violation) = err.downcast_ref::<ReadOnlyViolation>() {
        return ActivationFailure::ReadOnly(*violation);
    }
    if let Some(wait) = err.downcast_ref::<BlockingWait>() {
        return ActivationFailure::Blocking(*wait);
    }
    if err.downcast_ref::<Trap>() == Some(&Trap::UnreachableCodeReached)
        && let Some(message) = store.data().panic_message()
    {
        return ActivationFailure::Panic(message);
    }
    if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return ActivationFailure::Deadlock {
            timeout_ms: engine
                .task_timeout(store.data().task_timeout_ms())
                .as_millis(),
        };
    }
    ActivationFailure::Trap(flatten(&err))
}

fn failure(f: GuestFailure) -> Failure {
    Failure {
        message: f.message,
        error_type: f.error_type,
        non_retryable: f.non_retryable,
        details: f.details.map(Payload::from_bytes),
    }
    .bounded()
}

fn guest_failure(f: &Failure) -> GuestFailure {
    GuestFailure {
        message: f.message.clone(),
        error_type: f.error_type.clone(),
        non_retryable: f.non_retryable,
        details: f.details.as_ref().map(|d| d.as_bytes().to_vec()),
    }
}

/// The job an input event becomes; `None` for events that are not inputs.
fn job(event: &Event) -> Option<guest::Job> {
    let resolve = |seq, resolution| {
        guest::Job::ResolveActivity(guest::ActivityResult {
            activity: seq,
            resolution,
        })
    };
    Some(match event {
        Event::WorkflowStarted(e) => guest::Job::Start(guest::Start {
            workflow_type: e.workflow_type.clone(),
            input: e.input.as_bytes().to_vec(),
        }),
        Event::TimerFired(e) => guest::Job::FireTimer(e.seq),
        Event::ActivityCompleted(e) => {
            resolve(e.seq, Resolution::Completed(e.result.as_bytes().to_vec()))
        }
        Event::ActivityFailed(e) => resolve(e.seq, Resolution::Failed(guest_failure(&e.failure))),
        Event::ActivityCancelled(e) => resolve(
            e.seq,
            Resolution::Cancelled(guest_failure(&Failure::new(
                "Cancelled",
                "activity cancelled",
            ))),
        ),
        Event::ExternalRequestCompleted(e) => resolve(e.seq, Resolution::Completed(Vec::new())),
        Event::ExternalRequestFailed(e) => {
            resolve(e.seq, Resolution::Failed(guest_failure(&e.failure)))
        }
        Event::ChildStarted(e) => resolve(
            e.seq,
            Resolution::Completed(e.run_id.to_string().into_bytes()),
        ),
        Event::ChildStartFailed(e) => resolve(e.seq, Resolution::Failed(guest_failure(&e.failure))),
        Event::ChildClosed(e) => resolve(
            e.seq,
            match e.result() {
                Ok(result) => Resolution::Completed(result.as_bytes().to_vec()),
                Err(failure) => Resolution::Failed(guest_failure(&failure)),
            },
        ),
        Event::SignalReceived(e) => guest::Job::Signal(crate::sandbox::wit_signal::Signal {
            name: e.name.clone(),
            input: e.input.as_bytes().to_vec(),
        }),
        Event::CancelRequested(e) => guest::Job::Cancel(e.reason.clone()),
        _ => return None,
    })
}
