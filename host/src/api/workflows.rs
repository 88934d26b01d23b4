//! The workflow service: start, signal, query, cancel, terminate, describe,
//! result, history and list, each a thin call into [`Host`].

use tonic::{Request, Response, Status};

use super::convert;
use super::proto::{self, workflow_service_server::WorkflowService};
use crate::error::{Error, quote};
use crate::host::Host;
use crate::store::RunFilter;

/// Runs listed per page when the request does not say.
const DEFAULT_PAGE: usize = 100;
/// Most runs listed per page.
const MAX_PAGE: usize = 1_000;

/// See the module docs.
pub(super) struct Workflows {
    host: Host,
}

impl Workflows {
    pub(super) fn new(host: Host) -> Self {
        Workflows { host }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl WorkflowService for Workflows {
    async fn start_workflow(
        &self,
        request: Request<proto::StartWorkflowRequest>,
    ) -> Reply<proto::StartWorkflowResponse> {
        let start = convert::start(request.into_inner())?;
        let started = self.host.start(start).await?;
        Ok(Response::new(proto::StartWorkflowResponse {
            run_id: started.run_id.to_string(),
            started: started.started,
        }))
    }

    async fn signal_workflow(
        &self,
        request: Request<proto::SignalWorkflowRequest>,
    ) -> Reply<proto::SignalWorkflowResponse> {
        let request = request.into_inner();
        let id = convert::workflow_id(&request.workflow_id)?;
        let input = convert::payload(request.input)?;
        match convert::request_id(&request.request_id)? {
            Some(rid) => {
                self.host
                    .signal_once(&id, &request.signal_name, input, &rid)
                    .await?
            }
            None => self.host.signal(&id, &request.signal_name, input).await?,
        }
        Ok(Response::new(proto::SignalWorkflowResponse {}))
    }

    async fn signal_with_start(
        &self,
        request: Request<proto::SignalWithStartRequest>,
    ) -> Reply<proto::StartWorkflowResponse> {
        let request = request.into_inner();
        let start = request.start.ok_or_else(|| {
            Error::InvalidArgument("signal-with-start needs a start request".into())
        })?;
        let started = self
            .host
            .signal_with_start(
                convert::start(start)?,
                &request.signal_name,
                convert::payload(request.signal_input)?,
            )
            .await?;
        Ok(Response::new(proto::StartWorkflowResponse {
            run_id: started.run_id.to_string(),
            started: started.started,
        }))
    }

    async fn query_workflow(
        &self,
        request: Request<proto::QueryWorkflowRequest>,
    ) -> Reply<proto::QueryWorkflowResponse> {
        let request = request.into_inner();
        let id = convert::workflow_id(&request.workflow_id)?;
        let result = self
            .host
            .query(&id, &request.query_name, convert::payload(request.input)?)
            .await?;
        Ok(Response::new(proto::QueryWorkflowResponse {
            result: result.into_bytes(),
        }))
    }

    async fn cancel_workflow(
        &self,
        request: Request<proto::CancelWorkflowRequest>,
    ) -> Reply<proto::CancelWorkflowResponse> {
        let request = request.into_inner();
        let id = convert::workflow_id(&request.workflow_id)?;
        match convert::request_id(&request.request_id)? {
            Some(rid) => self.host.cancel_once(&id, &request.reason, &rid).await?,
            None => self.host.cancel(&id, &request.reason).await?,
        }
        Ok(Response::new(proto::CancelWorkflowResponse {}))
    }

    async fn terminate_workflow(
        &self,
        request: Request<proto::TerminateWorkflowRequest>,
    ) -> Reply<proto::TerminateWorkflowResponse> {
        let request = request.into_inner();
        let id = convert::workflow_id(&request.workflow_id)?;
        match convert::request_id(&request.request_id)? {
            Some(rid) => self.host.terminate_once(&id, &request.reason, &rid).await?,
            None => self.host.terminate(&id, &request.reason).await?,
        }
        Ok(Response::new(proto::TerminateWorkflowResponse {}))
    }

    async fn reset_workflow(
        &self,
        request: Request<proto::ResetWorkflowRequest>,
    ) -> Reply<proto::ResetWorkflowResponse> {
        let request = request.into_inner();
        let id = convert::workflow_id(&request.workflow_id)?;
        let run = self
            .host
            .reset(&id, request.event_id, &request.reason)
            .await?;
        Ok(Response::new(proto::ResetWorkflowResponse {
            run_id: run.to_string(),
        }))
    }

    async fn describe_workflow(
        &self,
        request: Request<proto::DescribeWorkflowRequest>,
    ) -> Reply<proto::DescribeWorkflowResponse> {
        let request = request.into_inner();
        let id = convert::workflow_id(&request.workflow_id)?;
        let run = convert::run_id(&request.run_id)?;
        let description = self.host.describe_run(&id, run).await?;
        Ok(Response::new(convert::description_to_proto(description)))
    }

    async fn get_result(
        &self,
        request: Request<proto::GetResultRequest>,
    ) -> Reply<proto::GetResultResponse> {
        let id = convert::workflow_id(&request.into_inner().workflow_id)?;
        let outcome = self.host.result(&id).await?;
        let run = self.host.describe(&id).await?.run;
        Ok(Response::new(proto::GetResultResponse {
            run_id: run.run_id.to_string(),
            outcome: Some(convert::outcome_to_proto(outcome)),
        }))
    }

    async fn get_history(
        &self,
        request: Request<proto::GetHistoryRequest>,
    ) -> Reply<proto::GetHistoryResponse> {
        let request = request.into_inner();
        let id = convert::workflow_id(&request.workflow_id)?;
        let run = convert::run_id(&request.run_id)?;
        let (run, history) = self.host.history_run(&id, run).await?;
        Ok(Response::new(proto::GetHistoryResponse {
            run_id: run.to_string(),
            events_json: convert::events_to_json(&history)?,
        }))
    }

    async fn list_workflows(
        &self,
        request: Request<proto::ListWorkflowsRequest>,
    ) -> Reply<proto::ListWorkflowsResponse> {
        let request = request.into_inner();
        let limit = match request.page_size {
            0 => DEFAULT_PAGE,
            n => usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE),
        };
        let filter = RunFilter {
            workflow_type: request.workflow_type,
            status: request.status.map(convert::status_from_proto).transpose()?,
            started_after_ms: request.started_after_ms,
            started_before_ms: request.started_before_ms,
            before: page_token(&request.page_token)?,
            limit,
        };
        let runs = self.host.list(filter).await?;
        let next_page_token = match runs.last() {
            Some(last) if runs.len() == limit => format!("{}:{}", last.created_at_ms, last.run_id),
            _ => String::new(),
        };
        Ok(Response::new(proto::ListWorkflowsResponse {
            runs: runs.into_iter().map(convert::run_to_proto).collect(),
            next_page_token,
        }))
    }
}

/// A page token is `<started_at_ms>:<run_id>` of the previous page's last run.
fn page_token(token: &str) -> Result<Option<(u64, crate::ids::RunId)>, Error> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || {
        Error::InvalidArgument(format!(
            "bad page token {}; pass next_page_token back as is",
            quote(token)
        ))
    };
    let (time, run) = token.split_once(':').ok_or_else(bad)?;
    Ok(Some((
        time.parse().map_err(|_| bad())?,
        run.parse().map_err(|_| bad())?,
    )))
}
