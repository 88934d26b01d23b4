//! The durable history of a run, as data: the events it records, the
//! commands workflow code issues, the state machine that turns commands into
//! events, and replay with its non-determinism check.

mod child;
mod command;
mod display;
mod event;
mod machine;
mod replay;

pub use child::{
    ChildClosed, ChildStartFailed, ChildStartRequested, ChildStarted, ParentClosePolicy, ParentLink,
};
pub use command::{ActivityOptions, CancellationType, Command, RetryPolicy};
pub use event::{
    ActivationCompleted, ActivityCancelRequested, ActivityCancelled, ActivityCompleted,
    ActivityFailed, ActivityScheduled, CancelRequested, Event, ExternalCancelRequested,
    ExternalRequestCompleted, ExternalRequestFailed, ExternalSignalRequested, HistoryEvent,
    MarkerRecorded, SignalReceived, TimerCancelled, TimerFired, TimerStarted, VersionChanged,
    WorkflowCancelled, WorkflowCompleted, WorkflowContinuedAsNew, WorkflowFailed, WorkflowStarted,
    WorkflowTaskFailed, WorkflowTerminated, WorkflowTimedOut,
};
pub use machine::{MAX_TIME_MS, Plan, RunMachine};
pub use replay::{NonDeterminism, RecordedActivation, split_activations};
