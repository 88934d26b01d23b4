//! Child workflows: start one, await its result, signal it, cancel it.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::activity::millis;
use crate::bindings::keel::workflow::activity::Resolution;
use crate::bindings::keel::workflow::child as wit;
use crate::bindings::keel::workflow::external;
use crate::context::WorkflowContext;
use crate::error::{Error, Result};
use crate::futures::ExternalCall;
use crate::shared::{CommandKind, Resolved, Shared};

/// What happens to a child when its parent closes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParentClosePolicy {
    /// The host terminates the child (Temporal's default).
    #[default]
    Terminate,
    /// The host asks the child to cancel.
    RequestCancel,
    /// The child runs on.
    Abandon,
}

/// How to start a child workflow: its type and id, and optionally its
/// parent-close policy and timeouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildOptions {
    workflow_type: String,
    workflow_id: String,
    parent_close_policy: ParentClosePolicy,
    run_timeout: Option<Duration>,
    execution_timeout: Option<Duration>,
}

impl ChildOptions {
    /// Start a child of type `workflow_type` as workflow `workflow_id`.
    pub fn new(workflow_type: impl Into<String>, workflow_id: impl Into<String>) -> Self {
        ChildOptions {
            workflow_type: workflow_type.into(),
            workflow_id: workflow_id.into(),
            parent_close_policy: ParentClosePolicy::default(),
            run_timeout: None,
            execution_timeout: None,
        }
    }

    /// What happens to the child when this workflow closes first.
    pub fn parent_close_policy(mut self, policy: ParentClosePolicy) -> Self {
        self.parent_close_policy = policy;
        self
    }

    /// The child's run timeout.
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = Some(timeout);
        self
    }

    /// The child's execution timeout (its runs continued as new included).
    pub fn execution_timeout(mut self, timeout: Duration) -> Self {
        self.execution_timeout = Some(timeout);
        self
    }
}

impl<W: 'static> WorkflowContext<W> {
    /// Start a child workflow with `input`; resolves to its handle once it
    /// has started, or fails (error type `WorkflowAlreadyStarted` if its
    /// workflow id has an open run). The start is a durable command made
    /// once; awaiting it cannot be cancelled (the parent-close policy
    /// covers a child whose parent stops caring), but a cancellation of the
    /// task that started it reaches the child once it has started.
    pub fn start_child<I: Serialize + ?Sized>(
        &self,
        options: ChildOptions,
        input: &I,
    ) -> ChildStart {
        let shared = self.shared().clone();
        let seqs = serde_json::to_vec(input)
            .map_err(|e| Error::payload(&format!("input of child '{}'", options.workflow_id), e))
            .map(|input| {
                let seqs = wit::start(&wit::ChildOptions {
                    workflow_id: options.workflow_id.clone(),
                    workflow_type: options.workflow_type.clone(),
                    input,
                    parent_close_policy: match options.parent_close_policy {
                        ParentClosePolicy::Terminate => wit::ParentClosePolicy::Terminate,
                        ParentClosePolicy::RequestCancel => wit::ParentClosePolicy::RequestCancel,
                        ParentClosePolicy::Abandon => wit::ParentClosePolicy::Abandon,
                    },
                    run_timeout: options.run_timeout.map(millis),
                    execution_timeout: options.execution_timeout.map(millis),
                });
                shared.track(seqs.started, CommandKind::External);
                shared.track_child(seqs.closed, seqs.started, &options.workflow_id);
                seqs
            });
        ChildStart {
            workflow_id: options.workflow_id,
            seqs,
            shared,
        }
    }

    /// Start a child workflow and await its result: [`Self::start_child`],
    /// then [`ChildHandle::result`].
    pub async fn execute_child<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        options: ChildOptions,
        input: &I,
    ) -> Result<O> {
        self.start_child(options, input).await?.result().await
    }
}

/// A child's start; resolves to its [`ChildHandle`]. Returned by
/// `WorkflowContext::start_child`.
#[must_use = "a child's handle, and with it its result, is lost unless awaited"]
pub struct ChildStart {
    workflow_id: String,
    seqs: Result<wit::ChildSeqs>,
    shared: Rc<Shared>,
}

