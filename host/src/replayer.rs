//! Replay a saved history against a component, outside any host: to check a
//! new version before deploying it, or to debug a run.

use std::sync::Arc;

use crate::engine::{EngineConfig, WasmEngine};
use crate::error::Error;
use crate::history::{Event, HistoryEvent, NonDeterminism};
use crate::ids::RunId;
use crate::runtime::activation::{RebuildError, replay};
use crate::sandbox::RunFacts;
use crate::types::Outcome;

/// Why a history did not replay cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The code does not do what the history recorded.
    #[error("{0}")]
    NonDeterminism(NonDeterminism),
    /// The component or the history is unusable.
    #[error("{0}")]
    Invalid(Error),
    /// Replay ran but the workflow failed (a trap, a deadlock).
    #[error("replay failed: {0}")]
    Failed(String),
}

/// See the module docs.
#[derive(Debug)]
pub struct Replayer {
    wasm: WasmEngine,
}

impl Replayer {
    /// A replayer with the default engine limits.
    ///
    /// # Errors
    /// The engine cannot start.
    pub fn new() -> Result<Self, Error> {
        Ok(Replayer {
            wasm: WasmEngine::new(EngineConfig {
                max_instances: 8,
                ..EngineConfig::default()
            })?,
        })
    }

    /// Replay `history` (of run `run_id`) against `component`; returns the
    /// outcome the code reached, if the history closes the run. returns the
    /// outcome the code reached, if the history closes the run.
    ///
    /// # Errors
    /// [`ReplayError::NonDeterminism`] naming the event where code and
    /// history part; [`ReplayError::Invalid`] for a bad component or a
    /// history that does not start with `WorkflowStarted`.
    pub fn replay(
        &self,
        component: &[u8],
        run_id: RunId,
        history: &[HistoryEvent],
    ) -> Result<Option<Outcome>, ReplayError> {
        let loaded = self.wasm.load(component).map_err(ReplayError::Invalid)?;
        let Some((first, Event::WorkflowStarted(started))) = history.first().map(|e| (e, &e.event))
        else {
            return Err(ReplayError::Invalid(Error::InvalidArgument(
                "a history starts with WorkflowStarted".into(),
            )));
        };
        let facts = RunFacts {
            workflow_id: started.workflow_id.to_string(),
            run_id: run_id.to_string(),
            workflow_type: started.workflow_type.clone(),
            start_time_ms: first.time_ms,
            random_seed: started.random_seed,
        };
        match replay(&self.wasm, Arc::clone(&loaded), facts, history) {
            Ok((_, outcome)) => Ok(outcome),
            Err(RebuildError::NonDeterminism(nd)) => Err(ReplayError::NonDeterminism(nd)),
            Err(RebuildError::Host(err)) => Err(ReplayError::Invalid(err)),
            Err(RebuildError::Failure(failure)) => Err(ReplayError::Failed(failure.to_string())),
        }
    }
}
