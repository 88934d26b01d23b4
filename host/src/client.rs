//! A Rust client of a Keel host's gRPC API, for tests, tools and users'
//! programs. It speaks in the same domain types as [`crate::Host`].

use std::future::Future;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

mod connect;
mod deployments;

pub use connect::ConnectOptions;
use connect::{Authed, BearerToken};

use crate::api::convert;
use crate::api::proto::deployment_service_client::DeploymentServiceClient;
use crate::api::proto::workflow_service_client::WorkflowServiceClient;
use crate::api::proto::{self};
use crate::error::{Error, Result};
use crate::history::HistoryEvent;
use crate::host::{RunDescription, StartWorkflow, Started};
use crate::ids::{RequestId, RunId, WorkflowId};
use crate::store::RunRecord;
use crate::types::{Outcome, Payload, RunStatus};

/// Attempts of a call whose answer is lost before the client gives up.
const ATTEMPTS: u32 = 4;

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
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunPage {
    /// The runs.
    pub runs: Vec<RunRecord>,
    /// Pass it back in [`ListRuns::page_token`] for the next page.
    pub next_page_token: Option<String>,
}

/// See the module docs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    workflows: WorkflowServiceClient<Authed>,
    deployments: DeploymentServiceClient<Authed>,
}

impl Client {
    /// Connect to the host at `address` (`host:port` or a URL) with no
    /// token, over plain HTTP/2.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad address; [`Error::Store`] if no
    /// host answers there.
    pub async fn connect(address: &str) -> Result<Self> {
        Self::connect_with(address, ConnectOptions::default()).await
    }

