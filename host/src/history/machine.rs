//! The run's command state machine: which timers and activities are pending,
//! and what events a batch of commands produces. Live execution and replay
//! drive it the same way (inputs are applied when delivered, commands when
//! planned), so both derive the same events from the same history.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::history::child::{ChildClosed, ChildStartFailed, ChildStartRequested, ChildStarted};
use crate::history::command::{CancellationType, Command};
use crate::history::event::{
    ActivityCancelRequested, ActivityCancelled, ActivityCompleted, ActivityFailed,
    ActivityScheduled, Event, ExternalCancelRequested, ExternalRequestCompleted,
    ExternalRequestFailed, ExternalSignalRequested, MarkerRecorded, TimerCancelled, TimerFired,
    TimerStarted,
};

/// The latest time the store can hold (a signed 64-bit column); a longer
/// timer is due then, which is never in practice.
pub const MAX_TIME_MS: u64 = i64::MAX as u64;

/// Events an activation produces from its commands.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Command events, in command order (recorded before the boundary).
    pub events: Vec<Event>,
    /// Input events the commands cause at once (an activity cancelled with
    /// `try-cancel` or `abandon`), recorded after the boundary and delivered
    /// in the next activation.
    pub followups: Vec<Event>,
}

/// What an activation would leave; see [`RunMachine::after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct After {
    pub(crate) timers: usize,
    pub(crate) activities: usize,
    pub(crate) externals: usize,
    pub(crate) children: usize,
    pub(crate) events: usize,
}

/// See the module docs.
#[derive(Debug, Default, Clone)]
pub struct RunMachine {
    timers: HashMap<u32, u64>,
    activities: HashMap<u32, PendingActivity>,
    /// Requests to other workflows (signals, cancels, child starts) not yet
    /// delivered, by sequence number: the requesting event.
    externals: BTreeMap<u32, Event>,
    /// Child workflows asked for and not closed, by the sequence number
    /// their close resolves.
    children: BTreeSet<u32>,
    /// Cancellation of the run was requested.
    cancel_requested: bool,
}

#[derive(Debug, Clone, Copy)]
struct PendingActivity {
    cancellation_type: CancellationType,
    cancel_requested: bool,
}

