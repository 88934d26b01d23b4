//! The host's library API: build a host, deploy components, start runs and
//! talk to them. The gRPC server and the CLI wrap exactly this.

mod builder;
mod calls;
mod checks;
mod children;
mod deployments;
mod external;
mod reads;
mod requests;
mod reset;
mod starting;
mod stopping;
mod upgrades;

use checks::check_signal;

pub use builder::{HostBuilder, HostConfig};
pub use calls::{
    Deployment, DeploymentInfo, Parked, PendingActivity, PendingTimer, RunDescription,
    StartWorkflow, Started, TaskFailure,
};
pub(crate) use children::{close_children, orphans, parent_notice};
pub(crate) use external::{deliver_external, outbox_entry};
pub use upgrades::{CompatibilityReport, RunVerdict, Verdict};

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::history::{CancelRequested, Event, SignalReceived};
use crate::ids::{RequestId, WorkflowId};
use crate::runtime::{Core, Recovered, RunHandle, deadline, delay, failures};
use crate::store::{Batch, Check, Op, RunRecord, StoreError};
use crate::types::{Outcome, Payload};

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
        self.start_with(start, None, None).await
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
        self.start_with(start, Some((name, input)), None).await
    }

    /// Send signal `name` to the open run of `workflow_id`. It is recorded
    /// durably before this returns.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no open run or its type has no such
    /// signal.
    pub async fn signal(&self, workflow_id: &WorkflowId, name: &str, input: Payload) -> Result<()> {
        self.on_open_run(workflow_id, |run| {
            let input = input.clone();
            async move { self.signal_run(&run, name, input, None).await }
        })
        .await
    }

    /// Record signal `name` for `run`, once per request id if there is one.
    async fn signal_run(
        &self,
        run: &Arc<RunHandle>,
        name: &str,
        input: Payload,
        request: Option<&RequestId>,
    ) -> Result<()> {
        let _working = self.core.busy.begin();
        let loaded = self.core.component(&run.component()).await?;
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
        self.on_open_run(workflow_id, |run| async move {
            self.cancel_run(&run, reason, None).await
        })
        .await
    }

    async fn cancel_run(
        &self,
        run: &Arc<RunHandle>,
        reason: &str,
        request: Option<&RequestId>,
    ) -> Result<()> {
        self.check_reason(reason)?;
        let _working = self.core.busy.begin();
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
        self.on_open_run(workflow_id, |run| async move {
            self.terminate_run(&run, reason, None).await
        })
        .await
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
            batch = record_request(batch, &run, request);
        }
        match self.core.store.commit(batch).await {
            Err(StoreError::DuplicateRequest(..))
            | Err(StoreError::CheckFailed(Check::RequestNew(..))) => return Ok(()),
            other => other?,
        };
        deadline::close_outside_committed(&self.core, &run, outcome).await;
        Ok(())
    }

    /// `None` while the host has work in hand (an activation, a timer
    /// being fired, an activity attempt); otherwise a count that changes
    /// whenever work begins. For time-skipping tests.
    pub(crate) fn quiet(&self) -> Option<u64> {
        self.core.busy.quiet()
    }

    /// Drop every cached instance; runs are rebuilt by replay when they next
    /// have work.
    pub fn evict_all(&self) {
        self.core.cache.clear();
    }

    /// Apply `call` to the open run of `workflow_id`. If that run closed
    /// meanwhile by continuing as new, `call` is applied once more, to the
    /// run that took over.
    async fn on_open_run<F, Fut>(&self, workflow_id: &WorkflowId, call: F) -> Result<()>
    where
        F: Fn(Arc<RunHandle>) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let run = self.open_run(workflow_id)?;
        let result = call(run.clone()).await;
        if let Err(Error::NotFound(_) | Error::FailedPrecondition(_)) = &result
            && let Some(next) = self.core.open_run(workflow_id)
            && next.predecessor() == Some(run.id)
        {
            return call(next).await;
        }
        result
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
        let cancel = matches!(event, Event::CancelRequested(_));
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
            batch = record_request(batch, run, request);
        }
        // A signal or cancel starts a delayed run at once; a retry waits
        // out its backoff (signals wait with it) unless it is cancelled.
        let held = run.mailbox().held && (run.attempt() == 1 || cancel);
        if held {
            batch = batch.op(Op::DeleteTimer(run.id, delay::START_SEQ));
        }
        let appended = match self.core.store.commit(batch).await {
            Err(StoreError::DuplicateRequest(..))
            | Err(StoreError::CheckFailed(Check::RequestNew(..))) => return Ok(()),
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
        if held {
            delay::release(&self.core, run.id);
        }
        self.core.deliver(run.id, appended);
        Ok(())
    }
}

/// Record that `run` applies `request`, unless it or the run it continues
/// as new already did (a retry after the run continued).
fn record_request(batch: Batch, run: &RunHandle, request: &RequestId) -> Batch {
    let batch = match run.predecessor() {
        Some(predecessor) => batch.check(Check::RequestNew(predecessor, request.clone())),
        None => batch,
    };
    batch.op(Op::RecordRequest(run.id, request.clone()))
}
