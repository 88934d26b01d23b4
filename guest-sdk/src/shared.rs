//! State shared between the executor, the workflow context and the futures
//! it hands out: pending commands by sequence number, condition waiters,
//! newly spawned tasks and the cancellation flag.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::task::Waker;

use futures::future::LocalBoxFuture;

use crate::bindings::keel::workflow::activity::{self, Resolution};
use crate::bindings::keel::workflow::timer;

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
    resolved: Option<Resolved>,
    cancel_requested: bool,
    waker: Option<Waker>,
}

/// A task blocked in `wait_condition`.
pub(crate) struct ConditionWaiter {
    pub(crate) check: Box<dyn Fn() -> bool>,
    pub(crate) state: Rc<RefCell<ConditionState>>,
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
    slots: RefCell<HashMap<u32, Slot>>,
    conditions: RefCell<Vec<ConditionWaiter>>,
    spawned: RefCell<Vec<LocalBoxFuture<'static, ()>>>,
    cancel_requested: Cell<bool>,
    closed: Cell<bool>,
}

impl Shared {
    pub(crate) fn track(&self, seq: u32, kind: CommandKind) {
        self.slots.borrow_mut().insert(
            seq,
            Slot {
                kind,
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
    /// resolves as cancelled, every pending activity is asked to cancel.
    pub(crate) fn cancel_all(&self, reason: &str) {
        self.cancel_requested.set(true);
        for (seq, slot) in self.slots.borrow_mut().iter_mut() {
            if slot.resolved.is_some() || slot.cancel_requested {
                continue;
            }
            slot.cancel_requested = true;
            match slot.kind {
                CommandKind::Timer => {
                    timer::cancel(*seq);
                    slot.resolved = Some(Resolved::TimerCancelled(reason.to_string()));
                    if let Some(waker) = slot.waker.take() {
                        waker.wake();
                    }
                }
                CommandKind::Activity => activity::request_cancel(*seq),
            }
        }
        for waiter in self.conditions.borrow_mut().drain(..) {
            let mut state = waiter.state.borrow_mut();
            state.outcome = Some(Err(reason.to_string()));
            if let Some(waker) = state.waker.take() {
                waker.wake();
            }
        }
    }

    pub(crate) fn cancel_requested(&self) -> bool {
        self.cancel_requested.get()
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
        self.spawned.borrow_mut().push(future);
    }

    pub(crate) fn take_spawned(&self) -> Vec<LocalBoxFuture<'static, ()>> {
        std::mem::take(&mut *self.spawned.borrow_mut())
    }

    pub(crate) fn has_spawned(&self) -> bool {
        !self.spawned.borrow().is_empty()
    }
}
