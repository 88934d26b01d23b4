//! Changing the code of running workflows: check a candidate version
//! against every open run it would serve, deploy it and move the runs that
//! replay cleanly, or move one run. Runs that diverge stay where they are.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::Host;
use super::calls::Deployment;
use crate::engine::LoadedComponent;
use crate::error::{Error, Result};
use crate::history::NonDeterminism;
use crate::ids::{ComponentId, RunId, WorkflowId};
use crate::runtime::activation::wake;
use crate::runtime::{Core, RunHandle, UpgradeRequest, upgrade};

/// How an open run fares on a version of its code.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Its whole history replays on the version.
    Compatible,
    /// Replay diverges: where, what history holds and what the code did.
    Diverges(NonDeterminism),
    /// Replay could not finish (a trap, a deadlock, an unreadable history).
    Fails {
        /// What went wrong.
        message: String,
    },
    /// The run closed before it could move.
    Closed,
    /// The run did not answer in time (it waits for memory, or a long
    /// activation runs); its move stays queued and happens when it is
    /// next idle, if it replays cleanly then.
    Queued,
}

/// One run in a [`CompatibilityReport`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunVerdict {
    /// The workflow id.
    pub workflow_id: WorkflowId,
    /// The run.
    pub run_id: RunId,
    /// Its type.
    pub workflow_type: String,
    /// The version it was on when checked.
    pub component: ComponentId,
    /// How it fares on the candidate.
    pub verdict: Verdict,
}

/// What a candidate version would do to the open runs it serves.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CompatibilityReport {
    /// The version checked.
    pub candidate: ComponentId,
    /// Every open run of a type the candidate serves and not on it already,
    /// by workflow id.
    pub runs: Vec<RunVerdict>,
    /// True if the compatible runs were moved onto the candidate.
    pub upgraded: bool,
    /// How long checking (and moving) took, ms.
    pub elapsed_ms: u64,
}

impl CompatibilityReport {
    /// How many runs replay cleanly on the candidate.
    pub fn compatible(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.verdict == Verdict::Compatible)
            .count()
    }

    /// How many runs diverge.
    pub fn divergent(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Diverges(_)))
            .count()
    }

    /// How many runs do not (they diverge or fail).
    pub fn incompatible(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Diverges(_) | Verdict::Fails { .. }))
            .count()
    }
}

impl Host {
    /// Replay every open run of the types `bytes` serves against it and
    /// report, per run, whether it would run on it. Nothing changes.
    ///
    /// # Errors
    /// [`Error::ComponentRejected`] if `bytes` is not a valid component.
    pub async fn check_deployment(&self, bytes: Vec<u8>) -> Result<CompatibilityReport> {
        // One check or upgrade at a time: each replays every open run.
        let _one = self.core.upgrading.lock().await;
        let began = stopwatch();
        let core = self.core.clone();
        let candidate = tokio::task::spawn_blocking(move || core.wasm.load(&bytes))
            .await
            .map_err(|e| Error::internal("compiling a component", e))??;
        let runs = self.runs_served_by(&candidate);
        let checks = futures::stream::iter(runs)
            .map(|run| check_one(&self.core, run, candidate.clone()))
            .buffer_unordered(parallelism());
        let runs = checks.collect::<Vec<_>>().await;
        Ok(report(candidate.id(), runs, false, began))
    }

    /// Deploy `bytes` (as [`Host::deploy`]), then move every open run of the
    /// types it serves that replays cleanly on it, recording
    /// `VersionChanged` in its history; runs that diverge stay on their
    /// version. Parked runs that replay cleanly resume.
    ///
    /// # Errors
    /// As [`Host::deploy`].
    pub async fn deploy_upgrade(
        &self,
        bytes: Vec<u8>,
    ) -> Result<(Deployment, CompatibilityReport)> {
        let _one = self.core.upgrading.lock().await;
        let began = stopwatch();
        let deployment = self.deploy(bytes).await?;
        let candidate = self.core.component(&deployment.component).await?;
        let runs = self.runs_served_by(&candidate);
        // On a task of the host's own, so that a caller who goes away does
        // not stop the upgrade half-way.
        let (core, target, working) =
            (self.core.clone(), candidate.clone(), self.core.busy.begin());
        let moves = self.core.tasks.spawn(async move {
            let _working = working;
            futures::stream::iter(runs)
                .map(|run| move_one(&core, run, target.clone()))
                .buffer_unordered(parallelism())
                .collect::<Vec<_>>()
                .await
        });
        let runs = moves
            .await
            .map_err(|e| Error::internal("moving runs to the new version", e))?;
        let report = report(candidate.id(), runs, true, began);
        tracing::info!(
            component = %candidate.id().short(),
            moved = report.compatible(), stayed = report.incompatible(),
            "upgrade done"
        );
        Ok((deployment, report))
    }

