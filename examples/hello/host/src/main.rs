//! Runs the hello workflow end to end on the embedded SQLite store: deploys
//! the component, starts a run, waits for the result and prints the run's
//! history. Usage: `example-hello [NAME]` (store file: `$KEEL_DB`, default
//! `keel-hello.db`).

use keel_host::{Activities, ActivityContext, ActivityError, Host, StartWorkflow};

/// The workflow component, built from `examples/hello/workflow`.
const COMPONENT: &[u8] = include_bytes!(env!("KEEL_GUEST_EXAMPLE_HELLO_WORKFLOW"));

/// The `greet` activity: native code, outside the sandbox.
async fn greet(ctx: ActivityContext, name: String) -> Result<String, ActivityError> {
    Ok(format!("Hello, {name}! (attempt {})", ctx.attempt()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let name = std::env::args().nth(1).unwrap_or_else(|| "world".into());
    let db = std::env::var("KEEL_DB").unwrap_or_else(|_| "keel-hello.db".into());

    let mut activities = Activities::new();
    activities.register_async("greet", greet);
    let host = Host::builder()
        .sqlite(&db)
        .activities(activities)
        .build()
        .await?;
    let deployment = host.deploy(COMPONENT.to_vec()).await?;
    println!(
        "deployed {} serving {:?}",
        deployment.component.short(),
        deployment.workflow_types[0].name
    );

    let start = StartWorkflow::new(&format!("hello-{}", std::process::id()), "hello", &name)?;
    let run = host.start(start.clone()).await?;
    println!("started {} as {run}", start.workflow_id);
    let greeting: String = host.result(&start.workflow_id).await?.into_result()?;
    println!("result: {greeting}\nhistory:");
    for event in host.history(&start.workflow_id).await? {
        println!("{event}");
    }
    Ok(())
}
