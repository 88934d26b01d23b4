//! State shared between the executor, the workflow context and the futures
//! it hands out: pending commands by sequence number, condition waiters,
//! tasks and their cancellation.
//!
//! Cancellation is per task, as in asyncio. A request to cancel a task
//! cancels every step the task is waiting on (its timers resolve as
//! cancelled, its activities are asked to stop, its conditions fail) and is
//! passed on to the spawned tasks it awaits, except through a shield. A task
//! that is waiting on nothing cancellable when the request arrives (its step
//! resolved in the same activation, or it has not run yet) gets the request
//! at the steps it waits on in its next poll; a task passed a request that
//! finishes without taking it hands it back to the tasks awaiting it. A task
//! whose step is already being cancelled takes a new request as delivered.
//! Cancelling the workflow cancels its main task, once. A handle polled and
//! then kept without being awaited counts as awaited until it is dropped.
//! Maps are ordered by sequence number or task id, so hash order never
//! decides the order of commands.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::task::Waker;

use futures::future::LocalBoxFuture;

use crate::bindings::keel::workflow::activity::{self, Resolution};
use crate::bindings::keel::workflow::{external, patch, timer};

use self::children::Child;

mod children;

/// What a pending command is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommandKind {
    Timer,
    Activity,
    /// A request to another workflow: it cannot be cancelled.
    External,
    /// A child workflow's close: cancelling it asks the child to cancel,
    /// and it resolves when the child has closed.
    Child,
}

/// How a pending command resolved.
pub(crate) enum Resolved {
    TimerFired,
    TimerCancelled(String),
    Activity(Resolution),
}

struct Slot {
    kind: CommandKind,
    /// The task that awaits the command (at first, the one that issued it).
    task: TaskId,
    resolved: Option<Resolved>,
    cancel_requested: bool,
    waker: Option<Waker>,
}

/// A task's id, in spawn order; the main task is the first.
pub(crate) type TaskId = usize;

/// A task blocked in `wait_condition`.
pub(crate) struct ConditionWaiter {
    pub(crate) check: Box<dyn Fn() -> bool>,
    pub(crate) state: Rc<RefCell<ConditionState>>,
    pub(crate) task: TaskId,
}

/// A spawned future the executor has not taken yet.
pub(crate) struct Spawned {
    pub(crate) task: TaskId,
    pub(crate) future: LocalBoxFuture<'static, ()>,
}

/// Progress of one `wait_condition`.
#[derive(Default)]
pub(crate) struct ConditionState {
    pub(crate) outcome: Option<Result<(), String>>,
    pub(crate) waker: Option<Waker>,
}

/// The cancellation state of a task that has not finished.
#[derive(Default)]
struct TaskState {
    /// A cancellation request the task has not been given yet.
    pending_cancel: Option<PendingCancel>,
    /// The tasks it awaits through an unshielded `JoinHandle`.
    joined: BTreeSet<TaskId>,
}

/// A cancellation request waiting for a task's next step.
struct PendingCancel {
    reason: String,
    /// Passed on by the task awaiting this one, which gets the request
    /// back if this task finishes without taking it.
    passed_on: bool,
    /// Given to a step in the task's current poll: every step it waits on
    /// in that poll gets it, and then it is gone.
    given: bool,
}

/// See the module docs.
#[derive(Default)]
pub(crate) struct Shared {
    slots: RefCell<BTreeMap<u32, Slot>>,
    conditions: RefCell<Vec<ConditionWaiter>>,
    spawned: RefCell<Vec<Spawned>>,
    /// Every task that has not finished.
    tasks: RefCell<BTreeMap<TaskId, TaskState>>,
    next_task: Cell<TaskId>,
    /// The reason of the workflow's cancellation, once requested.
    workflow_cancel: RefCell<Option<String>>,
    /// The task being polled.
    current_task: Cell<TaskId>,
    /// Each patch id asked about, and the answer, which stays the same for
    /// the rest of the run.
    patches: RefCell<BTreeMap<String, bool>>,
    /// The workflow id of each child whose close is awaited, by the
    /// sequence number the close resolves.
    children: RefCell<BTreeMap<u32, Child>>,
    closed: Cell<bool>,
}

