//! The host's error type: what callers of the library API can get back.

use crate::store::StoreError;
use crate::types::Failure;

/// Errors of the host's library API. Each says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller passed something unusable (malformed JSON, a bad id...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No such workflow, run, workflow type, signal or query.
    #[error("not found: {0}")]
    NotFound(String),
    /// A run with this workflow id is already open.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The operation does not fit the run's state (for example it closed).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// A component was rejected: bad bytes, forbidden imports, bad exports.
    #[error("component rejected: {0}")]
    ComponentRejected(String),
    /// A query could not be answered.
    #[error("query failed: {0}")]
    QueryFailed(String),
    /// The workflow did not complete successfully.
    #[error("workflow did not complete: {0}")]
    WorkflowFailed(String),
    /// The durable store failed; the operation may be retried.
    #[error("store error: {0}")]
    Store(String),
    /// A call's answer was lost (the connection broke): it may or may not
    /// have been applied. Requests that change a run carry a request id, so
    /// retrying with the same one is safe.
    #[error("outcome unknown: {0}; it is safe to retry with the same request id")]
    OutcomeUnknown(String),
    /// The caller did not present a token the host accepts.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The caller's token does not allow this call.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The host is shutting down.
    #[error("the host is shutting down")]
    ShuttingDown,
    /// A bug or an unexpected engine failure.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Caller-chosen text quoted in an error: escaped, and cut to 64
/// characters so an error never echoes a huge or multi-line input back.
pub(crate) fn quote(text: &str) -> String {
    let shown: String = text.chars().take(64).collect();
    let cut = if shown.len() < text.len() { "…" } else { "" };
    format!("{shown:?}{cut}")
}

impl Error {
    pub(crate) fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        Error::Internal(format!("{context}: {err}"))
    }

    /// The stable name of the variant, carried on the wire so a client
    /// rebuilds the same error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) => "invalid-argument",
            Error::NotFound(_) => "not-found",
            Error::AlreadyExists(_) => "already-exists",
            Error::FailedPrecondition(_) => "failed-precondition",
            Error::ComponentRejected(_) => "component-rejected",
            Error::QueryFailed(_) => "query-failed",
            Error::WorkflowFailed(_) => "workflow-failed",
            Error::Store(_) => "store",
            Error::OutcomeUnknown(_) => "outcome-unknown",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::PermissionDenied(_) => "permission-denied",
            Error::ShuttingDown => "shutting-down",
            Error::Internal(_) => "internal",
        }
    }

    /// What happened, without the category [`Error::code`] names.
    pub fn detail(&self) -> &str {
        match self {
            Error::InvalidArgument(m)
            | Error::NotFound(m)
            | Error::AlreadyExists(m)
            | Error::FailedPrecondition(m)
            | Error::ComponentRejected(m)
            | Error::QueryFailed(m)
            | Error::WorkflowFailed(m)
            | Error::Store(m)
            | Error::OutcomeUnknown(m)
            | Error::Unauthenticated(m)
            | Error::PermissionDenied(m)
            | Error::Internal(m) => m,
            Error::ShuttingDown => "",
        }
    }

    /// Rebuild an error from its [`Error::code`] and [`Error::detail`].
    pub fn from_code(code: &str, detail: String) -> Option<Self> {
        Some(match code {
            "invalid-argument" => Error::InvalidArgument(detail),
            "not-found" => Error::NotFound(detail),
            "already-exists" => Error::AlreadyExists(detail),
            "failed-precondition" => Error::FailedPrecondition(detail),
            "component-rejected" => Error::ComponentRejected(detail),
            "query-failed" => Error::QueryFailed(detail),
            "workflow-failed" => Error::WorkflowFailed(detail),
            "store" => Error::Store(detail),
            "outcome-unknown" => Error::OutcomeUnknown(detail),
            "unauthenticated" => Error::Unauthenticated(detail),
            "permission-denied" => Error::PermissionDenied(detail),
            "shutting-down" => Error::ShuttingDown,
            "internal" => Error::Internal(detail),
            _ => return None,
        })
    }
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        Error::WorkflowFailed(failure.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::WorkflowIdInUse(id) => {
                Error::AlreadyExists(format!("workflow id {id} already has an open run"))
            }
            StoreError::CheckFailed(check) => Error::FailedPrecondition(check.to_string()),
            StoreError::DuplicateRequest(..) => Error::AlreadyExists(err.to_string()),
            StoreError::Backend(message) => Error::Store(message),
        }
    }
}

/// Result alias of the host's library API.
pub type Result<T, E = Error> = std::result::Result<T, E>;
