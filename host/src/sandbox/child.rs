//! `keel:workflow/child`: starting child workflows as durable commands.

use super::HostState;
use super::bindings::keel::workflow::child::{ChildOptions, ChildSeqs, Host, ParentClosePolicy};
use super::external::target;
use crate::engine::names;
use crate::history::{self, ChildStartRequested, Command, MAX_TIME_MS};
use crate::sandbox::InvalidOption;
use crate::types::Payload;

impl Host for HostState {
    fn start(&mut self, options: ChildOptions) -> wasmtime::Result<ChildSeqs> {
        let workflow_id = target(options.workflow_id)?;
        names::valid("workflow type", &options.workflow_type).map_err(|rule| {
            wasmtime::Error::new(InvalidOption {
                field: "the child's workflow type",
                value: rule,
                rule: "it must be a name a component can declare",
            })
        })?;
        let run_timeout_ms = timeout("the child's run timeout", options.run_timeout)?;
        let execution_timeout_ms =
            timeout("the child's execution timeout", options.execution_timeout)?;
        self.check_payload("the input of a child workflow", options.input.len())?;
        self.count_payload(options.input.len() + options.workflow_type.len())?;
        let close_policy = match options.parent_close_policy {
            ParentClosePolicy::Terminate => history::ParentClosePolicy::Terminate,
            ParentClosePolicy::RequestCancel => history::ParentClosePolicy::RequestCancel,
            ParentClosePolicy::Abandon => history::ParentClosePolicy::Abandon,
        };
        // The close resolves the sequence number after the start's.
        let closed_seq = self.next_seq.saturating_add(1);
        let started = self.command("starting a child workflow", |seq| {
            Command::StartChild(ChildStartRequested {
                seq,
                closed_seq,
                workflow_id,
                workflow_type: options.workflow_type,
                input: Payload::from_bytes(options.input),
                close_policy,
                run_timeout_ms,
                execution_timeout_ms,
            })
        })?;
        self.next_seq = closed_seq.saturating_add(1);
        Ok(ChildSeqs {
            started,
            closed: closed_seq,
        })
    }
}

/// A child's timeout: none, or a positive duration history can hold.
fn timeout(field: &'static str, ms: Option<u64>) -> wasmtime::Result<Option<u64>> {
    match ms {
        Some(0) => Err(wasmtime::Error::new(InvalidOption {
            field,
            value: "zero".into(),
            rule: "leave it out for none",
        })),
        other => Ok(other.map(|ms| ms.min(MAX_TIME_MS))),
    }
}
