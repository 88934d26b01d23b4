//! Conversions between protobuf messages and domain types, both ways (the
//! server uses one direction, the client the other).

mod reports;

pub(crate) use reports::{
    report_from_proto, report_to_proto, verdict_from_proto, verdict_to_proto,
};

use std::time::Duration;

use super::proto;
use crate::error::{Error, Result};
use crate::history::{HistoryEvent, NonDeterminism, ParentLink, RetryPolicy};
use crate::host::{
    DeploymentInfo, Parked, PendingActivity, PendingTimer, RunDescription, StartWorkflow,
    TaskFailure,
};
use crate::ids::{RequestId, RunId, WorkflowId};
use crate::store::{ComponentSummary, RunRecord, WorkflowTypeInfo};
use crate::types::{
    ContinuedAsNew, Failure, IdConflictPolicy, IdReusePolicy, Outcome, Payload, RunStatus,
};

/// A payload from the wire: JSON text, or empty for `null`.
pub(crate) fn payload(bytes: Vec<u8>) -> Result<Payload> {
    if bytes.is_empty() {
        return Ok(Payload::default());
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::InvalidArgument("malformed JSON: not UTF-8".into()))?;
    Payload::parse_json(&text)
}

pub(crate) fn workflow_id(id: &str) -> Result<WorkflowId> {
    WorkflowId::new(id)
}

/// A run id from the wire; empty means none (the latest run).
pub(crate) fn run_id(id: &str) -> Result<Option<RunId>> {
    if id.is_empty() {
        return Ok(None);
    }
    id.parse().map(Some)
}

/// A request id from the wire; empty means none.
pub(crate) fn request_id(id: &str) -> Result<Option<RequestId>> {
    if id.is_empty() {
        return Ok(None);
    }
    RequestId::new(id).map(Some)
}

pub(crate) fn start(request: proto::StartWorkflowRequest) -> Result<StartWorkflow> {
    let timeout = |ms: Option<u64>| ms.filter(|ms| *ms > 0).map(Duration::from_millis);
    Ok(StartWorkflow {
        request_id: request_id(&request.request_id)?,
        run_timeout: timeout(request.run_timeout_ms),
        execution_timeout: timeout(request.execution_timeout_ms),
        start_delay: timeout(request.start_delay_ms),
        task_timeout: timeout(request.task_timeout_ms),
        retry_policy: request.retry_policy.map(|p| RetryPolicy {
            initial_interval_ms: p.initial_interval_ms,
            backoff_coefficient: p.backoff_coefficient,
            maximum_interval_ms: p.maximum_interval_ms,
            maximum_attempts: p.maximum_attempts,
            non_retryable_error_types: p.non_retryable_error_types,
        }),
        workflow_id: workflow_id(&request.workflow_id)?,
        workflow_type: request.workflow_type,
        input: payload(request.input)?,
        id_reuse: match proto::IdReusePolicy::try_from(request.id_reuse_policy) {
            Ok(proto::IdReusePolicy::AllowDuplicateFailedOnly) => {
                IdReusePolicy::AllowDuplicateFailedOnly
            }
            Ok(proto::IdReusePolicy::RejectDuplicate) => IdReusePolicy::RejectDuplicate,
            Ok(proto::IdReusePolicy::Unspecified | proto::IdReusePolicy::AllowDuplicate) => {
                IdReusePolicy::AllowDuplicate
            }
            Err(_) => return Err(unknown("id_reuse_policy", request.id_reuse_policy)),
        },
        id_conflict: match proto::IdConflictPolicy::try_from(request.id_conflict_policy) {
            Ok(proto::IdConflictPolicy::UseExisting) => IdConflictPolicy::UseExisting,
            Ok(proto::IdConflictPolicy::TerminateExisting) => IdConflictPolicy::TerminateExisting,
            Ok(proto::IdConflictPolicy::Unspecified | proto::IdConflictPolicy::Fail) => {
                IdConflictPolicy::Fail
            }
            Err(_) => return Err(unknown("id_conflict_policy", request.id_conflict_policy)),
        },
    })
}

