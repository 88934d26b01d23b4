//! The hello workflow: calls the `greet` activity once and returns what it
//! says.

use std::time::Duration;

use keel_sdk::{ActivityOptions, Result, Workflow, WorkflowContext};

/// Greets a name through the `greet` activity.
#[derive(Default)]
pub struct Hello;

impl Workflow for Hello {
    const NAME: &'static str = "hello";
    type Input = String;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, name: String) -> Result<String> {
        keel_sdk::info!(ctx, "greeting {name}");
        let options = ActivityOptions::default().start_to_close(Duration::from_secs(10));
        ctx.activity("greet", &name, options).await
    }
}

keel_sdk::workflows!(Hello);