    /// Connect to the host at `address` with a token and TLS as `options`
    /// say.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad address, token or CA
    /// certificate; [`Error::Store`] if no host answers there.
    pub async fn connect_with(address: &str, options: ConnectOptions) -> Result<Self> {
        let tls = options.tls_ca_pem.is_some();
        let url = match address.split_once("://") {
            Some(("https", _)) if !tls => {
                return Err(Error::InvalidArgument(format!(
                    "{address} is https: give the CA certificate that signed the host's \
                     certificate (KEEL_TLS_CA)"
                )));
            }
            Some(_) => address.to_string(),
            None if tls => format!("https://{address}"),
            None => format!("http://{address}"),
        };
        let mut endpoint = Channel::from_shared(url)
            .map_err(|e| Error::InvalidArgument(format!("bad server address {address:?}: {e}")))?;
        if let Some(ca) = options.tls_ca_pem {
            let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| Error::InvalidArgument(format!("the TLS CA certificate: {e}")))?;
        }
        let token = options
            .token
            .map(|t| {
                format!("Bearer {}", t.trim())
                    .parse::<MetadataValue<Ascii>>()
                    .map_err(|_| {
                        Error::InvalidArgument(
                            "the token has characters a header cannot carry".into(),
                        )
                    })
            })
            .transpose()?;
        let channel = endpoint.connect().await.map_err(|e| {
            Error::Store(format!(
                "cannot reach a Keel host at {address} ({e}); is `keel server` running there?"
            ))
        })?;
        let bearer = BearerToken(token);
        Ok(Client {
            workflows: WorkflowServiceClient::with_interceptor(channel.clone(), bearer.clone())
                .max_decoding_message_size(256 << 20),
            // The host bounds the size of a component; let it say so.
            deployments: DeploymentServiceClient::with_interceptor(channel, bearer)
                .max_encoding_message_size(usize::MAX),
        })
    }

    /// Start a run; see [`crate::Host::start`]. The start carries a
    /// request id (a fresh one unless it has one), and a call whose answer
    /// is lost is retried with it, so it starts at most one run.
    ///
    /// # Errors
    /// As the host's; [`Error::OutcomeUnknown`] if no attempt got an answer.
    pub async fn start(&self, mut start: StartWorkflow) -> Result<Started> {
        start.request_id.get_or_insert_with(RequestId::generate);
        let request = convert::start_request(start);
        let reply = self
            .retrying(|| {
                let (mut workflows, request) = (self.workflows.clone(), request.clone());
                async move { workflows.start_workflow(request).await }
            })
            .await?;
        started(reply)
    }

    /// Signal or start; see [`crate::Host::signal_with_start`]. Retried
    /// like [`Client::start`].
    ///
    /// # Errors
    /// As the host's; [`Error::OutcomeUnknown`] if no attempt got an answer.
    pub async fn signal_with_start(
        &self,
        mut start: StartWorkflow,
        name: &str,
        input: Payload,
    ) -> Result<Started> {
        start.request_id.get_or_insert_with(RequestId::generate);
        let request = proto::SignalWithStartRequest {
            start: Some(convert::start_request(start)),
            signal_name: name.to_string(),
            signal_input: input.into_bytes(),
        };
        let reply = self
            .retrying(|| {
                let (mut workflows, request) = (self.workflows.clone(), request.clone());
                async move { workflows.signal_with_start(request).await }
            })
            .await?;
        started(reply)
    }

    /// Signal the open run; see [`crate::Host::signal`]. Retried with a
    /// fresh request id, so it is delivered once.
    ///
    /// # Errors
    /// As the host's; [`Error::OutcomeUnknown`] if no attempt got an answer.
    pub async fn signal(&self, workflow_id: &WorkflowId, name: &str, input: Payload) -> Result<()> {
        self.signal_once(workflow_id, name, input, &RequestId::generate())
            .await
    }

    /// Signal the open run at most once for `request_id`; see
    /// [`crate::Host::signal_once`].
    ///
    /// # Errors
    /// As the host's; [`Error::OutcomeUnknown`] if no attempt got an answer.
    pub async fn signal_once(
        &self,
        workflow_id: &WorkflowId,
        name: &str,
        input: Payload,
        request_id: &RequestId,
    ) -> Result<()> {
        let request = proto::SignalWorkflowRequest {
            workflow_id: workflow_id.to_string(),
            signal_name: name.to_string(),
            input: input.into_bytes(),
            request_id: request_id.to_string(),
        };
        self.retrying(|| {
            let (mut workflows, request) = (self.workflows.clone(), request.clone());
            async move { workflows.signal_workflow(request).await }
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

    /// Request cancellation; see [`crate::Host::cancel`]. Retried with a
    /// fresh request id, so it is recorded once.
    ///
    /// # Errors
    /// As the host's; [`Error::OutcomeUnknown`] if no attempt got an answer.
    pub async fn cancel(&self, workflow_id: &WorkflowId, reason: &str) -> Result<()> {
        self.cancel_once(workflow_id, reason, &RequestId::generate())
            .await
    }

    /// Request cancellation at most once for `request_id`.
    ///
    /// # Errors
    /// As the host's; [`Error::OutcomeUnknown`] if no attempt got an answer.
    pub async fn cancel_once(
        &self,
        workflow_id: &WorkflowId,
        reason: &str,
        request_id: &RequestId,
    ) -> Result<()> {
        let request = proto::CancelWorkflowRequest {
            workflow_id: workflow_id.to_string(),
            reason: reason.to_string(),
            request_id: request_id.to_string(),
        };
        self.retrying(|| {
            let (mut workflows, request) = (self.workflows.clone(), request.clone());
            async move { workflows.cancel_workflow(request).await }
        })
        .await?;
        Ok(())
    }

    /// Terminate the open run; see [`crate::Host::terminate`]. Retried with
    /// a fresh request id.
    ///
    /// # Errors
    /// As the host's; [`Error::OutcomeUnknown`] if no attempt got an answer.
    pub async fn terminate(&self, workflow_id: &WorkflowId, reason: &str) -> Result<()> {
        self.terminate_once(workflow_id, reason, &RequestId::generate())
            .await
    }

    /// Reset the workflow to an activation boundary; see
    /// [`crate::Host::reset`]. Returns the new run.
    ///
    /// # Errors
    /// As the host's.
    pub async fn reset(
        &self,
        workflow_id: &WorkflowId,
        event_id: u64,
        reason: &str,
    ) -> Result<RunId> {
        let reply = self
            .workflows
            .clone()
            .reset_workflow(proto::ResetWorkflowRequest {
                workflow_id: workflow_id.to_string(),
                event_id,
                reason: reason.to_string(),
            })
            .await?
            .into_inner();
        reply.run_id.parse()
    }

    /// Terminate the open run at most once for `request_id`.
    ///
    /// # Errors
    /// As the host's; [`Error::OutcomeUnknown`] if no attempt got an answer.
    pub async fn terminate_once(
        &self,
        workflow_id: &WorkflowId,
        reason: &str,
        request_id: &RequestId,
    ) -> Result<()> {
        let request = proto::TerminateWorkflowRequest {
            workflow_id: workflow_id.to_string(),
            reason: reason.to_string(),
            request_id: request_id.to_string(),
        };
        self.retrying(|| {
            let (mut workflows, request) = (self.workflows.clone(), request.clone());
            async move { workflows.terminate_workflow(request).await }
        })
        .await?;
        Ok(())
    }

    /// Run `call` until it gets an answer, at most [`ATTEMPTS`] times: a
    /// call that got none (the connection broke, the host restarted) is
    /// sent again unchanged, request id included, so the host applies it
    /// once.
    async fn retrying<T, F, Fut>(&self, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let (mut attempt, mut delay) = (1, Duration::from_millis(100));
        loop {
            match call().await.map_err(Error::from) {
                Ok(reply) => return Ok(reply.into_inner()),
                Err(Error::OutcomeUnknown(_) | Error::ShuttingDown) if attempt < ATTEMPTS => {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    delay *= 3;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Describe the latest run; see [`crate::Host::describe`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn describe(&self, workflow_id: &WorkflowId) -> Result<RunDescription> {
        self.describe_run(workflow_id, None).await
    }

    /// Describe run `run` of `workflow_id`, or its latest; see
    /// [`crate::Host::describe_run`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn describe_run(
        &self,
        workflow_id: &WorkflowId,
        run: Option<RunId>,
    ) -> Result<RunDescription> {
        let reply = self
            .workflows
            .clone()
            .describe_workflow(proto::DescribeWorkflowRequest {
                workflow_id: workflow_id.to_string(),
                run_id: run.map(|r| r.to_string()).unwrap_or_default(),
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
        self.history_run(workflow_id, None).await
    }

    /// The history of run `run` of `workflow_id`, or of its latest run; see
    /// [`crate::Host::history_run`].
    ///
    /// # Errors
    /// As the host's.
    pub async fn history_run(
        &self,
        workflow_id: &WorkflowId,
        run: Option<RunId>,
    ) -> Result<(RunId, Vec<HistoryEvent>)> {
        let reply = self
            .workflows
            .clone()
            .get_history(proto::GetHistoryRequest {
                workflow_id: workflow_id.to_string(),
                run_id: run.map(|r| r.to_string()).unwrap_or_default(),
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
