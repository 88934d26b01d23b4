//! Durable storage: the [`Store`] trait the engine writes through, its
//! records and its batches. Backends live in submodules.
//!
//! Writes are batches of operations guarded by checks and applied
//! atomically; a backend may group-commit many batches in one transaction
//! but each batch succeeds or fails alone.

mod sqlite;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::history::{ActivityOptions, Event, HistoryEvent, ParentLink};
use crate::ids::{ComponentId, RequestId, RunId, WorkflowId};
use crate::types::{Failure, IdReusePolicy, Outcome, Payload, RunStatus};

pub use sqlite::SqliteStore;

/// Errors of a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A batch's check did not hold; nothing of the batch was applied.
    #[error("check failed: {0}")]
    CheckFailed(Check),
    /// A run with this workflow id is already open.
    #[error("workflow id {0} already has an open run")]
    WorkflowIdInUse(WorkflowId),
    /// The run has already applied this request; nothing of the batch was
    /// applied again.
    #[error("request {1} was already applied to run {0}")]
    DuplicateRequest(RunId, RequestId),
    /// The backend failed (I/O, corruption, a bug).
    #[error("{0}")]
    Backend(String),
}

/// Result alias of the store.
pub type StoreResult<T> = Result<T, StoreError>;

/// A run's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// The run.
    pub run_id: RunId,
    /// Its workflow id.
    pub workflow_id: WorkflowId,
    /// Its workflow type.
    pub workflow_type: String,
    /// The component version it is pinned to.
    pub component: ComponentId,
    /// Where it is in its life.
    pub status: RunStatus,
    /// When it started, ms since the epoch.
    pub created_at_ms: u64,
    /// When it closed.
    pub closed_at_ms: Option<u64>,
    /// How it ended, once closed.
    pub outcome: Option<Outcome>,
    /// The run that started it as its child, if one did.
    pub parent: Option<ParentLink>,
}

/// A pending durable timer.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerRecord {
    /// The run.
    pub run_id: RunId,
    /// The timer's sequence number.
    pub seq: u32,
    /// When it is due, ms since the epoch.
    pub fire_at_ms: u64,
}

/// A scheduled activity that has not resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityTask {
    /// The run.
    pub run_id: RunId,
    /// The activity's sequence number.
    pub seq: u32,
    /// The run's workflow id.
    pub workflow_id: WorkflowId,
    /// Activity name.
    pub name: String,
    /// Its argument.
    pub input: Payload,
    /// Its options.
    pub options: ActivityOptions,
    /// The attempt to run next, from 1.
    pub attempt: u32,
    /// When it was scheduled.
    pub scheduled_at_ms: u64,
    /// Not to be run before this time (retry backoff).
    pub not_before_ms: u64,
    /// Details of the last heartbeat of an earlier attempt.
    pub heartbeat: Option<Payload>,
    /// How the last attempt failed, if one did.
    pub last_failure: Option<Failure>,
}

/// A workflow type a component serves, with its signal and query names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowTypeInfo {
    /// The type's name.
    pub name: String,
    /// Signals it handles.
    pub signals: Vec<String>,
    /// Queries it answers.
    pub queries: Vec<String>,
}