impl RunMachine {
    /// Account for an event: an input when it is delivered, a command event
    /// when it is planned.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::TimerStarted(TimerStarted {
                seq, fire_at_ms, ..
            }) => {
                self.timers.insert(*seq, *fire_at_ms);
            }
            Event::TimerFired(TimerFired { seq })
            | Event::TimerCancelled(TimerCancelled { seq }) => {
                self.timers.remove(seq);
            }
            Event::ActivityScheduled(ActivityScheduled { seq, options, .. }) => {
                self.activities.insert(
                    *seq,
                    PendingActivity {
                        cancellation_type: options.cancellation_type,
                        cancel_requested: false,
                    },
                );
            }
            Event::ActivityCancelRequested(ActivityCancelRequested { seq }) => {
                if let Some(activity) = self.activities.get_mut(seq) {
                    activity.cancel_requested = true;
                }
            }
            Event::ActivityCompleted(ActivityCompleted { seq, .. })
            | Event::ActivityFailed(ActivityFailed { seq, .. })
            | Event::ActivityCancelled(ActivityCancelled { seq }) => {
                self.activities.remove(seq);
            }
            Event::ExternalSignalRequested(ExternalSignalRequested { seq, .. })
            | Event::ExternalCancelRequested(ExternalCancelRequested { seq, .. }) => {
                self.externals.insert(*seq, event.clone());
            }
            Event::ChildStartRequested(ChildStartRequested {
                seq, closed_seq, ..
            }) => {
                self.externals.insert(*seq, event.clone());
                self.children.insert(*closed_seq);
            }
            Event::ChildStartFailed(ChildStartFailed { seq, .. }) => {
                if let Some(Event::ChildStartRequested(requested)) = self.externals.remove(seq) {
                    self.children.remove(&requested.closed_seq);
                }
            }
            Event::ChildClosed(ChildClosed { seq, .. }) => {
                self.children.remove(seq);
            }
            Event::CancelRequested(_) => self.cancel_requested = true,
            Event::ExternalRequestCompleted(ExternalRequestCompleted { seq })
            | Event::ExternalRequestFailed(ExternalRequestFailed { seq, .. })
            | Event::ChildStarted(ChildStarted { seq, .. }) => {
                self.externals.remove(seq);
            }
            _ => {}
        }
    }

    /// The events `commands` produce, issued at workflow time `now_ms`. Does
    /// not change the machine: apply the plan's events once it is used.
    pub fn plan(&self, commands: &[Command], now_ms: u64) -> Plan {
        let mut scratch = self.clone();
        let mut plan = Plan::default();
        for command in commands {
            let event = match command {
                Command::StartTimer { seq, duration_ms } => Event::TimerStarted(TimerStarted {
                    seq: *seq,
                    duration_ms: *duration_ms,
                    fire_at_ms: now_ms.saturating_add(*duration_ms).min(MAX_TIME_MS),
                }),
                Command::CancelTimer { seq } if scratch.timers.contains_key(seq) => {
                    Event::TimerCancelled(TimerCancelled { seq: *seq })
                }
                Command::CancelTimer { .. } => continue,
                Command::ScheduleActivity {
                    seq,
                    name,
                    input,
                    options,
                } => Event::ActivityScheduled(ActivityScheduled {
                    seq: *seq,
                    name: name.clone(),
                    input: input.clone(),
                    options: options.clone(),
                }),
                Command::RequestCancelActivity { seq } => {
                    if let Some(at) = plan
                        .events
                        .iter()
                        .position(|e| matches!(e, Event::ActivityScheduled(s) if s.seq == *seq))
                    {
                        // Scheduled and cancelled in one activation: it is
                        // never recorded nor dispatched, only resolved.
                        plan.events.remove(at);
                        scratch.activities.remove(seq);
                        plan.followups
                            .push(Event::ActivityCancelled(ActivityCancelled { seq: *seq }));
                        continue;
                    }
                    let Some(activity) = scratch.activities.get(seq) else {
                        continue;
                    };
                    if activity.cancel_requested {
                        continue;
                    }
                    if activity.cancellation_type != CancellationType::WaitCancellationCompleted {
                        plan.followups
                            .push(Event::ActivityCancelled(ActivityCancelled { seq: *seq }));
                    }
                    Event::ActivityCancelRequested(ActivityCancelRequested { seq: *seq })
                }
                Command::SignalExternal {
                    seq,
                    workflow_id,
                    name,
                    input,
                } => Event::ExternalSignalRequested(ExternalSignalRequested {
                    seq: *seq,
                    workflow_id: workflow_id.clone(),
                    name: name.clone(),
                    input: input.clone(),
                }),
                Command::CancelExternal {
                    seq,
                    workflow_id,
                    reason,
                } => Event::ExternalCancelRequested(ExternalCancelRequested {
                    seq: *seq,
                    workflow_id: workflow_id.clone(),
                    reason: reason.clone(),
                }),
                Command::StartChild(requested) => Event::ChildStartRequested(requested.clone()),
                Command::RecordPatch {
                    patch_id,
                    deprecated,
                } => Event::MarkerRecorded(MarkerRecorded {
                    patch_id: patch_id.clone(),
                    deprecated: *deprecated,
                }),
            };
            scratch.apply(&event);
            plan.events.push(event);
        }
        plan
    }

    /// What delivering `inputs` and planning `commands` would leave,
    /// without changing the machine: pending timers and activities, and the
    /// events recorded (commands and follow-ups).
    pub(crate) fn after(&self, inputs: &[&Event], commands: &[Command]) -> After {
        let mut scratch = self.clone();
        for input in inputs {
            scratch.apply(input);
        }
        let plan = scratch.plan(commands, 0);
        for event in plan.events.iter().chain(&plan.followups) {
            scratch.apply(event);
        }
        After {
            timers: scratch.timers.len(),
            activities: scratch.activities.len(),
            externals: scratch.externals.len(),
            children: scratch.children.len(),
            events: plan.events.len() + plan.followups.len(),
        }
    }

    /// How many timers, activities, requests to other workflows and child
    /// workflows are pending.
    pub(crate) fn pending_counts(&self) -> (usize, usize, usize, usize) {
        (
            self.timers.len(),
            self.activities.len(),
            self.externals.len(),
            self.children.len(),
        )
    }

    /// Sequence numbers and due times of the pending timers.
    pub fn pending_timers(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.timers.iter().map(|(seq, at)| (*seq, *at))
    }

    /// True once cancellation of the run was requested: a run that then
    /// fails is not retried (the retry would undo the cancel).
    pub(crate) fn run_cancel_requested(&self) -> bool {
        self.cancel_requested
    }

    /// The sequence numbers the closes of the pending children resolve.
    pub(crate) fn pending_children(&self) -> BTreeSet<u32> {
        self.children.clone()
    }

    /// The requests to other workflows not yet delivered, in order.
    pub(crate) fn pending_externals(&self) -> impl Iterator<Item = &Event> + '_ {
        self.externals.values()
    }

    /// True if a pending activity was asked to cancel (and waits for it).
    pub fn is_cancel_requested(&self, seq: u32) -> bool {
        self.activities
            .get(&seq)
            .is_some_and(|a| a.cancel_requested)
    }

    /// The cancellation type of a pending activity.
    pub fn cancellation_type(&self, seq: u32) -> Option<CancellationType> {
        self.activities.get(&seq).map(|a| a.cancellation_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::ActivityOptions;
    use crate::types::Payload;

    fn schedule(seq: u32, cancellation_type: CancellationType) -> Command {
        Command::ScheduleActivity {
            seq,
            name: "a".into(),
            input: Payload::default(),
            options: ActivityOptions {
                cancellation_type,
                ..ActivityOptions::default()
            },
        }
    }

    #[test]
    fn cancelling_a_timer_started_in_the_same_activation_records_both() {
        let machine = RunMachine::default();
        let plan = machine.plan(
            &[
                Command::StartTimer {
                    seq: 1,
                    duration_ms: 10,
                },
                Command::CancelTimer { seq: 1 },
                Command::CancelTimer { seq: 7 },
            ],
            100,
        );
        assert_eq!(plan.events.len(), 2);
        assert!(matches!(
            plan.events[0],
            Event::TimerStarted(TimerStarted {
                fire_at_ms: 110,
                ..
            })
        ));
        assert!(matches!(plan.events[1], Event::TimerCancelled(_)));
    }

    #[test]
    fn an_activity_cancelled_in_the_activation_that_scheduled_it_is_never_recorded() {
        for cancellation_type in [
            CancellationType::TryCancel,
            CancellationType::WaitCancellationCompleted,
            CancellationType::Abandon,
        ] {
            let plan = RunMachine::default().plan(
                &[
                    schedule(1, cancellation_type),
                    schedule(2, cancellation_type),
                    Command::RequestCancelActivity { seq: 1 },
                ],
                0,
            );
            assert!(
                matches!(plan.events.as_slice(), [Event::ActivityScheduled(s)] if s.seq == 2),
                "{cancellation_type:?}: {:?}",
                plan.events
            );
            assert_eq!(
                plan.followups,
                vec![Event::ActivityCancelled(ActivityCancelled { seq: 1 })]
            );
        }
    }

    #[test]
    fn try_cancel_resolves_at_once_but_wait_cancellation_does_not() {
        let mut machine = RunMachine::default();
        for e in machine
            .plan(
                &[
                    schedule(1, CancellationType::TryCancel),
                    schedule(2, CancellationType::WaitCancellationCompleted),
                ],
                0,
            )
            .events
        {
            machine.apply(&e);
        }
        let plan = machine.plan(
            &[
                Command::RequestCancelActivity { seq: 1 },
                Command::RequestCancelActivity { seq: 2 },
                Command::RequestCancelActivity { seq: 2 },
            ],
            0,
        );
        assert_eq!(plan.events.len(), 2);
        assert_eq!(
            plan.followups,
            vec![Event::ActivityCancelled(ActivityCancelled { seq: 1 })]
        );
    }
}
