//! Typed identifiers: workflow ids chosen by users, run ids minted by the
//! host, component ids derived from content.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, quote};

/// Longest workflow id accepted, in bytes.
const MAX_WORKFLOW_ID_LEN: usize = 512;

/// Characters that change how text is shown without being seen: zero-width
/// characters and bidirectional controls.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}')
}

/// The user-chosen id of a workflow; at most one run per id is open at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkflowId(String);

impl WorkflowId {
    /// Validate and wrap a workflow id.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if it is empty, too long, or has control
    /// characters or invisible ones (zero-width, bidirectional overrides)
    /// that would make two ids look alike or an id look like another text.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        if id.is_empty()
            || id.len() > MAX_WORKFLOW_ID_LEN
            || id.chars().any(|c| c.is_control() || is_invisible(c))
        {
            return Err(Error::InvalidArgument(format!(
                "workflow id {} must be 1 to {MAX_WORKFLOW_ID_LEN} bytes without \
                 control, zero-width or bidirectional-override characters",
                quote(&id)
            )));
        }
        Ok(WorkflowId(id))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkflowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for WorkflowId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        WorkflowId::new(s)
    }
}

/// Longest request id accepted, in bytes.
const MAX_REQUEST_ID_LEN: usize = 128;

/// A caller's id for one request that changes a run (start, signal, cancel,
/// terminate). The host applies each request id at most once per run, so a
/// caller that lost the answer retries with the same id safely.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// Validate and wrap a request id.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] unless it is 1 to 128 ASCII letters,
    /// digits, `-`, `_`, `.` or `:`.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
        if id.is_empty() || id.len() > MAX_REQUEST_ID_LEN || !id.chars().all(allowed) {
            let shown: String = id.chars().take(40).collect();
            return Err(Error::InvalidArgument(format!(
                "request id {shown:?} must be 1 to {MAX_REQUEST_ID_LEN} ASCII letters, digits, '-', '_', '.' or ':'"
            )));
        }
        Ok(RequestId(id))
    }

    /// A fresh, unique request id.
    pub fn generate() -> Self {
        RequestId(format!("req_{}", uuid::Uuid::now_v7().simple()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RequestId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        RequestId::new(s)
    }
}

/// The id of one run of a workflow: `run_` and a time-ordered UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RunId(uuid::Uuid);

impl RunId {
    /// A fresh, time-ordered run id.
    pub fn generate() -> Self {
        RunId(uuid::Uuid::now_v7())
    }
}

/// A fresh seed for a run's replay-safe randomness. It is recorded in the
/// run's history (so replay draws the same values) and is not derived from
/// anything a caller sees in `list` or `describe`, so the values cannot be
/// computed from outside. Workflow randomness is replayable, not secret
/// from whoever can read the history.
pub(crate) fn random_seed() -> u64 {
    let random = |id: uuid::Uuid| {
        let bits = id.as_u128();
        (bits as u64) ^ ((bits >> 64) as u64).rotate_left(31)
    };
    random(uuid::Uuid::now_v7()) ^ random(uuid::Uuid::now_v7()).rotate_left(17)
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run_{}", self.0.simple())
    }
}

impl FromStr for RunId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        s.strip_prefix("run_")
            .and_then(|hex| uuid::Uuid::try_parse(hex).ok())
            .map(RunId)
            .ok_or_else(|| Error::InvalidArgument(format!("{s:?} is not a run id (run_<32 hex>)")))
    }
}

impl TryFrom<String> for RunId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<RunId> for String {
    fn from(id: RunId) -> String {
        id.to_string()
    }
}

/// A deployed component, named by the SHA-256 of its bytes: `sha256:<hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ComponentId([u8; 32]);

impl ComponentId {
    /// The id of a component with these bytes.
    pub fn of(bytes: &[u8]) -> Self {
        ComponentId(Sha256::digest(bytes).into())
    }

    /// The first 12 hex digits, for people.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }

    fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl FromStr for ComponentId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad =
            || Error::InvalidArgument(format!("{s:?} is not a component id (sha256:<64 hex>)"));
        let hex = s.strip_prefix("sha256:").ok_or_else(bad)?;
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(ComponentId(bytes))
    }
}

impl TryFrom<String> for ComponentId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<ComponentId> for String {
    fn from(id: ComponentId) -> String {
        id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let run = RunId::generate();
        assert_eq!(run.to_string().parse::<RunId>().unwrap(), run);
        let component = ComponentId::of(b"bytes");
        assert_eq!(
            component.to_string().parse::<ComponentId>().unwrap(),
            component
        );
        assert!("run_nothex".parse::<RunId>().is_err());
        assert!("sha256:12".parse::<ComponentId>().is_err());
        assert!(WorkflowId::new("").is_err());
        assert!(WorkflowId::new("a\nb").is_err());
    }
}
