//! Running activity tasks: one attempt after another under the task's
//! timeouts and retry policy, until it completes, fails for good or is
//! cancelled; then its outcome is recorded and delivered to the run. A task
//! runs only after `ActivityScheduled` is durable, and it stays in the store
//! until resolved, so a crash re-runs it (at least once).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::history::{ActivityCancelled, ActivityCompleted, ActivityFailed, Event, MAX_TIME_MS};
use crate::runtime::{Core, Working};
use crate::store::{ActivityTask, Batch, Check, Op, StoreError};
use crate::types::Payload;
use crate::worker::activity::{
    ActivityContext, ActivityError, ActivityFn, ActivityInfo, Heartbeat,
};
use crate::worker::retry::next_delay_ms;

/// Delay between attempts to store an activity's outcome.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Run `task` in the background.
pub(crate) fn dispatch(core: &Arc<Core>, task: ActivityTask) {
    let core = core.clone();
    let token = core.activity_token(task.run_id, task.seq);
    let working = core.busy.begin();
    core.clone().activity_tasks.spawn(async move {
        let shutdown = core.shutdown.clone();
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = run_task(&core, task, token, working) => {}
        }
    });
}

async fn run_task(
    core: &Arc<Core>,
    mut task: ActivityTask,
    token: CancellationToken,
    working: Working,
) {
    // Busy except while waiting for the next attempt's time.
    let mut working = Some(working);
    let info = Arc::new(ActivityInfo {
        workflow_id: task.workflow_id.clone(),
        run_id: task.run_id,
        name: task.name.clone(),
        seq: task.seq,
    });
    let policy = task.options.retry_policy.clone().unwrap_or_default();
    let deadline = task
        .options
        .schedule_to_close_ms
        .map(|ms| task.scheduled_at_ms.saturating_add(ms));
    let event = loop {
        if task.not_before_ms > core.clock.now_ms() {
            working = None;
            tokio::select! {
                () = token.cancelled() => {}
                () = core.stopping.cancelled() => {}
                () = core.clock.sleep_until(task.not_before_ms) => {}
            }
        }
        let _working = working.get_or_insert_with(|| core.busy.begin());
        if core.stopping.is_cancelled() && !token.is_cancelled() {
            // The host is stopping: no attempt starts. The task stays in
            // the store and runs after the restart.
            return core.forget_token(task.run_id, task.seq);
        }
        let heartbeat = Arc::new(Heartbeat::default());
        // Cancelled with the task, and also when this attempt times out, so a
        // timed-out attempt is told to stop (and gives back its pool thread).
        let attempt_token = token.child_token();
        let ctx = ActivityContext::new(
            info.clone(),
            task.attempt,
            task.heartbeat.clone(),
            attempt_token.clone(),
            heartbeat.clone(),
        );
        let result = if token.is_cancelled() {
            Err(ActivityError::cancelled())
        } else {
            attempt(core, &task, ctx, &heartbeat, deadline).await
        };
        attempt_token.cancel();
        let err = match result {
            Ok(result) => {
                break Event::ActivityCompleted(ActivityCompleted {
                    seq: task.seq,
                    attempt: task.attempt,
                    result,
                });
            }
            Err(_) if token.is_cancelled() => {
                break Event::ActivityCancelled(ActivityCancelled { seq: task.seq });
            }
            Err(err) => err,
        };
        let failure = err.to_failure().bounded();
        let now = core.clock.now_ms();
        let asked = err
            .next_retry_delay
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let delay = next_delay_ms(&policy, task.attempt, &failure)
            .map(|policy_delay| asked.unwrap_or(policy_delay))
            .filter(|delay| deadline.is_none_or(|d| now.saturating_add(*delay) < d));
        let Some(delay) = delay else {
            break Event::ActivityFailed(ActivityFailed {
                seq: task.seq,
                attempt: task.attempt,
                failure,
            });
        };
        tracing::info!(
            workflow_id = %task.workflow_id, run_id = %task.run_id, activity = %task.name,
            attempt = task.attempt, "activity attempt failed, retrying in {delay} ms: {err}"
        );
        task.attempt += 1;
        task.not_before_ms = now.saturating_add(delay).min(MAX_TIME_MS);
        task.heartbeat = heartbeat.details().or(task.heartbeat);
        let retry = Batch::default()
            .check(Check::TaskPending(task.run_id, task.seq))
            .op(Op::RetryTask {
                run_id: task.run_id,
                seq: task.seq,
                attempt: task.attempt,
                not_before_ms: task.not_before_ms,
                heartbeat: task.heartbeat.clone(),
                failure: failure.clone(),
            });
        match core.store.commit(retry).await {
            Ok(_) => {}
            Err(StoreError::CheckFailed(_)) => return core.forget_token(task.run_id, task.seq),
            Err(err) => {
                tracing::warn!(run_id = %task.run_id, "could not record an activity retry: {err}")
            }
        }
    };
    record(core, &task, event).await;
    core.forget_token(task.run_id, task.seq);
}

