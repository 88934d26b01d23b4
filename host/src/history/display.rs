//! How events read in a history listing: one compact line each.

use std::fmt;

use super::event::{ActivityCancelRequested, ActivityCancelled, Event, TimerCancelled, TimerFired};

/// A compact one-line description: `TimerStarted seq=1 duration=1000ms`.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind();
        match self {
            Event::WorkflowStarted(e) if e.attempt > 1 => write!(
                f,
                "{kind} type={} input={} component={} attempt={}",
                e.workflow_type,
                e.input,
                e.component.short(),
                e.attempt
            ),
            Event::WorkflowStarted(e) => write!(
                f,
                "{kind} type={} input={} component={}",
                e.workflow_type,
                e.input,
                e.component.short()
            ),
            Event::TimerStarted(e) => {
                write!(f, "{kind} seq={} duration={}ms", e.seq, e.duration_ms)
            }
            Event::TimerFired(TimerFired { seq })
            | Event::TimerCancelled(TimerCancelled { seq })
            | Event::ActivityCancelRequested(ActivityCancelRequested { seq })
            | Event::ActivityCancelled(ActivityCancelled { seq }) => write!(f, "{kind} seq={seq}"),
            Event::ActivityScheduled(e) => {
                write!(f, "{kind} seq={} name={} input={}", e.seq, e.name, e.input)
            }
            Event::ActivityCompleted(e) => write!(
                f,
                "{kind} seq={} attempt={} result={}",
                e.seq, e.attempt, e.result
            ),
            Event::ActivityFailed(e) => write!(
                f,
                "{kind} seq={} attempt={} failure=\"{}\"",
                e.seq, e.attempt, e.failure
            ),
            Event::MarkerRecorded(e) if e.deprecated => {
                write!(f, "{kind} patch={:?} deprecated", e.patch_id)
            }
            Event::MarkerRecorded(e) => write!(f, "{kind} patch={:?}", e.patch_id),
            Event::VersionChanged(e) => {
                write!(f, "{kind} from={} to={}", e.from.short(), e.to.short())
            }
            Event::SignalReceived(e) => write!(f, "{kind} name={} input={}", e.name, e.input),
            Event::ExternalSignalRequested(e) => write!(
                f,
                "{kind} seq={} workflow={} name={} input={}",
                e.seq, e.workflow_id, e.name, e.input
            ),
            Event::ExternalCancelRequested(e) => write!(
                f,
                "{kind} seq={} workflow={} reason={:?}",
                e.seq, e.workflow_id, e.reason
            ),
            Event::ExternalRequestCompleted(e) => write!(f, "{kind} seq={}", e.seq),
            Event::ExternalRequestFailed(e) => {
                write!(f, "{kind} seq={} failure=\"{}\"", e.seq, e.failure)
            }
            Event::ChildStartRequested(e) => write!(
                f,
                "{kind} seq={} workflow={} type={} input={} parent_close={}",
                e.seq, e.workflow_id, e.workflow_type, e.input, e.close_policy
            ),
            Event::ChildStarted(e) => write!(f, "{kind} seq={} run={}", e.seq, e.run_id),
            Event::ChildStartFailed(e) => {
                write!(f, "{kind} seq={} failure=\"{}\"", e.seq, e.failure)
            }
            Event::ChildClosed(e) => write!(f, "{kind} seq={} {}", e.seq, e.outcome),
            Event::CancelRequested(e) => write!(f, "{kind} reason={:?}", e.reason),
            Event::ActivationCompleted(e) => write!(f, "{kind} consumed={:?}", e.consumed),
            Event::WorkflowCompleted(e) => write!(f, "{kind} result={}", e.result),
            Event::WorkflowFailed(e) => write!(f, "{kind} failure=\"{}\"", e.failure),
            Event::WorkflowCancelled(e) => write!(f, "{kind} failure=\"{}\"", e.failure),
            Event::WorkflowTerminated(e) => write!(f, "{kind} reason={:?}", e.reason),
            Event::WorkflowContinuedAsNew(e) if e.current_version => {
                write!(f, "{kind} input={} version=current", e.input)
            }
            Event::WorkflowContinuedAsNew(e) => write!(f, "{kind} input={}", e.input),
            Event::WorkflowTimedOut(e) => write!(f, "{kind} {:?}", e.message),
            Event::WorkflowTaskFailed(e) => write!(f, "{kind} {}: {}", e.code, e.message),
        }
    }
}
