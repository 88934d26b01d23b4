//! The one-click-buy workflow, ported from Temporal's Python introduction: a
//! purchase goes through after a 10-second grace period unless the workflow
//! is cancelled first; until then a signal may replace the purchase.

use std::time::Duration;

use keel_sdk::{ActivityOptions, CancellationType, Handlers, Result, Workflow, WorkflowContext};
use serde::{Deserialize, Serialize};

/// What to buy, and for whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// The item bought.
    pub item_id: String,
    /// The buyer.
    pub user_id: String,
}

/// Where a purchase stands; queried as `"PENDING"`, `"PURCHASING"`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Waiting out the grace period.
    #[default]
    Pending,
    /// The `do_purchase` activity is running.
    Purchasing,
    /// Cancelled during the grace period.
    Cancelled,
    /// Bought.
    Completed,
}

/// Buys `purchase` after 10 seconds unless cancelled.
#[derive(Default)]
pub struct OneClickBuy {
    /// The purchase to make; a signal may set it before the run starts.
    purchase: Option<Purchase>,
    /// Where the purchase stands.
    status: Status,
}

impl Workflow for OneClickBuy {
    const NAME: &'static str = "one-click-buy";
    type Input = Purchase;
    type Output = String;

    async fn run(ctx: WorkflowContext<Self>, purchase: Purchase) -> Result<String> {
        ctx.update(|s| {
            s.purchase.get_or_insert(purchase);
        });
        // Give the user 10 seconds to cancel or update before buying.
        if let Err(e) = ctx.sleep(Duration::from_secs(10)).await {
            ctx.update(|s| s.status = Status::Cancelled);
            return Err(e);
        }
        let purchase = ctx.update(|s| {
            s.status = Status::Purchasing;
            s.purchase.clone()
        });
        let options = ActivityOptions::default()
            .start_to_close(Duration::from_secs(60))
            .cancellation(CancellationType::WaitCancellationCompleted);
        let receipt = ctx
            .activity::<_, String>("do_purchase", &purchase, options)
            .await;
        ctx.update(|s| {
            s.status = match &receipt {
                Ok(_) => Status::Completed,
                Err(e) if e.is_cancelled() => Status::Cancelled,
                Err(_) => s.status,
            }
        });
        receipt
    }

    fn handlers(handlers: &mut Handlers<Self>) {
        handlers
            .signal("update_purchase", |s: &mut Self, purchase: Purchase| {
                if s.status == Status::Pending {
                    s.purchase = Some(purchase);
                }
            })
            .query("current_status", |s: &Self, (): ()| s.status);
    }
}

keel_sdk::workflows!(OneClickBuy);
