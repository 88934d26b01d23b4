//! Events: the durable record of a run, one struct per kind.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::history::child::{
    ChildClosed, ChildStartFailed, ChildStartRequested, ChildStarted, ParentLink,
};
use crate::history::command::{ActivityOptions, RetryPolicy};
use crate::ids::{ComponentId, RunId, WorkflowId};
use crate::types::{ContinuedAsNew, Failure, Outcome, Payload};

/// The run started. Always event 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowStarted {
    /// The workflow id.
    pub workflow_id: WorkflowId,
    /// The workflow type.
    pub workflow_type: String,
    /// The run's argument.
    pub input: Payload,
    /// The component version the run is pinned to.
    pub component: ComponentId,
    /// Seed of the run's replay-safe randomness.
    pub random_seed: u64,
    /// The run this one continues (it closed as continued-as-new, or failed
    /// and this run is its retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continued_from: Option<RunId>,
    /// The run is closed as timed out this long after it started, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_timeout_ms: Option<u64>,
    /// The workflow (this run and those that continue it as new) is closed
    /// as timed out at this time, ms since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_deadline_ms: Option<u64>,
    /// The run that started this one as its child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentLink>,
    /// How long one activation may take, ms (the workflow-task timeout),
    /// if the start set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_timeout_ms: Option<u64>,
    /// How failed runs of the workflow are retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// Which attempt of the workflow this run is, from 1.
    #[serde(default = "first_attempt", skip_serializing_if = "is_first_attempt")]
    pub attempt: u32,
}

fn first_attempt() -> u32 {
    1
}

fn is_first_attempt(attempt: &u32) -> bool {
    *attempt == 1
}

/// A durable timer was started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerStarted {
    /// Sequence number.
    pub seq: u32,
    /// Requested duration, ms.
    pub duration_ms: u64,
    /// When it is due, ms since the epoch.
    pub fire_at_ms: u64,
}

/// A timer fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerFired {
    /// Sequence number.
    pub seq: u32,
}

/// A timer was cancelled before it fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerCancelled {
    /// Sequence number.
    pub seq: u32,
}

/// An activity was scheduled; it is dispatched only once this is durable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityScheduled {
    /// Sequence number.
    pub seq: u32,
    /// Activity name.
    pub name: String,
    /// Its argument.
    pub input: Payload,
    /// Its options.
    pub options: ActivityOptions,
}

/// An activity returned a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityCompleted {
    /// Sequence number.
    pub seq: u32,
    /// The attempt that succeeded.
    pub attempt: u32,
    /// The value.
    pub result: Payload,
}

/// An activity failed for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityFailed {
    /// Sequence number.
    pub seq: u32,
    /// The last attempt.
    pub attempt: u32,
    /// The last failure.
    pub failure: Failure,
}

/// The workflow asked to cancel an activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityCancelRequested {
    /// Sequence number.
    pub seq: u32,
}

/// An activity resolved as cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityCancelled {
    /// Sequence number.
    pub seq: u32,
}

/// The run took the code guarded by a patch (`ctx.patched(id)` on a first
/// execution); replay takes it again only where this marker is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkerRecorded {
    /// The patch id.
    pub patch_id: String,
    /// Recorded by `deprecate_patch`: the code no longer has the old branch.
    #[serde(default)]
    pub deprecated: bool,
}

/// The run moved to another version of its code (an upgrade): from here
/// on, and for every later replay, the run uses `component`, which replayed
/// the history before this event cleanly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionChanged {
    /// The version the run ran on until now.
    pub from: ComponentId,
    /// The version it runs on from now.
    pub to: ComponentId,
}

/// The workflow asked to signal the open run of another workflow id; the
/// host delivers it once and records how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalSignalRequested {
    /// Sequence number.
    pub seq: u32,
    /// The target.
    pub workflow_id: WorkflowId,
    /// The signal's name.
    pub name: String,
    /// Its argument.
    pub input: Payload,
}

/// The workflow asked to cancel the open run of another workflow id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalCancelRequested {
    /// Sequence number.
    pub seq: u32,
    /// The target.
    pub workflow_id: WorkflowId,
    /// Why.
    pub reason: String,
}

/// A request to another workflow was recorded in its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalRequestCompleted {
    /// Sequence number.
    pub seq: u32,
}

