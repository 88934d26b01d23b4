//! Who may call what: bearer tokens from a token file, each with its
//! permissions, checked by a tower layer before any handler runs.
//!
//! The token file is TOML:
//!
//! ```toml
//! [[token]]
//! name = "ci-deployer"
//! secret = "a random string of at least 32 characters"
//! permissions = ["deploy"]
//! ```
//!
//! `read` lets a caller describe, list, query and read results and
//! histories; `write` also lets it start, signal, cancel and terminate
//! workflows; `deploy` also lets it deploy components and choose current
//! versions. Every permission includes `read`.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonic::Status;
use tonic::codegen::http;

use crate::error::{Error, Result};

/// Shortest secret accepted, characters: shorter ones can be guessed.
pub const MIN_SECRET_LEN: usize = 32;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Describe, list, query, read results and histories and deployments.
    Read,
    /// Start, signal, cancel, terminate and reset workflows.
    Write,
    /// Deploy components, choose the current version of a type, check a
    /// candidate against the open runs and move runs onto a version.
    Deploy,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Deploy => "deploy",
        })
    }
}

/// The tokens a host accepts, read from a token file.
#[derive(Clone)]
pub struct Tokens {
    /// Grants by the SHA-256 of their secret, so a lookup takes the same
    /// time whatever the secret shares with a valid one.
    grants: Arc<HashMap<[u8; 32], Grant>>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.grants.values().map(|g| g.name.as_str()).collect();
        f.debug_struct("Tokens").field("names", &names).finish()
    }
}

#[derive(Debug)]
struct Grant {
    name: String,
    permissions: Vec<Permission>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    token: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    secret: String,
    permissions: Vec<Permission>,
}

impl Tokens {
    /// Read a token file.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if it cannot be read or is not a valid
    /// token file (the message says which entry and why).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::InvalidArgument(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text)
            .map_err(|e| Error::InvalidArgument(format!("token file {}: {e}", path.display())))
    }

    /// Parse a token file's text; the error says what is wrong.
    fn parse(text: &str) -> std::result::Result<Self, String> {
        let file: TokenFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
        if file.token.is_empty() {
            return Err("it has no [[token]] entries".into());
        }
        let mut grants = HashMap::new();
        for entry in file.token {
            let name = entry.name;
            if entry.secret.chars().count() < MIN_SECRET_LEN {
                return Err(format!(
                    "the secret of token '{name}' is shorter than {MIN_SECRET_LEN} characters"
                ));
            }
            if entry.permissions.is_empty() {
                return Err(format!("token '{name}' has no permissions"));
            }
            let digest: [u8; 32] = Sha256::digest(entry.secret.as_bytes()).into();
            let grant = Grant {
                name: name.clone(),
                permissions: entry.permissions,
            };
            if grants.insert(digest, grant).is_some() {
                return Err(format!("token '{name}' has the same secret as another"));
            }
        }
        Ok(Tokens {
            grants: Arc::new(grants),
        })
    }

    /// Whether the request's bearer token may call the method at `path`.
    fn check(&self, path: &str, headers: &http::HeaderMap) -> std::result::Result<(), Status> {
        let secret = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Status::unauthenticated(
                    "this host requires a token: set KEEL_TOKEN (or KEEL_TOKEN_FILE) to one of \
                     the secrets in its token file",
                )
            })?;
        let digest: [u8; 32] = Sha256::digest(secret.trim().as_bytes()).into();
        let grant = self
            .grants
            .get(&digest)
            .ok_or_else(|| Status::unauthenticated("the token is not one this host accepts"))?;
        let needed = required(path);
        if needed == Permission::Read || grant.permissions.contains(&needed) {
            return Ok(());
        }
        let held: Vec<String> = grant.permissions.iter().map(ToString::to_string).collect();
        Err(Status::permission_denied(format!(
            "token '{}' lacks the '{needed}' permission this call needs (it has: {})",
            grant.name,
            held.join(", ")
        )))
    }
}