/// An enum value this host does not know (sent by a newer or broken
/// client): refused rather than read as the default.
pub(crate) fn unknown(field: &str, value: i32) -> Error {
    Error::InvalidArgument(format!("{field} has the unknown value {value}"))
}

pub(crate) fn start_request(start: StartWorkflow) -> proto::StartWorkflowRequest {
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    proto::StartWorkflowRequest {
        run_timeout_ms: start.run_timeout.map(millis),
        execution_timeout_ms: start.execution_timeout.map(millis),
        start_delay_ms: start.start_delay.map(millis),
        task_timeout_ms: start.task_timeout.map(millis),
        retry_policy: start.retry_policy.map(|p| proto::WorkflowRetryPolicy {
            initial_interval_ms: p.initial_interval_ms,
            backoff_coefficient: p.backoff_coefficient,
            maximum_interval_ms: p.maximum_interval_ms,
            maximum_attempts: p.maximum_attempts,
            non_retryable_error_types: p.non_retryable_error_types,
        }),
        workflow_id: start.workflow_id.to_string(),
        workflow_type: start.workflow_type,
        input: start.input.into_bytes(),
        id_reuse_policy: match start.id_reuse {
            IdReusePolicy::AllowDuplicate => proto::IdReusePolicy::AllowDuplicate,
            IdReusePolicy::AllowDuplicateFailedOnly => {
                proto::IdReusePolicy::AllowDuplicateFailedOnly
            }
            IdReusePolicy::RejectDuplicate => proto::IdReusePolicy::RejectDuplicate,
        } as i32,
        id_conflict_policy: match start.id_conflict {
            IdConflictPolicy::Fail => proto::IdConflictPolicy::Fail,
            IdConflictPolicy::UseExisting => proto::IdConflictPolicy::UseExisting,
            IdConflictPolicy::TerminateExisting => proto::IdConflictPolicy::TerminateExisting,
        } as i32,
        request_id: start
            .request_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}

pub(crate) fn status_to_proto(status: RunStatus) -> proto::RunStatus {
    match status {
        RunStatus::Running => proto::RunStatus::Running,
        RunStatus::Completed => proto::RunStatus::Completed,
        RunStatus::Failed => proto::RunStatus::Failed,
        RunStatus::Cancelled => proto::RunStatus::Cancelled,
        RunStatus::Terminated => proto::RunStatus::Terminated,
        RunStatus::ContinuedAsNew => proto::RunStatus::ContinuedAsNew,
        RunStatus::TimedOut => proto::RunStatus::TimedOut,
    }
}

pub(crate) fn status_from_proto(status: i32) -> Result<RunStatus> {
    Ok(match proto::RunStatus::try_from(status) {
        Ok(proto::RunStatus::Running) => RunStatus::Running,
        Ok(proto::RunStatus::Completed) => RunStatus::Completed,
        Ok(proto::RunStatus::Failed) => RunStatus::Failed,
        Ok(proto::RunStatus::Cancelled) => RunStatus::Cancelled,
        Ok(proto::RunStatus::Terminated) => RunStatus::Terminated,
        Ok(proto::RunStatus::ContinuedAsNew) => RunStatus::ContinuedAsNew,
        Ok(proto::RunStatus::TimedOut) => RunStatus::TimedOut,
        Ok(proto::RunStatus::Unspecified) | Err(_) => return Err(unknown("status", status)),
    })
}

fn failure_to_proto(f: Failure) -> proto::Failure {
    proto::Failure {
        message: f.message,
        error_type: f.error_type,
        non_retryable: f.non_retryable,
    }
}

fn failure_from_proto(f: proto::Failure) -> Failure {
    Failure {
        message: f.message,
        error_type: f.error_type,
        non_retryable: f.non_retryable,
        details: None,
    }
}

pub(crate) fn outcome_to_proto(outcome: Outcome) -> proto::Outcome {
    use proto::outcome::Outcome as O;
    proto::Outcome {
        outcome: Some(match outcome {
            Outcome::Completed(p) => O::Completed(p.into_bytes()),
            Outcome::Failed(f) => O::Failed(failure_to_proto(f)),
            Outcome::Cancelled(f) => O::Cancelled(failure_to_proto(f)),
            Outcome::Terminated(reason) => O::Terminated(reason),
            Outcome::TimedOut(message) => O::TimedOut(message),
            Outcome::ContinuedAsNew(c) => O::ContinuedAsNew(proto::ContinuedAsNew {
                input: c.input.into_bytes(),
                current_version: c.current_version,
            }),
        }),
    }
}

pub(crate) fn outcome_from_proto(outcome: Option<proto::Outcome>) -> Result<Outcome> {
    use proto::outcome::Outcome as O;
    Ok(match outcome.and_then(|o| o.outcome) {
        Some(O::Completed(bytes)) => Outcome::Completed(Payload::from_bytes(bytes)),
        Some(O::Failed(f)) => Outcome::Failed(failure_from_proto(f)),
        Some(O::Cancelled(f)) => Outcome::Cancelled(failure_from_proto(f)),
        Some(O::Terminated(reason)) => Outcome::Terminated(reason),
        Some(O::TimedOut(message)) => Outcome::TimedOut(message),
        Some(O::ContinuedAsNew(c)) => Outcome::ContinuedAsNew(ContinuedAsNew {
            input: Payload::from_bytes(c.input),
            current_version: c.current_version,
        }),
        None => return Err(Error::Internal("the server sent no outcome".into())),
    })
}

pub(crate) fn run_to_proto(run: RunRecord) -> proto::RunInfo {
    proto::RunInfo {
        workflow_id: run.workflow_id.to_string(),
        run_id: run.run_id.to_string(),
        workflow_type: run.workflow_type,
        component: run.component.to_string(),
        status: status_to_proto(run.status) as i32,
        started_at_ms: run.created_at_ms,
        closed_at_ms: run.closed_at_ms,
        outcome: run.outcome.map(outcome_to_proto),
        parent: run.parent.map(|p| proto::ParentLink {
            workflow_id: p.workflow_id.to_string(),
            run_id: p.run_id.to_string(),
            closed_seq: p.closed_seq,
            close_policy: enum_name(&p.close_policy),
        }),
    }
}

/// A unit enum's serde name (`request_cancel`).
fn enum_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn parent_from_proto(p: proto::ParentLink) -> Result<ParentLink> {
    Ok(ParentLink {
        run_id: p.run_id.parse::<RunId>()?,
        workflow_id: workflow_id(&p.workflow_id)?,
        closed_seq: p.closed_seq,
        close_policy: serde_json::from_value(serde_json::Value::String(p.close_policy.clone()))
            .map_err(|_| {
                Error::InvalidArgument(format!("unknown parent-close policy {:?}", p.close_policy))
            })?,
    })
}

pub(crate) fn run_from_proto(run: proto::RunInfo) -> Result<RunRecord> {
    Ok(RunRecord {
        run_id: run.run_id.parse::<RunId>()?,
        workflow_id: workflow_id(&run.workflow_id)?,
        workflow_type: run.workflow_type,
        component: run.component.parse()?,
        status: status_from_proto(run.status)?,
        created_at_ms: run.started_at_ms,
        closed_at_ms: run.closed_at_ms,
        outcome: run
            .outcome
            .map(|o| outcome_from_proto(Some(o)))
            .transpose()?,
        parent: run.parent.map(parent_from_proto).transpose()?,
    })
}

pub(crate) fn description_to_proto(d: RunDescription) -> proto::DescribeWorkflowResponse {
    proto::DescribeWorkflowResponse {
        run: Some(run_to_proto(d.run)),
        pending_timers: d
            .pending_timers
            .into_iter()
            .map(|t| proto::PendingTimer {
                seq: t.seq,
                fire_at_ms: t.fire_at_ms,
            })
            .collect(),
        pending_activities: d
            .pending_activities
            .into_iter()
            .map(|a| proto::PendingActivity {
                seq: a.seq,
                name: a.name,
                attempt: a.attempt,
                next_attempt_at_ms: a.next_attempt_at_ms,
                last_failure: a.last_failure.map(failure_to_proto),
            })
            .collect(),
        parked: d.parked.as_ref().map(ToString::to_string),
        nondeterminism: match d.parked {
            Some(Parked::NonDeterminism(nd)) => Some(proto::NonDeterminism {
                event_id: nd.event_id,
                recorded: nd.recorded,
                now: nd.now,
            }),
            _ => None,
        },
        waiting_for_memory: d.waiting_for_memory,
        task_failure: d.task_failure.map(|f| proto::TaskFailure {
            code: f.code,
            message: f.message,
            attempts: f.attempts,
        }),
        children: d.children.into_iter().map(run_to_proto).collect(),
    }
}

pub(crate) fn type_to_proto(t: WorkflowTypeInfo) -> proto::WorkflowType {
    proto::WorkflowType {
        name: t.name,
        signals: t.signals,
        queries: t.queries,
    }
}

pub(crate) fn type_from_proto(t: proto::WorkflowType) -> WorkflowTypeInfo {
    WorkflowTypeInfo {
        name: t.name,
        signals: t.signals,
        queries: t.queries,
    }
}

pub(crate) fn deployment_to_proto(d: DeploymentInfo) -> proto::Deployment {
    proto::Deployment {
        component: d.component.id.to_string(),
        workflow_types: d
            .component
            .workflow_types
            .into_iter()
            .map(type_to_proto)
            .collect(),
        deployed_at_ms: d.component.created_at_ms,
        current_for: d.current_for,
    }
}

pub(crate) fn events_to_json(history: &[HistoryEvent]) -> Result<Vec<String>> {
    history
        .iter()
        .map(|e| serde_json::to_string(e).map_err(|e| Error::internal("encoding history", e)))
        .collect()
}

pub(crate) fn events_from_json(events: &[String]) -> Result<Vec<HistoryEvent>> {
    events
        .iter()
        .map(|e| {
            serde_json::from_str(e)
                .map_err(|e| Error::Internal(format!("the server sent a bad event: {e}")))
        })
        .collect()
}

pub(crate) fn description_from_proto(d: proto::DescribeWorkflowResponse) -> Result<RunDescription> {
    let run = d
        .run
        .ok_or_else(|| Error::Internal("the server described no run".into()))?;
    Ok(RunDescription {
        run: run_from_proto(run)?,
        pending_timers: d
            .pending_timers
            .into_iter()
            .map(|t| PendingTimer {
                seq: t.seq,
                fire_at_ms: t.fire_at_ms,
            })
            .collect(),
        pending_activities: d
            .pending_activities
            .into_iter()
            .map(|a| PendingActivity {
                seq: a.seq,
                name: a.name,
                attempt: a.attempt,
                next_attempt_at_ms: a.next_attempt_at_ms,
                last_failure: a.last_failure.map(failure_from_proto),
            })
            .collect(),
        parked: match (d.nondeterminism, d.parked) {
            (Some(nd), _) => Some(Parked::NonDeterminism(NonDeterminism {
                event_id: nd.event_id,
                recorded: nd.recorded,
                now: nd.now,
            })),
            (None, Some(message)) => Some(Parked::Unreadable { message }),
            (None, None) => None,
        },
        waiting_for_memory: d.waiting_for_memory,
        task_failure: d.task_failure.map(|f| TaskFailure {
            code: f.code,
            message: f.message,
            attempts: f.attempts,
        }),
        children: d
            .children
            .into_iter()
            .map(run_from_proto)
            .collect::<Result<_>>()?,
    })
}

pub(crate) fn deployment_from_proto(d: proto::Deployment) -> Result<DeploymentInfo> {
    Ok(DeploymentInfo {
        component: ComponentSummary {
            id: d.component.parse()?,
            workflow_types: d.workflow_types.into_iter().map(type_from_proto).collect(),
            created_at_ms: d.deployed_at_ms,
        },
        current_for: d.current_for,
    })
}
