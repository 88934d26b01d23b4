//! Native activities: how users register them and what they see while
//! running (attempt, heartbeats, cancellation).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::ids::{RunId, WorkflowId};
use crate::types::{Failure, Payload};

/// Why an activity attempt failed. Retryable unless marked otherwise or its
/// type is listed as non-retryable in the retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityError {
    /// A type name, matched against non-retryable error types.
    pub error_type: String,
    /// What went wrong.
    pub message: String,
    /// True if retrying cannot help.
    pub non_retryable: bool,
    /// Structured details, which reach the workflow with the failure.
    pub details: Option<Payload>,
    /// Wait this long before the next attempt instead of what the retry
    /// policy says (the policy still bounds the attempts).
    pub next_retry_delay: Option<Duration>,
}

impl ActivityError {
    /// A failure that the retry policy may retry.
    pub fn retryable(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        ActivityError {
            error_type: error_type.into(),
            message: message.into(),
            non_retryable: false,
            details: None,
            next_retry_delay: None,
        }
    }

    /// The same failure with `details` (encoded as JSON), which the
    /// workflow reads with `Error::details`.
    pub fn with_details<T: Serialize + ?Sized>(mut self, details: &T) -> Self {
        self.details = Payload::json(details).ok();
        self
    }

    /// The same failure, retried after `delay` rather than the retry
    /// policy's backoff.
    pub fn with_next_retry_delay(mut self, delay: Duration) -> Self {
        self.next_retry_delay = Some(delay);
        self
    }

    /// A failure that is never retried.
    pub fn non_retryable(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        ActivityError {
            non_retryable: true,
            ..ActivityError::retryable(error_type, message)
        }
    }

    /// The activity stopped because cancellation was requested.
    pub fn cancelled() -> Self {
        ActivityError::non_retryable("Cancelled", "the activity was cancelled")
    }

    /// The failure recorded in history.
    pub fn to_failure(&self) -> Failure {
        Failure {
            message: self.message.clone(),
            error_type: self.error_type.clone(),
            non_retryable: self.non_retryable,
            details: self.details.clone(),
        }
    }
}

impl fmt::Display for ActivityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for ActivityError {}

/// Which activity call an attempt belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityInfo {
    /// The calling workflow.
    pub workflow_id: WorkflowId,
    /// The calling run.
    pub run_id: RunId,
    /// The activity's name.
    pub name: String,
    /// The activity's sequence number in the run.
    pub seq: u32,
}

/// What a running attempt can see and do. Cheap to clone.
#[derive(Clone)]
pub struct ActivityContext {
    info: Arc<ActivityInfo>,
    attempt: u32,
    previous_heartbeat: Option<Payload>,
    cancel: CancellationToken,
    heartbeat: Arc<Heartbeat>,
}

/// The latest heartbeat of an attempt, shared with the dispatcher.
#[derive(Default)]
pub(crate) struct Heartbeat {
    details: Mutex<Option<Payload>>,
    beat: Notify,
}

impl Heartbeat {
    pub(crate) fn details(&self) -> Option<Payload> {
        self.details.lock().ok().and_then(|d| d.clone())
    }

    pub(crate) async fn beat(&self) {
        self.beat.notified().await;
    }
}

impl fmt::Debug for ActivityContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivityContext")
            .field("info", &self.info)
            .field("attempt", &self.attempt)
            .finish()
    }
}

impl ActivityContext {
    pub(crate) fn new(
        info: Arc<ActivityInfo>,
        attempt: u32,
        previous_heartbeat: Option<Payload>,
        cancel: CancellationToken,
        heartbeat: Arc<Heartbeat>,
    ) -> Self {
        ActivityContext {
            info,
            attempt,
            previous_heartbeat,
            cancel,
            heartbeat,
        }
    }

    /// Which call this attempt belongs to.
    pub fn info(&self) -> &ActivityInfo {
        &self.info
    }

    /// The attempt number, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The details of the last heartbeat of an earlier attempt, decoded.
    pub fn heartbeat_details<T: DeserializeOwned>(&self) -> Option<T> {
        self.previous_heartbeat.as_ref()?.to_json().ok()
    }

    /// Report progress; resets the heartbeat timeout. The details reach the
    /// next attempt if this one fails.
    pub fn heartbeat<T: Serialize + ?Sized>(&self, details: &T) {
        if let (Ok(payload), Ok(mut slot)) = (Payload::json(details), self.heartbeat.details.lock())
        {
            *slot = Some(payload);
        }
        self.heartbeat.beat.notify_one();
    }

    /// True once cancellation has been requested.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Resolves when cancellation is requested.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }
}

type AsyncFn = Arc<
    dyn Fn(ActivityContext, Payload) -> BoxFuture<'static, Result<Payload, ActivityError>>
        + Send
        + Sync,
>;
type BlockingFn =
    Arc<dyn Fn(ActivityContext, Payload) -> Result<Payload, ActivityError> + Send + Sync>;

/// A registered activity implementation.
#[derive(Clone)]
pub(crate) enum ActivityFn {
    /// Runs on the async runtime.
    Async(AsyncFn),
    /// Runs on the bounded blocking pool.
    Blocking(BlockingFn),
}

/// The activities a host offers, by name.
#[derive(Clone, Default)]
pub struct Activities {
    registered: BTreeMap<String, ActivityFn>,
}

impl fmt::Debug for Activities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.registered.keys()).finish()
    }
}

fn decode<I: DeserializeOwned>(name: &str, input: &Payload) -> Result<I, ActivityError> {
    input
        .to_json()
        .map_err(|e| ActivityError::non_retryable("BadInput", format!("activity '{name}': {e}")))
}

fn encode<O: Serialize>(name: &str, output: &O) -> Result<Payload, ActivityError> {
    Payload::json(output)
        .map_err(|e| ActivityError::non_retryable("BadOutput", format!("activity '{name}': {e}")))
}

impl Activities {
    /// No activities.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register an `async` activity; it runs on the async runtime and must
    /// not block.
    pub fn register_async<I, O, F, Fut>(&mut self, name: &str, activity: F) -> &mut Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize + 'static,
        F: Fn(ActivityContext, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, ActivityError>> + Send + 'static,
    {
        let owned = name.to_string();
        let activity = Arc::new(activity);
        self.registered.insert(
            name.to_string(),
            ActivityFn::Async(Arc::new(move |ctx, input| {
                let (name, activity) = (owned.clone(), activity.clone());
                Box::pin(async move {
                    let input = decode::<I>(&name, &input)?;
                    let output = activity(ctx, input).await?;
                    encode(&name, &output)
                })
            })),
        );
        self
    }

    /// Register a blocking activity; it runs on the host's bounded pool of
    /// blocking threads, so it can never stall the engine.
    pub fn register_blocking<I, O, F>(&mut self, name: &str, activity: F) -> &mut Self
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(ActivityContext, I) -> Result<O, ActivityError> + Send + Sync + 'static,
    {
        let owned = name.to_string();
        self.registered.insert(
            name.to_string(),
            ActivityFn::Blocking(Arc::new(move |ctx, input| {
                let input = decode::<I>(&owned, &input)?;
                let output = activity(ctx, input)?;
                encode(&owned, &output)
            })),
        );
        self
    }

    pub(crate) fn get(&self, name: &str) -> Option<&ActivityFn> {
        self.registered.get(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.registered.keys().map(String::as_str).collect()
    }
}
