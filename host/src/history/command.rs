//! Commands: what workflow code asks the host to do during an activation.

use serde::{Deserialize, Serialize};

use crate::history::child::ChildStartRequested;
use crate::ids::WorkflowId;
use crate::types::Payload;

/// How failed activity attempts are retried (Temporal's semantics and
/// defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Delay before the first retry, in ms.
    pub initial_interval_ms: u64,
    /// Factor by which the delay grows after each retry.
    pub backoff_coefficient: f64,
    /// Upper bound on the delay, in ms.
    pub maximum_interval_ms: u64,
    /// Total attempts allowed, the first included; 0 means unlimited.
    pub maximum_attempts: u32,
    /// Failure types never retried.
    #[serde(default)]
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_interval_ms: 1_000,
            backoff_coefficient: 2.0,
            maximum_interval_ms: 100_000,
            maximum_attempts: 0,
            non_retryable_error_types: Vec::new(),
        }
    }
}

/// What cancelling a running activity means for the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancellationType {
    /// Tell the activity and resolve it as cancelled at once.
    #[default]
    TryCancel,
    /// Tell the activity and resolve it when it has stopped.
    WaitCancellationCompleted,
    /// Resolve it as cancelled at once; do not tell the activity.
    Abandon,
}

/// Per-call options of an activity.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ActivityOptions {
    /// Limit on one attempt, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_to_close_ms: Option<u64>,
    /// Limit on all attempts together, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_to_close_ms: Option<u64>,
    /// Heartbeat timeout of an attempt, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
    /// Retry policy; `None` means the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// What cancellation means.
    #[serde(default)]
    pub cancellation_type: CancellationType,
}

/// A command issued by workflow code. Sequence numbers are assigned by the
/// host in issue order, so they are the same on every replay.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Start a durable timer.
    StartTimer {
        /// The timer's sequence number.
        seq: u32,
        /// Its duration in ms.
        duration_ms: u64,
    },
    /// Cancel a timer.
    CancelTimer {
        /// The timer's sequence number.
        seq: u32,
    },
    /// Schedule an activity.
    ScheduleActivity {
        /// The activity's sequence number.
        seq: u32,
        /// The registered activity name.
        name: String,
        /// Its argument.
        input: Payload,
        /// Its options.
        options: ActivityOptions,
    },
    /// Request cancellation of an activity.
    RequestCancelActivity {
        /// The activity's sequence number.
        seq: u32,
    },
    /// Signal the open run of another workflow id.
    SignalExternal {
        /// The request's sequence number.
        seq: u32,
        /// The target.
        workflow_id: WorkflowId,
        /// The signal's name.
        name: String,
        /// Its argument.
        input: Payload,
    },
    /// Ask the open run of another workflow id to cancel.
    CancelExternal {
        /// The request's sequence number.
        seq: u32,
        /// The target.
        workflow_id: WorkflowId,
        /// Why.
        reason: String,
    },
    /// Start a child workflow.
    StartChild(ChildStartRequested),
    /// Record that the run took the code guarded by a patch.
    RecordPatch {
        /// The patch id.
        patch_id: String,
        /// Called through `deprecate_patch`.
        deprecated: bool,
    },
}
