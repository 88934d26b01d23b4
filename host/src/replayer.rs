//! Replay a saved history against a component, outside any host: to check a
//! new version before deploying it, or to debug a run.

use std::sync::Arc;

use crate::engine::{EngineConfig, LoadedComponent, WasmEngine};
use crate::error::Error;
use crate::history::{Event, HistoryEvent, NonDeterminism};
use serde::{Deserialize, Serialize};

use crate::ids::{ComponentId, RunId, WorkflowId};
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

/// A run's history as `keel workflow show --json` exports it: everything a
/// replay needs (the seed and the start are in its first event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedHistory {
    /// The workflow id.
    pub workflow_id: WorkflowId,
    /// The run.
    pub run_id: RunId,
    /// The version the run is on (after any upgrade).
    pub component: ComponentId,
    /// Its events, in order.
    pub events: Vec<HistoryEvent>,
}

/// See the module docs. Bound to one component, compiled once.
#[derive(Debug)]
pub struct Replayer {
    wasm: WasmEngine,
    component: Arc<LoadedComponent>,
}

impl Replayer {
    /// A replayer of histories against `component`, with the default
    /// engine limits.
    ///
    /// # Errors
    /// The engine cannot start; the component is rejected.
    pub fn new(component: &[u8]) -> Result<Self, Error> {
        let wasm = WasmEngine::new(EngineConfig {
            max_instances: 8,
            ..EngineConfig::default()
        })?;
        let component = wasm.load(component)?;
        Ok(Replayer { wasm, component })
    }

    /// Replay an exported history; see [`Replayer::replay`].
    ///
    /// # Errors
    /// As [`Replayer::replay`].
    pub fn replay_exported(
        &self,
        exported: &ExportedHistory,
    ) -> Result<Option<Outcome>, ReplayError> {
        self.replay(exported.run_id, &exported.events)
    }

    /// Replay `history` (of run `run_id`); returns the outcome the code
    /// reached, if the history closes the run.
    ///
    /// # Errors
    /// [`ReplayError::NonDeterminism`] naming the event where code and
    /// history part; [`ReplayError::Invalid`] for a history that does not
    /// start with `WorkflowStarted`; [`ReplayError::Failed`] if the code
    /// traps.
    pub fn replay(
        &self,
        run_id: RunId,
        history: &[HistoryEvent],
    ) -> Result<Option<Outcome>, ReplayError> {
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
            attempt: started.attempt,
            task_timeout_ms: started.task_timeout_ms,
        };
        match replay(&self.wasm, Arc::clone(&self.component), facts, history) {
            Ok((_, outcome)) => Ok(outcome),
            Err(RebuildError::NonDeterminism(nd)) => Err(ReplayError::NonDeterminism(nd)),
            Err(RebuildError::Host(err)) => Err(ReplayError::Invalid(err)),
            Err(RebuildError::Failure(failure)) => Err(ReplayError::Failed(failure.to_string())),
        }
    }
}