    /// Move the open run of `workflow_id` onto the deployed `component`, if
    /// its history replays cleanly there.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown run or component;
    /// [`Error::InvalidArgument`] for a component that does not serve the
    /// run's type.
    pub async fn upgrade_run(
        &self,
        workflow_id: &WorkflowId,
        component: &ComponentId,
    ) -> Result<RunVerdict> {
        let run = self
            .core
            .open_run(workflow_id)
            .ok_or_else(|| Error::NotFound(format!("workflow {workflow_id} has no open run")))?;
        if self.core.store.component(component).await?.is_none() {
            return Err(Error::NotFound(format!(
                "component {component} is not deployed"
            )));
        }
        let candidate = self.core.component(component).await?;
        if !serves(&candidate, &run.workflow_type) {
            return Err(Error::InvalidArgument(format!(
                "component {} does not serve workflow type {}",
                component.short(),
                crate::error::quote(&run.workflow_type)
            )));
        }
        Ok(move_one(&self.core, run, candidate).await)
    }

    /// The open runs of the types `candidate` serves, not on it already.
    fn runs_served_by(&self, candidate: &LoadedComponent) -> Vec<Arc<RunHandle>> {
        let mut runs: Vec<Arc<RunHandle>> = self
            .core
            .open_runs()
            .into_iter()
            .filter(|run| {
                serves(candidate, &run.workflow_type) && &run.component() != candidate.id()
            })
            .collect();
        runs.sort_by(|a, b| a.workflow_id.cmp(&b.workflow_id));
        runs
    }
}

/// Re-check, on a version just made current for `types`, the runs of those
/// types that are parked or failing their workflow task: each that replays
/// cleanly moves onto it and resumes on the fixed code.
pub(super) fn retry_stuck_runs(
    core: &Arc<Core>,
    candidate: &Arc<LoadedComponent>,
    types: &[String],
) {
    let stuck: Vec<Arc<RunHandle>> = core
        .open_runs()
        .into_iter()
        .filter(|run| {
            let mailbox = run.mailbox();
            (mailbox.parked.is_some() || mailbox.task_failures > 0)
                && types.contains(&run.workflow_type)
        })
        .filter(|run| &run.component() != candidate.id())
        .collect();
    if stuck.is_empty() {
        return;
    }
    // A few at a time: each replays its whole history.
    let (mover, candidate, working) = (core.clone(), candidate.clone(), core.busy.begin());
    core.tasks.spawn(async move {
        let _working = working;
        futures::stream::iter(stuck)
            .map(|run| move_one(&mover, run, candidate.clone()))
            .buffer_unordered(parallelism())
            .for_each(|moved| async move {
                tracing::info!(
                    workflow_id = %moved.workflow_id, run_id = %moved.run_id,
                    verdict = ?moved.verdict, "stuck run re-checked on the new version"
                );
            })
            .await;
    });
}

fn serves(component: &LoadedComponent, workflow_type: &str) -> bool {
    component
        .workflow_types()
        .iter()
        .any(|t| t.name == workflow_type)
}

/// How long an upgrade waits for a run's actor to take its move before
/// reporting it queued.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// Starts measuring how long a check takes, for the report. Not host time:
/// nothing the host decides depends on it.
#[allow(
    clippy::disallowed_methods,
    reason = "the duration of the work, reported to the operator"
)]
fn stopwatch() -> Instant {
    Instant::now()
}

/// Runs checked or moved at once: one per core, each on a blocking thread.
fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

fn report(
    candidate: &ComponentId,
    mut runs: Vec<RunVerdict>,
    upgraded: bool,
    began: Instant,
) -> CompatibilityReport {
    runs.sort_by(|a, b| a.workflow_id.cmp(&b.workflow_id));
    CompatibilityReport {
        candidate: candidate.clone(),
        runs,
        upgraded,
        elapsed_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

fn verdict_of(run: &RunHandle, component: ComponentId, verdict: Verdict) -> RunVerdict {
    RunVerdict {
        workflow_id: run.workflow_id.clone(),
        run_id: run.id,
        workflow_type: run.workflow_type.clone(),
        component,
        verdict,
    }
}

async fn check_one(
    core: &Arc<Core>,
    run: Arc<RunHandle>,
    candidate: Arc<LoadedComponent>,
) -> RunVerdict {
    let component = run.component();
    let (verdict, _) = upgrade::replay_on(core, &run, candidate).await;
    verdict_of(&run, component, verdict)
}

async fn move_one(
    core: &Arc<Core>,
    run: Arc<RunHandle>,
    candidate: Arc<LoadedComponent>,
) -> RunVerdict {
    let component = run.component();
    let (reply, verdict) = tokio::sync::oneshot::channel();
    run.mailbox().upgrades.push(UpgradeRequest {
        component: candidate,
        reply,
    });
    wake(core, &run);
    let verdict = match tokio::time::timeout(ANSWER_WITHIN, verdict).await {
        Ok(Ok(verdict)) => verdict,
        Ok(Err(_)) => Verdict::Fails {
            message: "the host is stopping".into(),
        },
        Err(_) => Verdict::Queued,
    };
    verdict_of(&run, component, verdict)
}
