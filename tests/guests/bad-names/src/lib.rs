//! Test guest: `forged` declares a signal whose name carries a line break
//! and a fake log line, which the host must refuse at deploy.

use keel_sdk::{Handlers, Result, Workflow, WorkflowContext};

/// `forged`: returns at once; only its declared names matter.
#[derive(Default)]
pub struct Forged;

impl Workflow for Forged {
    const NAME: &'static str = "forged";
    type Input = ();
    type Output = ();

    fn handlers(handlers: &mut Handlers<Self>) {
        handlers.signal("go\nINFO keel: deployed", |_: &mut Self, (): ()| {});
    }

    async fn run(_ctx: WorkflowContext<Self>, (): ()) -> Result<()> {
        Ok(())
    }
}

keel_sdk::workflows!(Forged);
