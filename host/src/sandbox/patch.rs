//! `keel:workflow/patch`: patch markers, so one version can carry old and
//! new behaviour and runs started on the old code can move onto it.

use super::HostState;
use super::bindings::keel::workflow::patch::Host;
use crate::engine::names::MAX_NAME_BYTES;
use crate::history::Command;
use crate::sandbox::InvalidOption;

impl Host for HostState {
    fn patched(&mut self, id: String, deprecated: bool) -> wasmtime::Result<bool> {
        self.check_writable("ctx.patched()")?;
        if id.is_empty() || id.len() > MAX_NAME_BYTES {
            return Err(wasmtime::Error::new(InvalidOption {
                field: "the patch id",
                value: format!("{} bytes long", id.len()),
                rule: "it must be 1 to 128 bytes",
            }));
        }
        // A first execution takes the patch; a replay takes it where the
        // activation being replayed recorded its marker, so the replayed
        // code does what the recorded run did.
        let taken = !self.is_replaying() || self.replayed_patches.contains(&id);
        if taken {
            self.marker(Command::RecordPatch {
                patch_id: id,
                deprecated,
            })?;
        }
        Ok(taken)
    }
}