/// The task the workflow's `run` executes in: the first spawned.
pub(crate) const MAIN_TASK: TaskId = 0;

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

    /// Take the resolution of `seq`, or remember `waker` to be woken by it;
    /// the polling task now owns the step.
    pub(crate) fn poll_slot(&self, seq: u32, waker: &Waker) -> Option<Resolved> {
        let mut slots = self.slots.borrow_mut();
        let slot = slots.get_mut(&seq)?;
        match slot.resolved.take() {
            Some(resolved) => {
                slots.remove(&seq);
                self.children.borrow_mut().remove(&seq);
                Some(resolved)
            }
            None => {
                slot.task = self.current_task.get();
                slot.waker = Some(waker.clone());
                None
            }
        }
    }

    /// Resolve `seq`; the first resolution wins (an activity may complete
    /// and be cancelled in the same activation).
    pub(crate) fn resolve(&self, seq: u32, resolved: Resolved) {
        if let Resolved::Activity(resolution) = &resolved {
            self.child_start_resolved(seq, matches!(resolution, Resolution::Completed(_)));
        }
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
            CommandKind::Activity | CommandKind::External | CommandKind::Child => {}
        }
        self.children.borrow_mut().remove(&seq);
    }

    /// Handle a cancellation request of the workflow: its main task is
    /// cancelled. The request is made once (as in Temporal); later ones
    /// change nothing, so clean-up a workflow runs after the first is not
    /// cut short by a repeated request.
    pub(crate) fn cancel_workflow(&self, reason: &str) {
        if self.workflow_cancel.borrow().is_some() {
            return;
        }
        self.workflow_cancel.replace(Some(reason.to_string()));
        self.cancel_task(MAIN_TASK, reason, false, &mut BTreeSet::new());
    }

    /// Cancel `task` (see the module docs): its pending steps and
    /// conditions are cancelled and the request is passed on to the tasks
    /// it awaits; if it has nothing to cancel, and no cancellation of a step
    /// still in flight, it gets the request at its next step. Does nothing
    /// to a finished task, or one `visited` already.
    pub(crate) fn cancel_task(
        &self,
        task: TaskId,
        reason: &str,
        passed_on: bool,
        visited: &mut BTreeSet<TaskId>,
    ) {
        if !visited.insert(task) {
            return;
        }
        let joined: Vec<TaskId> = {
            let tasks = self.tasks.borrow();
            let Some(state) = tasks.get(&task) else {
                return;
            };
            let alive = |target: &&TaskId| tasks.contains_key(*target);
            state.joined.iter().filter(alive).copied().collect()
        };
        let (steps, in_flight) = {
            let slots = self.slots.borrow();
            let mine = || {
                slots
                    .iter()
                    .filter(move |(_, s)| s.task == task && s.resolved.is_none())
            };
            let steps: Vec<u32> = mine()
                .filter(|(_, s)| !s.cancel_requested && s.kind != CommandKind::External)
                .map(|(seq, _)| *seq)
                .collect();
            (steps, mine().any(|(_, s)| s.cancel_requested))
        };
        let waiters: Vec<ConditionWaiter> = {
            let mut conditions = self.conditions.borrow_mut();
            let (mine, others) = conditions.drain(..).partition(|w| w.task == task);
            *conditions = others;
            mine
        };
        let reached = in_flight || !(steps.is_empty() && waiters.is_empty() && joined.is_empty());
        for seq in steps {
            self.cancel_step(seq, reason);
        }
        for waiter in waiters {
            let mut state = waiter.state.borrow_mut();
            state.outcome = Some(Err(reason.to_string()));
            if let Some(waker) = state.waker.take() {
                waker.wake();
            }
        }
        for target in joined {
            self.cancel_task(target, reason, true, visited);
        }
        if !reached
            && let Some(state) = self.tasks.borrow_mut().get_mut(&task)
            && state.pending_cancel.is_none()
        {
            state.pending_cancel = Some(PendingCancel {
                reason: reason.to_string(),
                passed_on,
                given: false,
            });
        }
    }

    /// Cancel the pending command `seq`: a timer resolves as cancelled at
    /// once, an activity is asked to stop and resolves as its cancellation
    /// type says. Does nothing to a resolved or already cancelled command.
    pub(crate) fn cancel_step(&self, seq: u32, reason: &str) {
        if self.closed.get() {
            return;
        }
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(&seq) else {
            return;
        };
        if slot.resolved.is_some() || slot.cancel_requested || slot.kind == CommandKind::External {
            return;
        }
        slot.cancel_requested = true;
        if slot.kind == CommandKind::Child
            && let Some(child) = self.children.borrow_mut().get_mut(&seq)
        {
            // Fire and forget: the child's close tells how it went. A
            // child not started yet is asked once it has.
            if child.started {
                external::request_cancel(&child.workflow_id, reason);
            } else {
                child.pending_cancel = Some(reason.to_string());
            }
        }
        match slot.kind {
            CommandKind::Timer => {
                timer::cancel(seq);
                slot.resolved = Some(Resolved::TimerCancelled(reason.to_string()));
                if let Some(waker) = slot.waker.take() {
                    waker.wake();
                }
            }
            CommandKind::Activity => activity::request_cancel(seq),
            CommandKind::External | CommandKind::Child => {}
        }
    }

    /// The reason of a cancellation request the current task has not been
    /// given before this poll, marking it given in this poll.
    fn give_pending_cancel(&self) -> Option<String> {
        let task = self.current_task.get();
        let mut tasks = self.tasks.borrow_mut();
        let pending = tasks.get_mut(&task)?.pending_cancel.as_mut()?;
        pending.given = true;
        Some(pending.reason.clone())
    }

    /// Called when a task is about to wait on the unresolved command `seq`:
    /// a cancellation request that has not reached the task yet cancels this
    /// step.
    pub(crate) fn deliver_cancel_to_step(&self, seq: u32) {
        let waiting = self
            .slots
            .borrow()
            .get(&seq)
            .is_some_and(|slot| slot.resolved.is_none() && !slot.cancel_requested);
        if waiting && let Some(reason) = self.give_pending_cancel() {
            self.cancel_step(seq, &reason);
        }
    }

    /// Called when a task is about to wait on a condition: the reason of a
    /// cancellation request that has not reached the task yet.
    pub(crate) fn cancel_for_condition(&self) -> Option<String> {
        self.give_pending_cancel()
    }

    /// The current task waits on `target` through an unshielded handle: a
    /// request to cancel the current task is passed on to `target`, at once
    /// if one is pending.
    pub(crate) fn join(&self, target: TaskId) {
        let task = self.current_task.get();
        if let Some(state) = self.tasks.borrow_mut().get_mut(&task) {
            state.joined.insert(target);
        }
        if let Some(reason) = self.give_pending_cancel() {
            self.cancel_task(target, &reason, true, &mut BTreeSet::from([task]));
        }
    }

    /// The executor polled `task`: a request given to its steps in that
    /// poll is delivered.
    pub(crate) fn polled(&self, task: TaskId) {
        if let Some(state) = self.tasks.borrow_mut().get_mut(&task)
            && state.pending_cancel.as_ref().is_some_and(|p| p.given)
        {
            state.pending_cancel = None;
        }
    }

    /// `waiter` no longer awaits `target`.
    pub(crate) fn unjoin(&self, waiter: TaskId, target: TaskId) {
        if let Some(state) = self.tasks.borrow_mut().get_mut(&waiter) {
            state.joined.remove(&target);
        }
    }

    /// True once cancellation of the workflow has been requested.
    pub(crate) fn cancel_requested(&self) -> bool {
        self.workflow_cancel.borrow().is_some()
    }

    /// The task being polled.
    pub(crate) fn current_task(&self) -> TaskId {
        self.current_task.get()
    }

    /// The executor polls `task` next.
    pub(crate) fn set_current_task(&self, task: TaskId) {
        self.current_task.set(task);
    }

    /// `task` finished; forget its cancellation state. A request passed on
    /// to it that it never took goes back to the tasks awaiting it, so the
    /// request is not lost.
    pub(crate) fn task_finished(&self, task: TaskId) {
        let mut tasks = self.tasks.borrow_mut();
        let Some(state) = tasks.remove(&task) else {
            return;
        };
        let Some(pending) = state.pending_cancel.filter(|p| p.passed_on && !p.given) else {
            return;
        };
        for waiter in tasks.values_mut().filter(|w| w.joined.contains(&task)) {
            waiter.pending_cancel.get_or_insert(PendingCancel {
                reason: pending.reason.clone(),
                passed_on: false,
                given: false,
            });
        }
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

    /// Add a task running `future`; the executor polls it from the next
    /// step on. It has no cancellation request, whatever came before.
    pub(crate) fn spawn(&self, future: LocalBoxFuture<'static, ()>) -> TaskId {
        let task = self.next_task.get();
        self.next_task.set(task + 1);
        self.tasks.borrow_mut().insert(task, TaskState::default());
        self.spawned.borrow_mut().push(Spawned { task, future });
        task
    }

    pub(crate) fn take_spawned(&self) -> Vec<Spawned> {
        std::mem::take(&mut *self.spawned.borrow_mut())
    }

    pub(crate) fn has_spawned(&self) -> bool {
        !self.spawned.borrow().is_empty()
    }
}
