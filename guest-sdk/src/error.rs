//! The error type workflow code sees and returns.

use std::fmt;

use crate::bindings::keel::workflow::types::Failure;

/// Why a workflow step failed. Workflow code returns it to fail (or, for
/// [`Error::Cancelled`], to finish as cancelled) and matches on it to handle
/// activity failures and cancellation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// This step was cancelled: a cancellation request reached its task
    /// (the workflow's, passed on to the main task and what it awaits), or
    /// the step or its task was cancelled on its own. Returned from `run`
    /// after the workflow's cancellation was requested, it finishes the run
    /// as cancelled; otherwise it fails the run.
    Cancelled(String),
    /// An activity failed for good: retries exhausted or not retryable.
    ActivityFailed {
        /// The activity's name.
        activity: String,
        /// The failure's type name, as the activity reported it.
        error_type: String,
        /// The failure's message.
        message: String,
        /// The failure's details (JSON), if the activity gave any; read
        /// them with [`Error::details`].
        details: Option<Vec<u8>>,
    },
    /// An activity was cancelled.
    ActivityCancelled {
        /// The activity's name.
        activity: String,
    },
    /// A child workflow did not complete: it failed (with its own error
    /// type), or was cancelled, terminated or timed out (error type
    /// `ChildWorkflowCancelled`, `ChildWorkflowTerminated`,
    /// `ChildWorkflowTimedOut`).
    ChildWorkflowFailed {
        /// The child's workflow id.
        workflow_id: String,
        /// The failure's type name.
        error_type: String,
        /// The failure's message.
        message: String,
        /// The failure's details (JSON), if any.
        details: Option<Vec<u8>>,
    },
    /// A payload could not be encoded or decoded.
    Payload(String),
    /// An error raised by workflow code.
    Application {
        /// A type name for the error, for callers to match on.
        error_type: String,
        /// What went wrong.
        message: String,
        /// Structured details (JSON) for callers; set them with
        /// [`Error::with_details`].
        details: Option<Vec<u8>>,
    },
    /// Not an error: returned from `run`, it ends the run as continued-as-new
    /// and starts a new run of the same workflow id. Made by
    /// `WorkflowContext::continue_as_new`.
    ContinueAsNew(ContinueAsNew),
}

/// The new run a run continues as; see [`Error::ContinueAsNew`].
#[derive(Debug, Clone, PartialEq)]
pub struct ContinueAsNew {
    pub(crate) input: Vec<u8>,
    pub(crate) current_version: bool,
}

impl Error {
    /// An application error with a type name and a message.
    pub fn application(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Application {
            error_type: error_type.into(),
            message: message.into(),
            details: None,
        }
    }

    /// The same error with `details`, encoded as JSON, which reach the
    /// caller with the failure (an application error only; others are
    /// returned unchanged).
    pub fn with_details<T: serde::Serialize + ?Sized>(self, details: &T) -> Self {
        match self {
            Error::Application {
                error_type,
                message,
                ..
            } => Error::Application {
                error_type,
                message,
                details: serde_json::to_vec(details).ok(),
            },
            other => other,
        }
    }

    /// The failure's details decoded as `T`: what an activity or the
    /// workflow code attached (an activity's last heartbeat details, for a
    /// heartbeat timeout).
    pub fn details<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        match self {
            Error::ActivityFailed { details, .. }
            | Error::ChildWorkflowFailed { details, .. }
            | Error::Application { details, .. } => {
                serde_json::from_slice(details.as_deref()?).ok()
            }
            _ => None,
        }
    }

    /// True if this error stems from a cancellation (of the workflow, of an
    /// activity, or of a child workflow).
    pub fn is_cancelled(&self) -> bool {
        match self {
            Error::Cancelled(_) | Error::ActivityCancelled { .. } => true,
            Error::ChildWorkflowFailed { error_type, .. } => error_type == "ChildWorkflowCancelled",
            _ => false,
        }
    }

    /// The type name reported in the failure this error becomes.
    pub fn error_type(&self) -> &str {
        match self {
            Error::Cancelled(_) | Error::ActivityCancelled { .. } => "Cancelled",
            Error::ActivityFailed { error_type, .. }
            | Error::ChildWorkflowFailed { error_type, .. }
            | Error::Application { error_type, .. } => error_type,
            Error::Payload(_) => "PayloadError",
            Error::ContinueAsNew(_) => "ContinueAsNew",
        }
    }

    pub(crate) fn payload(what: &str, err: serde_json::Error) -> Self {
        Error::Payload(format!("{what}: {err}"))
    }

    pub(crate) fn to_failure(&self) -> Failure {
        let message = match self {
            Error::Cancelled(reason) if !reason.is_empty() => reason.clone(),
            other => other.to_string(),
        };
        Failure {
            message,
            error_type: self.error_type().to_string(),
            // A retry policy may retry a failed run, unless its input or
            // its result cannot be decoded: the next attempt fails alike.
            non_retryable: matches!(self, Error::Payload(_)),
            details: match self {
                Error::ActivityFailed { details, .. }
                | Error::ChildWorkflowFailed { details, .. }
                | Error::Application { details, .. } => details.clone(),
                _ => None,
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Cancelled(reason) if reason.is_empty() => f.write_str("cancelled"),
            Error::Cancelled(reason) => write!(f, "cancelled: {reason}"),
            Error::ActivityFailed {
                activity,
                error_type,
                message,
                ..
            } => write!(f, "activity '{activity}' failed ({error_type}): {message}"),
            Error::ActivityCancelled { activity } => write!(f, "activity '{activity}' cancelled"),
            Error::ChildWorkflowFailed {
                workflow_id,
                error_type,
                message,
                ..
            } => write!(
                f,
                "child workflow '{workflow_id}' failed ({error_type}): {message}"
            ),
            Error::Payload(message) => write!(f, "bad payload: {message}"),
            Error::Application { message, .. } => f.write_str(message),
            Error::ContinueAsNew(_) => f.write_str("the run continues as new"),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of workflow steps.
pub type Result<T, E = Error> = std::result::Result<T, E>;
