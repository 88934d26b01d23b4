//! The run's limits, checked before an activation is recorded: pending
//! timers, activities, requests and children, and history length.

use crate::engine::Activated;
use crate::history::{Command, Event, HistoryEvent, RunMachine};
use crate::limits::{Limit, LimitExceeded};
use crate::runtime::{Core, RunHandle};

/// Whether recording `activated` (which consumed `inputs`) keeps the run
/// within its limits. Cheap upper bounds first; the exact count only near a
/// limit.
pub(crate) fn check_limits(
    core: &Core,
    run: &RunHandle,
    machine: &RunMachine,
    inputs: &[HistoryEvent],
    activated: &Activated,
) -> std::result::Result<(), LimitExceeded> {
    let limits = &core.config.limits;
    let commands = &activated.commands;
    let (timers, activities, externals, children) = machine.pending_counts();
    let count = |started: fn(&Command) -> bool| commands.iter().filter(|c| started(c)).count();
    let started = count(|c| matches!(c, Command::StartTimer { .. }));
    let scheduled = count(|c| matches!(c, Command::ScheduleActivity { .. }));
    let requested = count(|c| {
        matches!(
            c,
            Command::SignalExternal { .. }
                | Command::CancelExternal { .. }
                | Command::StartChild(_)
        )
    });
    let asked = count(|c| matches!(c, Command::StartChild(_)));
    let seen = run.mailbox().seen_through;
    // Upper bounds: a command event and a follow-up per command, then the
    // close and the boundary; the exact count only near a limit.
    let mut events = seen + 2 * commands.len() as u64 + 2;
    // Room is kept for the two events that record the run's failure.
    let history_room = limits.max_history_events.saturating_sub(2);
    if timers + started > limits.max_pending_timers
        || activities + scheduled > limits.max_pending_activities
        || externals + requested > limits.max_pending_external_requests
        || children + asked > limits.max_pending_children
        || events > history_room
    {
        let inputs: Vec<&Event> = inputs.iter().map(|e| &e.event).collect();
        let after = machine.after(&inputs, commands);
        LimitExceeded::check(
            Limit::PendingTimers,
            after.timers as u64,
            limits.max_pending_timers as u64,
        )?;
        LimitExceeded::check(
            Limit::PendingActivities,
            after.activities as u64,
            limits.max_pending_activities as u64,
        )?;
        LimitExceeded::check(
            Limit::PendingExternalRequests,
            after.externals as u64,
            limits.max_pending_external_requests as u64,
        )?;
        LimitExceeded::check(
            Limit::PendingChildren,
            after.children as u64,
            limits.max_pending_children as u64,
        )?;
        events = seen + after.events as u64 + 2;
        if events > history_room {
            return Err(LimitExceeded {
                limit: Limit::HistoryEvents,
                value: events,
                max: limits.max_history_events,
            });
        }
    }
    if seen < limits.history_warn_events && events >= limits.history_warn_events {
        tracing::warn!(
            workflow_id = %run.workflow_id, run_id = %run.id,
            "the run's history passes {} events (it may have at most {}); \
             split long-running work into several runs",
            limits.history_warn_events, limits.max_history_events
        );
    }
    Ok(())
}
