//! State shared between the executor, the workflow context and the futures
//! it hands out: pending commands by sequence number, condition waiters,
//! newly spawned tasks and cancellation.
//!
//! A cancellation request reaches every task that exists when it arrives.
//! A task waiting on a step (timer, activity, condition) has that step
//! cancelled at once; a task that is not waiting then (its step resolved in
//! the same activation, or it has not run yet) gets the request at the next
//! step it waits on. Tasks spawned afterwards are not cancelled. Maps are
//! ordered by sequence number, so hash order never decides the order of
//! commands.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::task::Waker;

use futures::future::LocalBoxFuture;

use crate::bindings::keel::workflow::activity::{self, Resolution};
use crate::bindings::keel::workflow::{patch, timer};

/// What a pending command is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommandKind {
    Timer,
    Activity,
}

/// How a pending command resolved.
pub(crate) enum Resolved {
    TimerFired,
    TimerCancelled(String),
    Activity(Resolution),
}

struct Slot {
    kind: CommandKind,
    task: TaskId,
    resolved: Option<Resolved>,
    cancel_requested: bool,
    waker: Option<Waker>,
}

/// The executor's index of a task.
pub(crate) type TaskId = usize;

/// A task blocked in `wait_condition`.
pub(crate) struct ConditionWaiter {
    pub(crate) check: Box<dyn Fn() -> bool>,
    pub(crate) state: Rc<RefCell<ConditionState>>,
    pub(crate) task: TaskId,
}

/// A spawned future waiting for a task id, with the number of cancellation
/// requests that came before it (it is not cancelled by those).
pub(crate) struct Spawned {
    pub(crate) future: LocalBoxFuture<'static, ()>,
    pub(crate) cancels_seen: usize,
}

/// Progress of one `wait_condition`.
#[derive(Default)]
pub(crate) struct ConditionState {
    pub(crate) outcome: Option<Result<(), String>>,
    pub(crate) waker: Option<Waker>,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Shared {
    slots: RefCell<BTreeMap<u32, Slot>>,
    conditions: RefCell<Vec<ConditionWaiter>>,
    spawned: RefCell<Vec<Spawned>>,
    /// Reasons of the cancellation requests received, in order.
    cancels: RefCell<Vec<String>>,
    /// Per task, how many of `cancels` it has been given.
    cancels_seen: RefCell<BTreeMap<TaskId, usize>>,
    /// The task being polled.
    current_task: Cell<TaskId>,
    /// Each patch id asked about, and the answer, which stays the same for
    /// the rest of the run.
    patches: RefCell<BTreeMap<String, bool>>,
    closed: Cell<bool>,
}

impl Shared {
    /// The run's answer for patch `id`: asked of the host once, then
    /// remembered, so a branch chosen stays chosen.
    pub(crate) fn patched(&self, id: &str, deprecated: bool) -> bool {
        if let Some(taken) = self.patches.borrow().get(id) {
            return *taken;
        }
        let taken = patch::patched(id, deprecated);
        self.patches.borrow_mut().insert(id.to_string(), taken);
        taken
    }

    pub(crate) fn track(&self, seq: u32, kind: CommandKind) {
        self.slots.borrow_mut().insert(
            seq,
            Slot {
                kind,
                task: self.current_task.get(),
                resolved: None,
                cancel_requested: false,
                waker: None,
            },
        );
    }

    /// Take the resolution of `seq`, or remember `waker` to be woken by it.
    pub(crate) fn poll_slot(&self, seq: u32, waker: &Waker) -> Option<Resolved> {
        let mut slots = self.slots.borrow_mut();
        let slot = slots.get_mut(&seq)?;
        match slot.resolved.take() {
            Some(resolved) => {
                slots.remove(&seq);
                Some(resolved)
            }
            None => {
                slot.waker = Some(waker.clone());
                None
            }
        }
    }

    /// Resolve `seq`; the first resolution wins (an activity may complete
    /// and be cancelled in the same activation).
    pub(crate) fn resolve(&self, seq: u32, resolved: Resolved) {
        if let Some(slot) = self.slots.borrow_mut().get_mut(&seq)
            && slot.resolved.is_none()
        {
            slot.resolved = Some(resolved);
            if let Some(waker) = slot.waker.take() {
                waker.wake();
            }
        }
    }

    /// A future for `seq` was dropped before it resolved: cancel its command
    /// unless the run has already finished.
    pub(crate) fn abandon(&self, seq: u32) {
        let Some(slot) = self.slots.borrow_mut().remove(&seq) else {
            return;
        };
        if self.closed.get() || slot.resolved.is_some() {
            return;
        }
        match slot.kind {
            CommandKind::Timer => timer::cancel(seq),
            CommandKind::Activity if !slot.cancel_requested => activity::request_cancel(seq),
            CommandKind::Activity => {}
        }
    }

