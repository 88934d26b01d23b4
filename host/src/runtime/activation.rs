//! The run actor: delivers undelivered inputs to the workflow as one
//! activation, records what it produced in one commit, and only then lets
//! the effects happen (timers armed, activities dispatched, the outcome
//! announced). It rebuilds the instance by replay when it is not cached,
//! parks the run on non-determinism and retries failed workflow tasks after
//! a backoff.

use std::sync::Arc;

use crate::engine::{Activated, ActivationFailure, LoadedComponent, WasmEngine, WorkflowInstance};
use crate::error::{Error, Result};
use crate::history::{
    ActivationCompleted, CancellationType, Event, HistoryEvent, NonDeterminism, RunMachine,
    split_activations,
};
use crate::limits::Limit;
use crate::runtime::run::LiveRun;
use crate::runtime::{Core, RunHandle};
use crate::sandbox::RunFacts;
use crate::store::{ActivityTask, Batch, Check, Op, StoreError, TimerRecord};
use crate::types::{Failure, Outcome, Payload};
use crate::worker::dispatch::dispatch;

use super::failures::{back_off, fail_run, rebuild_failed, task_failed};
use super::limits::check_limits;
use super::memory::{note_refusal, wait_for_memory};

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
        let has_work = !mailbox.queries.is_empty()
            || (!mailbox.inputs.is_empty() && !mailbox.backing_off && mailbox.parked.is_none());
        if mailbox.driving || !has_work {
            return;
        }
        mailbox.driving = true;
    }
    core.tasks.spawn(drive(core.clone(), run.clone()));
}

async fn drive(core: Arc<Core>, run: Arc<RunHandle>) {
    loop {
        let (inputs, queries) = {
            let mut mailbox = run.mailbox();
            let mut inputs = if mailbox.backing_off || mailbox.parked.is_some() {
                Vec::new()
            } else {
                std::mem::take(&mut mailbox.inputs)
            };
            // Commits finish in id order but their inputs may be pushed in
            // another: deliver them as history records them.
            inputs.sort_by_key(|e| e.id);
            mailbox.saw(inputs.iter().map(|e| e.id));
            let queries = std::mem::take(&mut mailbox.queries);
            if core.shutdown.is_cancelled() {
                // Stopping: what is undelivered stays in the store.
                mailbox.driving = false;
                return;
            }
            if inputs.is_empty() && queries.is_empty() {
                mailbox.driving = false;
                return;
            }
            (inputs, queries)
        };
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
            .activate(wasm, &inputs, time_ms, true)
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
fn produced_events(
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
    }
}

/// What an activation or query starts from: the cached instance, or what
/// replay needs to rebuild one (on the blocking thread that will use it).
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
                replay(wasm, component, facts, &history).map(|(live, _)| live)
            }
        }
    }
}

/// The cached instance, or the component and history to rebuild it. A run
/// that has never been activated has nothing to replay, so its history is
/// not read back.
async fn prepare(core: &Arc<Core>, run: &Arc<RunHandle>) -> Result<Ready, RebuildError> {
    if let Some(live) = run.take_live() {
        return Ok(Ready::Live(live));
    }
    let component = core
        .component(&run.component)
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
        let result = live.instance.activate(&running.wasm, &inputs, now, false);
        Ok((live, result, now))
    })
    .await
    .map_err(|panic| RebuildError::Failure(ActivationFailure::Trap(panic.to_string())))
    .and_then(|built| built);
    let (mut live, result, now) = match ran {
        Ok(ran) => ran,
        Err(err) => return rebuild_failed(core, run, inputs, err).await,
    };
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

/// The batch that records an activation, and what its effects need once
/// it is durable.
pub(crate) struct Recording {
    pub(crate) batch: Batch,
    consumed: Vec<u64>,
    produced: Vec<Event>,
    machine: RunMachine,
    outcome: Option<Outcome>,
    now: u64,
}

