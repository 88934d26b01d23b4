//! `keel:workflow/activity`: scheduling and cancelling activities as
//! commands.

use super::HostState;
use super::bindings::keel::workflow::activity::{self as wit, Host};
use crate::engine::names::MAX_NAME_BYTES;
use crate::error::quote;
use crate::history::{ActivityOptions, CancellationType, Command, RetryPolicy};
use crate::limits::MAX_FAILURE_TYPE;
use crate::types::Payload;

impl Host for HostState {
    fn schedule(
        &mut self,
        name: String,
        input: Vec<u8>,
        options: wit::ActivityOptions,
    ) -> wasmtime::Result<u32> {
        check_name(&name)?;
        self.check_payload(
            &format!("the input of activity {}", quote(&name)),
            input.len(),
        )?;
        self.count_payload(input.len())?;
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

/// Most error types a retry policy may list as non-retryable.
const MAX_NON_RETRYABLE_TYPES: usize = 100;

fn check_name(name: &str) -> Result<(), InvalidOption> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(InvalidOption {
            field: "the activity name",
            value: format!("{} bytes long", name.len()),
            rule: "it must be 1 to 128 bytes",
        });
    }
    Ok(())
}

fn convert(options: wit::ActivityOptions) -> Result<ActivityOptions, InvalidOption> {
    if let Some(policy) = &options.retry_policy {
        let types = &policy.non_retryable_error_types;
        if types.len() > MAX_NON_RETRYABLE_TYPES || types.iter().any(|t| t.len() > MAX_FAILURE_TYPE)
        {
            return Err(InvalidOption {
                field: "RetryPolicy::non_retryable_error_types",
                value: format!("{} types", types.len()),
                rule: "it may list at most 100 types of at most 256 bytes each",
            });
        }
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
