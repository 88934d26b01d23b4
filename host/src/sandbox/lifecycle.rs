//! `keel:workflow/lifecycle`: ending a run by continuing it as a new run.

use super::HostState;
use super::bindings::keel::workflow::lifecycle::Host;
use crate::sandbox::InvalidOption;
use crate::types::{ContinuedAsNew, Payload};

impl Host for HostState {
    fn continue_as_new(&mut self, input: Vec<u8>, current_version: bool) -> wasmtime::Result<()> {
        self.check_writable("continuing as new")?;
        self.check_payload("the input of the new run", input.len())?;
        self.count_payload(input.len())?;
        if self.continued.is_some() {
            return Err(wasmtime::Error::new(InvalidOption {
                field: "continue-as-new",
                value: "called twice".into(),
                rule: "a run continues as new once",
            }));
        }
        self.continued = Some(ContinuedAsNew {
            input: Payload::from_bytes(input),
            current_version,
        });
        Ok(())
    }
}
