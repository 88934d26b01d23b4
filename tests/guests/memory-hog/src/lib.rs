//! Test guest: `hog` allocates without bound, to test the host's memory
//! limit; `ballast` holds a given amount, to test the host's memory budget;
//! `ok` proves the component otherwise works.

use std::hint::black_box;

use keel_sdk::{Handlers, Result, Workflow, WorkflowContext};

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

/// `ballast`: allocates and fills the input's MiB, then either spins (the
/// second input) or waits for a `release` signal and returns the sum of
/// the filled bytes, held in memory all along. A `spin` signal makes it
/// spin instead; a `try-grow` signal asks for 1 GiB with `try_reserve` and
/// carries on when it is refused.
#[derive(Default)]
pub struct Ballast {
    released: bool,
    spin: bool,
}

impl Workflow for Ballast {
    const NAME: &'static str = "ballast";
    type Input = (u32, bool);
    type Output = u64;

    async fn run(ctx: WorkflowContext<Self>, (mib, spin): (u32, bool)) -> Result<u64> {
        let ballast: Vec<Vec<u8>> = (0..mib).map(|_| black_box(vec![1u8; 1 << 20])).collect();
        if !spin {
            ctx.wait_condition(|s| s.released || s.spin).await?;
        }
        if spin || ctx.state().spin {
            loop {
                black_box(&ballast);
            }
        }
        Ok(ballast.iter().flatten().map(|&b| u64::from(b)).sum())
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        handlers
            .signal("release", |s: &mut Self, (): ()| s.released = true)
            .signal("spin", |s: &mut Self, (): ()| s.spin = true)
            .signal("try-grow", |_: &mut Self, (): ()| {
                let mut huge: Vec<u8> = Vec::new();
                black_box(huge.try_reserve(1 << 30).is_err());
            });
    }
}

keel_sdk::workflows!(Hog, Ok42, Ballast);