/// A request to another workflow could not be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalRequestFailed {
    /// Sequence number.
    pub seq: u32,
    /// Why (type `ExternalWorkflowNotFound` if the target has no open run).
    pub failure: Failure,
}

/// A signal arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalReceived {
    /// Signal name.
    pub name: String,
    /// Its argument.
    pub input: Payload,
}

/// Cancellation of the workflow was requested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelRequested {
    /// Why.
    pub reason: String,
}

/// An activation finished: the boundary replay uses to feed the same batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationCompleted {
    /// Ids of the input events delivered, in delivery order.
    pub consumed: Vec<u64>,
}

/// The run returned a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowCompleted {
    /// The value.
    pub result: Payload,
}

/// The run failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowFailed {
    /// The failure.
    pub failure: Failure,
}

/// The run honoured a cancellation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowCancelled {
    /// What the workflow reported.
    pub failure: Failure,
}

/// The run closed by continuing as a new run of the same workflow id, which
/// started in the same commit (its `WorkflowStarted` names this run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowContinuedAsNew {
    /// The new run's input.
    pub input: Payload,
    /// The new run took the type's current version rather than this run's.
    pub current_version: bool,
}

/// The host closed the run when its run or execution timeout passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowTimedOut {
    /// Which timeout, and when it passed.
    pub message: String,
}

/// The run was terminated by force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowTerminated {
    /// Why.
    pub reason: String,
}

/// An activation could not complete (non-determinism, deadlock, trap). The
/// batch it had is delivered again on retry; nothing is lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowTaskFailed {
    /// Stable error code (`KEEL-ND001`, `KEEL-DEADLOCK`, `KEEL-TRAP`).
    pub code: String,
    /// What happened.
    pub message: String,
}

/// Every kind of event in a run's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[allow(
    missing_docs,
    reason = "each variant wraps the documented struct of the same name"
)]
pub enum Event {
    WorkflowStarted(WorkflowStarted),
    TimerStarted(TimerStarted),
    TimerFired(TimerFired),
    TimerCancelled(TimerCancelled),
    ActivityScheduled(ActivityScheduled),
    ActivityCompleted(ActivityCompleted),
    ActivityFailed(ActivityFailed),
    ActivityCancelRequested(ActivityCancelRequested),
    ActivityCancelled(ActivityCancelled),
    MarkerRecorded(MarkerRecorded),
    VersionChanged(VersionChanged),
    ExternalSignalRequested(ExternalSignalRequested),
    ExternalCancelRequested(ExternalCancelRequested),
    ExternalRequestCompleted(ExternalRequestCompleted),
    ExternalRequestFailed(ExternalRequestFailed),
    ChildStartRequested(ChildStartRequested),
    ChildStarted(ChildStarted),
    ChildStartFailed(ChildStartFailed),
    ChildClosed(ChildClosed),
    SignalReceived(SignalReceived),
    CancelRequested(CancelRequested),
    ActivationCompleted(ActivationCompleted),
    WorkflowCompleted(WorkflowCompleted),
    WorkflowFailed(WorkflowFailed),
    WorkflowCancelled(WorkflowCancelled),
    WorkflowTerminated(WorkflowTerminated),
    WorkflowContinuedAsNew(WorkflowContinuedAsNew),
    WorkflowTimedOut(WorkflowTimedOut),
    WorkflowTaskFailed(WorkflowTaskFailed),
}

