//! The component's entry points: route `describe`, `activate` and `query`
//! to the registered workflow types and to the run in this instance.

use std::cell::RefCell;
use std::rc::Rc;

use crate::bindings::exports::keel::workflow::guest::{Job, Outcome, QueryError, WorkflowType};
use crate::bindings::keel::workflow::lifecycle;
use crate::bindings::keel::workflow::log::{self, Level};
use crate::bindings::keel::workflow::types::Failure;
use crate::context::WorkflowContext;
use crate::error::Error;
use crate::executor::Executor;
use crate::shared::{MAIN_TASK, Resolved, Shared};
use crate::workflow::{ANY_SIGNAL, Handlers, QueryFailure, SignalFailure, Workflow};

/// Where a run's outcome is left when its main task finishes.
type OutcomeSlot = Rc<RefCell<Option<Outcome>>>;

/// Starts a run of one workflow type from its input.
type StartFn = fn(&[u8], &Rc<Shared>, &OutcomeSlot) -> Box<dyn Running>;

/// One workflow type of a component, as registered by `workflows!`.
pub struct Entry {
    name: &'static str,
    describe: fn() -> WorkflowType,
    start: StartFn,
}

impl Entry {
    /// The entry for workflow type `W`.
    pub fn of<W: Workflow>() -> Entry {
        Entry {
            name: W::NAME,
            describe: describe::<W>,
            start: start::<W>,
        }
    }
}

/// A started run, with its state type erased.
pub trait Running {
    /// Apply signal `name`; unknown names and undecodable arguments are
    /// logged and dropped.
    fn signal(&self, name: &str, input: &[u8]);
    /// Answer query `name`.
    fn query(&self, name: &str, input: &[u8]) -> Result<Vec<u8>, QueryError>;
}

struct RunningWorkflow<W> {
    state: Rc<RefCell<W>>,
    handlers: Handlers<W>,
    outcome: OutcomeSlot,
}

impl<W: Workflow> Running for RunningWorkflow<W> {
    fn signal(&self, name: &str, input: &[u8]) {
        let signals = &self.handlers.signals;
        let handler = signals.iter().find(|(n, _)| *n == name);
        let Some((_, handler)) = handler.or_else(|| signals.iter().find(|(n, _)| *n == ANY_SIGNAL))
        else {
            log::log(
                Level::Warn,
                &format!("dropped signal '{name}': {} has no handler for it", W::NAME),
            );
            return;
        };
        match handler(&mut self.state.borrow_mut(), name, input) {
            Ok(()) => {}
            Err(SignalFailure::BadInput(message)) => {
                log::log(Level::Error, &format!("dropped signal: bad {message}"));
            }
            Err(SignalFailure::Failed(e)) => {
                let e = match e {
                    Error::Payload(_) | Error::Application { .. } => e,
                    other => Error::application(other.error_type(), other.to_string()),
                };
                let mut outcome = self.outcome.borrow_mut();
                if outcome.is_none() {
                    *outcome = Some(ending::<W>(Err(e), false));
                }
            }
        }
    }

    fn query(&self, name: &str, input: &[u8]) -> Result<Vec<u8>, QueryError> {
        let Some((_, handler)) = self.handlers.queries.iter().find(|(n, _)| *n == name) else {
            return Err(QueryError::UnknownQuery(format!(
                "{} has no query '{name}'",
                W::NAME
            )));
        };
        handler(&self.state.borrow(), input).map_err(|failure| match failure {
            QueryFailure::BadInput(message) => QueryError::BadInput(message),
            QueryFailure::Failed(message) => QueryError::Failed(message),
        })
    }
}

fn describe<W: Workflow>() -> WorkflowType {
    let mut handlers = Handlers::<W>::default();
    W::handlers(&mut handlers);
    WorkflowType {
        name: W::NAME.to_string(),
        signals: handlers
            .signals
            .iter()
            .map(|(n, _)| n.to_string())
            .collect(),
        queries: handlers
            .queries
            .iter()
            .map(|(n, _)| n.to_string())
            .collect(),
    }
}

fn start<W: Workflow>(
    input: &[u8],
    shared: &Rc<Shared>,
    outcome: &OutcomeSlot,
) -> Box<dyn Running> {
    let state = Rc::new(RefCell::new(W::default()));
    let mut handlers = Handlers::default();
    W::handlers(&mut handlers);
    let ctx = WorkflowContext::new(state.clone(), shared.clone());
    let input = serde_json::from_slice::<W::Input>(crate::workflow::or_null(input));
    let (shared_done, outcome, outcome_slot) = (shared.clone(), outcome.clone(), outcome.clone());
    let main = shared.spawn(Box::pin(async move {
        let result = match input {
            Ok(input) => W::run(ctx, input).await,
            Err(e) => Err(Error::payload(&format!("input of workflow {}", W::NAME), e)),
        };
        let result = result.and_then(|output| {
            serde_json::to_vec(&output)
                .map_err(|e| Error::payload(&format!("result of workflow {}", W::NAME), e))
        });
        let ending = ending::<W>(result, shared_done.cancel_requested());
        outcome.borrow_mut().get_or_insert(ending);
    }));
    debug_assert_eq!(main, MAIN_TASK, "a run's first task is its main task");
    Box::new(RunningWorkflow {
        state,
        handlers,
        outcome: outcome_slot,
    })
}

