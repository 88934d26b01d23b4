//! `keel:workflow/log`: workflow logs as `tracing` events, muted on replay.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::HostState;
use super::bindings::keel::workflow::log::{Host, Level};

/// Longest log message kept, in bytes; longer ones are cut.
pub(crate) const MAX_MESSAGE: usize = 16 * 1024;
/// Log lines (through `ctx.log`, stdout and stderr) one activation may write.
pub(crate) const MAX_LINES_PER_ACTIVATION: usize = 1_000;
/// Log bytes one activation may write.
pub(crate) const MAX_BYTES_PER_ACTIVATION: usize = 256 << 10;

/// What one activation has written to the host's log; past the limits the
/// rest of its lines are dropped, with one warning saying so, so a workflow
/// that logs in a loop cannot flood the host's log or disk.
#[derive(Debug, Default)]
pub(crate) struct LogBudget {
    lines: AtomicUsize,
    bytes: AtomicUsize,
    exhausted: AtomicBool,
}

impl LogBudget {
    /// Start a new activation's budget.
    pub(crate) fn reset(&self) {
        self.lines.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        self.exhausted.store(false, Ordering::Relaxed);
    }

    /// Whether a line of `len` bytes may be written; the first refusal logs
    /// the warning.
    pub(crate) fn admit(&self, len: usize, workflow_id: &str, run_id: &str) -> bool {
        let lines = self.lines.fetch_add(1, Ordering::Relaxed) + 1;
        let bytes = self.bytes.fetch_add(len, Ordering::Relaxed) + len;
        if lines <= MAX_LINES_PER_ACTIVATION && bytes <= MAX_BYTES_PER_ACTIVATION {
            return true;
        }
        if !self.exhausted.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "keel::workflow",
                %workflow_id,
                %run_id,
                "the activation reached the workflow log limit ({MAX_LINES_PER_ACTIVATION} lines \
                 or {MAX_BYTES_PER_ACTIVATION} bytes); its further log lines are dropped"
            );
        }
        false
    }
}

impl Host for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        if self.is_replaying() {
            return Ok(());
        }
        let message = escape(truncate(&message, MAX_MESSAGE));
        let (workflow_id, run_id) = (&self.facts.workflow_id, &self.facts.run_id);
        if !self
            .shared
            .log_budget
            .admit(message.len(), workflow_id, run_id)
        {
            return Ok(());
        }
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
