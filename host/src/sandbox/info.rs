//! `keel:workflow/info`: the run's identity, workflow time and replay flag.

use super::HostState;
use super::bindings::keel::workflow::info::{Host, WorkflowInfo};

impl Host for HostState {
    fn workflow(&mut self) -> wasmtime::Result<WorkflowInfo> {
        Ok(WorkflowInfo {
            workflow_id: self.facts.workflow_id.clone(),
            run_id: self.facts.run_id.clone(),
            workflow_type: self.facts.workflow_type.clone(),
            start_time: self.facts.start_time_ms,
        })
    }

    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.now_ms())
    }

    fn attempt(&mut self) -> wasmtime::Result<u32> {
        Ok(self.facts.attempt)
    }

    fn is_replaying(&mut self) -> wasmtime::Result<bool> {
        Ok(HostState::is_replaying(self))
    }
}