/// The permission a gRPC method needs, by its path.
fn required(path: &str) -> Permission {
    let method = path.rsplit('/').next().unwrap_or_default();
    match method {
        "QueryWorkflow" | "DescribeWorkflow" | "GetResult" | "GetHistory" | "ListWorkflows"
        | "ListDeployments" => Permission::Read,
        "StartWorkflow" | "SignalWorkflow" | "SignalWithStart" | "CancelWorkflow"
        | "TerminateWorkflow" | "ResetWorkflow" => Permission::Write,
        // Changing the code runs run on, checking a candidate (it replays
        // every open run), and any method not named above: the strictest,
        // so a method added later is never open to readers by mistake.
        // (One this host does not serve is answered UNIMPLEMENTED after
        // the token is checked.)
        _ => Permission::Deploy,
    }
}

/// The tower layer that checks every request against [`Tokens`], if the
/// server has any.
#[derive(Debug, Clone)]
pub(super) struct AuthLayer(pub(super) Option<Tokens>);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            tokens: self.0.clone(),
        }
    }
}

/// A service behind [`AuthLayer`].
#[derive(Debug, Clone)]
pub(super) struct Authenticated<S> {
    inner: S,
    tokens: Option<Tokens>,
}

impl<S, B> tower::Service<http::Request<B>> for Authenticated<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::Either<
        S::Future,
        std::future::Ready<std::result::Result<Self::Response, Self::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let checked = match &self.tokens {
            Some(tokens) => tokens.check(request.uri().path(), request.headers()),
            None => Ok(()),
        };
        match checked {
            Ok(()) => futures::future::Either::Left(self.inner.call(request)),
            Err(status) => {
                futures::future::Either::Right(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        [[token]]
        name = "reader"
        secret = "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"
        permissions = ["read"]

        [[token]]
        name = "ci"
        secret = "dddddddddddddddddddddddddddddddddddd"
        permissions = ["deploy", "write"]
    "#;

    fn headers(secret: Option<&str>) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        if let Some(secret) = secret {
            headers.insert(
                http::header::AUTHORIZATION,
                format!("Bearer {secret}").parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn each_method_needs_its_permission() {
        let tokens = Tokens::parse(FILE).unwrap();
        let reader = headers(Some("rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"));
        let ci = headers(Some("dddddddddddddddddddddddddddddddddddd"));
        let list = "/keel.v1.WorkflowService/ListWorkflows";
        let start = "/keel.v1.WorkflowService/StartWorkflow";
        let deploy = "/keel.v1.DeploymentService/Deploy";
        assert!(tokens.check(list, &reader).is_ok());
        let denied = tokens.check(start, &reader).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert!(denied.message().contains("'write'"), "{}", denied.message());
        assert!(tokens.check(deploy, &reader).is_err());
        for path in [list, start, deploy] {
            assert!(tokens.check(path, &ci).is_ok(), "{path}");
        }
        for method in [
            "DeploymentService/CheckDeployment",
            "DeploymentService/UpgradeWorkflow",
            "WorkflowService/ResetWorkflow",
            "WorkflowService/SomethingNew",
        ] {
            let path = format!("/keel.v1.{method}");
            assert!(tokens.check(&path, &reader).is_err(), "{path}");
            assert!(tokens.check(&path, &ci).is_ok(), "{path}");
        }
        for bad in [None, Some("wrong"), Some("")] {
            let status = tokens.check(list, &headers(bad)).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{bad:?}");
        }
    }

    #[test]
    fn a_bad_token_file_says_what_is_wrong() {
        let cases = [
            ("", "missing field `token`"),
            ("token = []", "no [[token]] entries"),
            (
                "[[token]]\nname = \"a\"\nsecret = \"short\"\npermissions = [\"read\"]",
                "shorter than 32",
            ),
            (
                "[[token]]\nname = \"a\"\nsecret = \"ssssssssssssssssssssssssssssssssssss\"\npermissions = [\"admin\"]",
                "unknown variant `admin`",
            ),
            (
                "[[token]]\nname = \"a\"\nsecret = \"ssssssssssssssssssssssssssssssssssss\"\npermissions = []",
                "no permissions",
            ),
        ];
        for (text, expected) in cases {
            let err = Tokens::parse(text).unwrap_err();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }
}
