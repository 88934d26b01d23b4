//! Declaring workflow types: the `Workflow` trait and its signal and query
//! handlers.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::WorkflowContext;
use crate::error::{Error, Result};

/// A workflow type. The implementing struct is the workflow's state: it
/// starts as `Default`, signal handlers change it, query handlers read it,
/// and `run` drives the workflow through its [`WorkflowContext`].
pub trait Workflow: Default + 'static {
    /// The type's name, as clients start it.
    const NAME: &'static str;
    /// The argument a run starts with.
    type Input: DeserializeOwned;
    /// The value a successful run returns.
    type Output: Serialize;

    /// The workflow's code. Returning a cancellation error once the
    /// workflow's cancellation was requested finishes the run as cancelled;
    /// [`crate::Error::ContinueAsNew`] continues it as a new run; any other
    /// error fails it.
    fn run(
        ctx: WorkflowContext<Self>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output>>;

    /// Register the signals and queries the type handles.
    fn handlers(handlers: &mut Handlers<Self>) {
        let _ = handlers;
    }

    /// Whether `error`, returned from `run` or from a signal handler, fails
    /// the run. By default every error does except [`Error::Payload`]: a
    /// payload that does not decode (or encode) is a bug a fixed version can
    /// get past, so it fails the workflow task instead, which the host
    /// retries and `describe` shows, and the run goes on once a fix is
    /// deployed. Override it to fail the run for such errors too (Temporal's
    /// `failure_exception_types`).
    fn fails_run(error: &Error) -> bool {
        !matches!(error, Error::Payload(_))
    }
}

/// The argument of signal `name`.
fn decode_signal<A: DeserializeOwned>(
    name: &str,
    bytes: &[u8],
) -> std::result::Result<A, SignalFailure> {
    serde_json::from_slice(or_null(bytes))
        .map_err(|e| SignalFailure::BadInput(format!("argument of signal '{name}': {e}")))
}

/// An empty payload means JSON `null`, so `()` arguments may be omitted.
pub(crate) fn or_null(bytes: &[u8]) -> &[u8] {
    if bytes.is_empty() { b"null" } else { bytes }
}

/// A signal handler: applies the signal of the given name and argument.
pub(crate) type SignalFn<W> =
    Box<dyn Fn(&mut W, &str, &[u8]) -> std::result::Result<(), SignalFailure>>;

/// Why a signal handler did not apply its signal.
pub(crate) enum SignalFailure {
    /// The argument does not decode: the signal is dropped.
    BadInput(String),
    /// The handler returned an error.
    Failed(Error),
}

/// The name a type declares when it takes signals of any name; the host
/// then accepts every name for it.
pub(crate) const ANY_SIGNAL: &str = "*";
pub(crate) type QueryFn<W> = Box<dyn Fn(&W, &[u8]) -> std::result::Result<Vec<u8>, QueryFailure>>;

/// Why a query handler could not answer.
pub(crate) enum QueryFailure {
    BadInput(String),
    Failed(String),
}

/// The signal and query handlers of a workflow type.
pub struct Handlers<W> {
    pub(crate) signals: Vec<(&'static str, SignalFn<W>)>,
    pub(crate) queries: Vec<(&'static str, QueryFn<W>)>,
}

impl<W> Default for Handlers<W> {
    fn default() -> Self {
        Handlers {
            signals: Vec::new(),
            queries: Vec::new(),
        }
    }
}

impl<W: 'static> Handlers<W> {
    /// Handle signal `name`: decode its argument as `A` and apply `handler`
    /// to the state. Conditions are re-checked afterwards.
    pub fn signal<A: DeserializeOwned>(
        &mut self,
        name: &'static str,
        handler: impl Fn(&mut W, A) + 'static,
    ) -> &mut Self {
        self.signals.push((
            name,
            Box::new(move |state, _, bytes| {
                handler(state, decode_signal(name, bytes)?);
                Ok(())
            }),
        ));
        self
    }

    /// Like [`Handlers::signal`], for a handler that can fail the run: an
    /// error it returns ends the run as failed (or fails the workflow task,
    /// as [`Workflow::fails_run`] says), once the signals of the activation
    /// have been applied.
    pub fn try_signal<A: DeserializeOwned>(
        &mut self,
        name: &'static str,
        handler: impl Fn(&mut W, A) -> Result<()> + 'static,
    ) -> &mut Self {
        self.signals.push((
            name,
            Box::new(move |state, _, bytes| {
                handler(state, decode_signal(name, bytes)?).map_err(SignalFailure::Failed)
            }),
        ));
        self
    }

    /// Handle every signal no [`Handlers::signal`] names (Temporal's dynamic
    /// signal handler): `handler` gets the signal's name and its argument
    /// decoded as `A` (use `serde_json::Value` to take any). With it, the
    /// host accepts signals of any name for this type instead of refusing
    /// unknown ones.
    pub fn dynamic_signal<A: DeserializeOwned>(
        &mut self,
        handler: impl Fn(&mut W, &str, A) + 'static,
    ) -> &mut Self {
        self.signals.push((
            ANY_SIGNAL,
            Box::new(move |state, name, bytes| {
                handler(state, name, decode_signal(name, bytes)?);
                Ok(())
            }),
        ));
        self
    }

    /// Answer query `name`: decode its argument as `A` and read the state.
    /// Queries cannot change the state or issue commands.
    pub fn query<A: DeserializeOwned, R: Serialize>(
        &mut self,
        name: &'static str,
        handler: impl Fn(&W, A) -> R + 'static,
    ) -> &mut Self {
        self.try_query(name, move |state, arg| {
            Ok::<_, std::convert::Infallible>(handler(state, arg))
        })
    }

    /// Like [`Handlers::query`], for a handler that can refuse: its error's
    /// text reaches the caller as the query's failure.
    pub fn try_query<A: DeserializeOwned, R: Serialize, E: std::fmt::Display>(
        &mut self,
        name: &'static str,
        handler: impl Fn(&W, A) -> std::result::Result<R, E> + 'static,
    ) -> &mut Self {
        self.queries.push((
            name,
            Box::new(move |state, bytes| {
                let arg = serde_json::from_slice(or_null(bytes)).map_err(|e| {
                    QueryFailure::BadInput(format!("argument of query '{name}': {e}"))
                })?;
                let answer = handler(state, arg)
                    .map_err(|e| QueryFailure::Failed(format!("query '{name}': {e}")))?;
                serde_json::to_vec(&answer)
                    .map_err(|e| QueryFailure::Failed(format!("result of query '{name}': {e}")))
            }),
        ));
        self
    }
}
