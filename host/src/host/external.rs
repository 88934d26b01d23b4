//! Requests a workflow makes of other workflows (signal, cancel, start a
//! child; `children.rs` has the child's side), through
//! an outbox: the request is stored with the command that makes it and
//! kept until it is delivered, also when the requesting run closes, so it
//! is delivered after a crash. The target applies it once (its request id
//! stays the same on every delivery), and the outcome goes into the
//! requesting run's history if it is still open.

use std::sync::Arc;
use std::time::Duration;

use super::Host;
use crate::error::Error;
use crate::history::{Event, ExternalRequestCompleted, ExternalRequestFailed};
use crate::ids::{RequestId, RunId};
use crate::runtime::{Core, Working};
use crate::store::{Batch, Check, Op, OutboxEntry, StoreError};
use crate::types::Failure;

/// The longest wait between attempts when the store fails.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// The outbox entry of `requested`, if it is a request `run_id` made of
/// another workflow.
pub(crate) fn outbox_entry(run_id: RunId, requested: &Event) -> Option<OutboxEntry> {
    let (seq, request_id) = match requested {
        Event::ExternalSignalRequested(e) => (e.seq, request_id("ext", run_id, e.seq)),
        Event::ExternalCancelRequested(e) => (e.seq, request_id("ext", run_id, e.seq)),
        Event::ChildStartRequested(e) => (e.seq, request_id("child", run_id, e.seq)),
        _ => return None,
    };
    Some(OutboxEntry {
        run_id,
        seq,
        request_id,
        request: requested.clone(),
    })
}

/// Deliver an outbox entry in the background; until it is done, the host
/// counts it as work in hand.
pub(crate) fn deliver_external(core: &Arc<Core>, entry: OutboxEntry) {
    let host = Host::on(core);
    let working = core.busy.begin();
    core.tasks
        .spawn(async move { host.deliver(entry, Some(working)).await });
}

impl Host {
    async fn deliver(&self, entry: OutboxEntry, mut working: Option<Working>) {
        let mut delay = Duration::from_millis(100);
        let (target, resolved) = loop {
            match self.send(&entry).await {
                Ok(resolved) => break resolved,
                Err(Error::ShuttingDown) => return,
                Err(err) => {
                    tracing::warn!(run_id = %entry.run_id, seq = entry.seq, "could not deliver a request to another workflow, retrying: {err}");
                    if !self.wait(&mut delay, &mut working).await {
                        return;
                    }
                }
            }
        };
        loop {
            match self.record(&entry, target, &resolved).await {
                Ok(true) => return,
                Ok(false) => {
                    // The parent closed before the start was recorded.
                    if let Event::ChildStarted(started) = &resolved
                        && let Ok(Some(child)) = self.core.store.run(started.run_id).await
                    {
                        self.parent_closed(&child, &mut working).await;
                    }
                    return;
                }
                Err(err) => {
                    tracing::warn!(run_id = %entry.run_id, seq = entry.seq, "could not record the outcome of a request to another workflow, retrying: {err}");
                    if !self.wait(&mut delay, &mut working).await {
                        return;
                    }
                }
            }
        }
    }

    /// Send the request; the run whose history records how it went and the
    /// event that does, or the store error to retry after.
    async fn send(&self, entry: &OutboxEntry) -> Result<(RunId, Event), Error> {
        let (target, sent) = match &entry.request {
            Event::ChildStartRequested(requested) => {
                let resolved = self.start_child(entry, requested).await?;
                return Ok((entry.run_id, resolved));
            }
            Event::ChildClosed(_) => {
                let child = self.core.store.run(entry.run_id).await?;
                let Some(parent) = child.and_then(|c| c.parent) else {
                    return Err(Error::Internal(format!(
                        "run {} reports its close to a parent it does not have",
                        entry.run_id
                    )));
                };
                return Ok((parent.run_id, entry.request.clone()));
            }
            Event::ExternalSignalRequested(e) => {
                let sent = self
                    .signal_once(&e.workflow_id, &e.name, e.input.clone(), &entry.request_id)
                    .await;
                (&e.workflow_id, sent)
            }
            Event::ExternalCancelRequested(e) => {
                let sent = self
                    .cancel_once(&e.workflow_id, &e.reason, &entry.request_id)
                    .await;
                (&e.workflow_id, sent)
            }
            other => {
                return Err(Error::Internal(format!(
                    "the outbox holds {}, which is no request",
                    other.kind()
                )));
            }
        };
        let seq = entry.seq;
        let resolved = match sent {
            Ok(()) => Event::ExternalRequestCompleted(ExternalRequestCompleted { seq }),
            Err(err @ (Error::ShuttingDown | Error::Store(_) | Error::Internal(_))) => {
                return Err(err);
            }
            Err(err) => {
                let error_type = match self.core.open_run(target) {
                    None => "ExternalWorkflowNotFound",
                    Some(_) => "ExternalRequestFailed",
                };
                let failure = Failure::new(error_type, err.detail()).non_retryable();
                Event::ExternalRequestFailed(ExternalRequestFailed { seq, failure })
            }
        };
        Ok((entry.run_id, resolved))
    }

    /// Record `resolved` in run `target` (the requesting run, or a child's
    /// parent) if it is open, and drop the entry from the outbox; false if
    /// `target` was closed.
    async fn record(
        &self,
        entry: &OutboxEntry,
        target: RunId,
        resolved: &Event,
    ) -> Result<bool, StoreError> {
        let done = Op::DeleteOutbox(entry.run_id, entry.seq);
        let batch = Batch::default()
            .check(Check::RunOpen(target))
            .op(Op::Append {
                run_id: target,
                time_ms: self.core.clock.now_ms(),
                events: vec![resolved.clone()],
            })
            .op(done.clone());
        match self.core.store.commit(batch).await {
            Ok(appended) => {
                self.core.deliver(target, appended);
                Ok(true)
            }
            Err(StoreError::CheckFailed(Check::RunOpen(_))) => {
                self.core.store.commit(Batch::default().op(done)).await?;
                Ok(false)
            }
            Err(err) => Err(err),
        }
    }

    /// Wait `delay` (doubling it for next time) unless the host stops;
    /// false if it does. The wait is not work in hand: a test's clock may
    /// skip it.
    pub(super) async fn wait(&self, delay: &mut Duration, working: &mut Option<Working>) -> bool {
        let sleep = self.core.clock.sleep(*delay);
        *delay = (*delay * 2).min(MAX_RETRY_DELAY);
        *working = None;
        let waited = tokio::select! {
            () = sleep => true,
            () = self.core.shutdown.cancelled() => false,
        };
        *working = Some(self.core.busy.begin());
        waited
    }
}

/// The id under which a target applies the `kind` request `seq` of `run`
/// once: the same on every delivery.
pub(super) fn request_id(kind: &str, run: RunId, seq: u32) -> RequestId {
    RequestId::new(format!("{kind}:{run}:{seq}")).unwrap_or_else(|_| RequestId::generate())
}
