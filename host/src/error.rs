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
    /// The host is shutting down.
    #[error("the host is shutting down")]
    ShuttingDown,
    /// A bug or an unexpected engine failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        Error::Internal(format!("{context}: {err}"))
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
            StoreError::Backend(message) => Error::Store(message),
        }
    }
}

/// Result alias of the host's library API.
pub type Result<T, E = Error> = std::result::Result<T, E>;
