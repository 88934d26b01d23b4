//! The fan-out workflow: schedules `n` `square` activities at once, awaits
//! them together and sums their results.

use std::time::Duration;

use keel_sdk::future::join_all;
use keel_sdk::{ActivityOptions, Result, Workflow, WorkflowContext};

/// Sums `i * i` for `i` in `0..n`, one `square` activity per term.
#[derive(Default)]
pub struct FanOut;

impl Workflow for FanOut {
    const NAME: &'static str = "fan-out";
    type Input = u32;
    type Output = u64;

    async fn run(ctx: WorkflowContext<Self>, n: u32) -> Result<u64> {
        let options = ActivityOptions::default().start_to_close(Duration::from_secs(10));
        let squares: Vec<_> = (0..u64::from(n))
            .map(|i| ctx.activity::<_, u64>("square", &i, options.clone()))
            .collect();
        join_all(squares).await.into_iter().sum()
    }
}

keel_sdk::workflows!(FanOut);
