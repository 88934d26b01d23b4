//! The run actor: delivers undelivered inputs to the workflow as one
//! activation and hands what it produced to `recording.rs`, which commits
//! it and only then lets the effects happen. It rebuilds the instance by
//! replay when it is not cached, waits for memory when the host's budget is
//! spent, parks the run on non-determinism and retries failed workflow
//! tasks after a backoff.

use std::sync::Arc;

use crate::engine::{Activated, ActivationFailure, LoadedComponent, WasmEngine, WorkflowInstance};
use crate::error::{Error, Result};
use crate::history::{Event, HistoryEvent, NonDeterminism, RunMachine, split_activations};
use crate::limits::Limit;
use crate::runtime::run::LiveRun;
use crate::runtime::{Core, RunHandle, Working};
use crate::sandbox::RunFacts;
use crate::types::{Failure, Outcome, Payload};

use super::failures::{fail_run, rebuild_failed, task_failed};
use super::limits::check_limits;
use super::memory::{note_refusal, wait_for_memory};
use super::recording::record;
use super::upgrade::upgrade;

/// Why an instance could not be rebuilt.
#[derive(Debug)]
pub(crate) enum RebuildError {
    /// The code no longer does what history recorded.
    NonDeterminism(NonDeterminism),
    /// Replay itself failed (a trap, a deadlock).
    Failure(ActivationFailure),
    /// The host could not load the component or the history.
    Host(Error),
}

impl std::fmt::Display for RebuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RebuildError::NonDeterminism(nd) => nd.fmt(f),
            RebuildError::Failure(failure) => write!(f, "replay failed: {failure}"),
            RebuildError::Host(err) => write!(f, "replay could not start: {err}"),
        }
    }
}

/// Start the run's actor if it has work and is not running already.
pub(crate) fn wake(core: &Arc<Core>, run: &Arc<RunHandle>) {
    {
        let mut mailbox = run.mailbox();
        if mailbox.driving || !mailbox.has_work() {
            return;
        }
        mailbox.driving = true;
    }
    let working = core.busy.begin();
    core.tasks.spawn(drive(core.clone(), run.clone(), working));
}

async fn drive(core: Arc<Core>, run: Arc<RunHandle>, _working: Working) {
    loop {
        let (upgrades, inputs, queries) = {
            let mut mailbox = run.mailbox();
            let upgrades = std::mem::take(&mut mailbox.upgrades);
            let (inputs, queries) = mailbox.take_work();
            if core.shutdown.is_cancelled() {
                // Stopping: what is undelivered stays in the store.
                mailbox.driving = false;
                return;
            }
            if upgrades.is_empty() && inputs.is_empty() && queries.is_empty() {
                mailbox.driving = false;
                return;
            }
            (upgrades, inputs, queries)
        };
        for request in upgrades {
            let verdict = upgrade(&core, &run, request.component).await;
            let _ = request.reply.send(verdict);
        }
        if !inputs.is_empty() {
            activate(&core, &run, inputs).await;
        }
        for query in queries {
            let answer = answer_query(&core, &run, &query.name, &query.input).await;
            let _ = query.reply.send(answer);
        }
    }
}

/// Replay `history` into a fresh instance, checking every recorded
/// activation against what the code does now. Returns the instance and the
/// outcome the replayed code reached, if it closed.
pub(crate) fn replay(
    wasm: &WasmEngine,
    component: Arc<LoadedComponent>,
    facts: RunFacts,
    history: &[HistoryEvent],
) -> Result<(LiveRun, Option<Outcome>), RebuildError> {
    let mut last_time_ms = facts.start_time_ms;
    let mut instance =
        WorkflowInstance::new(wasm, component, facts).map_err(RebuildError::Failure)?;
    let mut machine = RunMachine::default();
    let (activations, _) = split_activations(history);
    let mut outcome = None;
    for recorded in &activations {
        let time_ms = recorded.boundary.time_ms;
        let inputs: Vec<&Event> = recorded.inputs.iter().map(|e| &e.event).collect();
        for input in &inputs {
            machine.apply(input);
        }
        let activated = instance
            .activate(wasm, &inputs, time_ms, Some(recorded))
            .map_err(RebuildError::Failure)?;
        let produced = produced_events(&machine, &activated, time_ms).0;
        NonDeterminism::check(recorded, &produced).map_err(RebuildError::NonDeterminism)?;
        for event in &produced {
            machine.apply(event);
        }
        last_time_ms = time_ms;
        outcome = activated.outcome;
    }
    let live = LiveRun {
        instance,
        machine,
        last_time_ms,
    };
    Ok((live, outcome))
}

