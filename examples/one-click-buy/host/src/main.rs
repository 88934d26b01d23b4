//! The one-click-buy example's host, in two modes:
//!
//! - `example-one-click-buy` runs the one-click-buy workflow on the
//!   embedded SQLite store and shows queries, signals, a durable timer and
//!   cancellation: run A is queried, has its purchase replaced by a signal
//!   and completes after its 10-second grace period; run B is cancelled
//!   during the grace period, so nothing is bought. Both histories are
//!   printed at the end (store file: `$KEEL_DB`, default
//!   `keel-one-click-buy.db`).
//! - `example-one-click-buy server --db keel.db --listen 127.0.0.1:7233`
//!   serves the gRPC API with this example's component deployed and its
//!   `do_purchase` activity registered, until SIGINT or SIGTERM; drive it
//!   with `keel` (e.g. `keel workflow start one-click-buy --id b1 --input
//!   '{"item_id":"socks","user_id":"alice"}'`).

use std::time::Duration;

use clap::{Parser, Subcommand};
use keel_host::cli::ServerArgs;
use keel_host::{
    Activities, ActivityContext, ActivityError, Host, Outcome, Payload, StartWorkflow, WorkflowId,
};
use serde::{Deserialize, Serialize};

/// The workflow component, built from `examples/one-click-buy/workflow`.
const COMPONENT: &[u8] = include_bytes!(env!("KEEL_GUEST_EXAMPLE_ONE_CLICK_BUY_WORKFLOW"));

/// Runs the one-click-buy workflow (a query, a signal, a 10-second durable
/// timer and a cancellation) with its native `do_purchase` activity on the
/// embedded SQLite store (store file: `$KEEL_DB`, default
/// `keel-one-click-buy.db`), or serves it over gRPC with `server`.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

/// The modes other than the demo.
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gRPC API with this example's component deployed and its
    /// `do_purchase` activity registered, until SIGINT or SIGTERM; drive it
    /// with `keel`.
    Server(ServerArgs),
}

/// What to buy, and for whom (the workflow's input and signal payload).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Purchase {
    /// The item bought.
    item_id: String,
    /// The buyer.
    user_id: String,
}

impl Purchase {
    /// `user_id` buys `item_id`.
    fn new(item_id: &str, user_id: &str) -> Self {
        Purchase {
            item_id: item_id.into(),
            user_id: user_id.into(),
        }
    }
}

/// The `do_purchase` activity: places the order, or stops early if the
/// workflow cancels it.
async fn do_purchase(ctx: ActivityContext, purchase: Purchase) -> Result<String, ActivityError> {
    tokio::select! {
        () = ctx.cancelled() => Err(ActivityError::cancelled()),
        () = tokio::time::sleep(Duration::from_millis(200)) => Ok(format!(
            "order for {} by {} placed",
            purchase.item_id, purchase.user_id
        )),
    }
}

/// The activities the one-click-buy workflow calls.
fn activities() -> Activities {
    let mut activities = Activities::new();
    activities.register_async("do_purchase", do_purchase);
    activities
}

/// Prints the history of the latest run of `workflow_id`, one event a line.
async fn print_history(host: &Host, workflow_id: &WorkflowId) -> anyhow::Result<()> {
    println!("history of {workflow_id}:");
    for event in host.history(workflow_id).await? {
        println!("{event}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Some(Command::Server(args)) => {
            keel_host::cli::serve(args, activities(), &[COMPONENT]).await?;
            Ok(())
        }
        None => demo().await,
    }
}

/// Runs A (query, signal, timer) and B (cancelled), then prints both
/// histories.
async fn demo() -> anyhow::Result<()> {
    let db = std::env::var("KEEL_DB").unwrap_or_else(|_| "keel-one-click-buy.db".into());

    let host = Host::builder()
        .sqlite(&db)
        .activities(activities())
        .build()
        .await?;
    let deployment = host.deploy(COMPONENT.to_vec()).await?;
    println!("deployed {}", deployment.component.short());
    let pid = std::process::id();

    // Run A: query, signal, then let the grace period run out.
    let a = StartWorkflow::new(
        &format!("buy-{pid}-a"),
        "one-click-buy",
        &Purchase::new("socks", "alice"),
    )?;
    let run = host.start(a.clone()).await?.run_id;
    println!("\n[A] started {} as {run}: alice buys socks", a.workflow_id);
    let status: String = host
        .query(&a.workflow_id, "current_status", Payload::json(&())?)
        .await?
        .to_json()?;
    println!("[A] current_status: {status}");
    host.signal(
        &a.workflow_id,
        "update_purchase",
        Payload::json(&Purchase::new("shoes", "alice"))?,
    )
    .await?;
    println!("[A] signalled update_purchase: shoes instead of socks");
    println!("[A] waiting out the 10 s grace period (a durable timer)…");
    let receipt: String = host.result(&a.workflow_id).await?.into_result()?;
    println!("[A] result: {receipt}");

    // Run B: cancel during the grace period, so nothing is bought.
    let b = StartWorkflow::new(
        &format!("buy-{pid}-b"),
        "one-click-buy",
        &Purchase::new("hat", "bob"),
    )?;
    let run = host.start(b.clone()).await?.run_id;
    println!("\n[B] started {} as {run}: bob buys a hat", b.workflow_id);
    host.cancel(&b.workflow_id, "bob changed his mind").await?;
    println!("[B] cancel requested during the grace period");
    let outcome = host.result(&b.workflow_id).await?;
    let Outcome::Cancelled(failure) = &outcome else {
        anyhow::bail!("run B should have been cancelled, but it ended {outcome}");
    };
    println!(
        "[B] ended {} ({}); do_purchase never ran\n",
        outcome.status(),
        failure.message
    );

    print_history(&host, &a.workflow_id).await?;
    println!();
    print_history(&host, &b.workflow_id).await?;
    Ok(())
}
