//! What callers pass to a host and get back: start requests, started runs,
//! descriptions of runs and deployments.

use std::time::Duration;

use crate::error::Result;
use crate::history::{NonDeterminism, RetryPolicy};
use crate::ids::{ComponentId, RequestId, RunId, WorkflowId};
use crate::store::{ComponentSummary, RunRecord, WorkflowTypeInfo};
use crate::types::{Failure, IdConflictPolicy, IdReusePolicy, Payload};

/// Where to start a run.
#[derive(Debug, Clone)]
pub struct StartWorkflow {
    /// The workflow id; at most one open run per id.
    pub workflow_id: WorkflowId,
    /// The workflow type; a deployed component must serve it.
    pub workflow_type: String,
    /// The run's argument (JSON for workflows written with keel-sdk).
    pub input: Payload,
    /// What to do if the id's latest run is closed.
    pub id_reuse: IdReusePolicy,
    /// What to do if the id has an open run.
    pub id_conflict: IdConflictPolicy,
    /// The caller's id for this start: a retry with the same id returns
    /// the run the first attempt started instead of starting another.
    pub request_id: Option<RequestId>,
    /// Close the run as timed out this long after it starts.
    pub run_timeout: Option<Duration>,
    /// Close the workflow as timed out this long after it starts: this run
    /// and the runs that continue it as new.
    pub execution_timeout: Option<Duration>,
    /// Run the workflow's code only this long after the start (a signal or
    /// cancel that comes first starts it at once); signal-with-start
    /// ignores it.
    pub start_delay: Option<Duration>,
    /// Retry a failed run as this policy says: a new run of the same id
    /// with the same input, after a backoff (Temporal's workflow retry
    /// policy). A run past its run timeout is retried too; cancelled and
    /// terminated runs are not, nor is anything past the execution timeout.
    pub retry_policy: Option<RetryPolicy>,
    /// How long one activation of the run may take before it fails and is
    /// retried (Temporal's workflow-task timeout); at most, and by default,
    /// the host's activation timeout.
    pub task_timeout: Option<Duration>,
}

/// The run a start request leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// The run.
    pub run_id: RunId,
    /// False if an open run was returned instead (use-existing).
    pub started: bool,
}

/// A timer not yet fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PendingTimer {
    /// Its sequence number.
    pub seq: u32,
    /// When it is due, ms since the epoch.
    pub fire_at_ms: u64,
}

/// An activity not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingActivity {
    /// Its sequence number.
    pub seq: u32,
    /// The activity's name.
    pub name: String,
    /// The attempt running or due next, from 1.
    pub attempt: u32,
    /// When that attempt may start, ms since the epoch.
    pub next_attempt_at_ms: u64,
    /// How the last attempt failed, if one did.
    pub last_failure: Option<Failure>,
}

/// Why a run is parked: it keeps its inputs and waits until a version that
/// replays its history is deployed, or it is terminated.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Parked {
    /// Replay found that the code no longer does what history recorded:
    /// where, what history holds and what the code did.
    NonDeterminism(NonDeterminism),
    /// The run's history cannot be read (a damaged store).
    Unreadable {
        /// What is wrong, and what to do.
        message: String,
    },
}

impl std::fmt::Display for Parked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Parked::NonDeterminism(nd) => nd.fmt(f),
            Parked::Unreadable { message } => f.write_str(message),
        }
    }
}

/// A run's row with its pending work.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunDescription {
    /// The run.
    pub run: RunRecord,
    /// Timers not yet fired.
    pub pending_timers: Vec<PendingTimer>,
    /// Activities not yet resolved.
    pub pending_activities: Vec<PendingActivity>,
    /// Why the run is parked, if it is.
    pub parked: Option<Parked>,
    /// The run waits for the host's memory budget (spent by other runs) to
    /// have room for its instance.
    pub waiting_for_memory: bool,
    /// The run's workflow task keeps failing (it is retried with a
    /// backoff): the latest failure.
    pub task_failure: Option<TaskFailure>,
    /// The child workflows the run started, oldest first.
    pub children: Vec<RunRecord>,
}

/// A workflow task that keeps failing: a panic, a deadline, a payload the
/// code cannot decode. The run is open; its inputs wait for a retry that
/// succeeds, which a fixed version deployed can bring.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TaskFailure {
    /// Stable error code (`KEEL-PANIC`, `KEEL-DEADLOCK`, …).
    pub code: String,
    /// What happened.
    pub message: String,
    /// Failed attempts in a row.
    pub attempts: u32,
}

/// A stored component and what it is current for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeploymentInfo {
    /// The component and the types it serves.
    pub component: ComponentSummary,
    /// Types it is the current version of.
    pub current_for: Vec<String>,
}

impl StartWorkflow {
    /// Start `workflow_type` as `workflow_id` with `input` encoded as JSON.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] for a bad id or an unencodable input.
    pub fn new(
        workflow_id: &str,
        workflow_type: &str,
        input: &(impl serde::Serialize + ?Sized),
    ) -> Result<Self> {
        Ok(StartWorkflow {
            workflow_id: WorkflowId::new(workflow_id)?,
            workflow_type: workflow_type.to_string(),
            input: Payload::json(input)?,
            id_reuse: IdReusePolicy::default(),
            id_conflict: IdConflictPolicy::default(),
            request_id: None,
            run_timeout: None,
            execution_timeout: None,
            start_delay: None,
            retry_policy: None,
            task_timeout: None,
        })
    }

    /// Run the workflow's code only `delay` after the start, unless a
    /// signal or cancel comes first (Temporal's start delay).
    pub fn start_delay(mut self, delay: Duration) -> Self {
        self.start_delay = Some(delay);
        self
    }

    /// Close the run as timed out if it is still open `timeout` after it
    /// starts (Temporal's run timeout).
    pub fn run_timeout(mut self, timeout: Duration) -> Self {
        self.run_timeout = Some(timeout);
        self
    }

    /// Close the workflow as timed out if it is still open `timeout` after
    /// it starts, across continue-as-new (Temporal's execution timeout).
    pub fn execution_timeout(mut self, timeout: Duration) -> Self {
        self.execution_timeout = Some(timeout);
        self
    }

    /// Fail an activation that takes longer than `timeout` (it is retried),
    /// below the host's activation timeout.
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// Retry a failed run as `policy` says.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = Some(policy);
        self
    }

    /// Set the request id, so that retrying this start is safe.
    pub fn request_id(mut self, request_id: RequestId) -> Self {
        self.request_id = Some(request_id);
        self
    }

    /// Set the id-reuse policy.
    pub fn id_reuse(mut self, policy: IdReusePolicy) -> Self {
        self.id_reuse = policy;
        self
    }

    /// Set the id-conflict policy.
    pub fn id_conflict(mut self, policy: IdConflictPolicy) -> Self {
        self.id_conflict = policy;
        self
    }
}

/// A deployed component and the workflow types it now serves.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deployment {
    /// The component's id.
    pub component: ComponentId,
    /// The types it serves (it is now their current version).
    pub workflow_types: Vec<WorkflowTypeInfo>,
}
