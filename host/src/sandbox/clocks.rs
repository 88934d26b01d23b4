//! `wasi:clocks` on workflow time. Both clocks read the activation's
//! recorded time. Inside an activation no time passes, so a monotonic-clock
//! pollable for a moment that has come is ready at once, and asking to wait
//! for a later one (`std::thread::sleep`, a pollable in a busy loop) is
//! refused with [`BlockingWait`]: a guest can neither hold a host thread in
//! real time nor observe real time through how long a pollable stays
//! pending.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};

use super::{HostState, Shared};

/// Nanoseconds in one millisecond of workflow time.
const NANOS_PER_MS: u64 = 1_000_000;

/// Workflow code asked to wait on a clock inside an activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "workflow code waited {waited:?} on a clock (std::thread::sleep or a wasi:clocks pollable); \
     no time passes inside an activation: use ctx.sleep for a durable timer"
)]
pub(crate) struct BlockingWait {
    /// How long it asked to wait.
    pub(crate) waited: Duration,
}

/// Both WASI clocks of the `WasiCtx` read workflow time.
pub(super) struct WorkflowClock(pub(super) Arc<Shared>);

impl WorkflowClock {
    fn now_ms(&self) -> u64 {
        self.0.now_ms.load(Ordering::Relaxed)
    }
}

impl HostWallClock for WorkflowClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        Duration::from_millis(self.now_ms())
    }
}

impl HostMonotonicClock for WorkflowClock {
    fn resolution(&self) -> u64 {
        NANOS_PER_MS
    }

    fn now(&self) -> u64 {
        self.now_ms().saturating_mul(NANOS_PER_MS)
    }
}

/// A pollable that is ready at once.
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

impl HostState {
    fn monotonic_now(&self) -> u64 {
        self.now_ms().saturating_mul(NANOS_PER_MS)
    }

    /// A pollable for a wait of `nanos`: ready at once if it is zero,
    /// refused otherwise.
    fn wait_for(&mut self, nanos: u64) -> wasmtime::Result<Resource<DynPollable>> {
        if nanos > 0 {
            return Err(wasmtime::Error::new(BlockingWait {
                waited: Duration::from_nanos(nanos),
            }));
        }
        let ready = self.table.push(Ready)?;
        subscribe(&mut self.table, ready)
    }
}

impl monotonic_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(self.monotonic_now())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(NANOS_PER_MS)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let nanos = when.saturating_sub(self.monotonic_now());
        self.wait_for(nanos)
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.wait_for(duration)
    }
}