impl Future for ChildStart {
    type Output = Result<ChildHandle>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let seqs = match &self.seqs {
            Ok(seqs) => *seqs,
            Err(err) => return Poll::Ready(Err(err.clone())),
        };
        let Some(Resolved::Activity(resolution)) = self.shared.poll_slot(seqs.started, cx.waker())
        else {
            return Poll::Pending;
        };
        Poll::Ready(match resolution {
            Resolution::Completed(run_id) => Ok(ChildHandle {
                workflow_id: self.workflow_id.clone(),
                run_id: String::from_utf8_lossy(&run_id).into_owned(),
                closed: seqs.closed,
                result_taken: Rc::default(),
                shared: self.shared.clone(),
            }),
            Resolution::Failed(failure) | Resolution::Cancelled(failure) => {
                self.shared.untrack_child(seqs.closed);
                Err(Error::Application {
                    error_type: failure.error_type,
                    message: failure.message,
                    details: failure.details,
                })
            }
        })
    }
}

/// A started child workflow: its ids, its result, and requests to it.
#[derive(Clone)]
pub struct ChildHandle {
    workflow_id: String,
    run_id: String,
    closed: u32,
    /// `result` was called on this handle or a clone of it.
    result_taken: Rc<Cell<bool>>,
    shared: Rc<Shared>,
}

impl ChildHandle {
    /// The child's workflow id.
    pub fn workflow_id(&self) -> &str {
        &self.workflow_id
    }

    /// The child's first run.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Await the child's result (of the last run of its chain, if it
    /// continues as new). A child that fails fails this with
    /// [`Error::ChildWorkflowFailed`] carrying its error type
    /// (`ChildWorkflowCancelled`, `…Terminated`, `…TimedOut` if it did not
    /// fail on its own). Cancelling the awaiting step asks the child to
    /// cancel and goes on waiting for how it ends, as Temporal does.
    /// The result is taken once: a second call fails with error type
    /// `ChildResultTaken`.
    pub fn result<O: DeserializeOwned>(&self) -> ChildResult<O> {
        let taken = self.result_taken.replace(true);
        ChildResult {
            workflow_id: self.workflow_id.clone(),
            seq: self.closed,
            taken,
            shared: self.shared.clone(),
            output: PhantomData,
        }
    }

    /// Send signal `name` with `input` to the child.
    pub fn signal<I: Serialize + ?Sized>(&self, name: &str, input: &I) -> ExternalCall {
        let seq = serde_json::to_vec(input)
            .map_err(|e| Error::payload(&format!("input of signal '{name}'"), e))
            .map(|bytes| {
                let seq = external::signal(&self.workflow_id, name, &bytes);
                self.shared.track(seq, CommandKind::External);
                seq
            });
        ExternalCall {
            seq,
            shared: self.shared.clone(),
        }
    }

    /// Ask the child to cancel; its result then tells how it ended.
    pub fn cancel(&self, reason: &str) -> ExternalCall {
        let seq = external::request_cancel(&self.workflow_id, reason);
        self.shared.track(seq, CommandKind::External);
        ExternalCall {
            seq: Ok(seq),
            shared: self.shared.clone(),
        }
    }
}

/// A child's result. Returned by [`ChildHandle::result`].
#[must_use = "a child's result is lost unless awaited"]
pub struct ChildResult<O> {
    workflow_id: String,
    seq: u32,
    /// An earlier call took the result.
    taken: bool,
    shared: Rc<Shared>,
    output: PhantomData<fn() -> O>,
}

impl<O: DeserializeOwned> Future for ChildResult<O> {
    type Output = Result<O>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.taken {
            return Poll::Ready(Err(Error::application(
                "ChildResultTaken",
                format!(
                    "the result of child '{}' was taken before",
                    self.workflow_id
                ),
            )));
        }
        self.shared.deliver_cancel_to_step(self.seq);
        let Some(Resolved::Activity(resolution)) = self.shared.poll_slot(self.seq, cx.waker())
        else {
            return Poll::Pending;
        };
        let workflow_id = self.workflow_id.clone();
        Poll::Ready(match resolution {
            Resolution::Completed(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::payload(&format!("result of child '{workflow_id}'"), e)),
            Resolution::Failed(failure) | Resolution::Cancelled(failure) => {
                Err(Error::ChildWorkflowFailed {
                    workflow_id,
                    error_type: failure.error_type,
                    message: failure.message,
                    details: failure.details,
                })
            }
        })
    }
}
