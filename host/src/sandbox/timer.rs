//! `keel:workflow/timer`: durable timers as commands.

use super::HostState;
use super::bindings::keel::workflow::timer::Host;
use crate::history::Command;

impl Host for HostState {
    fn start(&mut self, duration_ms: u64) -> wasmtime::Result<u32> {
        self.command("starting a timer", |seq| Command::StartTimer {
            seq,
            duration_ms,
        })
    }

    fn cancel(&mut self, seq: u32) -> wasmtime::Result<()> {
        self.cancel_command("cancelling a timer", seq, Command::CancelTimer { seq })
    }
}
