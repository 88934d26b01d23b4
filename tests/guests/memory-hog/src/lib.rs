//! Test guest: `hog` allocates without bound, to test the host's memory
//! limit; `ok` proves the component otherwise works.

use std::hint::black_box;

use keel_sdk::{Result, Workflow, WorkflowContext};

/// `hog`: allocates, fills and keeps 1 MiB chunks forever.
#[derive(Default)]
pub struct Hog;

impl Workflow for Hog {
    const NAME: &'static str = "hog";
    type Input = ();
    type Output = u64;

    async fn run(_ctx: WorkflowContext<Self>, (): ()) -> Result<u64> {
        let mut chunks = Vec::new();
        loop {
            chunks.push(black_box(vec![1u8; 1 << 20]));
        }
    }
}

/// `ok`: returns 42.
#[derive(Default)]
pub struct Ok42;

impl Workflow for Ok42 {
    const NAME: &'static str = "ok";
    type Input = ();
    type Output = u64;

    async fn run(_ctx: WorkflowContext<Self>, (): ()) -> Result<u64> {
        Ok(42)
    }
}

keel_sdk::workflows!(Hog, Ok42);