/// Add to `batch` what records an activation of `run` that consumed
/// `inputs` and produced `activated` at workflow time `now`: its events, the
/// boundary, follow-up inputs, timer and task rows, and the close.
pub(crate) fn recording(
    run: &RunHandle,
    mut machine: RunMachine,
    inputs: &[HistoryEvent],
    activated: Activated,
    now: u64,
    mut batch: Batch,
) -> Recording {
    for input in inputs {
        machine.apply(&input.event);
    }
    let (mut events, followups) = produced_events(&machine, &activated, now);
    let produced = events.clone();
    let consumed: Vec<u64> = inputs.iter().map(|e| e.id).collect();
    events.push(Event::ActivationCompleted(ActivationCompleted {
        consumed: consumed.clone(),
    }));
    batch = batch.op(Op::Append {
        run_id: run.id,
        time_ms: now,
        events,
    });
    if !followups.is_empty() {
        batch = batch.op(Op::Append {
            run_id: run.id,
            time_ms: now,
            events: followups,
        });
    }
    let mut scratch = machine.clone();
    let started_now = |seq: u32| {
        produced
            .iter()
            .any(|e| matches!(e, Event::TimerStarted(t) if t.seq == seq))
    };
    for event in &produced {
        scratch.apply(event);
        match event {
            Event::TimerStarted(t) => {
                batch = batch.op(Op::InsertTimer(timer(run, t.seq, t.fire_at_ms)))
            }
            Event::TimerCancelled(t) => {
                // A timer resolves once: if it fired meanwhile, this
                // activation is stale and runs again with the firing.
                if !started_now(t.seq) {
                    batch = batch.check(Check::TimerPending(run.id, t.seq));
                }
                batch = batch.op(Op::DeleteTimer(run.id, t.seq));
            }
            Event::ActivityCancelRequested(a) => {
                // Likewise an activity that resolved meanwhile.
                batch = batch.check(Check::TaskPending(run.id, a.seq));
                if scratch.cancellation_type(a.seq)
                    != Some(CancellationType::WaitCancellationCompleted)
                {
                    batch = batch.op(Op::DeleteTask(run.id, a.seq));
                }
            }
            Event::ActivityScheduled(_) => {
                if let Some(task) = task(run, event, now) {
                    batch = batch.op(Op::InsertTask(task));
                }
            }
            _ => {}
        }
    }
    if let Some(outcome) = &activated.outcome {
        batch = batch.op(Op::CloseRun {
            run_id: run.id,
            outcome: outcome.clone(),
            closed_at_ms: now,
        });
    }
    Recording {
        batch,
        consumed,
        produced,
        machine,
        outcome: activated.outcome,
        now,
    }
}

/// The recording is durable: let its effects happen, deliver its follow-up
/// inputs, and close the run or cache its instance.
pub(crate) fn committed(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    recording: Recording,
    live: Option<LiveRun>,
    appended: Vec<HistoryEvent>,
) {
    let Recording {
        consumed,
        produced,
        mut machine,
        outcome,
        now,
        ..
    } = recording;
    if run.is_closed() {
        tracing::debug!(run_id = %run.id, "run closed while it was activated; no effects");
        return;
    }
    {
        let mut mailbox = run.mailbox();
        mailbox.task_failures = 0;
        mailbox.memory_needed = 0;
        mailbox.saw(appended.iter().map(|e| e.id));
    }
    for event in &produced {
        effect(core, run, &machine, event, now);
        machine.apply(event);
    }
    // Follow-up inputs only: a start committed with its first activation
    // appends inputs that activation already consumed.
    run.push_inputs(
        appended
            .into_iter()
            .filter(|e| e.event.is_input() && !consumed.contains(&e.id)),
    );
    match outcome {
        Some(outcome) => finish(core, run, &machine, outcome),
        None => {
            if let Some(mut live) = live
                && core.cache.enabled()
            {
                live.machine = machine;
                live.last_time_ms = now;
                run.put_live(live);
                core.cache.touch(run);
            }
        }
    }
}

