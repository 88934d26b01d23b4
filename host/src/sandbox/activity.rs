//! `keel:workflow/activity`: scheduling and cancelling activities as
//! commands.

use super::HostState;
use super::bindings::keel::workflow::activity::{self as wit, Host};
use crate::history::{ActivityOptions, CancellationType, Command, RetryPolicy};
use crate::types::Payload;

impl Host for HostState {
    fn schedule(
        &mut self,
        name: String,
        input: Vec<u8>,
        options: wit::ActivityOptions,
    ) -> wasmtime::Result<u32> {
        self.check_payload(&format!("the input of activity '{name}'"), input.len())?;
        let options = convert(options)?;
        self.command("scheduling an activity", |seq| Command::ScheduleActivity {
            seq,
            name,
            input: Payload::from_bytes(input),
            options,
        })
    }

    fn request_cancel(&mut self, seq: u32) -> wasmtime::Result<()> {
        self.cancel_command(
            "cancelling an activity",
            seq,
            Command::RequestCancelActivity { seq },
        )
    }
}

/// An option of a command that history cannot hold.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} is {value}; {rule}")]
pub(crate) struct InvalidOption {
    /// The option, as workflow code names it.
    pub(crate) field: &'static str,
    /// The value it had.
    pub(crate) value: String,
    /// What it must be.
    pub(crate) rule: &'static str,
}

/// The shortest retry interval: a faster one would turn one failing
/// activity into a flood of durable writes.
pub(crate) const MIN_RETRY_INTERVAL_MS: u64 = 10;

fn convert(options: wit::ActivityOptions) -> Result<ActivityOptions, InvalidOption> {
    if let Some(policy) = &options.retry_policy {
        if policy.initial_interval < MIN_RETRY_INTERVAL_MS {
            return Err(InvalidOption {
                field: "RetryPolicy::initial_interval",
                value: format!("{} ms", policy.initial_interval),
                rule: "it must be at least 10 ms",
            });
        }
        let coefficient = policy.backoff_coefficient;
        if !coefficient.is_finite() {
            return Err(InvalidOption {
                field: "RetryPolicy::backoff_coefficient",
                value: coefficient.to_string(),
                rule: "it must be a finite number (below 1.0 counts as 1.0)",
            });
        }
    }
    Ok(ActivityOptions {
        start_to_close_ms: options.start_to_close_timeout,
        schedule_to_close_ms: options.schedule_to_close_timeout,
        heartbeat_ms: options.heartbeat_timeout,
        retry_policy: options.retry_policy.map(|p| RetryPolicy {
            initial_interval_ms: p.initial_interval,
            backoff_coefficient: p.backoff_coefficient,
            maximum_interval_ms: p.maximum_interval,
            maximum_attempts: p.maximum_attempts,
            non_retryable_error_types: p.non_retryable_error_types,
        }),
        cancellation_type: match options.cancellation_type {
            wit::CancellationType::TryCancel => CancellationType::TryCancel,
            wit::CancellationType::WaitCancellationCompleted => {
                CancellationType::WaitCancellationCompleted
            }
            wit::CancellationType::Abandon => CancellationType::Abandon,
        },
    })
}
