//! The host's library API: build a host, deploy components, start runs and
//! talk to them. The gRPC server and the CLI wrap exactly this.

mod builder;
mod calls;
mod checks;
mod deployments;
mod requests;
mod stopping;

use checks::{check_signal, list};

pub use builder::{HostBuilder, HostConfig};
pub use calls::{
    Deployment, DeploymentInfo, PendingActivity, PendingTimer, RunDescription, StartWorkflow,
    Started,
};

use std::sync::Arc;

use crate::error::{Error, Result, quote};
use crate::history::{CancelRequested, Event, HistoryEvent, SignalReceived, WorkflowStarted};
use crate::ids::{self, RequestId, RunId, WorkflowId};
use crate::runtime::{
    Core, QueryRequest, Recovered, RunHandle, activation, failures, limits, recording,
};
use crate::store::{Batch, Check, Op, RunFilter, RunRecord, StoreError};
use crate::types::{IdConflictPolicy, Outcome, Payload, RunStatus};

/// A running Keel host. Cheap to clone.
#[derive(Clone)]
pub struct Host {
    core: Arc<Core>,
    recovered: Recovered,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("recovered", &self.recovered)
            .finish()
    }
}

impl Host {
    /// A builder with the defaults: SQLite at `keel.db`, system clock, no
    /// activities.
    pub fn builder() -> HostBuilder {
        HostBuilder::new()
    }

    /// What this host took over from the store when it started.
    pub fn recovered(&self) -> Recovered {
        self.recovered
    }

    /// Start a run of a workflow type on its current version, as the
    /// start's id policies allow.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown type; [`Error::AlreadyExists`] if
    /// the id policies refuse; [`Error::InvalidArgument`] for an input over
    /// the payload limit.
    pub async fn start(&self, start: StartWorkflow) -> Result<Started> {
        self.start_with(start, None).await
    }

    /// Signal the open run of the start's workflow id, or start a run (with
    /// the signal as its first input) if none is open.
    ///
    /// # Errors
    /// As [`Host::start`] and [`Host::signal`].
    pub async fn signal_with_start(
        &self,
        start: StartWorkflow,
        name: &str,
        input: Payload,
    ) -> Result<Started> {
        if let Some(run) = self.core.open_run(&start.workflow_id) {
            self.signal_run(&run, name, input, start.request_id.as_ref())
                .await?;
            return Ok(Started {
                run_id: run.id,
                started: false,
            });
        }
        self.start_with(start, Some((name, input))).await
    }

