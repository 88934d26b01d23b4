//! `keel:workflow/log`: workflow logs as `tracing` events, muted on replay.

use std::borrow::Cow;

use super::HostState;
use super::bindings::keel::workflow::log::{Host, Level};

/// Longest log message kept, in bytes; longer ones are cut.
const MAX_MESSAGE: usize = 16 * 1024;

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if self.is_replaying() {
            return Ok(());
        }
        let message = escape(truncate(&message, MAX_MESSAGE));
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

/// `text` with control characters escaped (`\n`, `\u{1b}`...), so that
/// workflow output can never forge a line or a terminal sequence in the
/// host's log.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_text_cannot_forge_a_log_line() {
        assert_eq!(escape("plain text"), "plain text");
        assert_eq!(
            escape("ok\n2026-12-03 ERROR keel: forged\r\u{1b}[2J"),
            "ok\\n2026-12-03 ERROR keel: forged\\r\\u{1b}[2J"
        );
        assert_eq!(truncate("héllo", 2), "h");
    }
}
