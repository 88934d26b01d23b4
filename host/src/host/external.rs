//! Requests a workflow makes of other workflows (signal, cancel): delivered
//! after the command is durable, once per request (a request id made of the
//! run and the sequence number makes a redelivery after a crash a no-op),
//! and their outcome recorded in the requesting run's history.

use std::sync::Arc;

use super::Host;
use crate::error::Error;
use crate::history::{Event, ExternalRequestCompleted, ExternalRequestFailed};
use crate::ids::RequestId;
use crate::runtime::{Core, RunHandle};
use crate::store::{Batch, Check, Op};
use crate::types::Failure;

/// Deliver the request `requested` (an `ExternalSignalRequested` or
/// `ExternalCancelRequested` event of `run`) in the background.
pub(crate) fn deliver_external(core: &Arc<Core>, run: &Arc<RunHandle>, requested: Event) {
    let host = Host {
        core: core.clone(),
        recovered: Default::default(),
    };
    let run = run.clone();
    core.tasks
        .spawn(async move { host.deliver(&run, requested).await });
}

impl Host {
    async fn deliver(&self, run: &Arc<RunHandle>, requested: Event) {
        let (seq, delivered) = match &requested {
            Event::ExternalSignalRequested(e) => {
                let request = request_id(run, e.seq);
                let sent = self
                    .signal_once(&e.workflow_id, &e.name, e.input.clone(), &request)
                    .await;
                (e.seq, sent)
            }
            Event::ExternalCancelRequested(e) => {
                let request = request_id(run, e.seq);
                let sent = self.cancel_once(&e.workflow_id, &e.reason, &request).await;
                (e.seq, sent)
            }
            _ => return,
        };
        let resolved = match delivered {
            Ok(()) => Event::ExternalRequestCompleted(ExternalRequestCompleted { seq }),
            // Delivered again when the host next starts.
            Err(Error::ShuttingDown | Error::Store(_)) => return,
            Err(err) => {
                let target = match &requested {
                    Event::ExternalSignalRequested(e) => &e.workflow_id,
                    Event::ExternalCancelRequested(e) => &e.workflow_id,
                    _ => return,
                };
                let error_type = match self.core.open_run(target) {
                    None => "ExternalWorkflowNotFound",
                    Some(_) => "ExternalRequestFailed",
                };
                let failure = Failure::new(error_type, err.detail()).non_retryable();
                Event::ExternalRequestFailed(ExternalRequestFailed { seq, failure })
            }
        };
        let batch = Batch::default()
            .check(Check::RunOpen(run.id))
            .op(Op::Append {
                run_id: run.id,
                time_ms: self.core.clock.now_ms(),
                events: vec![resolved],
            });
        match self.core.store.commit(batch).await {
            Ok(appended) => self.core.deliver(run.id, appended),
            Err(err) => tracing::debug!(
                run_id = %run.id, seq, "the outcome of an external request was not recorded: {err}"
            ),
        }
    }
}

/// The request id of request `seq` of `run`: the same on every delivery.
fn request_id(run: &RunHandle, seq: u32) -> RequestId {
    RequestId::new(format!("ext:{}:{seq}", run.id)).unwrap_or_else(|_| RequestId::generate())
}
