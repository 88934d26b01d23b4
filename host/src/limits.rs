//! What one run may make the host hold, Temporal's limits being the model.
//! A workflow that hits one gets a typed failure naming the limit: a
//! workflow-task failure (retried after a backoff, visible in history) for
//! the limits on one activation, a run failure for the history length.

use std::fmt;

/// Limits on one run, checked when an activation is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Activities scheduled and not yet resolved.
    pub max_pending_activities: usize,
    /// Timers started and not yet fired or cancelled.
    pub max_pending_timers: usize,
    /// Requests to other workflows (signal, cancel) not yet delivered.
    pub max_pending_external_requests: usize,
    /// Child workflows asked for and not closed (Temporal's limit of
    /// pending children).
    pub max_pending_children: usize,
    /// Events in a run's history past which a warning is logged.
    pub history_warn_events: u64,
    /// Events in a run's history; an activation that would go past it fails
    /// the run.
    pub max_history_events: u64,
    /// Bytes of a run's stored history; a signal that would go past it is
    /// refused, and an activation that would go past it fails the run.
    pub max_history_bytes: u64,
    /// Bytes of a cancel or terminate reason a caller may send.
    pub max_reason_bytes: usize,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            max_pending_activities: 2_000,
            max_pending_timers: 10_000,
            max_pending_external_requests: 2_000,
            max_pending_children: 2_000,
            history_warn_events: 10_240,
            max_history_events: 51_200,
            max_history_bytes: 50 << 20,
            max_reason_bytes: 4 << 10,
        }
    }
}

/// Bytes of a failure message kept in history; longer ones are cut.
pub(crate) const MAX_FAILURE_MESSAGE: usize = 32 << 10;
/// Longest failure details kept, bytes; larger details are dropped (and
/// the message says so).
pub(crate) const MAX_FAILURE_DETAILS: usize = 64 << 10;
/// Bytes of a failure type kept in history.
pub(crate) const MAX_FAILURE_TYPE: usize = 256;

/// Which limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    CommandsPerActivation,
    PendingActivities,
    PendingTimers,
    PendingExternalRequests,
    PendingChildren,
    HistoryEvents,
    HistoryBytes,
    WasiResources,
    ActivationPayloadBytes,
}

/// A run went past one of its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) struct LimitExceeded {
    pub(crate) limit: Limit,
    /// What the run would have had.
    pub(crate) value: u64,
    /// The limit.
    pub(crate) max: u64,
}

impl LimitExceeded {
    /// The stable code recorded with the failure.
    pub(crate) fn code(&self) -> &'static str {
        match self.limit {
            Limit::HistoryEvents | Limit::HistoryBytes => "KEEL-HISTORY-LIMIT",
            _ => "KEEL-LIMIT",
        }
    }

    /// `value` past `max`, if it is.
    pub(crate) fn check(limit: Limit, value: u64, max: u64) -> Result<(), LimitExceeded> {
        if value > max {
            return Err(LimitExceeded { limit, value, max });
        }
        Ok(())
    }
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let LimitExceeded { value, max, .. } = *self;
        match self.limit {
            Limit::CommandsPerActivation => write!(
                f,
                "the activation issued more than {max} commands (limit: commands per activation); \
                 await some steps before starting more"
            ),
            Limit::PendingActivities => write!(
                f,
                "the run would have {value} pending activities, over the limit of {max}; \
                 await some before scheduling more"
            ),
            Limit::PendingTimers => write!(
                f,
                "the run would have {value} pending timers, over the limit of {max}; \
                 await some before starting more"
            ),
            Limit::PendingExternalRequests => write!(
                f,
                "the run would have {value} requests to other workflows not yet delivered, over \
                 the limit of {max}; await some before making more"
            ),
            Limit::PendingChildren => write!(
                f,
                "the run would have {value} child workflows not closed, over the limit of {max}; \
                 await some before starting more"
            ),
            Limit::HistoryEvents => write!(
                f,
                "the run's history would have {value} events, over the limit of {max}; \
                 split long-running work into several runs (continue-as-new)"
            ),
            Limit::ActivationPayloadBytes => write!(
                f,
                "the activation's commands carry {value} bytes of payloads, over the limit of {max} \
                 bytes per activation; spread large inputs over several activations, or pass \
                 references instead of data"
            ),
            Limit::HistoryBytes => write!(
                f,
                "the run's history would pass its limit of {max} bytes; split long-running work \
                 into several runs (continue-as-new), and pass large data by reference"
            ),
            Limit::WasiResources => write!(
                f,
                "the workflow holds more than {max} WASI resources (pollables, streams) at once; \
                 drop them after use"
            ),
        }
    }
}