/// Commit what an activation produced; then apply its effects.
async fn record(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    machine: RunMachine,
    live: Option<LiveRun>,
    inputs: Vec<HistoryEvent>,
    activated: Activated,
    now: u64,
) {
    let mut checks = Batch::default().check(Check::RunOpen(run.id));
    if activated.outcome.is_some() {
        // Temporal's rule: a run does not close over inputs its code has not
        // seen (a signal that came while it ran). It runs again with them.
        let seen = run.mailbox().seen_through;
        checks = checks.check(Check::NoEventsAfter(run.id, seen));
    }
    let mut recording = recording(run, machine, &inputs, activated, now, checks);
    match core
        .store
        .commit(std::mem::take(&mut recording.batch))
        .await
    {
        Ok(appended) => committed(core, run, recording, live, appended),
        Err(StoreError::CheckFailed(Check::RunOpen(_))) => {
            tracing::debug!(run_id = %run.id, "run closed while it was activated; dropping the activation");
        }
        Err(StoreError::CheckFailed(check)) => {
            // A command this activation cancels resolved while it ran, or
            // it closes the run over an input that came meanwhile. Its
            // instance saw a world that no longer holds: drop it and run the
            // activation again, from history, with what came.
            tracing::debug!(run_id = %run.id, "stale activation ({check}); running it again");
            drop(live);
            requeue(run, inputs);
            tokio::task::yield_now().await;
        }
        Err(err) => {
            tracing::warn!(run_id = %run.id, "could not record an activation: {err}");
            requeue(run, inputs);
            run.mailbox().task_failures += 1;
            back_off(core, run);
        }
    }
}

/// Run a new run's first activation before anything is stored, so the start
/// and the activation can be committed together. `None` if it did not
/// produce an outcome cleanly; the caller then starts the run the ordinary
/// way and the actor handles the failure.
pub(crate) async fn first_activation(
    core: &Arc<Core>,
    run: &RunHandle,
    component: Arc<LoadedComponent>,
    inputs: &[HistoryEvent],
    now: u64,
) -> Option<(LiveRun, Activated)> {
    let (running, events, facts) = (core.clone(), inputs.to_vec(), facts(run));
    tokio::task::spawn_blocking(move || {
        let (mut live, _) = replay(&running.wasm, component, facts, &[]).ok()?;
        let inputs: Vec<&Event> = events.iter().map(|e| &e.event).collect();
        let activated = live
            .instance
            .activate(&running.wasm, &inputs, now, false)
            .ok()?;
        live.last_time_ms = now;
        Some((live, activated))
    })
    .await
    .ok()
    .flatten()
}

/// The effect of a committed event.
fn effect(core: &Arc<Core>, run: &Arc<RunHandle>, machine: &RunMachine, event: &Event, now: u64) {
    match event {
        Event::TimerStarted(t) => core.timers.arm(timer(run, t.seq, t.fire_at_ms)),
        Event::TimerCancelled(t) => core.timers.disarm(run.id, t.seq),
        Event::ActivityScheduled(_) => {
            if let Some(task) = task(run, event, now) {
                dispatch(core, task);
            }
        }
        Event::ActivityCancelRequested(a)
            if machine.cancellation_type(a.seq) != Some(CancellationType::Abandon) =>
        {
            core.cancel_activity(run.id, a.seq);
        }
        _ => {}
    }
}

/// The run closed: announce it and stop its timers and activities.
pub(crate) fn finish(
    core: &Arc<Core>,
    run: &Arc<RunHandle>,
    machine: &RunMachine,
    outcome: Outcome,
) {
    for (seq, _) in machine.pending_timers() {
        core.timers.disarm(run.id, seq);
    }
    core.cancel_run_activities(run.id);
    tracing::info!(workflow_id = %run.workflow_id, run_id = %run.id, "run closed: {outcome}");
    core.remove_run(run);
    drop(run.take_live());
    run.close(outcome);
}

fn timer(run: &RunHandle, seq: u32, fire_at_ms: u64) -> TimerRecord {
    TimerRecord {
        run_id: run.id,
        seq,
        fire_at_ms,
    }
}

fn task(run: &RunHandle, event: &Event, now: u64) -> Option<ActivityTask> {
    let Event::ActivityScheduled(scheduled) = event else {
        return None;
    };
    Some(ActivityTask {
        run_id: run.id,
        seq: scheduled.seq,
        workflow_id: run.workflow_id.clone(),
        name: scheduled.name.clone(),
        input: scheduled.input.clone(),
        options: scheduled.options.clone(),
        attempt: 1,
        scheduled_at_ms: now,
        not_before_ms: now,
        heartbeat: None,
    })
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
