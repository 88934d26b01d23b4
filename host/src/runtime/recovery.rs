//! Startup: rebuild the in-memory picture from the store. Every open run
//! gets its actor back with its undelivered inputs, every pending timer is
//! armed and every pending activity task dispatched again. Instances are
//! rebuilt lazily, by replay, when a run next has work.

use std::collections::HashSet;
use std::sync::Arc;

use crate::error::Result;
use crate::history::{Event, split_activations};
use crate::host::Parked;
use crate::host::{deliver_external, orphans};
use crate::runtime::deadline::Deadlines;
use crate::runtime::delay::START_SEQ;
use crate::runtime::retry::Retry;
use crate::runtime::{Core, RunHandle, activation};
use crate::store::RunRecord;
use crate::worker::dispatch::dispatch;

/// Keep an open run whose history cannot be read registered, parked with
/// the reason, so that one damaged run never stops the host from serving
/// the others.
fn park_unreadable(core: &Arc<Core>, record: RunRecord, reason: &str) {
    let message = format!(
        "KEEL-UNREADABLE: the history of run {} cannot be read ({reason}); the run is parked \
         and the host serves the others; terminate it or repair the store",
        record.run_id
    );
    tracing::error!(workflow_id = %record.workflow_id, run_id = %record.run_id, "{message}");
    let handle = RunHandle::new(
        record.run_id,
        record.workflow_id,
        record.workflow_type,
        record.component,
        record.created_at_ms,
        0,
    );
    // Its children and parent stay linked: a terminate reports it, and
    // applies its parent-close policy.
    if let Some(parent) = record.parent {
        handle.set_parent(parent);
    }
    handle.started_children();
    handle.mailbox().parked = Some(Parked::Unreadable { message });
    core.insert_run(handle);
}

/// What recovery found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Open runs taken over.
    pub runs: usize,
    /// Timers armed again.
    pub timers: usize,
    /// Activity tasks dispatched again.
    pub activities: usize,
}

/// See the module docs.
pub(crate) async fn recover(core: &Arc<Core>) -> Result<Recovered> {
    for (workflow_type, component) in core.store.current_versions().await? {
        core.set_current_version(workflow_type, component);
    }
    let mut handles = Vec::new();
    let mut cancel_requested = HashSet::new();
    let open = core.store.open_runs().await?;
    for record in open.iter().cloned() {
        let history = match core.store.history(record.run_id).await {
            Ok(history) => history,
            Err(err) => {
                park_unreadable(core, record, &err.to_string());
                continue;
            }
        };
        let Some(Event::WorkflowStarted(started)) = history.first().map(|e| &e.event) else {
            park_unreadable(core, record, "its history has no WorkflowStarted event");
            continue;
        };
        let handle = RunHandle::new(
            record.run_id,
            record.workflow_id,
            record.workflow_type,
            record.component,
            history[0].time_ms,
            started.random_seed,
        );
        handle.set_deadlines(Deadlines::of(started));
        if let Some(retry) = Retry::of(started) {
            handle.set_retry(retry);
        }
        if let Some(parent) = &started.parent {
            handle.set_parent(parent.clone());
        }
        if history
            .iter()
            .any(|e| matches!(e.event, Event::ChildStartRequested(_)))
        {
            handle.started_children();
        }
        if let Some(predecessor) = started.continued_from {
            handle.continues(predecessor);
        }
        cancel_requested.extend(history.iter().filter_map(|e| match &e.event {
            Event::ActivityCancelRequested(c) => Some((record.run_id, c.seq)),
            _ => None,
        }));
        handle.saw(history.iter().map(|e| e.id));
        handle.push_inputs(split_activations(&history).1);
        core.insert_run(handle.clone());
        handles.push(handle);
    }
    let timers = core.store.timers().await?;
    let tasks = core.store.tasks().await?;
    let recovered = Recovered {
        runs: handles.len(),
        timers: timers.len(),
        activities: tasks.len(),
    };
    for timer in timers {
        if timer.seq == START_SEQ
            && let Some(run) = core.run(timer.run_id)
        {
            // Still within its start delay.
            run.mailbox().held = true;
        }
        core.timers.arm(timer);
    }
    for task in tasks {
        if cancel_requested.contains(&(task.run_id, task.seq)) {
            // A wait-cancellation-completed activity asked to stop before the
            // restart: it is still asked to.
            core.activity_token(task.run_id, task.seq).cancel();
        }
        dispatch(core, task);
    }
    // Requests of open and closed runs alike.
    for entry in core.store.outbox().await? {
        deliver_external(core, entry);
    }
    for handle in &handles {
        activation::wake(core, handle);
    }
    orphans(core, &open);
    Ok(recovered)
}
