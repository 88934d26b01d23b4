//! Requests that are safe to retry: a start, signal, cancel or terminate
//! that carries a [`RequestId`] is applied at most once per run. A caller
//! whose answer was lost (a broken connection) sends the same request with
//! the same id again and gets the first attempt's result.

use super::{Host, Started};
use crate::error::{Error, Result};
use crate::ids::{RequestId, WorkflowId};
use crate::types::Payload;

impl Host {
    /// [`Host::signal`], applied at most once for `request_id`: a retry
    /// with the same id returns `Ok` without recording the signal again,
    /// also after the run has closed.
    ///
    /// # Errors
    /// As [`Host::signal`].
    pub async fn signal_once(
        &self,
        workflow_id: &WorkflowId,
        name: &str,
        input: Payload,
        request_id: &RequestId,
    ) -> Result<()> {
        let applied = self.on_open_run(workflow_id, |run| {
            let input = input.clone();
            async move { self.signal_run(&run, name, input, Some(request_id)).await }
        });
        self.once(workflow_id, request_id, applied.await).await
    }

    /// [`Host::cancel`], applied at most once for `request_id`.
    ///
    /// # Errors
    /// As [`Host::cancel`].
    pub async fn cancel_once(
        &self,
        workflow_id: &WorkflowId,
        reason: &str,
        request_id: &RequestId,
    ) -> Result<()> {
        let applied = self.on_open_run(workflow_id, |run| async move {
            self.cancel_run(&run, reason, Some(request_id)).await
        });
        self.once(workflow_id, request_id, applied.await).await
    }

    /// [`Host::terminate`], applied at most once for `request_id`: a retry
    /// after the run was terminated by this request returns `Ok`.
    ///
    /// # Errors
    /// As [`Host::terminate`].
    pub async fn terminate_once(
        &self,
        workflow_id: &WorkflowId,
        reason: &str,
        request_id: &RequestId,
    ) -> Result<()> {
        let applied = self.on_open_run(workflow_id, |run| async move {
            self.terminate_run(&run, reason, Some(request_id)).await
        });
        self.once(workflow_id, request_id, applied.await).await
    }

    /// The run an earlier attempt of a start of `workflow_id` with
    /// `request` started, if there was one.
    pub(super) async fn started_by(
        &self,
        workflow_id: &WorkflowId,
        request: Option<&RequestId>,
    ) -> Result<Option<Started>> {
        let Some(request) = request else {
            return Ok(None);
        };
        let run = self.core.store.started_by(workflow_id, request).await?;
        Ok(run.map(|run_id| Started {
            run_id,
            started: false,
        }))
    }

    /// A start was refused: if an earlier attempt of the same request
    /// started a run, that run is the answer; otherwise `err`.
    pub(super) async fn start_refused(
        &self,
        workflow_id: &WorkflowId,
        request: Option<&RequestId>,
        err: Error,
    ) -> Result<Started> {
        match self.started_by(workflow_id, request).await? {
            Some(started) => Ok(started),
            None => Err(err),
        }
    }

    /// The outcome of a `*_once` call: an error saying the run is gone or
    /// closed means success if the workflow's latest run applied `request`
    /// (an earlier attempt got there first).
    async fn once(
        &self,
        workflow_id: &WorkflowId,
        request: &RequestId,
        applied: Result<()>,
    ) -> Result<()> {
        match applied {
            Err(err @ (Error::NotFound(_) | Error::FailedPrecondition(_))) => {
                self.unless_applied(workflow_id, request, err).await
            }
            other => other,
        }
    }

    /// `err` (the run is gone), unless the workflow's latest run applied
    /// `request` before it closed: then the retry succeeded.
    async fn unless_applied(
        &self,
        workflow_id: &WorkflowId,
        request: &RequestId,
        err: Error,
    ) -> Result<()> {
        let Some(latest) = self.core.store.latest_run(workflow_id).await? else {
            return Err(err);
        };
        if self
            .core
            .store
            .request_applied(latest.run_id, request)
            .await?
        {
            return Ok(());
        }
        Err(err)
    }
}
