//! A Rust client of a Keel host's gRPC API, for tests, tools and users'
//! programs. It speaks in the same domain types as [`crate::Host`].

use tonic::transport::Channel;

use crate::api::convert;
use crate::api::proto::deployment_service_client::DeploymentServiceClient;
use crate::api::proto::workflow_service_client::WorkflowServiceClient;
use crate::api::proto::{self};
use crate::error::{Error, Result};
use crate::history::HistoryEvent;
use crate::host::{Deployment, DeploymentInfo, RunDescription, StartWorkflow, Started};
use crate::ids::{RunId, WorkflowId};
use crate::store::RunRecord;
use crate::types::{Outcome, Payload, RunStatus};

/// Where `keel server` listens unless told otherwise.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:7233";

/// Which runs to list, newest first, one page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRuns {
    /// Only this workflow type.
    pub workflow_type: Option<String>,
    /// Only this status.
    pub status: Option<RunStatus>,
    /// Only runs started at or after this time, ms since the epoch.
    pub started_after_ms: Option<u64>,
    /// Only runs started before this time.
    pub started_before_ms: Option<u64>,
    /// Runs per page; 0 means 100.
    pub page_size: u32,
    /// The previous page's token; empty for the first page.
    pub page_token: String,
}

/// A page of runs and the token of the next one (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<RunRecord>,
    /// Pass it back in [`ListRuns::page_token`] for the next page.
    pub next_page_token: Option<String>,
}

/// See the module docs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    workflows: WorkflowServiceClient<Channel>,
    deployments: DeploymentServiceClient<Channel>,
}

impl Client {
    /// Connect to the host at `address` (`host:port` or a URL).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad address; [`Error::Store`] if no
    /// host answers there.
    pub async fn connect(address: &str) -> Result<Self> {
        let url = if address.contains("://") {
            address.to_string()
        } else {
            format!("http://{address}")
        };
        let endpoint = Channel::from_shared(url)
            .map_err(|e| Error::InvalidArgument(format!("bad server address {address:?}: {e}")))?;
        let channel = endpoint.connect().await.map_err(|e| {
            Error::Store(format!(
                "cannot reach a Keel host at {address} ({e}); is `keel server` running there?"
            ))
        })?;
        Ok(Client {
            workflows: WorkflowServiceClient::new(channel.clone())
                .max_decoding_message_size(256 << 20),
            deployments: DeploymentServiceClient::new(channel).max_encoding_message_size(256 << 20),
        })
    }

