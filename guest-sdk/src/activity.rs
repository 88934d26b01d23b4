//! Options for calling activities.

use std::time::Duration;

use crate::bindings::keel::workflow::activity as wit;

/// How failed activity attempts are retried. The default is Temporal's: 1 s
/// initial interval, coefficient 2, maximum interval 100 × initial, unlimited
/// attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub initial_interval: Duration,
    /// Factor by which the delay grows after each retry.
    pub backoff_coefficient: f64,
    /// Upper bound on the delay between retries.
    pub maximum_interval: Duration,
    /// Total attempts allowed, the first included; 0 means unlimited.
    pub maximum_attempts: u32,
    /// Failure types that are never retried.
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_interval: Duration::from_secs(1),
            backoff_coefficient: 2.0,
            maximum_interval: Duration::from_secs(100),
            maximum_attempts: 0,
            non_retryable_error_types: Vec::new(),
        }
    }
}

/// What cancelling a running activity means for the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CancellationType {
    /// Ask the activity to stop and resolve it as cancelled at once.
    #[default]
    TryCancel,
    /// Ask the activity to stop and resolve it only once it has stopped.
    WaitCancellationCompleted,
    /// Resolve it as cancelled at once without telling the activity.
    Abandon,
}

/// Per-call options of an activity, built fluently:
/// `ActivityOptions::default().start_to_close(Duration::from_secs(5))`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActivityOptions {
    /// Limit on one attempt.
    pub start_to_close_timeout: Option<Duration>,
    /// Limit on all attempts together.
    pub schedule_to_close_timeout: Option<Duration>,
    /// An attempt that does not heartbeat within this fails with a timeout.
    pub heartbeat_timeout: Option<Duration>,
    /// Retry policy; `None` means the host's default.
    pub retry_policy: Option<RetryPolicy>,
    /// What cancellation means for this activity.
    pub cancellation_type: CancellationType,
}

impl ActivityOptions {
    /// Set the start-to-close timeout.
    pub fn start_to_close(mut self, timeout: Duration) -> Self {
        self.start_to_close_timeout = Some(timeout);
        self
    }

    /// Set the schedule-to-close timeout.
    pub fn schedule_to_close(mut self, timeout: Duration) -> Self {
        self.schedule_to_close_timeout = Some(timeout);
        self
    }

    /// Set the heartbeat timeout.
    pub fn heartbeat(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = Some(timeout);
        self
    }

    /// Set the retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry_policy = Some(policy);
        self
    }

    /// Set the cancellation type.
    pub fn cancellation(mut self, cancellation_type: CancellationType) -> Self {
        self.cancellation_type = cancellation_type;
        self
    }

    pub(crate) fn to_wit(&self) -> wit::ActivityOptions {
        wit::ActivityOptions {
            start_to_close_timeout: self.start_to_close_timeout.map(millis),
            schedule_to_close_timeout: self.schedule_to_close_timeout.map(millis),
            heartbeat_timeout: self.heartbeat_timeout.map(millis),
            retry_policy: self.retry_policy.as_ref().map(|p| wit::RetryPolicy {
                initial_interval: millis(p.initial_interval),
                backoff_coefficient: p.backoff_coefficient,
                maximum_interval: millis(p.maximum_interval),
                maximum_attempts: p.maximum_attempts,
                non_retryable_error_types: p.non_retryable_error_types.clone(),
            }),
            cancellation_type: match self.cancellation_type {
                CancellationType::TryCancel => wit::CancellationType::TryCancel,
                CancellationType::WaitCancellationCompleted => {
                    wit::CancellationType::WaitCancellationCompleted
                }
                CancellationType::Abandon => wit::CancellationType::Abandon,
            },
        }
    }
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