    async fn start_with(
        &self,
        start: StartWorkflow,
        signal: Option<(&str, Payload)>,
    ) -> Result<Started> {
        let component_id = self
            .core
            .current_version(&start.workflow_type)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no deployed component serves workflow type {} (known types: {})",
                    quote(&start.workflow_type),
                    list(&self.core.known_types())
                ))
            })?;
        self.check_payload("input", &start.input)?;
        let request = start.request_id.clone();
        if let Some(started) = self
            .started_by(&start.workflow_id, request.as_ref())
            .await?
        {
            return Ok(started);
        }
        if let Some(open) = self.core.open_run(&start.workflow_id) {
            match start.id_conflict {
                IdConflictPolicy::Fail => {
                    let err = Error::AlreadyExists(format!(
                        "workflow id {} already has an open run ({})",
                        start.workflow_id, open.id
                    ));
                    return self
                        .start_refused(&start.workflow_id, request.as_ref(), err)
                        .await;
                }
                IdConflictPolicy::UseExisting => {
                    return Ok(Started {
                        run_id: open.id,
                        started: false,
                    });
                }
                IdConflictPolicy::TerminateExisting => {
                    self.terminate(
                        &start.workflow_id,
                        "terminated by a new start (terminate-existing)",
                    )
                    .await?;
                }
            }
        }
        let mut events = Vec::new();
        if let Some((name, input)) = signal {
            let loaded = self.core.component(&component_id).await?;
            let info = loaded.workflow_type(&start.workflow_type);
            check_signal(info, &start.workflow_type, name)?;
            self.check_payload("signal's input", &input)?;
            events.push(Event::SignalReceived(SignalReceived {
                name: name.to_string(),
                input,
            }));
        }
        let (run_id, seed) = (RunId::generate(), ids::random_seed());
        let now = self.core.clock.now_ms();
        events.insert(
            0,
            Event::WorkflowStarted(WorkflowStarted {
                workflow_id: start.workflow_id.clone(),
                workflow_type: start.workflow_type.clone(),
                input: start.input,
                component: component_id.clone(),
                random_seed: seed,
            }),
        );
        let mut batch = Batch::default()
            .check(Check::IdReusable(start.workflow_id.clone(), start.id_reuse))
            .op(Op::InsertRun(RunRecord {
                run_id,
                workflow_id: start.workflow_id.clone(),
                workflow_type: start.workflow_type.clone(),
                component: component_id.clone(),
                status: RunStatus::Running,
                created_at_ms: now,
                closed_at_ms: None,
                outcome: None,
            }))
            .op(Op::Append {
                run_id,
                time_ms: now,
                events: events.clone(),
            });
        if let Some(request) = &request {
            batch = batch
                .op(Op::RecordRequest(run_id, request.clone()))
                .op(Op::RecordStart {
                    workflow_id: start.workflow_id.clone(),
                    request_id: request.clone(),
                    run_id,
                });
        }
        let workflow_id = start.workflow_id.clone();
        let handle = RunHandle::new(
            run_id,
            start.workflow_id,
            start.workflow_type,
            component_id.clone(),
            now,
            seed,
        );
        let refused = |e: StoreError| match e {
            StoreError::CheckFailed(check) => Error::AlreadyExists(check.to_string()),
            other => other.into(),
        };
        // The first activation runs before anything is stored and is
        // committed with the start: one durable write instead of two, and
        // its effects still follow the commit. New runs' events get ids 1..
        let inputs: Vec<HistoryEvent> = (1..)
            .zip(events)
            .map(|(id, event)| HistoryEvent {
                id,
                time_ms: now,
                event,
            })
            .collect();
        let component = self.core.component(&component_id).await?;
        let first = activation::first_activation(&self.core, &handle, component, &inputs, now)
            .await
            .filter(|(live, activated)| {
                limits::check_limits(&self.core, &handle, &live.machine, &inputs, activated).is_ok()
            });
        if let Some((mut live, activated)) = first {
            let machine = std::mem::take(&mut live.machine);
            let mut recording =
                recording::recording(&handle, machine, &inputs, activated, now, batch);
            let committed = self
                .core
                .store
                .commit(std::mem::take(&mut recording.batch))
                .await;
            let appended = match committed {
                Ok(appended) => appended,
                Err(err) => {
                    return self
                        .start_refused(&workflow_id, request.as_ref(), refused(err))
                        .await;
                }
            };
            self.core.insert_run(handle.clone());
            recording::committed(&self.core, &handle, recording, Some(live), appended);
        } else {
            let appended = match self.core.store.commit(batch).await {
                Ok(appended) => appended,
                Err(err) => {
                    return self
                        .start_refused(&workflow_id, request.as_ref(), refused(err))
                        .await;
                }
            };
            handle.mark_fresh();
            handle.push_inputs(appended);
            self.core.insert_run(handle.clone());
            activation::wake(&self.core, &handle);
        }
        Ok(Started {
            run_id,
            started: true,
        })
    }

    /// Send signal `name` to the open run of `workflow_id`. It is recorded
    /// durably before this returns.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no open run or its type has no such
    /// signal.
    pub async fn signal(&self, workflow_id: &WorkflowId, name: &str, input: Payload) -> Result<()> {
        let run = self.open_run(workflow_id)?;
        self.signal_run(&run, name, input, None).await
    }

    /// Record signal `name` for `run`, once per request id if there is one.
    async fn signal_run(
        &self,
        run: &Arc<RunHandle>,
        name: &str,
        input: Payload,
        request: Option<&RequestId>,
    ) -> Result<()> {
        let loaded = self.core.component(&run.component).await?;
        check_signal(
            loaded.workflow_type(&run.workflow_type),
            &run.workflow_type,
            name,
        )?;
        self.check_payload("signal's input", &input)?;
        self.append_input(
            run,
            Event::SignalReceived(SignalReceived {
                name: name.to_string(),
                input,
            }),
            request,
        )
        .await
    }

    /// Ask the open run of `workflow_id` to cancel. The workflow decides
    /// what that means; it may clean up first, or ignore it.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no open run.
    pub async fn cancel(&self, workflow_id: &WorkflowId, reason: &str) -> Result<()> {
        let run = self.open_run(workflow_id)?;
        self.cancel_run(&run, reason, None).await
    }

    async fn cancel_run(
        &self,
        run: &Arc<RunHandle>,
        reason: &str,
        request: Option<&RequestId>,
    ) -> Result<()> {
        self.check_reason(reason)?;
        let event = Event::CancelRequested(CancelRequested {
            reason: reason.to_string(),
        });
        self.append_input(run, event, request).await
    }

    /// Stop the open run of `workflow_id` by force, without running any of
    /// its code.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no open run.
    pub async fn terminate(&self, workflow_id: &WorkflowId, reason: &str) -> Result<()> {
        let run = self.open_run(workflow_id)?;
        self.terminate_run(&run, reason, None).await
    }

    async fn terminate_run(
        &self,
        run: &Arc<RunHandle>,
        reason: &str,
        request: Option<&RequestId>,
    ) -> Result<()> {
        self.check_reason(reason)?;
        let run = run.clone();
        let outcome = Outcome::Terminated(reason.to_string());
        let now = self.core.clock.now_ms();
        let mut batch = failures::close_outside(&run, &outcome, now);
        if let Some(request) = request {
            batch = batch.op(Op::RecordRequest(run.id, request.clone()));
        }
        match self.core.store.commit(batch).await {
            Err(StoreError::DuplicateRequest(..)) => return Ok(()),
            other => other?,
        };
        recording::finish(&self.core, &run, &Default::default(), outcome);
        Ok(())
    }

    /// Answer query `name` of the latest run of `workflow_id`, open or
    /// closed (a closed run is rebuilt by replay).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown run or query; [`Error::QueryFailed`]
    /// or [`Error::FailedPrecondition`] if it cannot be answered.
    pub async fn query(
        &self,
        workflow_id: &WorkflowId,
        name: &str,
        input: Payload,
    ) -> Result<Payload> {
        if let Some(run) = self.core.open_run(workflow_id) {
            self.check_query(&run.workflow_type, &run.component, name)
                .await?;
            let (reply, answer) = tokio::sync::oneshot::channel();
            run.mailbox().queries.push(QueryRequest {
                name: name.to_string(),
                input,
                reply,
            });
            activation::wake(&self.core, &run);
            return answer.await.map_err(|_| Error::ShuttingDown)?;
        }
        let record = self.latest(workflow_id).await?;
        self.check_query(&record.workflow_type, &record.component, name)
            .await?;
        let component = self.core.component(&record.component).await?;
        let history = self.core.store.history(record.run_id).await?;
        let Some(Event::WorkflowStarted(started)) = history.first().map(|e| &e.event) else {
            return Err(Error::FailedPrecondition(format!(
                "the history of run {} does not start with WorkflowStarted",
                record.run_id
            )));
        };
        let run = RunHandle::new(
            record.run_id,
            record.workflow_id.clone(),
            record.workflow_type.clone(),
            record.component.clone(),
            record.created_at_ms,
            started.random_seed,
        );
        let core = self.core.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            let facts = activation::facts(&run);
            let (mut live, _) = activation::replay(&core.wasm, component, facts, &history)
                .map_err(|e| {
                    Error::FailedPrecondition(format!("cannot rebuild the run to query it: {e}"))
                })?;
            let now = live.last_time_ms;
            live.instance
                .query(&core.wasm, &name, &input, now)
                .map_err(|f| Error::QueryFailed(f.to_string()))?
        })
        .await
        .map_err(|e| Error::internal("query", e))?
    }

    /// Wait for the latest run of `workflow_id` to close and return how it
    /// ended (at once if it has).
    ///
    /// # Errors
    /// [`Error::NotFound`] if the workflow id has no run.
    pub async fn result(&self, workflow_id: &WorkflowId) -> Result<Outcome> {
        if let Some(run) = self.core.open_run(workflow_id) {
            let mut outcome = run.watch_outcome();
            let stopping = self.core.stopping.clone();
            tokio::select! {
                closed = outcome.wait_for(Option::is_some) => {
                    if let Ok(closed) = closed && let Some(outcome) = closed.clone() {
                        return Ok(outcome);
                    }
                    return Err(Error::ShuttingDown);
                }
                () = stopping.cancelled() => return Err(Error::ShuttingDown),
            }
        }
        let record = self.latest(workflow_id).await?;
        record.outcome.ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "run {} is open but not served by this host",
                record.run_id
            ))
        })
    }

    /// The latest run of `workflow_id`: status, version, times and pending
    /// work.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the workflow id has no run.
    pub async fn describe(&self, workflow_id: &WorkflowId) -> Result<RunDescription> {
        let run = self.latest(workflow_id).await?;
        let (timers, tasks) = self.core.store.pending(run.run_id).await?;
        let (parked, waiting_for_memory) = self
            .core
            .run(run.run_id)
            .map(|handle| {
                let mailbox = handle.mailbox();
                (mailbox.parked.clone(), mailbox.waiting_for_memory)
            })
            .unwrap_or_default();
        Ok(RunDescription {
            run,
            pending_timers: timers
                .into_iter()
                .map(|t| PendingTimer {
                    seq: t.seq,
                    fire_at_ms: t.fire_at_ms,
                })
                .collect(),
            pending_activities: tasks
                .into_iter()
                .map(|t| PendingActivity {
                    seq: t.seq,
                    name: t.name,
                    attempt: t.attempt,
                    next_attempt_at_ms: t.not_before_ms,
                })
                .collect(),
            parked,
            waiting_for_memory,
        })
    }

    /// Runs matching `filter`, newest first. Outcomes are summaries
    /// ([`Outcome::summary`]: no results, short messages); [`Host::describe`]
    /// has the whole outcome.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a time past what the store holds; the
    /// store failed.
    pub async fn list(&self, filter: RunFilter) -> Result<Vec<RunRecord>> {
        for (name, time) in [
            ("started_after_ms", filter.started_after_ms),
            ("started_before_ms", filter.started_before_ms),
        ] {
            if time.is_some_and(|t| i64::try_from(t).is_err()) {
                return Err(Error::InvalidArgument(format!(
                    "{name} must be at most {} (milliseconds since the epoch)",
                    i64::MAX
                )));
            }
        }
        let mut runs = self.core.store.list_runs(filter).await?;
        for run in &mut runs {
            run.outcome = run.outcome.take().map(Outcome::summary);
        }
        Ok(runs)
    }

    /// The full history of the latest run of `workflow_id`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the workflow id has no run.
    pub async fn history(&self, workflow_id: &WorkflowId) -> Result<Vec<HistoryEvent>> {
        let record = self.latest(workflow_id).await?;
        Ok(self.core.store.history(record.run_id).await?)
    }

    /// Why the open run of `workflow_id` is parked, if it is.
    pub fn parked(&self, workflow_id: &WorkflowId) -> Option<String> {
        self.core.open_run(workflow_id)?.mailbox().parked.clone()
    }

    /// Drop every cached instance; runs are rebuilt by replay when they next
    /// have work.
    pub fn evict_all(&self) {
        self.core.cache.clear();
    }

    fn open_run(&self, workflow_id: &WorkflowId) -> Result<Arc<RunHandle>> {
        self.core
            .open_run(workflow_id)
            .ok_or_else(|| Error::NotFound(format!("workflow {workflow_id} has no open run")))
    }

    async fn latest(&self, workflow_id: &WorkflowId) -> Result<RunRecord> {
        self.core
            .store
            .latest_run(workflow_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no workflow with id {workflow_id}")))
    }

    /// Record an input event for an open run and deliver it. A signal must
    /// leave the run's history within its size limit; a cancel is always
    /// taken (it is how a full run is stopped).
    async fn append_input(
        &self,
        run: &Arc<RunHandle>,
        event: Event,
        request: Option<&RequestId>,
    ) -> Result<()> {
        let max_bytes = self.core.config.limits.max_history_bytes;
        let mut batch = Batch::default().check(Check::RunOpen(run.id));
        if matches!(event, Event::SignalReceived(_)) {
            batch = batch.check(Check::HistoryWithin(run.id, max_bytes));
        }
        batch = batch.op(Op::Append {
            run_id: run.id,
            time_ms: self.core.clock.now_ms(),
            events: vec![event],
        });
        if let Some(request) = request {
            batch = batch.op(Op::RecordRequest(run.id, request.clone()));
        }
        let appended = match self.core.store.commit(batch).await {
            Err(StoreError::DuplicateRequest(..)) => return Ok(()),
            Err(StoreError::CheckFailed(Check::HistoryWithin(..))) => {
                return Err(Error::FailedPrecondition(format!(
                    "the history of workflow {} would pass its limit of {max_bytes} bytes \
                     (RunLimits::max_history_bytes); the run takes no more signals: send large \
                     data by reference, or have the workflow continue as new",
                    run.workflow_id
                )));
            }
            committed => committed,
        };
        let appended = appended.map_err(|e| match Error::from(e) {
            Error::FailedPrecondition(_) => {
                Error::NotFound(format!("workflow {} has no open run", run.workflow_id))
            }
            other => other,
        })?;
        self.core.deliver(run.id, appended);
        Ok(())
    }
}
