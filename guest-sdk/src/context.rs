//! `WorkflowContext`: everything a workflow may do, all of it replay-safe.

use std::cell::{Ref, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::activity::{ActivityOptions, millis};
use crate::bindings::keel::workflow::{activity, external, info, log, random, timer};
use crate::error::{ContinueAsNew, Error};
use crate::futures::{ActivityCall, Condition, ExternalCall, JoinHandle, JoinSlot, Sleep};
use crate::shared::{CommandKind, Shared};

pub use crate::bindings::keel::workflow::log::Level;

/// Identity and start facts of the running workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowInfo {
    /// The user-chosen workflow id.
    pub workflow_id: String,
    /// The id of this run.
    pub run_id: String,
    /// The workflow type.
    pub workflow_type: String,
    /// Workflow time at which the run started.
    pub start_time: SystemTime,
    /// Which attempt of the workflow this run is, from 1 (a failed run
    /// with a retry policy is retried as the next attempt).
    pub attempt: u32,
}

fn continue_as_new<I: Serialize + ?Sized>(input: &I, current_version: bool) -> Error {
    match serde_json::to_vec(input) {
        Ok(input) => Error::ContinueAsNew(ContinueAsNew {
            input,
            current_version,
        }),
        Err(e) => Error::payload("input of the new run", e),
    }
}

/// The handle workflow code uses to sleep, call activities, wait on
/// conditions, spawn tasks and read or update its state `W`. Cheap to clone.
pub struct WorkflowContext<W> {
    state: Rc<RefCell<W>>,
    shared: Rc<Shared>,
}

impl<W> Clone for WorkflowContext<W> {
    fn clone(&self) -> Self {
        WorkflowContext {
            state: self.state.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<W: 'static> WorkflowContext<W> {
    /// The executor's state this context issues commands through.
    pub(crate) fn shared(&self) -> &Rc<Shared> {
        &self.shared
    }

    pub(crate) fn new(state: Rc<RefCell<W>>, shared: Rc<Shared>) -> Self {
        WorkflowContext { state, shared }
    }

    /// Read the workflow state. Do not hold the borrow across an `.await`.
    pub fn state(&self) -> Ref<'_, W> {
        self.state.borrow()
    }

    /// Change the workflow state.
    pub fn update<R>(&self, change: impl FnOnce(&mut W) -> R) -> R {
        change(&mut self.state.borrow_mut())
    }

    /// Workflow time: when the events being processed happened. Identical on
    /// replay.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(info::now())
    }

    /// A replay-safe random number.
    pub fn random(&self) -> u64 {
        random::next_u64()
    }

    /// True while the host replays history into this run.
    pub fn is_replaying(&self) -> bool {
        info::is_replaying()
    }

    /// Whether this run takes the new code guarded by patch `id`: true when
    /// the run reaches this point for the first time (and a marker is
    /// recorded in its history), and on replay only if the marker was
    /// recorded here. A run that started on an older version without the
    /// patch therefore replays the old branch and takes the new one from
    /// its first new step. The answer is the same for the rest of the run.
    ///
    /// ```no_run
    /// # use keel_sdk::{ActivityOptions, Result, WorkflowContext};
    /// # async fn step(ctx: WorkflowContext<()>, order: String) -> Result<()> {
    /// if ctx.patched("send-receipt") {
    ///     let options = ActivityOptions::default();
    ///     ctx.activity::<_, ()>("send_receipt", &order, options).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Once no open run started before the patch, replace the call by
    /// [`WorkflowContext::deprecate_patch`] and drop the old branch.
    pub fn patched(&self, id: &str) -> bool {
        self.shared.patched(id, false)
    }

    /// Mark patch `id` as deprecated: the code keeps only its new branch.
    /// Runs that recorded the marker still replay, and so do those that did
    /// not. Remove the call once no open run has recorded the marker.
    pub fn deprecate_patch(&self, id: &str) {
        self.shared.patched(id, true);
    }

    /// End this run and start a new run of the same workflow id and type
    /// with `input`, on the type's current version, in one commit: return
    /// the error from `run` (`return Err(ctx.continue_as_new(&next))`). A
    /// workflow that loops forever does this now and then to keep its
    /// history short; the caller waiting for the result gets the last run's.
    /// Timers and activities still pending are dropped with the run
    /// (requests to other workflows are still delivered); signals not yet
    /// handled stay with the old run.
    pub fn continue_as_new<I: Serialize + ?Sized>(&self, input: &I) -> Error {
        continue_as_new(input, true)
    }

    /// As [`WorkflowContext::continue_as_new`], with the new run on this
    /// run's version rather than the type's current one.
    pub fn continue_as_new_pinned<I: Serialize + ?Sized>(&self, input: &I) -> Error {
        continue_as_new(input, false)
    }

    /// True once cancellation of the workflow has been requested.
    pub fn is_cancel_requested(&self) -> bool {
        self.shared.cancel_requested()
    }

