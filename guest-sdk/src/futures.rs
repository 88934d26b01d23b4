//! The futures workflow code awaits: durable timers, activity calls,
//! conditions and spawned tasks. Each timer, activity and task can be
//! cancelled on its own and still be awaited for its outcome; dropping a
//! pending timer or activity future cancels its command.

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use serde::de::DeserializeOwned;

use crate::bindings::keel::workflow::activity::Resolution;
use crate::error::{Error, Result};
use crate::shared::{ConditionState, ConditionWaiter, Resolved, Shared, TaskId};

/// A durable timer; resolves when it fires, or with [`Error::Cancelled`] if
/// it is cancelled first: alone, or by a request that reaches its task.
/// Returned by `WorkflowContext::sleep`.
#[must_use = "a timer does nothing unless awaited"]
pub struct Sleep {
    pub(crate) seq: u32,
    pub(crate) shared: Rc<Shared>,
    pub(crate) done: bool,
}

impl Sleep {
    /// Cancel this timer: awaiting it returns [`Error::Cancelled`] at once.
    /// Does nothing once it has fired.
    pub fn cancel(&self) {
        self.shared.cancel_step(self.seq, "timer cancelled");
    }
}

impl Future for Sleep {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.shared.deliver_cancel_to_step(self.seq);
        match self.shared.poll_slot(self.seq, cx.waker()) {
            None => Poll::Pending,
            Some(resolved) => {
                self.done = true;
                Poll::Ready(match resolved {
                    Resolved::TimerCancelled(reason) => Err(Error::Cancelled(reason)),
                    _ => Ok(()),
                })
            }
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if !self.done {
            self.shared.abandon(self.seq);
        }
    }
}

/// A scheduled activity; resolves to its decoded result. Returned by
/// `WorkflowContext::activity`.
#[must_use = "an activity result is lost unless awaited"]
pub struct ActivityCall<O> {
    pub(crate) name: String,
    /// The sequence number, or the error encoding the input failed with.
    pub(crate) seq: std::result::Result<u32, Error>,
    pub(crate) shared: Rc<Shared>,
    pub(crate) done: bool,
    pub(crate) output: PhantomData<fn() -> O>,
}

impl<O> ActivityCall<O> {
    /// Request cancellation of this activity as its cancellation type says;
    /// await the call for the outcome (with `WaitCancellationCompleted`, it
    /// resolves once the activity has stopped, and may still complete).
    /// Does nothing once it has resolved.
    pub fn cancel(&self) {
        if let Ok(seq) = self.seq {
            self.shared.cancel_step(seq, "activity cancelled");
        }
    }
}

impl<O: DeserializeOwned> Future for ActivityCall<O> {
    type Output = Result<O>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let seq = match &self.seq {
            Ok(seq) => *seq,
            Err(err) => {
                let err = err.clone();
                self.done = true;
                return Poll::Ready(Err(err));
            }
        };
        self.shared.deliver_cancel_to_step(seq);
        let Some(Resolved::Activity(resolution)) = self.shared.poll_slot(seq, cx.waker()) else {
            return Poll::Pending;
        };
        self.done = true;
        let activity = self.name.clone();
        Poll::Ready(match resolution {
            Resolution::Completed(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::payload(&format!("result of activity '{activity}'"), e)),
            Resolution::Failed(failure) => Err(Error::ActivityFailed {
                activity,
                error_type: failure.error_type,
                message: failure.message,
                details: failure.details,
            }),
            Resolution::Cancelled(_) => Err(Error::ActivityCancelled { activity }),
        })
    }
}

impl<O> Drop for ActivityCall<O> {
    fn drop(&mut self) {
        if let (false, Ok(seq)) = (self.done, &self.seq) {
            self.shared.abandon(*seq);
        }
    }
}