/// How a run ends with `result` (of `run`, or of a failing signal
/// handler). An error [`Workflow::fails_run`] says does not fail the run
/// fails the workflow task instead: the instance traps, the host records
/// the message and retries the task.
fn ending<W: Workflow>(result: Result<Vec<u8>, Error>, cancel_requested: bool) -> Outcome {
    match result {
        Ok(bytes) => Outcome::Completed(bytes),
        // The host closes the run and starts the next: the outcome that
        // goes with it is `pending`.
        Err(Error::ContinueAsNew(next)) => {
            lifecycle::continue_as_new(&next.input, next.current_version);
            Outcome::Pending
        }
        // Only a cancellation of the workflow ends it as cancelled; a
        // cancelled step or task whose error `run` returns fails it.
        Err(e) if e.is_cancelled() && cancel_requested => Outcome::Cancelled(e.to_failure()),
        Err(e) if !W::fails_run(&e) => {
            panic!("{} failed its workflow task: {e}", W::NAME)
        }
        Err(e) => Outcome::Failed(e.to_failure()),
    }
}

/// The run living in this instance.
struct Instance {
    executor: Executor,
    shared: Rc<Shared>,
    running: Box<dyn Running>,
    outcome: OutcomeSlot,
}

thread_local! {
    static INSTANCE: RefCell<Option<Instance>> = const { RefCell::new(None) };
}

/// The `describe` export.
pub fn describe_all(entries: &[Entry]) -> Vec<WorkflowType> {
    entries.iter().map(|e| (e.describe)()).collect()
}

/// The `activate` export: apply the jobs in order, then run every task
/// until all are blocked.
pub fn activate(entries: &[Entry], jobs: Vec<Job>) -> Outcome {
    INSTANCE.with_borrow_mut(|slot| {
        for job in jobs {
            if let Job::Start(start) = job {
                if slot.is_some() {
                    continue;
                }
                let Some(entry) = entries.iter().find(|e| e.name == start.workflow_type) else {
                    return Outcome::Failed(unknown_type(entries, &start.workflow_type));
                };
                let shared = Rc::new(Shared::default());
                let outcome = Rc::new(RefCell::new(None));
                let running = (entry.start)(&start.input, &shared, &outcome);
                *slot = Some(Instance {
                    executor: Executor::default(),
                    shared,
                    running,
                    outcome,
                });
                continue;
            }
            let Some(instance) = slot.as_ref() else {
                return Outcome::Failed(not_started());
            };
            match job {
                Job::Start(_) => {}
                Job::FireTimer(seq) => instance.shared.resolve(seq, Resolved::TimerFired),
                Job::ResolveActivity(result) => instance
                    .shared
                    .resolve(result.activity, Resolved::Activity(result.resolution)),
                Job::Signal(signal) => instance.running.signal(&signal.name, &signal.input),
                Job::Cancel(reason) => instance.shared.cancel_workflow(&reason),
            }
        }
        let Some(instance) = slot.as_mut() else {
            return Outcome::Failed(not_started());
        };
        if let Some(outcome) = instance.outcome.borrow().clone() {
            // Closed already, or a signal handler failed the run.
            instance.shared.close();
            return outcome;
        }
        instance.executor.run_until_blocked(&instance.shared);
        match instance.outcome.borrow().clone() {
            Some(outcome) => {
                instance.shared.close();
                outcome
            }
            None => Outcome::Pending,
        }
    })
}

/// The `query` export.
pub fn query(name: &str, input: &[u8]) -> Result<Vec<u8>, QueryError> {
    INSTANCE.with_borrow(|slot| match slot {
        Some(instance) => instance.running.query(name, input),
        None => Err(QueryError::Failed("the workflow has not started".into())),
    })
}

fn unknown_type(entries: &[Entry], name: &str) -> Failure {
    let known: Vec<&str> = entries.iter().map(|e| e.name).collect();
    Failure {
        message: format!(
            "this component has no workflow type '{name}' (it serves: {})",
            known.join(", ")
        ),
        error_type: "UnknownWorkflowType".into(),
        non_retryable: true,
        details: None,
    }
}

fn not_started() -> Failure {
    Failure {
        message: "the first job of a run must start it".into(),
        error_type: "ProtocolError".into(),
        non_retryable: true,
        details: None,
    }
}
