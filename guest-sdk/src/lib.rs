//! Write [Keel](https://github.com) workflows in Rust and compile them to
//! `wasm32-wasip2` components.
//!
//! A workflow type is a struct holding its state that implements
//! [`Workflow`]; `run` drives it through a [`WorkflowContext`], which offers
//! durable timers, activities, conditions, spawned tasks (each cancellable
//! on its own, or shielded from cancellation), replay-safe time
//! and randomness. One line exports the types a component serves:
//!
//! ```no_run
//! use std::time::Duration;
//! use keel_sdk::{ActivityOptions, Result, Workflow, WorkflowContext};
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! impl Workflow for Hello {
//!     const NAME: &'static str = "hello";
//!     type Input = String;
//!     type Output = String;
//!
//!     async fn run(ctx: WorkflowContext<Self>, name: String) -> Result<String> {
//!         ctx.sleep(Duration::from_secs(1)).await?;
//!         let options = ActivityOptions::default().start_to_close(Duration::from_secs(10));
//!         ctx.activity("greet", &name, options).await
//!     }
//! }
//!
//! keel_sdk::workflows!(Hello);
//! ```
//!
//! Workflow code must be deterministic; the sandbox makes sure of it: there
//! is no file system, network or ambient clock, `std` time and randomness
//! read workflow time and the seeded generator, and `println!` goes to the
//! workflow log.

#![deny(missing_docs)]

mod activity;
mod child;
mod context;
mod error;
mod executor;
mod futures;
mod runtime;
mod shared;
mod workflow;

#[doc(hidden)]
pub mod bindings;

pub use crate::activity::{ActivityOptions, CancellationType, RetryPolicy};
pub use crate::child::{ChildHandle, ChildOptions, ChildResult, ChildStart, ParentClosePolicy};
pub use crate::context::{Level, WorkflowContext, WorkflowInfo};
pub use crate::error::{ContinueAsNew, Error, Result};
pub use crate::futures::{ActivityCall, Condition, ExternalCall, JoinHandle, Sleep};
pub use crate::workflow::{Handlers, Workflow};
/// Combinators for deterministic concurrency: `join!`, `join_all`,
/// `select_biased!` (prefer it to `select!`, whose order is random).
pub use ::futures::{future, join, select_biased};

/// Items the macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::bindings::__export_workflow_component as export;
    pub use crate::bindings::exports::keel::workflow::guest::{
        Guest, Job, Outcome, QueryError, WorkflowType,
    };
    pub use crate::runtime::{Entry, activate, describe_all, query};
}

/// Export the workflow types this component serves:
/// `keel_sdk::workflows!(Hello, OneClickBuy);`
#[macro_export]
macro_rules! workflows {
    ($($workflow:ty),+ $(,)?) => {
        #[cfg_attr(
            not(target_arch = "wasm32"),
            allow(dead_code, reason = "a component exports it only on wasm32")
        )]
        struct __KeelWorkflows;

        impl __KeelWorkflows {
            fn entries() -> ::std::vec::Vec<$crate::__private::Entry> {
                ::std::vec![$($crate::__private::Entry::of::<$workflow>()),+]
            }
        }

        impl $crate::__private::Guest for __KeelWorkflows {
            fn describe() -> ::std::vec::Vec<$crate::__private::WorkflowType> {
                $crate::__private::describe_all(&Self::entries())
            }

            fn activate(
                jobs: ::std::vec::Vec<$crate::__private::Job>,
            ) -> $crate::__private::Outcome {
                $crate::__private::activate(&Self::entries(), jobs)
            }

            fn query(
                name: ::std::string::String,
                input: ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<::std::vec::Vec<u8>, $crate::__private::QueryError> {
                $crate::__private::query(&name, &input)
            }
        }

        // Component export names ("keel:workflow/guest@0.1.0#activate") are
        // not valid native symbols, so a native build exports nothing.
        #[cfg(target_arch = "wasm32")]
        $crate::__private::export!(__KeelWorkflows with_types_in $crate::__private::bindings);
    };
}

/// Log at info level through the workflow log (muted on replay):
/// `keel_sdk::info!(ctx, "charged {}", amount)`.
#[macro_export]
macro_rules! info {
    ($ctx:expr, $($arg:tt)+) => {
        $ctx.log($crate::Level::Info, &::std::format!($($arg)+))
    };
}

/// Log at warn level through the workflow log (muted on replay).
#[macro_export]
macro_rules! warn {
    ($ctx:expr, $($arg:tt)+) => {
        $ctx.log($crate::Level::Warn, &::std::format!($($arg)+))
    };
}
