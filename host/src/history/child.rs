//! Child workflows as history: the parent's request to start one, how the
//! start went, and how the child closed; and the link a child keeps to its
//! parent.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{RunId, WorkflowId};
use crate::types::{Failure, Outcome, Payload};

/// What happens to a child when its parent closes first (Temporal's
/// parent-close policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParentClosePolicy {
    /// The host terminates the child.
    #[default]
    Terminate,
    /// The host asks the child to cancel.
    RequestCancel,
    /// The child runs on.
    Abandon,
}

impl fmt::Display for ParentClosePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParentClosePolicy::Terminate => "terminate",
            ParentClosePolicy::RequestCancel => "request-cancel",
            ParentClosePolicy::Abandon => "abandon",
        })
    }
}

/// A child's link to the run that started it, recorded in the child's
/// `WorkflowStarted` and kept by the runs that continue it as new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The parent run.
    pub run_id: RunId,
    /// The parent's workflow id.
    pub workflow_id: WorkflowId,
    /// The sequence number the child's close resolves in the parent.
    pub closed_seq: u32,
    /// What happens to the child when the parent closes first.
    pub close_policy: ParentClosePolicy,
}

/// The workflow asked to start a child workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildStartRequested {
    /// Sequence number of the start.
    pub seq: u32,
    /// Sequence number the child's close resolves.
    pub closed_seq: u32,
    /// The child's workflow id.
    pub workflow_id: WorkflowId,
    /// Its workflow type.
    pub workflow_type: String,
    /// Its argument.
    pub input: Payload,
    /// What happens to it when the parent closes first.
    pub close_policy: ParentClosePolicy,
    /// Its run timeout, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout_ms: Option<u64>,
    /// Its execution timeout, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_timeout_ms: Option<u64>,
}

/// The child started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildStarted {
    /// Sequence number of the start.
    pub seq: u32,
    /// The child's run.
    pub run_id: RunId,
}

/// The child could not start (its workflow id has an open run, its type
/// is not deployed, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildStartFailed {
    /// Sequence number of the start.
    pub seq: u32,
    /// Why.
    pub failure: Failure,
}

/// The child closed (the last run of its chain, if it continued as new).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildClosed {
    /// The sequence number its close resolves.
    pub seq: u32,
    /// The run that closed.
    pub run_id: RunId,
    /// How it ended.
    pub outcome: Outcome,
}

impl ChildClosed {
    /// The child's result, or the failure the parent sees: the child's own
    /// failure, or one of type `ChildWorkflowCancelled`,
    /// `ChildWorkflowTerminated` or `ChildWorkflowTimedOut`.
    pub fn result(&self) -> Result<Payload, Failure> {
        match &self.outcome {
            Outcome::Completed(result) => Ok(result.clone()),
            Outcome::Failed(failure) => Err(failure.clone()),
            Outcome::Cancelled(failure) => Err(Failure {
                error_type: "ChildWorkflowCancelled".into(),
                ..failure.clone()
            }),
            Outcome::Terminated(reason) => Err(Failure::new(
                "ChildWorkflowTerminated",
                format!("the child workflow was terminated: {reason}"),
            )
            .non_retryable()),
            Outcome::TimedOut(message) => {
                Err(Failure::new("ChildWorkflowTimedOut", message.clone()).non_retryable())
            }
            Outcome::ContinuedAsNew(_) => Err(Failure::new(
                "ChildWorkflowContinuedAsNew",
                "the child continued as new without a successor",
            )
            .non_retryable()),
        }
    }
}
