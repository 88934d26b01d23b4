//! One open run: its identity, its mailbox of undelivered inputs and
//! queries, its cached instance, and a channel that announces its outcome.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::{oneshot, watch};

use crate::engine::{LoadedComponent, WorkflowInstance};
use crate::error::Result;
use crate::history::{HistoryEvent, ParentLink, RunMachine};
use crate::host::Parked;
use crate::host::Verdict;
use crate::ids::{ComponentId, RunId, WorkflowId};
use crate::runtime::deadline::Deadlines;
use crate::runtime::retry::Retry;
use crate::store::StoreError;
use crate::types::{Outcome, Payload};

/// A query waiting for the run's actor.
pub(crate) struct QueryRequest {
    pub(crate) name: String,
    pub(crate) input: Payload,
    pub(crate) reply: oneshot::Sender<Result<Payload>>,
}

/// A request to move the run onto another version of its code, if that
/// version replays its history cleanly.
pub(crate) struct UpgradeRequest {
    pub(crate) component: Arc<LoadedComponent>,
    pub(crate) reply: oneshot::Sender<Verdict>,
}

/// Work waiting for the run's actor.
#[derive(Default)]
pub(crate) struct Mailbox {
    /// Committed input events not yet delivered, in commit order.
    pub(crate) inputs: Vec<HistoryEvent>,
    pub(crate) queries: Vec<QueryRequest>,
    pub(crate) upgrades: Vec<UpgradeRequest>,
    /// An actor task is running for this run.
    pub(crate) driving: bool,
    /// A failed workflow task waits for its retry; inputs wait with it.
    pub(crate) backing_off: bool,
    /// The run's start is delayed: its inputs wait until the delay passes
    /// or a signal or cancel comes.
    pub(crate) held: bool,
    /// Consecutive failed workflow tasks, for the backoff.
    pub(crate) task_failures: u32,
    /// The latest failed workflow task (code, message), while they fail.
    pub(crate) last_task_failure: Option<(String, String)>,
    /// Why the run is parked (non-determinism), if it is.
    pub(crate) parked: Option<Parked>,
    /// The run waits for the host's memory budget to have room for its
    /// instance.
    pub(crate) waiting_for_memory: bool,
    /// Memory the run's instance needed when the budget last refused it.
    pub(crate) memory_needed: usize,
    /// The run's events the actor has seen (taken as input or appended
    /// itself) are all those up to this id, with no gap: a close commits
    /// only if nothing came after it.
    pub(crate) seen_through: u64,
    /// Ids seen past a gap (an event committed but not yet handed over).
    seen_ahead: BTreeSet<u64>,
}

impl Mailbox {
    /// A workflow task failed because the store did: counted for the
    /// backoff and shown by `describe` like any failed task.
    pub(crate) fn store_failed(&mut self, err: &StoreError) {
        self.task_failures += 1;
        self.last_task_failure = Some(("KEEL-STORE".into(), err.to_string()));
    }

    /// Inputs may be delivered: the run is neither waiting out a failed
    /// task's backoff, nor a start delay, nor parked.
    fn deliverable(&self) -> bool {
        !self.backing_off && !self.held && self.parked.is_none()
    }

    /// The actor has something to do: a query, an upgrade, or inputs it
    /// may deliver.
    pub(crate) fn has_work(&self) -> bool {
        !self.queries.is_empty()
            || !self.upgrades.is_empty()
            || (!self.inputs.is_empty() && self.deliverable())
    }

    /// Take what the actor does next: the inputs it may deliver, in the
    /// order history records them (commits finish in id order but their
    /// inputs may be pushed in another), marked seen; and the queries.
    pub(crate) fn take_work(&mut self) -> (Vec<HistoryEvent>, Vec<QueryRequest>) {
        let mut inputs = if self.deliverable() {
            std::mem::take(&mut self.inputs)
        } else {
            Vec::new()
        };
        inputs.sort_by_key(|e| e.id);
        self.saw(inputs.iter().map(|e| e.id));
        (inputs, std::mem::take(&mut self.queries))
    }

    /// The actor has seen the events `ids`.
    pub(crate) fn saw(&mut self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            if id == self.seen_through + 1 {
                self.seen_through = id;
            } else if id > self.seen_through {
                self.seen_ahead.insert(id);
            }
        }
        while self.seen_ahead.remove(&(self.seen_through + 1)) {
            self.seen_through += 1;
        }
    }
}

/// A run's instance with the state replay rebuilt alongside it.
pub(crate) struct LiveRun {
    pub(crate) instance: WorkflowInstance,
    pub(crate) machine: RunMachine,
    /// Workflow time of the last activation; time never goes back.
    pub(crate) last_time_ms: u64,
}

