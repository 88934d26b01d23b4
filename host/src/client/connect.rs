//! What a client connects with beyond the loopback default: a bearer token
//! added to every call, and the CA for TLS.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// How a client reaches a host that asks for more than the loopback
/// default.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// The bearer token sent with every call (a secret from the host's
    /// token file).
    pub token: Option<String>,
    /// The PEM certificate of the CA that signed the host's TLS
    /// certificate; set, the client speaks TLS.
    pub tls_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("tls", &self.tls_ca_pem.is_some())
            .finish()
    }
}

/// Adds the bearer token to every call.
#[derive(Clone)]
pub(super) struct BearerToken(pub(super) Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(…)")
    }
}

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> std::result::Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    }
}

pub(super) type Authed = InterceptedService<Channel, BearerToken>;