/// The events an activation produced (commands, then the closing event if
/// any), and its follow-up inputs.
pub(super) fn produced_events(
    machine: &RunMachine,
    activated: &Activated,
    time_ms: u64,
) -> (Vec<Event>, Vec<Event>) {
    let plan = machine.plan(&activated.commands, time_ms);
    let mut events = plan.events;
    match &activated.outcome {
        // The close is the last event; a closed run takes no more inputs.
        Some(outcome) => {
            events.push(Event::closing(outcome));
            (events, Vec::new())
        }
        None => (events, plan.followups),
    }
}

/// The run's identity as the sandbox needs it.
pub(crate) fn facts(run: &RunHandle) -> RunFacts {
    RunFacts {
        workflow_id: run.workflow_id.to_string(),
        run_id: run.id.to_string(),
        workflow_type: run.workflow_type.clone(),
        start_time_ms: run.start_time_ms,
        random_seed: run.random_seed,
        attempt: run.attempt(),
        task_timeout_ms: run.deadlines().task_timeout_ms,
    }
}

/// What an activation or query starts from: the cached instance, or what
/// replay needs to rebuild one (on the blocking thread that will use it).
#[allow(
    clippy::large_enum_variant,
    reason = "made once per activation and moved once; boxing the live run would allocate on every activation instead"
)]
enum Ready {
    Live(LiveRun),
    Rebuild {
        component: Arc<LoadedComponent>,
        history: Vec<HistoryEvent>,
    },
}

impl Ready {
    /// The instance, rebuilt by replay if it was not cached.
    fn build(self, wasm: &WasmEngine, facts: RunFacts) -> Result<LiveRun, RebuildError> {
        match self {
            Ready::Live(live) => Ok(live),
            Ready::Rebuild { component, history } => {
                let run_id = facts.run_id.clone();
                let rebuilt = replay(wasm, component, facts, &history).map(|(live, _)| live);
                tracing::debug!(
                    %run_id, events = history.len(), ok = rebuilt.is_ok(),
                    "instance rebuilt by replay"
                );
                rebuilt
            }
        }
    }
}

/// The cached instance, or the component and history to rebuild it. A run
/// that has never been activated has nothing to replay, so its history is
/// not read back.
async fn prepare(core: &Arc<Core>, run: &Arc<RunHandle>) -> Result<Ready, RebuildError> {
    if let Some(live) = run.take_live() {
        // An instance has been built: the run is no longer fresh.
        run.take_fresh();
        return Ok(Ready::Live(live));
    }
    let component = core
        .component(&run.component())
        .await
        .map_err(RebuildError::Host)?;
    let history = if run.take_fresh() {
        Vec::new()
    } else {
        core.store
            .history(run.id)
            .await
            .map_err(|e| RebuildError::Host(e.into()))?
    };
    Ok(Ready::Rebuild { component, history })
}

async fn activate(core: &Arc<Core>, run: &Arc<RunHandle>, inputs: Vec<HistoryEvent>) {
    if !wait_for_memory(core, run).await {
        // Stopping: the inputs stay in the store for the next start.
        return;
    }
    let ready = match prepare(core, run).await {
        Ok(ready) => ready,
        Err(err) => return rebuild_failed(core, run, inputs, err).await,
    };
    let (running, events, facts) = (core.clone(), inputs.clone(), facts(run));
    let ran = tokio::task::spawn_blocking(move || {
        let mut live = ready.build(&running.wasm, facts)?;
        let now = running.clock.now_ms().max(live.last_time_ms);
        let inputs: Vec<&Event> = events.iter().map(|e| &e.event).collect();
        let result = live.instance.activate(&running.wasm, &inputs, now, None);
        Ok((live, result, now))
    })
    .await
    .map_err(|panic| RebuildError::Failure(ActivationFailure::Trap(panic.to_string())))
    .and_then(|built| built);
    let (live, result, now) = match ran {
        Ok(ran) => ran,
        Err(err) => return rebuild_failed(core, run, inputs, err).await,
    };
    conclude(core, run, live, inputs, result, now).await;
}

