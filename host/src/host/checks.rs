//! Checks on what callers send, before anything is recorded: sizes
//! against the limits, and signal and query names against what the run's
//! type handles.

use super::Host;
use crate::engine::names;
use crate::error::{Error, Result, quote};
use crate::ids::ComponentId;
use crate::store::WorkflowTypeInfo;
use crate::types::Payload;

/// The signal name a type declares to take signals of any name (the guest
/// SDK's dynamic signal handler).
const ANY_SIGNAL: &str = "*";

impl Host {
    /// The largest payload, reason and component a caller may send, bytes;
    /// the API bounds request sizes by them.
    pub(crate) fn request_limits(&self) -> (usize, usize, usize) {
        let config = &self.core.config;
        (
            config.engine.max_payload_bytes,
            config.limits.max_reason_bytes,
            config.engine.max_component_bytes,
        )
    }

    pub(super) fn check_reason(&self, reason: &str) -> Result<()> {
        let limit = self.core.config.limits.max_reason_bytes;
        if reason.len() > limit {
            return Err(Error::InvalidArgument(format!(
                "the reason is {} bytes, over the limit of {limit} bytes",
                reason.len()
            )));
        }
        Ok(())
    }

    pub(super) fn check_payload(&self, what: &str, payload: &Payload) -> Result<()> {
        let limit = self.core.config.engine.max_payload_bytes;
        if payload.len() > limit {
            return Err(Error::InvalidArgument(format!(
                "the {what} is {} bytes, over the limit of {limit} bytes",
                payload.len()
            )));
        }
        Ok(())
    }

    pub(super) async fn check_query(
        &self,
        workflow_type: &str,
        component: &ComponentId,
        name: &str,
    ) -> Result<()> {
        let loaded = self.core.component(component).await?;
        let info = loaded.workflow_type(workflow_type).ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "component {component} does not serve '{workflow_type}'"
            ))
        })?;
        if info.queries.iter().any(|q| q == name) {
            return Ok(());
        }
        Err(Error::NotFound(format!(
            "workflow type '{workflow_type}' has no query {} (it answers: {})",
            quote(name),
            list(&info.queries)
        )))
    }
}

/// Whether `info` (the run's type, if its component still serves it)
/// handles signal `name`.
pub(super) fn check_signal(
    info: Option<&WorkflowTypeInfo>,
    workflow_type: &str,
    name: &str,
) -> Result<()> {
    let info = info.ok_or_else(|| {
        Error::FailedPrecondition(format!(
            "the run's component no longer serves '{workflow_type}'"
        ))
    })?;
    if info.signals.iter().any(|s| s == name) {
        return Ok(());
    }
    if info.signals.iter().any(|s| s == ANY_SIGNAL) {
        // Any name goes to the dynamic handler, but it must still be a
        // name: it is recorded in history and printed.
        return names::valid("signal", name).map_err(Error::InvalidArgument);
    }
    Err(Error::NotFound(format!(
        "workflow type '{workflow_type}' has no signal {} (it handles: {})",
        quote(name),
        list(&info.signals)
    )))
}

/// `items` for an error message: comma-separated, or `none`.
pub(super) fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}
