//! Test guest: `sleepy` blocks for an hour while the host asks what it
//! declares, which must not hold up the deploy.

use keel_sdk::{Handlers, Result, Workflow, WorkflowContext};

/// `sleepy`: its handler registration sleeps through WASI.
#[derive(Default)]
pub struct Sleepy;

impl Workflow for Sleepy {
    const NAME: &'static str = "sleepy";
    type Input = ();
    type Output = ();

    fn handlers(_handlers: &mut Handlers<Self>) {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }

    async fn run(_ctx: WorkflowContext<Self>, (): ()) -> Result<()> {
        Ok(())
    }
}

keel_sdk::workflows!(Sleepy);