/// Record what an activation of `inputs` ended with: its commands and
/// outcome if it stayed within the limits, else the failed task (retried)
/// or the failed run.
pub(crate) async fn conclude(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    mut live: LiveRun,
    inputs: Vec<HistoryEvent>,
    result: Result<Activated, ActivationFailure>,
    now: u64,
) {
    match result {
        Ok(activated) => match check_limits(core, run, &live.machine, &inputs, &activated) {
            Ok(()) => {
                // `committed` gives the instance its updated machine back.
                let machine = std::mem::take(&mut live.machine);
                record(core, run, machine, Some(live), inputs, activated, now).await;
            }
            Err(exceeded) if exceeded.limit == Limit::HistoryEvents => {
                let failure = Failure::new(exceeded.code(), exceeded.to_string()).non_retryable();
                fail_run(core, run, &live.machine, inputs, failure, now).await;
            }
            Err(exceeded) => {
                let message = format!("{exceeded}; the workflow task will be retried");
                task_failed(core, run, inputs, exceeded.code(), message).await;
            }
        },
        Err(failure) => match failure.workflow_failure() {
            Some(fatal) => fail_run(core, run, &live.machine, inputs, fatal, now).await,
            None => {
                note_refusal(run, &failure);
                task_failed(core, run, inputs, failure.code(), failure.to_string()).await
            }
        },
    }
}

/// What a new run's first activation, run before anything is stored, ended
/// with.
pub(crate) type FirstActivation =
    Result<(LiveRun, Result<Activated, ActivationFailure>), RebuildError>;

/// Run a new run's first activation before anything is stored, so that the
/// start and the activation can be committed together. If it fails, the
/// caller stores the start alone and hands the failure to [`conclude`] or
/// [`rebuild_failed`]: the activation is not run a second time.
pub(crate) async fn first_activation(
    core: &Arc<Core>,
    run: &RunHandle,
    component: Arc<LoadedComponent>,
    inputs: &[HistoryEvent],
    now: u64,
) -> FirstActivation {
    let (running, events, facts) = (core.clone(), inputs.to_vec(), facts(run));
    tokio::task::spawn_blocking(move || {
        let (mut live, _) = replay(&running.wasm, component, facts, &[])?;
        let inputs: Vec<&Event> = events.iter().map(|e| &e.event).collect();
        let result = live.instance.activate(&running.wasm, &inputs, now, None);
        live.last_time_ms = now;
        Ok((live, result))
    })
    .await
    .map_err(|panic| RebuildError::Failure(ActivationFailure::Trap(panic.to_string())))
    .and_then(|ran| ran)
}

/// Put undelivered inputs back at the front of the mailbox.
pub(super) fn requeue(run: &RunHandle, inputs: Vec<HistoryEvent>) {
    let mut mailbox = run.mailbox();
    let later = std::mem::replace(&mut mailbox.inputs, inputs);
    mailbox.inputs.extend(later);
}

async fn answer_query(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    name: &str,
    input: &Payload,
) -> Result<Payload> {
    if let Some(parked) = run.mailbox().parked.clone() {
        return Err(Error::FailedPrecondition(format!(
            "the run is parked: {parked}"
        )));
    }
    let unbuildable = |e: RebuildError| {
        Error::FailedPrecondition(format!("cannot rebuild the run to query it: {e}"))
    };
    let ready = prepare(core, run).await.map_err(unbuildable)?;
    let (querying, name, input, facts) =
        (core.clone(), name.to_string(), input.clone(), facts(run));
    // The instance is dropped after the query: whatever the handler changed
    // in guest memory (std's hash keys, interior mutability) must not reach
    // the run, so its next activation rebuilds it by replay.
    let answer = tokio::task::spawn_blocking(move || {
        let mut live = ready.build(&querying.wasm, facts)?;
        let now = live.last_time_ms;
        Ok(live.instance.query(&querying.wasm, &name, &input, now))
    })
    .await
    .map_err(|e| Error::internal("query", e))?
    .map_err(unbuildable)?;
    answer.map_err(|failure| Error::QueryFailed(failure.to_string()))?
}