/// See the module docs.
pub(crate) struct RunHandle {
    pub(crate) id: RunId,
    pub(crate) workflow_id: WorkflowId,
    pub(crate) workflow_type: String,
    /// The version of its code the run is on.
    component: Mutex<ComponentId>,
    pub(crate) start_time_ms: u64,
    pub(crate) random_seed: u64,
    mailbox: Mutex<Mailbox>,
    live: Mutex<Option<LiveRun>>,
    outcome: watch::Sender<Option<Outcome>>,
    /// Started by this host and never activated: nothing to replay.
    fresh: AtomicBool,
    /// The run this one continues as new, if it does.
    predecessor: OnceLock<RunId>,
    /// When the run times out.
    deadlines: OnceLock<Deadlines>,
    /// The run that started this one as its child.
    parent: OnceLock<ParentLink>,
    /// The run may have started children (it asked to start one), whose
    /// parent-close policy applies when it closes.
    may_have_children: AtomicBool,
    /// The run's retry policy and attempt, if it has a policy.
    retry: OnceLock<Retry>,
}

impl RunHandle {
    pub(crate) fn new(
        id: RunId,
        workflow_id: WorkflowId,
        workflow_type: String,
        component: ComponentId,
        start_time_ms: u64,
        random_seed: u64,
    ) -> Arc<Self> {
        Arc::new(RunHandle {
            id,
            workflow_id,
            workflow_type,
            component: Mutex::new(component),
            start_time_ms,
            random_seed,
            mailbox: Mutex::default(),
            live: Mutex::default(),
            outcome: watch::Sender::new(None),
            fresh: AtomicBool::new(false),
            predecessor: OnceLock::new(),
            deadlines: OnceLock::new(),
            parent: OnceLock::new(),
            may_have_children: AtomicBool::new(false),
            retry: OnceLock::new(),
        })
    }

    /// When the run times out, as its start set it.
    pub(crate) fn deadlines(&self) -> Deadlines {
        self.deadlines.get().copied().unwrap_or_default()
    }

    /// The run's start set these deadlines.
    pub(crate) fn set_deadlines(&self, deadlines: Deadlines) {
        let _ = self.deadlines.set(deadlines);
    }

    /// The run this one continues as new, if it does: a request it applied
    /// counts as applied by this run too.
    pub(crate) fn predecessor(&self) -> Option<RunId> {
        self.predecessor.get().copied()
    }

    /// This run continues `run` as new.
    pub(crate) fn continues(&self, run: RunId) {
        let _ = self.predecessor.set(run);
    }

    /// The run's retry policy and attempt, if it has a policy.
    pub(crate) fn retry(&self) -> Option<&Retry> {
        self.retry.get()
    }

    /// The run's start recorded a retry policy.
    pub(crate) fn set_retry(&self, retry: Retry) {
        let _ = self.retry.set(retry);
    }

    /// Which attempt of its workflow the run is (1 without a policy).
    pub(crate) fn attempt(&self) -> u32 {
        self.retry().map_or(1, |r| r.attempt)
    }

    /// The run that started this one as its child, if one did.
    pub(crate) fn parent(&self) -> Option<&ParentLink> {
        self.parent.get()
    }

    /// This run is a child of `parent`.
    pub(crate) fn set_parent(&self, parent: ParentLink) {
        let _ = self.parent.set(parent);
    }

    /// True if the run may have started children.
    pub(crate) fn may_have_children(&self) -> bool {
        self.may_have_children.load(Ordering::Relaxed)
    }

    /// The run asked to start a child.
    pub(crate) fn started_children(&self) {
        self.may_have_children.store(true, Ordering::Relaxed);
    }

    /// The version of its code the run is on.
    pub(crate) fn component(&self) -> ComponentId {
        self.component
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The run moved onto `component` (its move is durable).
    pub(crate) fn move_to(&self, component: ComponentId) {
        *self
            .component
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = component;
    }

    /// Mark a run just started by this host: its first instance needs no
    /// replay.
    pub(crate) fn mark_fresh(&self) {
        self.fresh.store(true, Ordering::Relaxed);
    }

    /// True (once) if the run has never been activated.
    pub(crate) fn take_fresh(&self) -> bool {
        self.fresh.swap(false, Ordering::Relaxed)
    }

    /// The mailbox; never held across an `.await`.
    pub(crate) fn mailbox(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn push_inputs(&self, inputs: impl IntoIterator<Item = HistoryEvent>) {
        self.mailbox().inputs.extend(inputs);
    }

    /// The actor has seen the events `ids` of the run.
    pub(crate) fn saw(&self, ids: impl IntoIterator<Item = u64>) {
        self.mailbox().saw(ids);
    }

    /// Take the cached instance, if any.
    pub(crate) fn take_live(&self) -> Option<LiveRun> {
        self.live.lock().ok()?.take()
    }

    /// True if the run's instance is cached.
    pub(crate) fn is_live(&self) -> bool {
        self.live.lock().is_ok_and(|live| live.is_some())
    }

    /// Put the instance back after use.
    pub(crate) fn put_live(&self, live: LiveRun) {
        if let Ok(mut slot) = self.live.lock() {
            *slot = Some(live);
        }
    }

    /// Announce the run's outcome to everyone waiting for it.
    pub(crate) fn close(&self, outcome: Outcome) {
        self.outcome.send_replace(Some(outcome));
    }

    /// True once the run has closed (its outcome is announced).
    pub(crate) fn is_closed(&self) -> bool {
        self.outcome.borrow().is_some()
    }

    /// A receiver that sees the outcome once the run closes.
    pub(crate) fn watch_outcome(&self) -> watch::Receiver<Option<Outcome>> {
        self.outcome.subscribe()
    }
}