    /// Identity and start facts of this run.
    pub fn info(&self) -> WorkflowInfo {
        let info = info::workflow();
        WorkflowInfo {
            workflow_id: info.workflow_id,
            run_id: info.run_id,
            workflow_type: info.workflow_type,
            start_time: UNIX_EPOCH + Duration::from_millis(info.start_time),
            attempt: info::attempt(),
        }
    }

    /// Log a message; muted while replaying so each is emitted once.
    pub fn log(&self, level: Level, message: &str) {
        log::log(level, message);
    }

    /// Sleep durably: the timer survives host restarts. Resolves with
    /// [`Error::Cancelled`] if it is cancelled first (see [`Sleep::cancel`]
    /// and [`WorkflowContext::spawn`] for what cancels it).
    pub fn sleep(&self, duration: Duration) -> Sleep {
        let seq = timer::start(millis(duration));
        self.shared.track(seq, CommandKind::Timer);
        Sleep {
            seq,
            shared: self.shared.clone(),
            done: false,
        }
    }

    /// Schedule activity `name` with `input` and await its result, decoded
    /// as `O`. The activity is scheduled now, whether or not the future is
    /// polled; dropping the future unresolved requests its cancellation.
    pub fn activity<I: Serialize + ?Sized, O: DeserializeOwned>(
        &self,
        name: &str,
        input: &I,
        options: ActivityOptions,
    ) -> ActivityCall<O> {
        let seq = serde_json::to_vec(input)
            .map_err(|e| Error::payload(&format!("input of activity '{name}'"), e))
            .map(|bytes| {
                let seq = activity::schedule(name, &bytes, &options.to_wit());
                self.shared.track(seq, CommandKind::Activity);
                seq
            });
        ActivityCall {
            name: name.to_string(),
            seq,
            shared: self.shared.clone(),
            done: false,
            output: PhantomData,
        }
    }

    /// Send signal `name` with `input` to the open run of workflow
    /// `workflow_id` (Temporal's external workflow handle). The request is
    /// durable and delivered once; await it to know it arrived.
    pub fn signal_external<I: Serialize + ?Sized>(
        &self,
        workflow_id: &str,
        name: &str,
        input: &I,
    ) -> ExternalCall {
        let seq = serde_json::to_vec(input)
            .map_err(|e| Error::payload(&format!("input of signal '{name}'"), e))
            .map(|bytes| self.track(external::signal(workflow_id, name, &bytes)));
        ExternalCall {
            seq,
            shared: self.shared.clone(),
        }
    }

    /// Ask the open run of workflow `workflow_id` to cancel, with `reason`;
    /// durable and delivered once, like [`WorkflowContext::signal_external`].
    pub fn cancel_external(&self, workflow_id: &str, reason: &str) -> ExternalCall {
        let seq = self.track(external::request_cancel(workflow_id, reason));
        ExternalCall {
            seq: Ok(seq),
            shared: self.shared.clone(),
        }
    }

    fn track(&self, seq: u32) -> u32 {
        self.shared.track(seq, CommandKind::External);
        seq
    }

    /// Wait until `predicate` holds over the workflow state. It is re-checked
    /// after every signal, activity or timer, and after every task step.
    pub fn wait_condition(&self, predicate: impl Fn(&W) -> bool + 'static) -> Condition {
        let state = self.state.clone();
        Condition {
            check: Some(Box::new(move || predicate(&state.borrow()))),
            state: Rc::default(),
            shared: self.shared.clone(),
        }
    }

    /// Run `task` concurrently with the rest of the workflow, deterministically
    /// interleaved at its await points. Await the handle for its output;
    /// cancelling the task that awaits it cancels `task` too, and
    /// [`JoinHandle::cancel`] cancels `task` alone. A cancellation of the
    /// workflow reaches only its main task and what that task awaits.
    pub fn spawn<T: 'static>(&self, task: impl Future<Output = T> + 'static) -> JoinHandle<T> {
        self.spawn_task(task, false)
    }

    /// Run `step` to its end whatever cancellation the awaiting task gets
    /// meanwhile, for clean-up that must not be cut short: a request that
    /// arrives while it runs reaches the task at its next step after it.
    /// (Python's `asyncio.shield` returns at once and lets the step go on;
    /// this waits for it.) The step can still be cancelled through the
    /// returned handle.
    pub fn shield<T: 'static>(&self, step: impl Future<Output = T> + 'static) -> JoinHandle<T> {
        self.spawn_task(step, true)
    }

    fn spawn_task<T: 'static>(
        &self,
        task: impl Future<Output = T> + 'static,
        shielded: bool,
    ) -> JoinHandle<T> {
        let slot = Rc::new(RefCell::new(JoinSlot {
            output: None,
            waker: None,
        }));
        let filled = slot.clone();
        let task = self.shared.spawn(Box::pin(async move {
            let output = task.await;
            let mut slot = filled.borrow_mut();
            slot.output = Some(output);
            if let Some(waker) = slot.waker.take() {
                waker.wake();
            }
        }));
        JoinHandle {
            task,
            shielded,
            slot,
            shared: self.shared.clone(),
            waiter: None,
        }
    }
}
