//! The sync-async workflow: runs an async activity (`fetch_length`, which
//! awaits I/O) next to a blocking one (`compute_digest`, which the host runs
//! off its event loop) and waits for both. The workflow cannot tell them
//! apart; how each runs is the activity implementation's business.

use std::time::Duration;

use keel_sdk::{ActivityOptions, Result, Workflow, WorkflowContext};
use serde::Serialize;

/// What the two activities found out about the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The text's length, from the async `fetch_length` activity.
    pub length: u64,
    /// The text's digest, from the blocking `compute_digest` activity.
    pub digest: String,
}

/// Measures and digests a text with two concurrent activities.
#[derive(Default)]
pub struct SyncAsync;

impl Workflow for SyncAsync {
    const NAME: &'static str = "sync-async";
    type Input = String;
    type Output = Report;

    async fn run(ctx: WorkflowContext<Self>, text: String) -> Result<Report> {
        let options = ActivityOptions::default().start_to_close(Duration::from_secs(30));
        let (length, digest) = keel_sdk::join!(
            ctx.activity("fetch_length", &text, options.clone()),
            ctx.activity("compute_digest", &text, options),
        );
        Ok(Report {
            length: length?,
            digest: digest?,
        })
    }
}

keel_sdk::workflows!(SyncAsync);
