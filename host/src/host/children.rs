//! Child workflows on the host. A parent's start request goes through the
//! outbox like its other requests to workflows (`external.rs`) and starts
//! the child under a request id, so it starts once; the child's close is
//! another outbox entry, stored in the commit that closes the child, whose
//! delivery records `ChildClosed` in the parent. When a parent closes, its
//! parent-close policy is applied to its open children, and again at
//! startup to children whose parent closed before a crash let it be.

use std::sync::Arc;
use std::time::Duration;

use super::Host;
use super::calls::StartWorkflow;
use super::external::request_id;
use crate::error::Error;
use crate::history::{
    ChildClosed, ChildStartFailed, ChildStartRequested, ChildStarted, Event, ParentClosePolicy,
    ParentLink,
};
use crate::runtime::{Core, RunHandle, Working};
use crate::store::{OutboxEntry, RunRecord};
use crate::types::{Failure, IdConflictPolicy, IdReusePolicy, Outcome, RunStatus};

/// The first wait after a store failure.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);

/// The outbox sequence number of a child's report to its parent (requests
/// a run makes use the sequence numbers of its commands, never this one).
pub(crate) const PARENT_SEQ: u32 = u32::MAX;

/// The outbox entry that tells `run`'s parent how `run` closed; `None` if
/// it has no parent, or continues as new (the run that takes over reports).
pub(crate) fn parent_notice(run: &RunHandle, outcome: &Outcome) -> Option<OutboxEntry> {
    let parent = run.parent()?;
    if matches!(outcome, Outcome::ContinuedAsNew(_)) {
        return None;
    }
    Some(OutboxEntry {
        run_id: run.id,
        seq: PARENT_SEQ,
        request_id: request_id("closed", run.id, PARENT_SEQ),
        request: Event::ChildClosed(ChildClosed {
            seq: parent.closed_seq,
            run_id: run.id,
            outcome: outcome.clone(),
        }),
    })
}

/// `run` closed: apply its parent-close policy to its open children, in
/// the background (recovery applies it again if the host stops first).
pub(crate) fn close_children(core: &Arc<Core>, run: &RunHandle) {
    if !run.may_have_children() {
        return;
    }
    let host = Host::on(core);
    let parent = run.id;
    let working = core.busy.begin();
    core.tasks.spawn(async move {
        let mut working = Some(working);
        let mut delay = FIRST_RETRY_DELAY;
        let children = loop {
            match host.core.store.children(parent).await {
                Ok(children) => break children,
                Err(err) => {
                    tracing::warn!(
                        run_id = %parent,
                        "could not read the children of a closed run, retrying: {err}"
                    );
                    if !host.wait(&mut delay, &mut working).await {
                        return;
                    }
                }
            }
        };
        for child in children {
            host.parent_closed(&child, &mut working).await;
        }
    });
}

/// Startup: apply the parent-close policy to the open children of runs
/// that closed before it could be.
pub(crate) fn orphans(core: &Arc<Core>, open: &[RunRecord]) {
    let orphans: Vec<RunRecord> = open
        .iter()
        .filter(|child| {
            child.parent.as_ref().is_some_and(|p| {
                p.close_policy != ParentClosePolicy::Abandon && core.run(p.run_id).is_none()
            })
        })
        .cloned()
        .collect();
    if orphans.is_empty() {
        return;
    }
    let host = Host::on(core);
    let working = core.busy.begin();
    core.tasks.spawn(async move {
        let mut working = Some(working);
        for child in &orphans {
            host.parent_closed(child, &mut working).await;
        }
    });
}

