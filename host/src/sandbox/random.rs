//! `keel:workflow/random`: a generator seeded from the run's history.

use rand_core::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::HostState;
use super::bindings::keel::workflow::random::Host;

/// A portable generator (PCG), so a history replays the same on any host.
pub(crate) fn generator(seed: u64) -> Pcg64Mcg {
    Pcg64Mcg::seed_from_u64(seed)
}

impl Host for HostState {
    fn next_u64(&mut self) -> wasmtime::Result<u64> {
        self.check_writable("ctx.random()")?;
        Ok(self.rng.next_u64())
    }
}
