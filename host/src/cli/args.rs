//! The `keel` command line's arguments, as clap parses them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use super::ServerArgs;
use crate::client::DEFAULT_ADDRESS;
use crate::error::Error;
use crate::ids::{RequestId, RunId};

/// Durable workflows in WebAssembly.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about)]
pub(super) struct Cli {
    /// Address of the host to talk to.
    #[arg(long, global = true, env = "KEEL_SERVER", default_value = DEFAULT_ADDRESS)]
    pub(super) server: String,
    /// File holding the token for a host that requires one (or set
    /// KEEL_TOKEN to the token itself).
    #[arg(long, global = true, env = "KEEL_TOKEN_FILE")]
    pub(super) token_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the host's TLS certificate; set, the
    /// CLI speaks TLS.
    #[arg(long, global = true, env = "KEEL_TLS_CA")]
    pub(super) tls_ca: Option<PathBuf>,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Debug, Subcommand)]
pub(super) enum Command {
    /// Run a host with the embedded SQLite store and serve the gRPC API.
    Server(ServerArgs),
    /// Validate a component, store it and make it the current version of the
    /// workflow types it serves.
    Deploy {
        /// The component (`.wasm`, built for wasm32-wasip2).
        component: PathBuf,
        /// Deploy nothing: replay every open run of the types it serves
        /// against it and report which would run on it (exit 1 if any
        /// would not).
        #[arg(long, conflicts_with = "upgrade")]
        check: bool,
        /// Deploy, then move every open run of its types that replays
        /// cleanly onto it; the others stay on their versions.
        #[arg(long)]
        upgrade: bool,
        /// Print the deployment, and the report of --check or --upgrade, as
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replay a history exported by `keel workflow show --json` against a
    /// component, here, without a server. Exit 0: it replays cleanly; 1:
    /// it diverges or fails; 2: the inputs cannot be read.
    Replay {
        /// The component (`.wasm`).
        component: PathBuf,
        /// The exported history (`.json`).
        history: PathBuf,
    },
    /// Start and talk to workflows.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// List deployed versions and choose the current one.
    #[command(subcommand)]
    Deployment(DeploymentCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum WorkflowCommand {
    /// Start a run of a workflow type.
    Start {
        /// The workflow type.
        workflow_type: String,
        /// The workflow id (at most one open run per id).
        #[arg(long)]
        id: String,
        /// The input: JSON text, or @file.json.
        #[arg(long)]
        input: Option<String>,
        /// What to do if the id's latest run is closed.
        #[arg(long, value_enum, default_value_t = ReusePolicy::AllowDuplicate)]
        id_reuse_policy: ReusePolicy,
        /// What to do if the id has an open run.
        #[arg(long, value_enum, default_value_t = ConflictPolicy::Fail)]
        id_conflict_policy: ConflictPolicy,
        /// Signal-with-start: send this signal, starting the run if none is open.
        #[arg(long)]
        signal: Option<String>,
        /// The signal's input: JSON text, or @file.json.
        #[arg(long, requires = "signal")]
        signal_input: Option<String>,
        /// Your id for this request: retrying a command with the same id
        /// applies it once (the CLI retries a lost answer by itself).
        #[arg(long, value_parser = parse_request_id)]
        request_id: Option<RequestId>,
        /// Close the run as timed out if it is open this long (e.g. 30s, 2h).
        #[arg(long, value_parser = humantime::parse_duration)]
        run_timeout: Option<Duration>,
        /// Close the workflow as timed out if it is open this long, across
        /// continue-as-new.
        #[arg(long, value_parser = humantime::parse_duration)]
        execution_timeout: Option<Duration>,
        /// Run the workflow's code only this long after the start (a signal
        /// or cancel that comes first starts it at once).
        #[arg(long, value_parser = humantime::parse_duration)]
        start_delay: Option<Duration>,
        /// Fail an activation of the run that takes longer than this (it is
        /// retried); at most the host's activation timeout.
        #[arg(long, value_parser = humantime::parse_duration)]
        task_timeout: Option<Duration>,
        /// Retry a failed run up to this many attempts in all (0: no
        /// limit), with Temporal's backoff (from --retry-interval, doubling,
        /// up to 100 times it).
        #[arg(long)]
        max_attempts: Option<u32>,
        /// The first retry's delay, with --max-attempts (default 1s).
        #[arg(long, value_parser = humantime::parse_duration, requires = "max_attempts")]
        retry_interval: Option<Duration>,
    },
    /// Send a signal to the open run.
    Signal {
        /// The workflow id.
        id: String,
        /// The signal's name.
        name: String,
        /// The signal's input: JSON text, or @file.json.
        #[arg(long)]
        input: Option<String>,
        /// Your id for this request: retrying a command with the same id
        /// applies it once (the CLI retries a lost answer by itself).
        #[arg(long, value_parser = parse_request_id)]
        request_id: Option<RequestId>,
    },
    /// Ask the latest run a read-only query and print the answer.
    Query {
        /// The workflow id.
        id: String,
        /// The query's name.
        name: String,
        /// The query's input: JSON text, or @file.json.
        #[arg(long)]
        input: Option<String>,
    },
    /// Ask the open run to cancel (the workflow decides what that means).
    Cancel {
        /// The workflow id.
        id: String,
        /// Why.
        #[arg(long, default_value = "cancelled from the command line")]
        reason: String,
        /// Your id for this request: retrying a command with the same id
        /// applies it once (the CLI retries a lost answer by itself).
        #[arg(long, value_parser = parse_request_id)]
        request_id: Option<RequestId>,
    },
    /// Stop the open run by force.
    Terminate {
        /// The workflow id.
        id: String,
        /// Why.
        #[arg(long, default_value = "terminated from the command line")]
        reason: String,
        /// Your id for this request: retrying a command with the same id
        /// applies it once (the CLI retries a lost answer by itself).
        #[arg(long, value_parser = parse_request_id)]
        request_id: Option<RequestId>,
    },
    /// Re-run a workflow from an earlier activation boundary on the current
    /// version of its type, as a new run (an open run is terminated).
    Reset {
        /// The workflow id.
        id: String,
        /// The ActivationCompleted event to go on from, as `keel workflow
        /// show` numbers it.
        #[arg(long)]
        to: u64,
        /// Why.
        #[arg(long, default_value = "reset from the command line")]
        reason: String,
    },
    /// Wait for the latest run to close; print its result (exit 1 unless it
    /// completed).
    Result {
        /// The workflow id.
        id: String,
    },
    /// Status, version, times and pending work of the latest run.
    Describe {
        /// The workflow id.
        id: String,
        /// A run of the workflow id (an earlier run of a reused id); by
        /// default its latest.
        #[arg(long, value_parser = parse_run_id)]
        run_id: Option<RunId>,
        /// Print it as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Move a running workflow onto another deployed version, if its
    /// history replays cleanly there.
    Upgrade {
        /// The workflow id.
        id: String,
        /// The component id (sha256:…), as `keel deployment list` shows it.
        #[arg(long)]
        version: String,
    },
    /// The latest run's history, one event a line.
    Show {
        /// The workflow id.
        id: String,
        /// A run of the workflow id; by default its latest.
        #[arg(long, value_parser = parse_run_id)]
        run_id: Option<RunId>,
        /// Print the run as one JSON document with everything a replay
        /// needs (`keel replay` reads it).
        #[arg(long)]
        json: bool,
    },
    /// List runs, newest first.
    List {
        /// Only this workflow type.
        #[arg(long = "type")]
        workflow_type: Option<String>,
        /// Only this status.
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// Only runs started at or after this time (RFC 3339, or ms since the epoch).
        #[arg(long)]
        since: Option<String>,
        /// Only runs started before this time.
        #[arg(long)]
        until: Option<String>,
        /// Runs per page.
        #[arg(long, default_value_t = 50)]
        page_size: u32,
        /// The token printed at the end of the previous page.
        #[arg(long, default_value = "")]
        page_token: String,
        /// Print the page as one JSON object (`runs`, `next_page_token`).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum DeploymentCommand {
    /// Every deployed component and the types it is current for.
    List {
        /// Print them as one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Make an earlier (or any deployed) component the current version of a
    /// workflow type for new runs.
    Rollback {
        /// The workflow type.
        workflow_type: String,
        /// The component id (sha256:…), as `keel deployment list` shows it.
        component: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum ReusePolicy {
    AllowDuplicate,
    AllowDuplicateFailedOnly,
    RejectDuplicate,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum ConflictPolicy {
    Fail,
    UseExisting,
    TerminateExisting,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum Status {
    Running,
    Completed,
    Failed,
    Cancelled,
    Terminated,
    ContinuedAsNew,
    TimedOut,
}

/// A `--run-id` argument.
pub(super) fn parse_run_id(id: &str) -> std::result::Result<RunId, String> {
    id.parse().map_err(|e: Error| e.detail().to_string())
}

/// A `--request-id` argument.
pub(super) fn parse_request_id(id: &str) -> std::result::Result<RequestId, String> {
    RequestId::new(id).map_err(|e| e.detail().to_string())
}
