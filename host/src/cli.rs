//! The `keel` command line: `keel server` runs a host; every other command
//! talks to a running host through the [`Client`]. Errors are one line on
//! stderr and a non-zero exit.

/// `println!` for what the CLI prints: when the reader has gone (`keel … |
/// head`), the program ends quietly instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::print_line(format_args!($($arg)*))
    };
}

mod args;
mod output;
mod server;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use crate::client::{Client, ConnectOptions, ListRuns};

use self::args::{
    Cli, Command, ConflictPolicy, DeploymentCommand, ReusePolicy, Status, WorkflowCommand,
};
use crate::error::{Error, Result};
use crate::history::RetryPolicy;
use crate::host::{StartWorkflow, Verdict};
use crate::ids::{RequestId, WorkflowId};
use crate::replayer::{ExportedHistory, ReplayError, Replayer};
use crate::types::{IdConflictPolicy, IdReusePolicy, Outcome, Payload, RunStatus};

pub use server::{ServerArgs, init_logs, serve};

/// Run the `keel` command line with `args`.
pub fn main(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) if err.use_stderr() => {
            // Bad arguments are one line, like every other error.
            eprintln!("{} (see --help)", one_line(&err.render().to_string()));
            return ExitCode::from(2);
        }
        Err(help) => {
            let _ = help.print();
            return ExitCode::SUCCESS;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return fail(&Error::internal("starting the runtime", err)),
    };
    let result = runtime.block_on(run(cli));
    // A blocking activity that ignores its cancellation must not keep the
    // process alive after a graceful stop.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(code) => code,
        Err(err) => fail(&err),
    }
}

/// Print `err` as one line and fail.
fn fail(err: &Error) -> ExitCode {
    let line: Vec<String> = err
        .to_string()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    eprintln!("error: {}", line.join(" "));
    ExitCode::FAILURE
}

