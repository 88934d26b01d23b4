//! Domain values shared across the host: payloads, failures, statuses.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// An opaque value crossing the host/guest boundary (JSON in practice). It
/// serializes as a string when it is UTF-8, so stored histories stay
/// readable.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Payload(Vec<u8>);

impl Payload {
    /// Wrap raw bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Payload(bytes)
    }

    /// Encode `value` as JSON.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if it cannot be encoded.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self> {
        serde_json::to_vec(value)
            .map(Payload)
            .map_err(|e| Error::InvalidArgument(format!("cannot encode payload as JSON: {e}")))
    }

    /// Wrap JSON text after checking that it parses.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the parse error.
    pub fn parse_json(text: &str) -> Result<Self> {
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|e| Error::InvalidArgument(format!("malformed JSON: {e}")))?;
        Ok(Payload(text.as_bytes().to_vec()))
    }

    /// Decode the payload as JSON into `T`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the decode error.
    pub fn to_json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.0)
            .map_err(|e| Error::InvalidArgument(format!("cannot decode payload: {e}")))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The raw bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(text) => f.write_str(text),
            Err(_) => write!(f, "<{} bytes>", self.0.len()),
        }
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => self.0.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Bytes(Vec<u8>),
        }
        Ok(match Repr::deserialize(deserializer)? {
            Repr::Text(text) => Payload(text.into_bytes()),
            Repr::Bytes(bytes) => Payload(bytes),
        })
    }
}

/// Bytes of failure message or reason a run list carries per run; the whole
/// text is in the run's description.
pub const LIST_TEXT_BYTES: usize = 1024;

/// Cut `text` to at most `max` bytes on a character boundary, with a note
/// of how much was cut.
fn cut(text: &mut String, max: usize) {
    let len = text.len();
    if len <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(&format!(" … [{} of {len} bytes cut]", len - end));
}

/// A failure reported by a workflow or an activity, or by the host for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// What went wrong, for people.
    pub message: String,
    /// A type name, for code (matched against non-retryable error types).
    pub error_type: String,
    /// True if retrying cannot help.
    #[serde(default)]
    pub non_retryable: bool,
    /// Optional structured details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Payload>,
}

impl Failure {
    /// A failure with a type and a message.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            error_type: error_type.into(),
            non_retryable: false,
            details: None,
        }
    }

    /// The same failure with its message and type cut to what history
    /// keeps (a note says how much was cut).
    pub fn bounded(mut self) -> Self {
        use crate::limits::{MAX_FAILURE_DETAILS, MAX_FAILURE_MESSAGE, MAX_FAILURE_TYPE};
        if let Some(details) = &self.details
            && details.len() > MAX_FAILURE_DETAILS
        {
            self.message = format!(
                "{} (its details of {} bytes were dropped: over {MAX_FAILURE_DETAILS} bytes)",
                self.message,
                details.len()
            );
            self.details = None;
        }
        cut(&mut self.message, MAX_FAILURE_MESSAGE);
        cut(&mut self.error_type, MAX_FAILURE_TYPE);
        self
    }

    /// The failure as a run list carries it: no details, the message cut to
    /// [`LIST_TEXT_BYTES`].
    fn summary(mut self) -> Self {
        cut(&mut self.message, LIST_TEXT_BYTES);
        self.details = None;
        self
    }

    /// The same failure, marked non-retryable.
    pub fn non_retryable(mut self) -> Self {
        self.non_retryable = true;
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not closed.
    Running,
    /// Returned a result.
    Completed,
    /// Returned a failure.
    Failed,
    /// Honoured a cancellation request.
    Cancelled,
    /// Stopped by force.
    Terminated,
    /// Closed by continuing as a new run of the same workflow id.
    #[serde(rename = "continued-as-new")]
    ContinuedAsNew,
    /// Closed by the host when its run or execution timeout passed.
    #[serde(rename = "timed-out")]
    TimedOut,
}

impl RunStatus {
    /// True for every status but `Running`.
    pub fn is_closed(self) -> bool {
        self != RunStatus::Running
    }

