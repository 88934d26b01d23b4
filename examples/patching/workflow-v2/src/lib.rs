//! The order workflow, version 2: after packing, a receipt is sent. The new
//! step is guarded by the patch `"receipt"`, so orders that started on
//! version 1 can move onto this version while they run: one that had
//! already packed replays the old branch (no receipt, which its history
//! does not hold) and one still packing takes the new branch when packing
//! completes.

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

/// Packs an order, sends a receipt, and waits for its pickup.
#[derive(Default)]
pub struct Shipping;

impl Workflow for Shipping {
    const NAME: &'static str = "shipping";
    type Input = Order;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, order: Order) -> Result<String> {
        let options = ActivityOptions::default().start_to_close(Duration::from_secs(60));
        let mut label: String = ctx.activity("pack", &order, options.clone()).await?;
        if ctx.patched("receipt") {
            let receipt: String = ctx.activity("send_receipt", &order.item, options).await?;
            label = format!("{label}; {receipt}");
        }
        ctx.sleep(PICKUP).await?;
        Ok(format!("{label}; picked up"))
    }
}

keel_sdk::workflows!(Shipping);
