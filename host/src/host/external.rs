//! Requests a workflow makes of other workflows (signal, cancel), through
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
    let seq = match requested {
        Event::ExternalSignalRequested(e) => e.seq,
        Event::ExternalCancelRequested(e) => e.seq,
        _ => return None,
    };
    Some(OutboxEntry {
        run_id,
        seq,
        request_id: request_id(run_id, seq),
        request: requested.clone(),
    })
}

/// Deliver an outbox entry in the background; until it is done, the host
/// counts it as work in hand.
pub(crate) fn deliver_external(core: &Arc<Core>, entry: OutboxEntry) {
    let host = Host {
        core: core.clone(),
        recovered: Default::default(),
    };
    let working = core.busy.begin();
    core.tasks
        .spawn(async move { host.deliver(entry, Some(working)).await });
}

impl Host {
    async fn deliver(&self, entry: OutboxEntry, mut working: Option<Working>) {
        let mut delay = Duration::from_millis(100);
        let resolved = loop {
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
            match self.record(&entry, &resolved).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(run_id = %entry.run_id, seq = entry.seq, "could not record the outcome of a request to another workflow, retrying: {err}");
                    if !self.wait(&mut delay, &mut working).await {
                        return;
                    }
                }
            }
        }
    }

    /// Send the request; the event that records how it went, or the store
    /// error to retry after.
    async fn send(&self, entry: &OutboxEntry) -> Result<Event, Error> {
        let (target, sent) = match &entry.request {
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
        match sent {
            Ok(()) => Ok(Event::ExternalRequestCompleted(ExternalRequestCompleted {
                seq,
            })),
            Err(err @ (Error::ShuttingDown | Error::Store(_) | Error::Internal(_))) => Err(err),
            Err(err) => {
                let error_type = match self.core.open_run(target) {
                    None => "ExternalWorkflowNotFound",
                    Some(_) => "ExternalRequestFailed",
                };
                let failure = Failure::new(error_type, err.detail()).non_retryable();
                Ok(Event::ExternalRequestFailed(ExternalRequestFailed {
                    seq,
                    failure,
                }))
            }
        }
    }

    /// Record `resolved` in the requesting run if it is open, and drop the
    /// entry from the outbox.
    async fn record(&self, entry: &OutboxEntry, resolved: &Event) -> Result<(), StoreError> {
        let done = Op::DeleteOutbox(entry.run_id, entry.seq);
        let batch = Batch::default()
            .check(Check::RunOpen(entry.run_id))
            .op(Op::Append {
                run_id: entry.run_id,
                time_ms: self.core.clock.now_ms(),
                events: vec![resolved.clone()],
            })
            .op(done.clone());
        match self.core.store.commit(batch).await {
            Ok(appended) => {
                self.core.deliver(entry.run_id, appended);
                Ok(())
            }
            Err(StoreError::CheckFailed(Check::RunOpen(_))) => {
                self.core.store.commit(Batch::default().op(done)).await?;
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// Wait `delay` (doubling it for next time) unless the host stops;
    /// false if it does. The wait is not work in hand: a test's clock may
    /// skip it.
    async fn wait(&self, delay: &mut Duration, working: &mut Option<Working>) -> bool {
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

/// The request id of request `seq` of `run`.
fn request_id(run: RunId, seq: u32) -> RequestId {
    RequestId::new(format!("ext:{run}:{seq}")).unwrap_or_else(|_| RequestId::generate())
}
