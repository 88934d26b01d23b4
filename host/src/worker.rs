//! The host's workers: native activities (registration, context, dispatch
//! with retries and timeouts) and the durable timer service.

mod activity;
pub(crate) mod dispatch;
pub(crate) mod retry;
pub(crate) mod timers;

pub use activity::{Activities, ActivityContext, ActivityError, ActivityInfo};