/// A condition a batch requires; if it fails the batch is not applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The run exists and is open.
    RunOpen(RunId),
    /// The timer is still pending.
    TimerPending(RunId, u32),
    /// The activity task is still pending.
    TaskPending(RunId, u32),
    /// The workflow id's latest run (if any) lets `policy` start another.
    IdReusable(WorkflowId, IdReusePolicy),
    /// The run has no event after this id: nothing arrived that the
    /// committing actor has not seen.
    NoEventsAfter(RunId, u64),
    /// After the batch, the run's stored history is at most this many
    /// bytes (checked after the batch's operations).
    HistoryWithin(RunId, u64),
    /// The run has not applied the request.
    RequestNew(RunId, RequestId),
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::RunOpen(run) => write!(f, "run {run} is not open"),
            Check::TimerPending(run, seq) => write!(f, "timer {seq} of {run} is not pending"),
            Check::TaskPending(run, seq) => write!(f, "activity {seq} of {run} is not pending"),
            Check::NoEventsAfter(run, id) => write!(f, "run {run} has events after event {id}"),
            Check::RequestNew(run, request) => write!(f, "run {run} applied request {request}"),
            Check::HistoryWithin(run, max) => {
                write!(f, "the history of run {run} would pass {max} bytes")
            }
            Check::IdReusable(id, IdReusePolicy::RejectDuplicate) => {
                write!(
                    f,
                    "workflow id {id} was used before and its reuse policy rejects duplicates"
                )
            }
            Check::IdReusable(id, _) => write!(
                f,
                "workflow id {id} last completed successfully and its reuse policy allows only failed ones to be reused"
            ),
        }
    }
}

/// One change within a batch.
#[derive(Debug, Clone)]
pub enum Op {
    /// Create a run; fails with [`StoreError::WorkflowIdInUse`] if its
    /// workflow id has an open run.
    InsertRun(RunRecord),
    /// Append events to a run's history, all at time `time_ms`.
    Append {
        /// The run.
        run_id: RunId,
        /// When they happened.
        time_ms: u64,
        /// The events, in order.
        events: Vec<Event>,
    },
    /// Close a run with its outcome; drops its pending timers and tasks.
    CloseRun {
        /// The run.
        run_id: RunId,
        /// How it ended.
        outcome: Outcome,
        /// When.
        closed_at_ms: u64,
    },
    /// Add a pending timer.
    InsertTimer(TimerRecord),
    /// Remove a pending timer (no-op if gone).
    DeleteTimer(RunId, u32),
    /// Add an activity task.
    InsertTask(ActivityTask),
    /// Record a failed attempt: the next attempt, when, the heartbeat and
    /// the failure.
    RetryTask {
        /// The run.
        run_id: RunId,
        /// The activity.
        seq: u32,
        /// The next attempt.
        attempt: u32,
        /// Not before this time.
        not_before_ms: u64,
        /// Last heartbeat details.
        heartbeat: Option<Payload>,
        /// How the attempt failed.
        failure: Failure,
    },
    /// Remove an activity task (no-op if gone).
    DeleteTask(RunId, u32),
    /// Keep a request to another workflow until it is delivered; closing
    /// the run keeps it.
    InsertOutbox(OutboxEntry),
    /// A request to another workflow was delivered (no-op if gone).
    DeleteOutbox(RunId, u32),
    /// Remember that a run applied a request; fails the batch with
    /// [`StoreError::DuplicateRequest`] if it already has.
    RecordRequest(RunId, RequestId),
    /// Remember the request that started a run of a workflow id; fails the
    /// batch with [`StoreError::DuplicateRequest`] (naming the run it
    /// started) if that request started one before.
    RecordStart {
        /// The workflow id.
        workflow_id: WorkflowId,
        /// The start request.
        request_id: RequestId,
        /// The run it starts.
        run_id: RunId,
    },
    /// Store a component (idempotent) and the types it serves.
    PutComponent {
        /// Its id.
        id: ComponentId,
        /// Its bytes.
        bytes: Vec<u8>,
        /// The types it serves.
        workflow_types: Vec<WorkflowTypeInfo>,
        /// When it was stored.
        created_at_ms: u64,
    },
    /// Move an open run onto another version of its code.
    MoveRun {
        /// The run.
        run_id: RunId,
        /// The version it runs on from now.
        component: ComponentId,
    },
    /// Make `component` the current version of `workflow_type`.
    SetCurrent {
        /// The type.
        workflow_type: String,
        /// The version.
        component: ComponentId,
    },
}

/// Checks and operations applied atomically.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Conditions that must hold.
    pub checks: Vec<Check>,
    /// Changes, in order.
    pub ops: Vec<Op>,
}