    /// Handle a cancellation request: every pending timer and condition
    /// resolves as cancelled, every pending activity is asked to cancel, and
    /// every other task gets the request at its next step.
    pub(crate) fn cancel_all(&self, reason: &str) {
        self.cancels.borrow_mut().push(reason.to_string());
        let seqs: Vec<u32> = self
            .slots
            .borrow()
            .iter()
            .filter(|(_, slot)| slot.resolved.is_none() && !slot.cancel_requested)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in seqs {
            self.cancel_step(seq);
        }
        let waiters: Vec<ConditionWaiter> = self.conditions.borrow_mut().drain(..).collect();
        for waiter in waiters {
            self.mark_delivered(waiter.task);
            let mut state = waiter.state.borrow_mut();
            state.outcome = Some(Err(reason.to_string()));
            if let Some(waker) = state.waker.take() {
                waker.wake();
            }
        }
    }

    /// Cancel the pending command `seq`: a timer resolves as cancelled at
    /// once, an activity is asked to stop and resolves when it has.
    fn cancel_step(&self, seq: u32) {
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(&seq) else {
            return;
        };
        slot.cancel_requested = true;
        let task = slot.task;
        match slot.kind {
            CommandKind::Timer => {
                timer::cancel(seq);
                slot.resolved = Some(Resolved::TimerCancelled(self.last_reason()));
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            }
            CommandKind::Activity => activity::request_cancel(seq),
        }
        drop(slots);
        self.mark_delivered(task);
    }

    fn last_reason(&self) -> String {
        self.cancels.borrow().last().cloned().unwrap_or_default()
    }

    /// `task` has been given every cancellation request so far.
    fn mark_delivered(&self, task: TaskId) {
        let count = self.cancels.borrow().len();
        self.cancels_seen.borrow_mut().insert(task, count);
    }

    /// The reason of a cancellation request the current task has not been
    /// given yet, marking it given.
    fn take_undelivered_cancel(&self) -> Option<String> {
        let task = self.current_task.get();
        let count = self.cancels.borrow().len();
        let seen = self.cancels_seen.borrow().get(&task).copied().unwrap_or(0);
        if seen >= count {
            return None;
        }
        self.mark_delivered(task);
        Some(self.last_reason())
    }

    /// Called when a task is about to wait on the unresolved command `seq`:
    /// if a cancellation request has not reached the task yet, it cancels
    /// this step.
    pub(crate) fn deliver_cancel_to_step(&self, seq: u32) {
        let waiting = self
            .slots
            .borrow()
            .get(&seq)
            .is_some_and(|slot| slot.resolved.is_none() && !slot.cancel_requested);
        if waiting && self.take_undelivered_cancel().is_some() {
            self.cancel_step(seq);
        }
    }

    /// Called when a task is about to wait on a condition: the reason of a
    /// cancellation request that has not reached the task yet.
    pub(crate) fn cancel_for_condition(&self) -> Option<String> {
        self.take_undelivered_cancel()
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        !self.cancels.borrow().is_empty()
    }

    /// A new task that has been given `cancels_seen` cancellation requests.
    pub(crate) fn register_task(&self, task: TaskId, cancels_seen: usize) {
        self.cancels_seen.borrow_mut().insert(task, cancels_seen);
    }

    /// `task` was waiting when the latest cancellation request arrived (on
    /// a step, which was cancelled, or on another task's outcome): it has
    /// been given the request.
    pub(crate) fn cancel_reached(&self, task: TaskId) {
        self.mark_delivered(task);
    }

    /// The task being polled.
    pub(crate) fn current_task(&self) -> TaskId {
        self.current_task.get()
    }

    /// The executor polls `task` next.
    pub(crate) fn set_current_task(&self, task: TaskId) {
        self.current_task.set(task);
    }

    /// `task` finished; forget its cancellation bookkeeping.
    pub(crate) fn task_finished(&self, task: TaskId) {
        self.cancels_seen.borrow_mut().remove(&task);
    }

    pub(crate) fn close(&self) {
        self.closed.set(true);
    }

    pub(crate) fn wait(&self, waiter: ConditionWaiter) {
        self.conditions.borrow_mut().push(waiter);
    }

    /// Stop checking a condition whose future was dropped.
    pub(crate) fn forget_condition(&self, state: &Rc<RefCell<ConditionState>>) {
        self.conditions
            .borrow_mut()
            .retain(|waiter| !Rc::ptr_eq(&waiter.state, state));
    }

    /// Re-check every waiting condition; wake those now true. Returns whether
    /// any woke.
    pub(crate) fn wake_satisfied_conditions(&self) -> bool {
        let satisfied: Vec<ConditionWaiter> = {
            let mut conditions = self.conditions.borrow_mut();
            let (now_true, still_false) = conditions.drain(..).partition(|w| (w.check)());
            *conditions = still_false;
            now_true
        };
        for waiter in &satisfied {
            let mut state = waiter.state.borrow_mut();
            state.outcome = Some(Ok(()));
            if let Some(waker) = state.waker.take() {
                waker.wake();
            }
        }
        !satisfied.is_empty()
    }

    pub(crate) fn spawn(&self, future: LocalBoxFuture<'static, ()>) {
        let cancels_seen = self.cancels.borrow().len();
        self.spawned.borrow_mut().push(Spawned {
            future,
            cancels_seen,
        });
    }

    pub(crate) fn take_spawned(&self) -> Vec<Spawned> {
        std::mem::take(&mut *self.spawned.borrow_mut())
    }

    pub(crate) fn has_spawned(&self) -> bool {
        !self.spawned.borrow().is_empty()
    }
}
