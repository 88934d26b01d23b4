//! The hello example's host, in two modes:
//!
//! - `example-hello [NAME]` runs the hello workflow end to end on the
//!   embedded SQLite store: deploys the component, starts a run, waits for
//!   the result and prints the run's history (store file: `$KEEL_DB`,
//!   default `keel-hello.db`).
//! - `example-hello server --db keel.db --listen 127.0.0.1:7233` serves the
//!   gRPC API with this example's component deployed and its `greet`
//!   activity registered, until SIGINT or SIGTERM; drive it with `keel`
//!   (e.g. `keel workflow start hello --id h1 --input '"Ada"'`).

use clap::{Parser, Subcommand};
use keel_host::cli::ServerArgs;
use keel_host::{Activities, ActivityContext, ActivityError, Host, StartWorkflow};

/// The workflow component, built from `examples/hello/workflow`.
const COMPONENT: &[u8] = include_bytes!(env!("KEEL_GUEST_EXAMPLE_HELLO_WORKFLOW"));

/// Runs the hello workflow with its native `greet` activity on the embedded
/// SQLite store (store file: `$KEEL_DB`, default `keel-hello.db`), or
/// serves it over gRPC with `server`.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Who to greet.
    #[arg(default_value = "world")]
    name: String,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The modes other than the demo.
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API with this example's component deployed and its
    /// `greet` activity registered, until SIGINT or SIGTERM; drive it with
    /// `keel`.
    Server(ServerArgs),
}

/// The `greet` activity: native code, outside the sandbox.
async fn greet(ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
    Ok(format!("Hello, {name}! (attempt {})", ctx.attempt()))
}

/// The activities the hello workflow calls.
fn activities() -> Activities {
    let mut activities = Activities::new();
    activities.register_async("greet", greet);
    activities
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    keel_host::cli::init_logs();
    match cli.command {
        Some(Command::Server(args)) => {
            keel_host::cli::serve(args, activities(), &[COMPONENT]).await?;
            Ok(())
        }
        None => demo(&cli.name).await,
    }
}

/// Deploys the component, greets `name` and prints the run's history.
async fn demo(name: &str) -> anyhow::Result<()> {
    let db = std::env::var("KEEL_DB").unwrap_or_else(|_| "keel-hello.db".into());

    let host = Host::builder()
        .sqlite(&db)
        .activities(activities())
        .build()
        .await?;
    let deployment = host.deploy(COMPONENT.to_vec()).await?;
    println!(
        "deployed {} serving {:?}",
        deployment.component.short(),
        deployment.workflow_types[0].name
    );

    let start = StartWorkflow::new(&format!("hello-{}", std::process::id()), "hello", name)?;
    let run = host.start(start.clone()).await?.run_id;
    println!("started {} as {run}", start.workflow_id);
    let greeting: String = host.result(&start.workflow_id).await?.into_result()?;
    println!("result: {greeting}\nhistory:");
    for event in host.history(&start.workflow_id).await? {
        println!("{event}");
    }
    Ok(())
}
