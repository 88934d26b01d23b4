//! Workflow retries (Temporal's workflow retry policy): a run started with
//! a retry policy that fails is closed as failed and, in the same commit,
//! the next attempt is stored: a new run of the same workflow id with the
//! same input, whose code runs after the policy's backoff (a durable start
//! timer, as for a start delay, that signals do not cut short). The attempt
//! count, the policy and the execution deadline carry over. A run that
//! passes its run timeout is retried too (`deadline.rs`); cancelled and
//! terminated runs, and runs past the execution timeout, are not.

use std::sync::Arc;

use crate::history::{MAX_TIME_MS, RetryPolicy, WorkflowStarted};
use crate::runtime::RunHandle;
use crate::types::{Failure, Payload};
use crate::worker::retry::next_delay_ms;

/// What a run needs to be retried: its policy, which attempt it is, and
/// the input every attempt gets.
#[derive(Debug, Clone)]
pub(crate) struct Retry {
    pub(crate) policy: RetryPolicy,
    pub(crate) attempt: u32,
    pub(crate) input: Arc<Payload>,
}

impl Retry {
    /// The retry facts a run's start recorded; `None` without a policy.
    pub(crate) fn of(started: &WorkflowStarted) -> Option<Retry> {
        Some(Retry {
            policy: started.retry_policy.clone()?,
            attempt: started.attempt,
            input: Arc::new(started.input.clone()),
        })
    }
}

/// When the next attempt of `run`, which failed with `failure` at `now`,
/// runs; `None` if it is not retried (no policy, a non-retryable failure,
/// the attempts spent, or the execution deadline passed by then).
pub(crate) fn next_attempt_at(run: &RunHandle, failure: &Failure, now: u64) -> Option<u64> {
    let retry = run.retry()?;
    let delay = next_delay_ms(&retry.policy, retry.attempt, failure)?;
    let at = now.saturating_add(delay).min(MAX_TIME_MS);
    match run.deadlines().execution_deadline_ms {
        Some(deadline) if at >= deadline => None,
        _ => Some(at),
    }
}
