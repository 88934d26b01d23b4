//! The gRPC API (tonic): the workflow and deployment services over a
//! [`Host`], and the server that carries them. Generated protobuf types stay
//! inside this module; `convert` maps them to domain types.

pub mod auth;
mod codec;
pub(crate) mod convert;
mod deployments;
mod workflows;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

pub use auth::{Permission, Tokens};

use crate::error::{Error, Result};
use crate::host::Host;

/// Code generated from `proto/keel/v1/workflow.proto`.
pub(crate) mod proto {
    #![allow(missing_docs, clippy::all, reason = "generated code")]
    tonic::include_proto!("keel.v1");
}

/// Bytes a request may carry beyond its largest field (ids, names, framing).
const REQUEST_OVERHEAD: usize = 64 << 10;

/// How the API is served: who may call it, and over what.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Tokens callers must present, with their permissions; `None` accepts
    /// every caller (the zero-setup default, for loopback).
    pub tokens: Option<Tokens>,
    /// The server's certificate and key for TLS; `None` serves plain
    /// HTTP/2.
    pub tls: Option<TlsIdentity>,
}

/// A server certificate chain and its private key, PEM-encoded.
#[derive(Clone)]
pub struct TlsIdentity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// The identity in PEM text.
    pub fn from_pem(cert_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        TlsIdentity {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
        }
    }

    /// Read the certificate chain and key from PEM files.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if a file cannot be read.
    pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> Result<Self> {
        let read = |path: &std::path::Path, what: &str| {
            std::fs::read(path).map_err(|e| {
                Error::InvalidArgument(format!(
                    "cannot read the TLS {what} {}: {e}",
                    path.display()
                ))
            })
        };
        Ok(Self::from_pem(
            read(cert, "certificate")?,
            read(key, "key")?,
        ))
    }
}

/// Serve the API for `host` on `listener`, open to every caller over plain
/// HTTP/2, until `shutdown` resolves; see [`serve_with`].
///
/// # Errors
/// [`Error::Internal`] if the server fails.
pub async fn serve(
    host: Host,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    serve_with(host, listener, ServeOptions::default(), shutdown).await
}

/// Serve the API for `host` on `listener` as `options` say until `shutdown`
/// resolves; then finish the requests in flight and return.
///
/// # Errors
/// [`Error::InvalidArgument`] for a TLS identity that does not load;
/// [`Error::Internal`] if the server fails.
pub async fn serve_with(
    host: Host,
    listener: TcpListener,
    options: ServeOptions,
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
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = options.tls {
        let identity = tonic::transport::Identity::from_pem(tls.cert_pem, tls.key_pem);
        server = server
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| Error::InvalidArgument(format!("the TLS certificate or key: {e}")))?;
    }
    server
        .layer(auth::AuthLayer(options.tokens))
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
            Error::Unauthenticated(_) => tonic::Code::Unauthenticated,
            Error::PermissionDenied(_) => tonic::Code::PermissionDenied,
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
            tonic::Code::Unauthenticated => Error::Unauthenticated(message),
            tonic::Code::PermissionDenied => Error::PermissionDenied(message),
            // No Keel code: the call got no answer. Most often the host is
            // gone, or plain HTTP/2 was spoken to a host that serves TLS
            // (which shows as a cancelled call or an h2 protocol error).
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => {
                Error::OutcomeUnknown(no_answer(&message))
            }
            tonic::Code::Internal if message.contains("h2 protocol error") => {
                Error::OutcomeUnknown(no_answer(&message))
            }
            _ => Error::Internal(format!("{}: {message}", status.code())),
        }
    }
}

/// A call that got no answer, with the hint for the commonest cause.
fn no_answer(message: &str) -> String {
    format!(
        "no answer from the host ({message}); if it serves TLS, set KEEL_TLS_CA to the CA \
         certificate that signed its certificate"
    )
}
