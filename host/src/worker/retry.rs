//! Retry decisions for failed activity attempts (Temporal's semantics).

use crate::history::RetryPolicy;
use crate::types::Failure;

/// The delay before the next attempt after attempt `attempt` failed with
/// `failure`, or `None` if the failure is final.
pub(crate) fn next_delay_ms(policy: &RetryPolicy, attempt: u32, failure: &Failure) -> Option<u64> {
    if failure.non_retryable
        || policy
            .non_retryable_error_types
            .contains(&failure.error_type)
        || (policy.maximum_attempts > 0 && attempt >= policy.maximum_attempts)
    {
        return None;
    }
    let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
    let delay =
        policy.initial_interval_ms as f64 * policy.backoff_coefficient.max(1.0).powi(exponent);
    let cap = policy.maximum_interval_ms.max(policy.initial_interval_ms) as f64;
    Some(delay.min(cap) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_maximum_and_stops_at_the_attempt_limit() {
        let policy = RetryPolicy {
            initial_interval_ms: 100,
            backoff_coefficient: 2.0,
            maximum_interval_ms: 500,
            maximum_attempts: 5,
            non_retryable_error_types: vec!["Fatal".into()],
        };
        let failure = Failure::new("Transient", "x");
        let delays: Vec<_> = (1..=5)
            .map(|a| next_delay_ms(&policy, a, &failure))
            .collect();
        assert_eq!(
            delays,
            vec![Some(100), Some(200), Some(400), Some(500), None]
        );
        assert_eq!(next_delay_ms(&policy, 1, &Failure::new("Fatal", "x")), None);
        assert_eq!(
            next_delay_ms(&policy, 1, &failure.clone().non_retryable()),
            None
        );
    }
}
