//! Test guest: `reader` reads `/etc/passwd`, so the component imports
//! `wasi:filesystem`, which the host must refuse to load.

use keel_sdk::{Error, Result, Workflow, WorkflowContext};

/// `reader`: returns the contents of `/etc/passwd`.
#[derive(Default)]
pub struct Reader;

impl Workflow for Reader {
    const NAME: &'static str = "reader";
    type Input = ();
    type Output = String;

    async fn run(_ctx: WorkflowContext<Self>, (): ()) -> Result<String> {
        std::fs::read_to_string("/etc/passwd").map_err(|e| Error::application("Io", e.to_string()))
    }
}

keel_sdk::workflows!(Reader);