impl Event {
    /// The event's kind, as shown to people.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::WorkflowStarted(_) => "WorkflowStarted",
            Event::TimerStarted(_) => "TimerStarted",
            Event::TimerFired(_) => "TimerFired",
            Event::TimerCancelled(_) => "TimerCancelled",
            Event::ActivityScheduled(_) => "ActivityScheduled",
            Event::ActivityCompleted(_) => "ActivityCompleted",
            Event::ActivityFailed(_) => "ActivityFailed",
            Event::ActivityCancelRequested(_) => "ActivityCancelRequested",
            Event::ActivityCancelled(_) => "ActivityCancelled",
            Event::MarkerRecorded(_) => "MarkerRecorded",
            Event::VersionChanged(_) => "VersionChanged",
            Event::ExternalSignalRequested(_) => "ExternalSignalRequested",
            Event::ExternalCancelRequested(_) => "ExternalCancelRequested",
            Event::ExternalRequestCompleted(_) => "ExternalRequestCompleted",
            Event::ExternalRequestFailed(_) => "ExternalRequestFailed",
            Event::ChildStartRequested(_) => "ChildStartRequested",
            Event::ChildStarted(_) => "ChildStarted",
            Event::ChildStartFailed(_) => "ChildStartFailed",
            Event::ChildClosed(_) => "ChildClosed",
            Event::SignalReceived(_) => "SignalReceived",
            Event::CancelRequested(_) => "CancelRequested",
            Event::ActivationCompleted(_) => "ActivationCompleted",
            Event::WorkflowCompleted(_) => "WorkflowCompleted",
            Event::WorkflowFailed(_) => "WorkflowFailed",
            Event::WorkflowCancelled(_) => "WorkflowCancelled",
            Event::WorkflowTerminated(_) => "WorkflowTerminated",
            Event::WorkflowContinuedAsNew(_) => "WorkflowContinuedAsNew",
            Event::WorkflowTimedOut(_) => "WorkflowTimedOut",
            Event::WorkflowTaskFailed(_) => "WorkflowTaskFailed",
        }
    }

    /// True for events delivered to workflow code as jobs.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Event::WorkflowStarted(_)
                | Event::TimerFired(_)
                | Event::ActivityCompleted(_)
                | Event::ActivityFailed(_)
                | Event::ActivityCancelled(_)
                | Event::ExternalRequestCompleted(_)
                | Event::ExternalRequestFailed(_)
                | Event::ChildStarted(_)
                | Event::ChildStartFailed(_)
                | Event::ChildClosed(_)
                | Event::SignalReceived(_)
                | Event::CancelRequested(_)
        )
    }

    /// True for events produced by an activation (commands and outcomes),
    /// which replay compares with what the code does now.
    pub fn is_command(&self) -> bool {
        matches!(
            self,
            Event::TimerStarted(_)
                | Event::TimerCancelled(_)
                | Event::ActivityScheduled(_)
                | Event::ActivityCancelRequested(_)
                | Event::MarkerRecorded(_)
                | Event::ExternalSignalRequested(_)
                | Event::ExternalCancelRequested(_)
                | Event::ChildStartRequested(_)
                | Event::WorkflowCompleted(_)
                | Event::WorkflowFailed(_)
                | Event::WorkflowCancelled(_)
                | Event::WorkflowContinuedAsNew(_)
        )
    }

    /// The event that records `outcome`.
    pub fn closing(outcome: &Outcome) -> Event {
        match outcome {
            Outcome::Completed(result) => Event::WorkflowCompleted(WorkflowCompleted {
                result: result.clone(),
            }),
            Outcome::Failed(failure) => Event::WorkflowFailed(WorkflowFailed {
                failure: failure.clone(),
            }),
            Outcome::Cancelled(failure) => Event::WorkflowCancelled(WorkflowCancelled {
                failure: failure.clone(),
            }),
            Outcome::Terminated(reason) => Event::WorkflowTerminated(WorkflowTerminated {
                reason: reason.clone(),
            }),
            Outcome::ContinuedAsNew(ContinuedAsNew {
                input,
                current_version,
            }) => Event::WorkflowContinuedAsNew(WorkflowContinuedAsNew {
                input: input.clone(),
                current_version: *current_version,
            }),
            Outcome::TimedOut(message) => Event::WorkflowTimedOut(WorkflowTimedOut {
                message: message.clone(),
            }),
        }
    }

    /// True for events that close the run.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Event::WorkflowCompleted(_)
                | Event::WorkflowFailed(_)
                | Event::WorkflowCancelled(_)
                | Event::WorkflowTerminated(_)
                | Event::WorkflowContinuedAsNew(_)
                | Event::WorkflowTimedOut(_)
        )
    }
}

/// An event as stored: its position in the run's history and its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// Position in the history, from 1, without gaps.
    pub id: u64,
    /// When it was recorded, ms since the epoch.
    pub time_ms: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// One line: `  7  TimerFired seq=1` (id, then the event).
impl fmt::Display for HistoryEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>4}  {}", self.id, self.event)
    }
}