impl Batch {
    /// Add a check.
    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// Add an operation.
    pub fn op(mut self, op: Op) -> Self {
        self.ops.push(op);
        self
    }
}

/// A stored component and the types it serves.
#[derive(Debug, Clone)]
pub struct ComponentRecord {
    /// Its id.
    pub id: ComponentId,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The types it serves.
    pub workflow_types: Vec<WorkflowTypeInfo>,
}

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Only this workflow type.
    pub workflow_type: Option<String>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Only runs started at or after this time, ms since the epoch.
    pub started_after_ms: Option<u64>,
    /// Only runs started before this time.
    pub started_before_ms: Option<u64>,
    /// Only runs older than this one (the previous page's last run).
    pub before: Option<(u64, RunId)>,
    /// At most this many.
    pub limit: usize,
}

/// A request a run made of another workflow, kept until it is delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// The requesting run, whose history gets the outcome.
    pub run_id: RunId,
    /// The request's sequence number in that run.
    pub seq: u32,
    /// The id under which the target applies it once.
    pub request_id: RequestId,
    /// The requesting event (`ExternalSignalRequested`, …).
    pub request: Event,
}

/// A stored component without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentSummary {
    /// Its id.
    pub id: ComponentId,
    /// The types it serves.
    pub workflow_types: Vec<WorkflowTypeInfo>,
    /// When it was first deployed.
    pub created_at_ms: u64,
}

/// Durable storage of runs, histories, timers, activity tasks and
/// components.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Apply a batch atomically and durably. Returns the appended events
    /// with the ids the store gave them.
    async fn commit(&self, batch: Batch) -> StoreResult<Vec<HistoryEvent>>;

    /// The whole history of a run, in order.
    async fn history(&self, run: RunId) -> StoreResult<Vec<HistoryEvent>>;

    /// A run's row.
    async fn run(&self, run: RunId) -> StoreResult<Option<RunRecord>>;

    /// The run that the start request `request` of `workflow_id` started.
    async fn started_by(
        &self,
        workflow_id: &WorkflowId,
        request: &RequestId,
    ) -> StoreResult<Option<RunId>>;

    /// Whether `run` has applied the request `request`.
    async fn request_applied(&self, run: RunId, request: &RequestId) -> StoreResult<bool>;

    /// The newest run of a workflow id.
    async fn latest_run(&self, workflow_id: &WorkflowId) -> StoreResult<Option<RunRecord>>;

    /// Every open run.
    async fn open_runs(&self) -> StoreResult<Vec<RunRecord>>;

    /// The runs `parent` started as its children, oldest first.
    async fn children(&self, parent: RunId) -> StoreResult<Vec<RunRecord>>;

    /// Every pending timer.
    async fn timers(&self) -> StoreResult<Vec<TimerRecord>>;

    /// Every pending activity task.
    async fn tasks(&self) -> StoreResult<Vec<ActivityTask>>;

    /// Every request to another workflow not yet delivered, of open and
    /// closed runs alike.
    async fn outbox(&self) -> StoreResult<Vec<OutboxEntry>>;

    /// Runs matching `filter`, newest first. A store may leave out outcomes
    /// over 64 KiB, so a page never loads large results.
    async fn list_runs(&self, filter: RunFilter) -> StoreResult<Vec<RunRecord>>;

    /// The pending timers and activity tasks of one run.
    async fn pending(&self, run: RunId) -> StoreResult<(Vec<TimerRecord>, Vec<ActivityTask>)>;

    /// Every stored component, oldest first.
    async fn components(&self) -> StoreResult<Vec<ComponentSummary>>;

    /// A stored component.
    async fn component(&self, id: &ComponentId) -> StoreResult<Option<ComponentRecord>>;

    /// The current version of each workflow type.
    async fn current_versions(&self) -> StoreResult<Vec<(String, ComponentId)>>;
}
