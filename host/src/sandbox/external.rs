//! `keel:workflow/external`: signalling and cancelling other workflows as
//! durable commands.

use super::HostState;
use super::bindings::keel::workflow::external::Host;
use crate::engine::names;
use crate::history::Command;
use crate::ids::WorkflowId;
use crate::sandbox::InvalidOption;
use crate::types::Payload;

impl Host for HostState {
    fn signal(
        &mut self,
        workflow_id: String,
        name: String,
        input: Vec<u8>,
    ) -> wasmtime::Result<u32> {
        let workflow_id = target(workflow_id)?;
        names::valid("signal", &name).map_err(|rule| {
            wasmtime::Error::new(InvalidOption {
                field: "the signal's name",
                value: rule,
                rule: "it must be a name a workflow type can declare",
            })
        })?;
        self.check_payload("the input of an external signal", input.len())?;
        self.count_payload(input.len() + name.len())?;
        self.command("signalling another workflow", |seq| {
            Command::SignalExternal {
                seq,
                workflow_id,
                name,
                input: Payload::from_bytes(input),
            }
        })
    }

    fn request_cancel(&mut self, workflow_id: String, reason: String) -> wasmtime::Result<u32> {
        let workflow_id = target(workflow_id)?;
        self.check_payload("the reason of an external cancel", reason.len())?;
        self.count_payload(reason.len())?;
        self.command("cancelling another workflow", |seq| {
            Command::CancelExternal {
                seq,
                workflow_id,
                reason,
            }
        })
    }
}

/// The target's workflow id, checked as the API checks it.
pub(super) fn target(workflow_id: String) -> wasmtime::Result<WorkflowId> {
    WorkflowId::new(workflow_id).map_err(|e| {
        wasmtime::Error::new(InvalidOption {
            field: "the target's workflow id",
            value: e.detail().to_string(),
            rule: "it must be a valid workflow id",
        })
    })
}
