//! The gRPC API (tonic): the workflow and deployment services over a
//! [`Host`], and the server that carries them. Generated protobuf types stay
//! inside this module; `convert` maps them to domain types.

mod codec;
pub(crate) mod convert;
mod deployments;
mod workflows;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::error::{Error, Result};
use crate::host::Host;

/// Code generated from `proto/keel/v1/workflow.proto`.
pub(crate) mod proto {
    #![allow(missing_docs, clippy::all, reason = "generated code")]
    tonic::include_proto!("keel.v1");
}

/// Bytes a request may carry beyond its largest field (ids, names, framing).
const REQUEST_OVERHEAD: usize = 64 << 10;

/// Serve the API for `host` on `listener` until `shutdown` resolves; then
/// finish the requests in flight and return.
///
/// # Errors
/// [`Error::Internal`] if the server fails.
pub async fn serve(
    host: Host,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    // Requests are bounded by what the limits let through, so a caller
    // cannot make the server buffer more than one payload (or component)
    // per call.
    let (payload, reason, component) = host.request_limits();
    let workflow_request = payload.max(reason) + REQUEST_OVERHEAD;
    let deploy_request = component + REQUEST_OVERHEAD;
    let workflows = proto::workflow_service_server::WorkflowServiceServer::new(
        workflows::Workflows::new(host.clone()),
    )
    .max_decoding_message_size(workflow_request);
    let deployments = proto::deployment_service_server::DeploymentServiceServer::new(
        deployments::Deployments::new(host),
    )
    .max_decoding_message_size(deploy_request);
    tonic::transport::Server::builder()
        .add_service(workflows)
        .add_service(deployments)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
        .map_err(|e| Error::internal("the gRPC server", e))
}

/// Bind `addr` for [`serve`].
///
/// # Errors
/// [`Error::InvalidArgument`] if the address cannot be bound.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| Error::InvalidArgument(format!("cannot listen on {addr}: {e}")))
}

/// Metadata key of the stable error code ([`Error::code`]).
const ERROR_CODE: &str = "keel-error-code";

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let code = match err {
            Error::InvalidArgument(_) | Error::ComponentRejected(_) => tonic::Code::InvalidArgument,
            Error::NotFound(_) => tonic::Code::NotFound,
            Error::AlreadyExists(_) => tonic::Code::AlreadyExists,
            Error::FailedPrecondition(_) | Error::QueryFailed(_) | Error::WorkflowFailed(_) => {
                tonic::Code::FailedPrecondition
            }
            Error::Store(_) | Error::ShuttingDown | Error::OutcomeUnknown(_) => {
                tonic::Code::Unavailable
            }
            Error::Internal(_) => tonic::Code::Internal,
        };
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert(
            ERROR_CODE,
            tonic::metadata::MetadataValue::from_static(err.code()),
        );
        tonic::Status::with_metadata(code, err.detail().to_string(), metadata)
    }
}

impl From<tonic::Status> for Error {
    fn from(status: tonic::Status) -> Self {
        let message = status.message().to_string();
        let sent = status
            .metadata()
            .get(ERROR_CODE)
            .and_then(|code| code.to_str().ok());
        if let Some(err) = sent.and_then(|code| Error::from_code(code, message.clone())) {
            return err;
        }
        match status.code() {
            tonic::Code::InvalidArgument => Error::InvalidArgument(message),
            // Tonic refused a request over the host's size limit.
            tonic::Code::OutOfRange => Error::InvalidArgument(format!(
                "the request is over the host's size limit ({message})"
            )),
            tonic::Code::NotFound => Error::NotFound(message),
            tonic::Code::AlreadyExists => Error::AlreadyExists(message),
            tonic::Code::FailedPrecondition => Error::FailedPrecondition(message),
            // No code from a Keel host: the call did not get an answer.
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => {
                Error::OutcomeUnknown(format!("no answer from the host ({message})"))
            }
            _ => Error::Internal(format!("{}: {message}", status.code())),
        }
    }
}
