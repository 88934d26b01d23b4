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
        let options = convert(options);
        self.command("scheduling an activity", |seq| Command::ScheduleActivity {
            seq,
            name,
            input: Payload::from_bytes(input),
            options,
        })
    }

    fn request_cancel(&mut self, seq: u32) -> wasmtime::Result<()> {
        self.command("cancelling an activity", |_| {
            Command::RequestCancelActivity { seq }
        })
        .map(drop)
    }
}

fn convert(options: wit::ActivityOptions) -> ActivityOptions {
    ActivityOptions {
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
    }
}
