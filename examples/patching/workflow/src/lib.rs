//! The order workflow, version 1: pack the order (an activity), then wait an
//! hour for the courier to pick it up (a durable timer). Version 2, in the
//! sibling crate, adds a receipt after packing behind a patch.

use std::time::Duration;

use keel_sdk::{ActivityOptions, Result, Workflow, WorkflowContext};
use serde::{Deserialize, Serialize};

/// An order to ship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The item ordered.
    pub item: String,
    /// How long packing takes, in milliseconds.
    pub packing_ms: u64,
}

/// How long the courier takes to come.
pub const PICKUP: Duration = Duration::from_secs(3600);

/// Packs an order and waits for its pickup.
#[derive(Default)]
pub struct Shipping;

impl Workflow for Shipping {
    const NAME: &'static str = "shipping";
    type Input = Order;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, order: Order) -> Result<String> {
        let options = ActivityOptions::default().start_to_close(Duration::from_secs(60));
        let label: String = ctx.activity("pack", &order, options).await?;
        ctx.sleep(PICKUP).await?;
        Ok(format!("{label}; picked up"))
    }
}

keel_sdk::workflows!(Shipping);