    /// The status as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Terminated => "terminated",
            RunStatus::ContinuedAsNew => "continued-as-new",
            RunStatus::TimedOut => "timed-out",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RunStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "running" => RunStatus::Running,
            "completed" => RunStatus::Completed,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            "terminated" => RunStatus::Terminated,
            "continued-as-new" => RunStatus::ContinuedAsNew,
            "timed-out" => RunStatus::TimedOut,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown run status {other:?}"
                )));
            }
        })
    }
}

/// How a closed run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The run returned this value.
    Completed(Payload),
    /// The run failed.
    Failed(Failure),
    /// The run honoured a cancellation request.
    Cancelled(Failure),
    /// The run was terminated, with this reason.
    Terminated(String),
    /// The run closed and a new run of the same workflow id took over.
    ContinuedAsNew(ContinuedAsNew),
    /// The host closed the run when its run or execution timeout passed;
    /// which one, and when.
    TimedOut(String),
}

/// How a run continued as a new run: the new run's input and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinuedAsNew {
    /// The new run's input.
    pub input: Payload,
    /// The new run uses the type's current version; otherwise the version
    /// of the run it continues.
    pub current_version: bool,
}

impl Outcome {
    /// The status this outcome gives the run.
    pub fn status(&self) -> RunStatus {
        match self {
            Outcome::Completed(_) => RunStatus::Completed,
            Outcome::Failed(_) => RunStatus::Failed,
            Outcome::Cancelled(_) => RunStatus::Cancelled,
            Outcome::Terminated(_) => RunStatus::Terminated,
            Outcome::ContinuedAsNew(_) => RunStatus::ContinuedAsNew,
            Outcome::TimedOut(_) => RunStatus::TimedOut,
        }
    }

    /// The outcome as a run list carries it: without the result or failure
    /// details, with messages cut to [`LIST_TEXT_BYTES`].
    pub fn summary(self) -> Outcome {
        match self {
            Outcome::Completed(_) => Outcome::Completed(Payload::default()),
            Outcome::Failed(failure) => Outcome::Failed(failure.summary()),
            Outcome::Cancelled(failure) => Outcome::Cancelled(failure.summary()),
            Outcome::Terminated(mut reason) => {
                cut(&mut reason, LIST_TEXT_BYTES);
                Outcome::Terminated(reason)
            }
            Outcome::TimedOut(mut message) => {
                cut(&mut message, LIST_TEXT_BYTES);
                Outcome::TimedOut(message)
            }
            Outcome::ContinuedAsNew(continued) => Outcome::ContinuedAsNew(ContinuedAsNew {
                input: Payload::default(),
                ..continued
            }),
        }
    }

    /// The result decoded as JSON, or the failure as an error.
    ///
    /// # Errors
    /// [`Error::WorkflowFailed`] unless the run completed; a decode error.
    pub fn into_result<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        match self {
            Outcome::Completed(payload) => payload.to_json(),
            other => Err(Error::WorkflowFailed(other.to_string())),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Completed(payload) => write!(f, "completed: {payload}"),
            Outcome::Failed(failure) => write!(f, "failed: {failure}"),
            Outcome::Cancelled(failure) => write!(f, "cancelled: {}", failure.message),
            Outcome::Terminated(reason) => write!(f, "terminated: {reason}"),
            Outcome::ContinuedAsNew(continued) => {
                write!(f, "continued as new with input {}", continued.input)
            }
            Outcome::TimedOut(message) => write!(f, "timed out: {message}"),
        }
    }
}

/// What starting a workflow id whose latest run is closed does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdReusePolicy {
    /// Start a new run whatever the last one did.
    #[default]
    AllowDuplicate,
    /// Start a new run only if the last one did not complete successfully.
    AllowDuplicateFailedOnly,
    /// Never reuse a workflow id.
    RejectDuplicate,
}

/// What starting a workflow id that has an open run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdConflictPolicy {
    /// Refuse with [`Error::AlreadyExists`].
    #[default]
    Fail,
    /// Return the open run instead of starting one.
    UseExisting,
    /// Terminate the open run, then start a new one.
    TerminateExisting,
}