impl Host {
    /// Start the child `requested` of `parent` (the outbox entry's run):
    /// the event that records how it went, for the parent's history, or
    /// the error to retry after. A parent that closed first starts no
    /// child unless the child would outlive it anyway (`abandon`).
    pub(super) async fn start_child(
        &self,
        entry: &OutboxEntry,
        requested: &ChildStartRequested,
    ) -> Result<Event, Error> {
        let seq = requested.seq;
        let Some(parent) = self.core.store.run(entry.run_id).await? else {
            return Err(Error::Internal(format!(
                "run {} asked for a child but is not in the store",
                entry.run_id
            )));
        };
        if parent.status != RunStatus::Running
            && requested.close_policy != ParentClosePolicy::Abandon
        {
            let failure = Failure::new(
                "ParentClosed",
                "the parent closed before its child could start",
            );
            return Ok(Event::ChildStartFailed(ChildStartFailed {
                seq,
                failure: failure.non_retryable(),
            }));
        }
        let millis = |ms: Option<u64>| ms.map(Duration::from_millis);
        let start = StartWorkflow {
            workflow_id: requested.workflow_id.clone(),
            workflow_type: requested.workflow_type.clone(),
            input: requested.input.clone(),
            id_reuse: IdReusePolicy::AllowDuplicate,
            id_conflict: IdConflictPolicy::Fail,
            request_id: Some(entry.request_id.clone()),
            run_timeout: millis(requested.run_timeout_ms),
            execution_timeout: millis(requested.execution_timeout_ms),
            start_delay: None,
            retry_policy: None,
            task_timeout: None,
        };
        let link = ParentLink {
            run_id: entry.run_id,
            workflow_id: parent.workflow_id,
            closed_seq: requested.closed_seq,
            close_policy: requested.close_policy,
        };
        match self.start_with(start, None, Some(link)).await {
            Ok(started) => Ok(Event::ChildStarted(ChildStarted {
                seq,
                run_id: started.run_id,
            })),
            Err(err @ (Error::ShuttingDown | Error::Store(_) | Error::Internal(_))) => Err(err),
            Err(err) => {
                let error_type = match err {
                    Error::AlreadyExists(_) => "WorkflowAlreadyStarted",
                    Error::NotFound(_) => "WorkflowTypeNotFound",
                    _ => "ChildWorkflowStartFailed",
                };
                let failure = Failure::new(error_type, err.detail()).non_retryable();
                Ok(Event::ChildStartFailed(ChildStartFailed { seq, failure }))
            }
        }
    }

    /// The parent of `child` closed: terminate it or ask it to cancel, as
    /// its policy says, if it is open. Applied once per child run (a
    /// request id), so a repeat after a crash changes nothing. A store
    /// failure is retried with a backoff (`working` is the host's work in
    /// hand, let go while it waits).
    pub(super) async fn parent_closed(&self, child: &RunRecord, working: &mut Option<Working>) {
        let Some(policy) = child.parent.as_ref().map(|p| p.close_policy) else {
            return;
        };
        let request = request_id("parent-closed", child.run_id, 0);
        let reason = "its parent workflow closed";
        let mut delay = FIRST_RETRY_DELAY;
        let parent = child.parent.as_ref().map(|p| p.run_id);
        loop {
            // The child's open run: this one, or one that took over from
            // it (it continued as new), which is the parent's child too.
            let Some(run) = self
                .core
                .open_run(&child.workflow_id)
                .filter(|r| r.parent().map(|p| p.run_id) == parent)
            else {
                return;
            };
            let applied = match policy {
                ParentClosePolicy::Abandon => return,
                ParentClosePolicy::Terminate => {
                    self.terminate_run(&run, reason, Some(&request)).await
                }
                ParentClosePolicy::RequestCancel => {
                    self.cancel_run(&run, reason, Some(&request)).await
                }
            };
            match applied {
                Ok(()) => {
                    tracing::info!(run_id = %child.run_id, "parent closed: child {policy}");
                    return;
                }
                Err(err @ (Error::Store(_) | Error::Internal(_))) => {
                    tracing::warn!(
                        run_id = %child.run_id,
                        "could not apply the parent-close policy ({policy}) to a child, \
                         retrying: {err}"
                    );
                    if !self.wait(&mut delay, working).await {
                        return;
                    }
                }
                // The child closed meanwhile, or the host is stopping (the
                // next start applies the policy).
                Err(_) => return,
            }
        }
    }

    /// A host over `core`, for work the host does on its own.
    pub(super) fn on(core: &Arc<Core>) -> Host {
        Host {
            core: core.clone(),
            recovered: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RunId;

    #[test]
    fn request_ids_are_valid() {
        let run = RunId::generate();
        assert_eq!(
            request_id("parent-closed", run, 0).as_str(),
            format!("parent-closed:{run}:0")
        );
        assert_eq!(
            request_id("child", run, u32::MAX).as_str(),
            format!("child:{run}:{}", u32::MAX)
        );
    }
}