/// Store the activity's outcome (unless it was resolved otherwise meanwhile)
/// and deliver it.
async fn record(core: &Arc<Core>, task: &ActivityTask, event: Event) {
    tracing::debug!(
        workflow_id = %task.workflow_id, run_id = %task.run_id, activity = %task.name,
        attempt = task.attempt, outcome = event.kind(), "activity resolved"
    );
    loop {
        let batch = Batch::default()
            .check(Check::TaskPending(task.run_id, task.seq))
            .op(Op::DeleteTask(task.run_id, task.seq))
            .op(Op::Append {
                run_id: task.run_id,
                time_ms: core.clock.now_ms(),
                events: vec![event.clone()],
            });
        match core.store.commit(batch).await {
            Ok(appended) => return core.deliver(task.run_id, appended),
            Err(StoreError::CheckFailed(_)) => return,
            Err(err) => {
                tracing::warn!(run_id = %task.run_id, "could not record an activity outcome, retrying: {err}");
                tokio::time::sleep(STORE_RETRY).await;
            }
        }
    }
}

/// One attempt under the start-to-close, schedule-to-close and heartbeat
/// timeouts.
async fn attempt(
    core: &Arc<Core>,
    task: &ActivityTask,
    ctx: ActivityContext,
    heartbeat: &Heartbeat,
    deadline: Option<u64>,
) -> Result<Payload, ActivityError> {
    let Some(activity) = core.activities.get(&task.name) else {
        return Err(ActivityError::non_retryable(
            "ActivityNotRegistered",
            format!(
                "no activity named '{}' is registered on this host (registered: {})",
                task.name,
                core.activities.names().join(", ")
            ),
        ));
    };
    let run: BoxFuture<'static, Result<Payload, ActivityError>> = match activity.clone() {
        ActivityFn::Async(activity) => activity(ctx, task.input.clone()),
        ActivityFn::Blocking(activity) => {
            let (pool, input) = (core.blocking.clone(), task.input.clone());
            Box::pin(async move {
                let permit = pool.acquire_owned().await.map_err(|_| {
                    ActivityError::retryable("ShuttingDown", "the host is stopping")
                })?;
                tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    activity(ctx, input)
                })
                .await
                .unwrap_or_else(|e| Err(ActivityError::retryable("Panic", e.to_string())))
            })
        }
    };
    let run = AssertUnwindSafe(run).catch_unwind().map(|r| {
        r.unwrap_or_else(|_| Err(ActivityError::retryable("Panic", "the activity panicked")))
    });
    let now = core.clock.now_ms();
    let start_to_close = task.options.start_to_close_ms;
    let schedule_left = deadline.map(|d| d.saturating_sub(now));
    let (limit, timeout) = match (start_to_close, schedule_left) {
        (Some(a), Some(b)) if b < a => (Some(b), Timeout::ScheduleToClose),
        (None, Some(b)) => (Some(b), Timeout::ScheduleToClose),
        (a, _) => (a, Timeout::StartToClose),
    };
    let expired = async {
        match limit {
            Some(ms) => core.clock.sleep_until(now.saturating_add(ms)).await,
            None => std::future::pending().await,
        }
    };
    let silent = async {
        let Some(ms) = task.options.heartbeat_ms else {
            return std::future::pending().await;
        };
        // Each heartbeat gives the attempt another `ms` on the host's clock.
        loop {
            let deadline = core.clock.now_ms().saturating_add(ms);
            tokio::select! {
                () = heartbeat.beat() => {}
                () = core.clock.sleep_until(deadline) => return,
            }
        }
    };
    tokio::select! {
        result = run => result,
        () = expired => Err(timeout.error(&task.name)),
        () = silent => {
            // The last details reported, for the next attempt and the workflow.
            let mut error = Timeout::Heartbeat.error(&task.name);
            error.details = heartbeat.details().or_else(|| task.heartbeat.clone());
            Err(error)
        }
    }
}

/// Which of an activity's timeouts ended an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timeout {
    /// The attempt ran past start-to-close: retried.
    StartToClose,
    /// The activity ran past schedule-to-close: no attempt is left.
    ScheduleToClose,
    /// The attempt went silent past its heartbeat timeout: retried.
    Heartbeat,
}

impl Timeout {
    /// The failure the attempt ends with; its type is Temporal's name.
    fn error(self, activity: &str) -> ActivityError {
        let (error_type, what) = match self {
            Timeout::StartToClose => ("StartToCloseTimeout", "timed out"),
            Timeout::ScheduleToClose => ("ScheduleToCloseTimeout", "timed out"),
            Timeout::Heartbeat => ("HeartbeatTimeout", "did not heartbeat in time"),
        };
        ActivityError {
            non_retryable: self == Timeout::ScheduleToClose,
            ..ActivityError::retryable(error_type, format!("activity '{activity}' {what}"))
        }
    }
}