/// A request to another workflow (a signal or a cancel); resolves once it
/// is recorded in the target's history, or with the reason it could not be
/// (error type `ExternalWorkflowNotFound` if the target has no open run).
/// Returned by `WorkflowContext::signal_external` and `cancel_external`;
/// it is sent whether or not it is awaited, and cannot be cancelled.
#[must_use = "whether the request reached the workflow is lost unless awaited"]
pub struct ExternalCall {
    /// The sequence number, or the error encoding the input failed with.
    pub(crate) seq: std::result::Result<u32, Error>,
    pub(crate) shared: Rc<Shared>,
}

impl Future for ExternalCall {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let seq = match &self.seq {
            Ok(seq) => *seq,
            Err(err) => return Poll::Ready(Err(err.clone())),
        };
        let Some(Resolved::Activity(resolution)) = self.shared.poll_slot(seq, cx.waker()) else {
            return Poll::Pending;
        };
        Poll::Ready(match resolution {
            Resolution::Completed(_) => Ok(()),
            Resolution::Failed(failure) | Resolution::Cancelled(failure) => {
                Err(Error::Application {
                    error_type: failure.error_type,
                    message: failure.message,
                    details: failure.details,
                })
            }
        })
    }
}

impl Drop for ExternalCall {
    fn drop(&mut self) {
        if let Ok(seq) = self.seq {
            self.shared.abandon(seq);
        }
    }
}

/// Resolves once a predicate over workflow state holds; re-checked after
/// every job and task step. Returned by `WorkflowContext::wait_condition`.
#[must_use = "a condition does nothing unless awaited"]
pub struct Condition {
    pub(crate) check: Option<Box<dyn Fn() -> bool>>,
    pub(crate) state: Rc<RefCell<ConditionState>>,
    pub(crate) shared: Rc<Shared>,
}

impl Future for Condition {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(check) = self.check.take() {
            if check() {
                return Poll::Ready(Ok(()));
            }
            if let Some(reason) = self.shared.cancel_for_condition() {
                return Poll::Ready(Err(Error::Cancelled(reason)));
            }
            self.shared.wait(ConditionWaiter {
                check,
                state: self.state.clone(),
                task: self.shared.current_task(),
            });
        }
        let mut state = self.state.borrow_mut();
        match state.outcome.take() {
            Some(outcome) => Poll::Ready(outcome.map_err(Error::Cancelled)),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Condition {
    fn drop(&mut self) {
        self.shared.forget_condition(&self.state);
    }
}

/// The output of a spawned task, awaited through its handle. A request to
/// cancel the task awaiting an unshielded handle is passed on to the spawned
/// task; a shielded one (from `WorkflowContext::shield`) is not.
pub struct JoinHandle<T> {
    pub(crate) task: TaskId,
    pub(crate) shielded: bool,
    pub(crate) slot: Rc<RefCell<JoinSlot<T>>>,
    pub(crate) shared: Rc<Shared>,
    /// The task awaiting the handle, while it is pending.
    pub(crate) waiter: Option<TaskId>,
}

pub(crate) struct JoinSlot<T> {
    pub(crate) output: Option<T>,
    pub(crate) waker: Option<Waker>,
}

impl<T> JoinHandle<T> {
    /// Request cancellation of the spawned task: its pending steps are
    /// cancelled, or its next one if it waits on none. The task decides what
    /// to return; await the handle for it. Does nothing once it finished.
    pub fn cancel(&self) {
        let mut visited = std::collections::BTreeSet::new();
        self.shared
            .cancel_task(self.task, "task cancelled", false, &mut visited);
    }

    fn stop_waiting(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            self.shared.unjoin(waiter, self.task);
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let output = self.slot.borrow_mut().output.take();
        if let Some(output) = output {
            self.stop_waiting();
            return Poll::Ready(output);
        }
        self.slot.borrow_mut().waker = Some(cx.waker().clone());
        let current = self.shared.current_task();
        if !self.shielded && self.waiter != Some(current) {
            self.stop_waiting();
            self.waiter = Some(current);
            self.shared.join(self.task);
        }
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.stop_waiting();
    }
}