/// The token (KEEL_TOKEN, or the token file) and the TLS CA to connect
/// with. The token is never a command-line argument, where other users of
/// the machine could read it.
fn connect_options(token_file: Option<&Path>, tls_ca: Option<&Path>) -> Result<ConnectOptions> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path).map_err(|e| {
            Error::InvalidArgument(format!("cannot read the {what} {}: {e}", path.display()))
        })
    };
    let token = match (std::env::var("KEEL_TOKEN").ok(), token_file) {
        (Some(token), _) if !token.trim().is_empty() => Some(token),
        (_, Some(path)) => Some(String::from_utf8(read(path, "token file")?).map_err(|_| {
            Error::InvalidArgument(format!("the token file {} is not text", path.display()))
        })?),
        _ => None,
    };
    Ok(ConnectOptions {
        token,
        tls_ca_pem: tls_ca
            .map(|path| read(path, "TLS CA certificate"))
            .transpose()?,
    })
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let options = connect_options(cli.token_file.as_deref(), cli.tls_ca.as_deref())?;
    let connect = || Client::connect_with(&cli.server, options.clone());
    match cli.command {
        Command::Server(args) => {
            init_logs();
            serve(args, crate::worker::Activities::default(), &[]).await?;
        }
        Command::Deploy {
            component,
            check,
            upgrade,
            json,
        } => {
            let bytes = std::fs::read(&component).map_err(|e| {
                Error::InvalidArgument(format!("cannot read {}: {e}", component.display()))
            })?;
            let client = connect().await?;
            if check {
                let report = client.check_deployment(bytes).await?;
                output::report(&report, json)?;
                let hint = match report.divergent() {
                    0 => "see why above",
                    _ => {
                        "guard the changes with ctx.patched(), or leave those runs on their versions"
                    }
                };
                return Ok(match report.incompatible() {
                    0 => ExitCode::SUCCESS,
                    n => {
                        eprintln!(
                            "error: {n} of {} open runs would not run on {}; {hint}",
                            report.runs.len(),
                            report.candidate.short()
                        );
                        ExitCode::FAILURE
                    }
                });
            }
            match (upgrade, json) {
                (true, true) => {
                    let (deployment, report) = client.deploy_upgrade(bytes).await?;
                    output::json(&serde_json::json!({
                        "deployment": deployment,
                        "report": report,
                    }))?;
                }
                (true, false) => {
                    let (deployment, report) = client.deploy_upgrade(bytes).await?;
                    output::deployment(&deployment);
                    output::report(&report, false)?;
                }
                (false, true) => output::json(&client.deploy(bytes).await?)?,
                (false, false) => output::deployment(&client.deploy(bytes).await?),
            }
        }
        Command::Replay { component, history } => return Ok(replay(&component, &history)),
        Command::Workflow(command) => return workflow(&connect().await?, command).await,
        Command::Deployment(DeploymentCommand::List { json }) => {
            let deployments = connect().await?.deployments().await?;
            match json {
                true => output::json(&deployments)?,
                false => output::deployments(&deployments),
            }
        }
        Command::Deployment(DeploymentCommand::Rollback {
            workflow_type,
            component,
        }) => {
            connect()
                .await?
                .set_current(&workflow_type, &component)
                .await?;
            out!("{workflow_type}: new runs now start on {component}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn workflow(client: &Client, command: WorkflowCommand) -> Result<ExitCode> {
    match command {
        WorkflowCommand::Start {
            workflow_type,
            id,
            input,
            id_reuse_policy,
            id_conflict_policy,
            signal,
            signal_input,
            request_id,
            run_timeout,
            execution_timeout,
            start_delay,
            max_attempts,
            retry_interval,
            task_timeout,
        } => {
            let retry_policy = max_attempts.map(|maximum_attempts| {
                let initial = retry_interval
                    .map_or(1_000, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                RetryPolicy {
                    initial_interval_ms: initial,
                    maximum_interval_ms: initial.saturating_mul(100),
                    maximum_attempts,
                    ..RetryPolicy::default()
                }
            });
            let start = StartWorkflow {
                retry_policy,
                task_timeout,
                request_id,
                run_timeout,
                execution_timeout,
                start_delay,
                workflow_id: WorkflowId::new(&id)?,
                workflow_type,
                input: payload(input)?,
                id_reuse: match id_reuse_policy {
                    ReusePolicy::AllowDuplicate => IdReusePolicy::AllowDuplicate,
                    ReusePolicy::AllowDuplicateFailedOnly => {
                        IdReusePolicy::AllowDuplicateFailedOnly
                    }
                    ReusePolicy::RejectDuplicate => IdReusePolicy::RejectDuplicate,
                },
                id_conflict: match id_conflict_policy {
                    ConflictPolicy::Fail => IdConflictPolicy::Fail,
                    ConflictPolicy::UseExisting => IdConflictPolicy::UseExisting,
                    ConflictPolicy::TerminateExisting => IdConflictPolicy::TerminateExisting,
                },
            };
            let started = match signal {
                Some(name) => {
                    client
                        .signal_with_start(start, &name, payload(signal_input)?)
                        .await?
                }
                None => client.start(start).await?,
            };
            let verb = if started.started {
                "started"
            } else {
                "already open"
            };
            out!("{verb}: workflow {id} run {}", started.run_id);
        }
        WorkflowCommand::Signal {
            id,
            name,
            input,
            request_id,
        } => {
            let request_id = request_id.unwrap_or_else(RequestId::generate);
            client
                .signal_once(&WorkflowId::new(&id)?, &name, payload(input)?, &request_id)
                .await?;
            out!("signalled {id}: {name}");
        }
        WorkflowCommand::Query { id, name, input } => {
            out!(
                "{}",
                client
                    .query(&WorkflowId::new(&id)?, &name, payload(input)?)
                    .await?
            );
        }
        WorkflowCommand::Cancel {
            id,
            reason,
            request_id,
        } => {
            let request_id = request_id.unwrap_or_else(RequestId::generate);
            client
                .cancel_once(&WorkflowId::new(&id)?, &reason, &request_id)
                .await?;
            out!("cancellation requested: {id}");
        }
        WorkflowCommand::Terminate {
            id,
            reason,
            request_id,
        } => {
            let request_id = request_id.unwrap_or_else(RequestId::generate);
            client
                .terminate_once(&WorkflowId::new(&id)?, &reason, &request_id)
                .await?;
            out!("terminated: {id}");
        }
        WorkflowCommand::Reset { id, to, reason } => {
            let run = client.reset(&WorkflowId::new(&id)?, to, &reason).await?;
            out!("reset: workflow {id} goes on from event {to} as run {run}");
        }
        WorkflowCommand::Result { id } => {
            return Ok(match client.result(&WorkflowId::new(&id)?).await? {
                Outcome::Completed(result) => {
                    out!("{result}");
                    ExitCode::SUCCESS
                }
                other => {
                    eprintln!("{other}");
                    ExitCode::FAILURE
                }
            });
        }
        WorkflowCommand::Describe { id, run_id, json } => {
            let description = client.describe_run(&WorkflowId::new(&id)?, run_id).await?;
            match json {
                true => output::json(&description)?,
                false => output::description(&description),
            }
        }
        WorkflowCommand::Upgrade { id, version } => {
            let run = client.upgrade_run(&WorkflowId::new(&id)?, &version).await?;
            return Ok(match &run.verdict {
                Verdict::Compatible if run.component.to_string() == version => {
                    out!("workflow {id} run {} is already on {version}", run.run_id);
                    ExitCode::SUCCESS
                }
                Verdict::Compatible => {
                    out!("upgraded: workflow {id} run {} is on {version}", run.run_id);
                    ExitCode::SUCCESS
                }
                verdict => {
                    eprintln!(
                        "error: workflow {id} stays on {}: {}",
                        run.component.short(),
                        output::verdict(verdict)
                    );
                    ExitCode::FAILURE
                }
            });
        }
        WorkflowCommand::Show { id, run_id, json } => {
            let workflow_id = WorkflowId::new(&id)?;
            let (run, events) = client.history_run(&workflow_id, run_id).await?;
            if json {
                let component = client
                    .describe_run(&workflow_id, Some(run))
                    .await?
                    .run
                    .component;
                output::json(&ExportedHistory {
                    workflow_id,
                    run_id: run,
                    component,
                    events,
                })?;
            } else {
                output::history(&run, &events);
            }
        }
        WorkflowCommand::List {
            workflow_type,
            status,
            since,
            until,
            page_size,
            page_token,
            json,
        } => {
            let page = client
                .list(ListRuns {
                    workflow_type,
                    status: status.map(|s| match s {
                        Status::Running => RunStatus::Running,
                        Status::Completed => RunStatus::Completed,
                        Status::Failed => RunStatus::Failed,
                        Status::Cancelled => RunStatus::Cancelled,
                        Status::Terminated => RunStatus::Terminated,
                        Status::ContinuedAsNew => RunStatus::ContinuedAsNew,
                        Status::TimedOut => RunStatus::TimedOut,
                    }),
                    started_after_ms: since.as_deref().map(output::parse_time).transpose()?,
                    started_before_ms: until.as_deref().map(output::parse_time).transpose()?,
                    page_size,
                    page_token,
                })
                .await?;
            match json {
                true => output::json(&page)?,
                false => output::runs(&page),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `keel replay`: exit 0 if `history` replays cleanly on `component`, 1 if
/// it does not, 2 if either cannot be read.
fn replay(component: &Path, history: &Path) -> ExitCode {
    let unreadable = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    };
    let bytes = match std::fs::read(component) {
        Ok(bytes) => bytes,
        Err(e) => return unreadable(format!("cannot read {}: {e}", component.display())),
    };
    let exported: ExportedHistory = match std::fs::read(history)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_slice(&text).map_err(|e| e.to_string()))
    {
        Ok(exported) => exported,
        Err(e) => {
            return unreadable(format!(
                "cannot read the history {}: {e}; export one with `keel workflow show ID --json`",
                history.display()
            ));
        }
    };
    let replayer = match Replayer::new(&bytes) {
        Ok(replayer) => replayer,
        Err(err) => return unreadable(err.to_string()),
    };
    match replayer.replay_exported(&exported) {
        Ok(outcome) => {
            let reached = outcome.map_or(
                "was not closed by its code (it is open, or was terminated or timed out)"
                    .to_string(),
                |o| format!("ends: {o}"),
            );
            out!(
                "ok: {} events of workflow {} run {} replay cleanly; the run {reached}",
                exported.events.len(),
                exported.workflow_id,
                exported.run_id
            );
            ExitCode::SUCCESS
        }
        Err(ReplayError::Invalid(err)) => unreadable(err.to_string()),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// An input given as JSON text or `@file`; checked to be JSON.
/// A clap error without its usage block, on one line.
fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn payload(input: Option<String>) -> Result<Payload> {
    let Some(input) = input else {
        return Ok(Payload::default());
    };
    let text = match input.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Error::InvalidArgument(format!("cannot read input file {path}: {e}")))?,
        None => input,
    };
    Payload::parse_json(&text)
}

/// Print one line to stdout; see [`out!`].
pub(crate) fn print_line(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }
}
