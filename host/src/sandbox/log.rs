//! `keel:workflow/log`: workflow logs as `tracing` events, muted on replay.

use super::HostState;
use super::bindings::keel::workflow::log::{Host, Level};

/// Longest log message kept, in bytes; longer ones are cut.
const MAX_MESSAGE: usize = 16 * 1024;

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if self.is_replaying() {
            return Ok(());
        }
        let message = truncate(&message, MAX_MESSAGE);
        let (workflow_id, run_id) = (&self.facts.workflow_id, &self.facts.run_id);
        match level {
            Level::Trace => {
                tracing::trace!(target: "keel::workflow", %workflow_id, %run_id, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "keel::workflow", %workflow_id, %run_id, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "keel::workflow", %workflow_id, %run_id, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "keel::workflow", %workflow_id, %run_id, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "keel::workflow", %workflow_id, %run_id, "{message}")
            }
        }
        Ok(())
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