    /// Deploy a component; see [`crate::Host::deploy`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn deploy(&self, component: Vec<u8>) -> Result<Deployment> {
        let reply = self
            .deployments
            .clone()
            .deploy(proto::DeployRequest { component })
            .await?
            .into_inner();
        Ok(Deployment {
            component: reply.component.parse()?,
            workflow_types: reply
                .workflow_types
                .into_iter()
                .map(convert::type_from_proto)
                .collect(),
        })
    }

    /// Every deployed component; see [`crate::Host::deployments`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn deployments(&self) -> Result<Vec<DeploymentInfo>> {
        let reply = self
            .deployments
            .clone()
            .list_deployments(proto::ListDeploymentsRequest {})
            .await?
            .into_inner();
        reply
            .deployments
            .into_iter()
            .map(convert::deployment_from_proto)
            .collect()
    }

    /// Make a component current for a type; see [`crate::Host::set_current`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn set_current(&self, workflow_type: &str, component: &str) -> Result<()> {
        self.deployments
            .clone()
            .set_current(proto::SetCurrentRequest {
                workflow_type: workflow_type.to_string(),
                component: component.to_string(),
            })
            .await?;
        Ok(())
    }

    /// Start a run; see [`crate::Host::start`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn start(&self, start: StartWorkflow) -> Result<Started> {
        let reply = self
            .workflows
            .clone()
            .start_workflow(convert::start_request(start))
            .await?
            .into_inner();
        started(reply)
    }

    /// Signal or start; see [`crate::Host::signal_with_start`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn signal_with_start(
        &self,
        start: StartWorkflow,
        name: &str,
        input: Payload,
    ) -> Result<Started> {
        let reply = self
            .workflows
            .clone()
            .signal_with_start(proto::SignalWithStartRequest {
                start: Some(convert::start_request(start)),
                signal_name: name.to_string(),
                signal_input: input.into_bytes(),
            })
            .await?
            .into_inner();
        started(reply)
    }

    /// Signal the open run; see [`crate::Host::signal`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn signal(&self, workflow_id: &WorkflowId, name: &str, input: Payload) -> Result<()> {
        self.workflows
            .clone()
            .signal_workflow(proto::SignalWorkflowRequest {
                workflow_id: workflow_id.to_string(),
                signal_name: name.to_string(),
                input: input.into_bytes(),
            })
            .await?;
        Ok(())
    }

    /// Query the latest run; see [`crate::Host::query`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn query(
        &self,
        workflow_id: &WorkflowId,
        name: &str,
        input: Payload,
    ) -> Result<Payload> {
        let reply = self
            .workflows
            .clone()
            .query_workflow(proto::QueryWorkflowRequest {
                workflow_id: workflow_id.to_string(),
                query_name: name.to_string(),
                input: input.into_bytes(),
            })
            .await?
            .into_inner();
        Ok(Payload::from_bytes(reply.result))
    }

    /// Request cancellation; see [`crate::Host::cancel`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn cancel(&self, workflow_id: &WorkflowId, reason: &str) -> Result<()> {
        self.workflows
            .clone()
            .cancel_workflow(proto::CancelWorkflowRequest {
                workflow_id: workflow_id.to_string(),
                reason: reason.to_string(),
            })
            .await?;
        Ok(())
    }

    /// Terminate the open run; see [`crate::Host::terminate`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn terminate(&self, workflow_id: &WorkflowId, reason: &str) -> Result<()> {
        self.workflows
            .clone()
            .terminate_workflow(proto::TerminateWorkflowRequest {
                workflow_id: workflow_id.to_string(),
                reason: reason.to_string(),
            })
            .await?;
        Ok(())
    }

    /// Describe the latest run; see [`crate::Host::describe`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn describe(&self, workflow_id: &WorkflowId) -> Result<RunDescription> {
        let reply = self
            .workflows
            .clone()
            .describe_workflow(proto::DescribeWorkflowRequest {
                workflow_id: workflow_id.to_string(),
            })
            .await?
            .into_inner();
        convert::description_from_proto(reply)
    }

    /// Wait for the latest run to close; see [`crate::Host::result`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn result(&self, workflow_id: &WorkflowId) -> Result<Outcome> {
        let reply = self
            .workflows
            .clone()
            .get_result(proto::GetResultRequest {
                workflow_id: workflow_id.to_string(),
            })
            .await?
            .into_inner();
        convert::outcome_from_proto(reply.outcome)
    }

    /// The latest run's history; see [`crate::Host::history`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn history(&self, workflow_id: &WorkflowId) -> Result<(RunId, Vec<HistoryEvent>)> {
        let reply = self
            .workflows
            .clone()
            .get_history(proto::GetHistoryRequest {
                workflow_id: workflow_id.to_string(),
            })
            .await?
            .into_inner();
        Ok((
            reply.run_id.parse()?,
            convert::events_from_json(&reply.events_json)?,
        ))
    }

    /// One page of runs, newest first.
    ///
    /// # Errors
    /// As the host's; a bad page token.
    pub async fn list(&self, list: ListRuns) -> Result<RunPage> {
        let reply = self
            .workflows
            .clone()
            .list_workflows(proto::ListWorkflowsRequest {
                workflow_type: list.workflow_type,
                status: list.status.map(|s| convert::status_to_proto(s) as i32),
                started_after_ms: list.started_after_ms,
                started_before_ms: list.started_before_ms,
                page_size: list.page_size,
                page_token: list.page_token,
            })
            .await?
            .into_inner();
        Ok(RunPage {
            runs: reply
                .runs
                .into_iter()
                .map(convert::run_from_proto)
                .collect::<Result<_>>()?,
            next_page_token: Some(reply.next_page_token).filter(|t| !t.is_empty()),
        })
    }
}

fn started(reply: proto::StartWorkflowResponse) -> Result<Started> {
    Ok(Started {
        run_id: reply.run_id.parse()?,
        started: reply.started,
    })
}
