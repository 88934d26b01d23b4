//! The Keel host: runs durable workflows compiled to WebAssembly
//! components, with native activities, on an embedded SQLite store.
//!
//! ```no_run
//! use keel_host::{Activities, ActivityError, Host, StartWorkflow};
//!
//! # async fn demo(component: Vec<u8>) -> keel_host::Result<()> {
//! let mut activities = Activities::new();
//! activities.register_async("greet", |_ctx, name: String| async move {
//!     Ok::<_, ActivityError>(format!("Hello, {name}!"))
//! });
//! let host = Host::builder().sqlite("keel.db").activities(activities).build().await?;
//! host.deploy(component).await?;
//! let start = StartWorkflow::new("greeting-1", "hello", "world")?;
//! host.start(start.clone()).await?;
//! let greeting: String = host.result(&start.workflow_id).await?.into_result()?;
//! # Ok(())
//! # }
//! ```
//!
//! The layout follows the architecture: `sandbox` (what a workflow may
//! import), `engine` (wasmtime, components, instances), `history` (events,
//! commands, replay), `store` (durable state), `worker` (activities,
//! timers), `runtime` (run actors, activation loop, recovery) and `host`
//! (this API).

#![deny(missing_docs)]

pub mod api;
pub mod cli;
pub mod client;
pub mod clock;
pub mod engine;
pub mod error;
pub mod history;
mod host;
pub mod ids;
pub mod limits;
mod replayer;
mod runtime;
mod sandbox;
pub mod store;
pub mod testing;
pub mod types;
pub mod worker;

pub use crate::error::{Error, Result};
pub use crate::host::{
    CompatibilityReport, Deployment, DeploymentInfo, Host, HostBuilder, HostConfig, Parked,
    PendingActivity, PendingTimer, RunDescription, RunVerdict, StartWorkflow, Started, TaskFailure,
    Verdict,
};
pub use crate::ids::{ComponentId, RequestId, RunId, WorkflowId};
pub use crate::replayer::{ExportedHistory, ReplayError, Replayer};
pub use crate::runtime::Recovered;
pub use crate::types::{
    ContinuedAsNew, Failure, IdConflictPolicy, IdReusePolicy, Outcome, Payload, RunStatus,
};
pub use crate::worker::{Activities, ActivityContext, ActivityError, ActivityInfo};
