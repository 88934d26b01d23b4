//! What the host answers about runs without changing them: queries,
//! results, descriptions, lists and histories.

use super::Host;
use super::calls::{Parked, PendingActivity, PendingTimer, RunDescription, TaskFailure};
use crate::error::{Error, Result};
use crate::history::{Event, HistoryEvent};
use crate::ids::{RunId, WorkflowId};
use crate::runtime::deadline::DEADLINE_SEQ;
use crate::runtime::delay::START_SEQ;
use crate::runtime::{QueryRequest, RunHandle, activation};
use crate::store::{RunFilter, RunRecord};
use crate::types::{Outcome, Payload};

impl Host {
    /// Answer query `name` of the latest run of `workflow_id`, open or
    /// closed (a closed run is rebuilt by replay).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown run or query; [`Error::QueryFailed`]
    /// or [`Error::FailedPrecondition`] if it cannot be answered.
    pub async fn query(
        &self,
        workflow_id: &WorkflowId,
        name: &str,
        input: Payload,
    ) -> Result<Payload> {
        if let Some(run) = self.core.open_run(workflow_id) {
            self.check_query(&run.workflow_type, &run.component(), name)
                .await?;
            let (reply, answer) = tokio::sync::oneshot::channel();
            run.mailbox().queries.push(QueryRequest {
                name: name.to_string(),
                input,
                reply,
            });
            activation::wake(&self.core, &run);
            return answer.await.map_err(|_| Error::ShuttingDown)?;
        }
        let record = self.latest(workflow_id).await?;
        self.check_query(&record.workflow_type, &record.component, name)
            .await?;
        let component = self.core.component(&record.component).await?;
        let history = self.core.store.history(record.run_id).await?;
        let Some(Event::WorkflowStarted(started)) = history.first().map(|e| &e.event) else {
            return Err(Error::FailedPrecondition(format!(
                "the history of run {} does not start with WorkflowStarted",
                record.run_id
            )));
        };
        let run = RunHandle::new(
            record.run_id,
            record.workflow_id.clone(),
            record.workflow_type.clone(),
            record.component.clone(),
            record.created_at_ms,
            started.random_seed,
        );
        let core = self.core.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            let facts = activation::facts(&run);
            let (mut live, _) = activation::replay(&core.wasm, component, facts, &history)
                .map_err(|e| {
                    Error::FailedPrecondition(format!("cannot rebuild the run to query it: {e}"))
                })?;
            let now = live.last_time_ms;
            live.instance
                .query(&core.wasm, &name, &input, now)
                .map_err(|f| Error::QueryFailed(f.to_string()))?
        })
        .await
        .map_err(|e| Error::internal("query", e))?
    }

    /// Wait for the latest run of `workflow_id` to close and return how it
    /// ended (at once if it has), following a chain of continue-as-new and
    /// of retries to the run that ends it.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the workflow id has no run.
    pub async fn result(&self, workflow_id: &WorkflowId) -> Result<Outcome> {
        loop {
            let (run_id, outcome) = self.latest_outcome(workflow_id).await?;
            if !self.taken_over(workflow_id, run_id, &outcome).await? {
                return Ok(outcome);
            }
        }
    }

    /// True if a run took over from `run_id`, which closed with `outcome`:
    /// it continued as new, or failed or timed out and is being retried
    /// (the latest run of the id descends from it, perhaps through runs
    /// that already closed too).
    async fn taken_over(
        &self,
        workflow_id: &WorkflowId,
        run_id: RunId,
        outcome: &Outcome,
    ) -> Result<bool> {
        if !matches!(
            outcome,
            Outcome::ContinuedAsNew(_) | Outcome::Failed(_) | Outcome::TimedOut(_)
        ) {
            return Ok(false);
        }
        // The run that took over was registered before the old one closed,
        // so it is open here, or closed and the latest.
        let mut at = match self.core.open_run(workflow_id) {
            Some(open) => open.id,
            None => self.latest(workflow_id).await?.run_id,
        };
        for _ in 0..MAX_CHAIN_WALK {
            if at == run_id {
                return Ok(false);
            }
            let history = self.core.store.history(at).await?;
            let previous = match history.first().map(|e| &e.event) {
                Some(Event::WorkflowStarted(started)) => started.continued_from,
                _ => None,
            };
            match previous {
                Some(previous) if previous == run_id => return Ok(true),
                Some(previous) => at = previous,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Wait for the latest run of `workflow_id` to close; which run, and how
    /// it ended.
    async fn latest_outcome(&self, workflow_id: &WorkflowId) -> Result<(RunId, Outcome)> {
        if let Some(run) = self.core.open_run(workflow_id) {
            let mut outcome = run.watch_outcome();
            let stopping = self.core.stopping.clone();
            tokio::select! {
                closed = outcome.wait_for(Option::is_some) => {
                    if let Ok(closed) = closed && let Some(outcome) = closed.clone() {
                        return Ok((run.id, outcome));
                    }
                    return Err(Error::ShuttingDown);
                }
                () = stopping.cancelled() => return Err(Error::ShuttingDown),
            }
        }
        let record = self.latest(workflow_id).await?;
        let outcome = record.outcome.ok_or_else(|| {
            Error::FailedPrecondition(format!(
                "run {} is open but not served by this host",
                record.run_id
            ))
        })?;
        Ok((record.run_id, outcome))
    }

    /// The latest run of `workflow_id`: status, version, times and pending
    /// work.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the workflow id has no run.
    pub async fn describe(&self, workflow_id: &WorkflowId) -> Result<RunDescription> {
        self.describe_run(workflow_id, None).await
    }

    /// As [`Host::describe`], for run `run` of `workflow_id` (an earlier run
    /// of a reused id) or, with `None`, the latest.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the workflow id has no such run.
    pub async fn describe_run(
        &self,
        workflow_id: &WorkflowId,
        run: Option<RunId>,
    ) -> Result<RunDescription> {
        let run = self.pick(workflow_id, run).await?;
        let (timers, tasks) = self.core.store.pending(run.run_id).await?;
        let children = self.core.store.children(run.run_id).await?;
        let (parked, waiting_for_memory, task_failure) = self
            .core
            .run(run.run_id)
            .map(|handle| {
                let mailbox = handle.mailbox();
                let task_failure =
                    mailbox
                        .last_task_failure
                        .clone()
                        .map(|(code, message)| TaskFailure {
                            code,
                            message,
                            attempts: mailbox.task_failures,
                        });
                (
                    mailbox.parked.clone(),
                    mailbox.waiting_for_memory,
                    task_failure,
                )
            })
            .unwrap_or_default();
        Ok(RunDescription {
            children,
            run,
            pending_timers: timers
                .into_iter()
                .filter(|t| t.seq != DEADLINE_SEQ && t.seq != START_SEQ)
                .map(|t| PendingTimer {
                    seq: t.seq,
                    fire_at_ms: t.fire_at_ms,
                })
                .collect(),
            pending_activities: tasks
                .into_iter()
                .map(|t| PendingActivity {
                    seq: t.seq,
                    name: t.name,
                    attempt: t.attempt,
                    next_attempt_at_ms: t.not_before_ms,
                    last_failure: t.last_failure,
                })
                .collect(),
            parked,
            waiting_for_memory,
            task_failure,
        })
    }

    /// Runs matching `filter`, newest first. Outcomes are summaries
    /// ([`Outcome::summary`]: no results, short messages); [`Host::describe`]
    /// has the whole outcome.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a time past what the store holds; the
    /// store failed.
    pub async fn list(&self, filter: RunFilter) -> Result<Vec<RunRecord>> {
        for (name, time) in [
            ("started_after_ms", filter.started_after_ms),
            ("started_before_ms", filter.started_before_ms),
        ] {
            if time.is_some_and(|t| i64::try_from(t).is_err()) {
                return Err(Error::InvalidArgument(format!(
                    "{name} must be at most {} (milliseconds since the epoch)",
                    i64::MAX
                )));
            }
        }
        let mut runs = self.core.store.list_runs(filter).await?;
        for run in &mut runs {
            run.outcome = run.outcome.take().map(Outcome::summary);
        }
        Ok(runs)
    }

    /// The full history of the latest run of `workflow_id`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the workflow id has no run.
    pub async fn history(&self, workflow_id: &WorkflowId) -> Result<Vec<HistoryEvent>> {
        Ok(self.history_run(workflow_id, None).await?.1)
    }

    /// The full history of run `run` of `workflow_id` or, with `None`, of
    /// its latest run; with the run's id.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the workflow id has no such run.
    pub async fn history_run(
        &self,
        workflow_id: &WorkflowId,
        run: Option<RunId>,
    ) -> Result<(RunId, Vec<HistoryEvent>)> {
        let record = self.pick(workflow_id, run).await?;
        Ok((record.run_id, self.core.store.history(record.run_id).await?))
    }

    /// Run `run` of `workflow_id`, or its latest run.
    async fn pick(&self, workflow_id: &WorkflowId, run: Option<RunId>) -> Result<RunRecord> {
        let Some(run) = run else {
            return self.latest(workflow_id).await;
        };
        self.core
            .store
            .run(run)
            .await?
            .filter(|record| record.workflow_id == *workflow_id)
            .ok_or_else(|| Error::NotFound(format!("workflow {workflow_id} has no run {run}")))
    }

    /// Why the open run of `workflow_id` is parked, if it is.
    pub fn parked(&self, workflow_id: &WorkflowId) -> Option<Parked> {
        self.core.open_run(workflow_id)?.mailbox().parked.clone()
    }
}

/// How many runs back `result` looks for the run it waits on when newer
/// runs of the id have come and gone meanwhile.
const MAX_CHAIN_WALK: usize = 64;
