//! Replay support: split a history into the activations it recorded and
//! compare what code does now with what history holds.

use std::collections::HashMap;
use std::fmt;

use crate::history::event::{Event, HistoryEvent};

/// One activation as recorded: the inputs it was fed, the events it
/// produced, and its boundary (whose time is the activation's workflow time).
#[derive(Debug, Clone)]
pub struct RecordedActivation {
    /// Input events delivered, in delivery order.
    pub inputs: Vec<HistoryEvent>,
    /// Command and outcome events it produced, in order.
    pub produced: Vec<HistoryEvent>,
    /// Its `ActivationCompleted` event.
    pub boundary: HistoryEvent,
}

/// Split `history` into its recorded activations, plus the input events
/// that no activation has consumed yet (in id order).
pub fn split_activations(history: &[HistoryEvent]) -> (Vec<RecordedActivation>, Vec<HistoryEvent>) {
    let mut inputs: HashMap<u64, &HistoryEvent> = history
        .iter()
        .filter(|e| e.event.is_input())
        .map(|e| (e.id, e))
        .collect();
    let mut activations = Vec::new();
    let mut produced = Vec::new();
    for event in history {
        match &event.event {
            Event::ActivationCompleted(boundary) => {
                let consumed = boundary
                    .consumed
                    .iter()
                    .filter_map(|id| inputs.remove(id).cloned())
                    .collect();
                activations.push(RecordedActivation {
                    inputs: consumed,
                    produced: std::mem::take(&mut produced),
                    boundary: event.clone(),
                });
            }
            e if e.is_command() => produced.push(event.clone()),
            _ => {}
        }
    }
    let mut pending: Vec<HistoryEvent> = inputs.into_values().cloned().collect();
    pending.sort_by_key(|e| e.id);
    (activations, pending)
}

/// Replay found that the code no longer does what history recorded
/// (`KEEL-ND001`). The run is parked until a fixed version is deployed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NonDeterminism {
    /// The history event where code and history part, or the boundary of the
    /// activation where the code issued more than history holds.
    pub event_id: u64,
    /// What history holds there, described.
    pub recorded: String,
    /// What the code did now, described.
    pub now: String,
}

impl NonDeterminism {
    /// The stable error code.
    pub const CODE: &'static str = "KEEL-ND001";

    /// Compare the events an activation produced at replay with those it
    /// recorded.
    ///
    /// # Errors
    /// The first difference.
    pub fn check(recorded: &RecordedActivation, now: &[Event]) -> Result<(), NonDeterminism> {
        let mut now_iter = now.iter().peekable();
        for old in &recorded.produced {
            if let Event::MarkerRecorded(marker) = &old.event
                && marker.deprecated
                && !now_iter
                    .peek()
                    .is_some_and(|new| same_command(&old.event, new))
            {
                // A deprecated patch's call may be removed from the code.
                continue;
            }
            let now = match now_iter.next() {
                Some(new) if same_command(&old.event, new) => continue,
                Some(new) => new.to_string(),
                None => "nothing (the activation ended without it)".into(),
            };
            return Err(NonDeterminism {
                event_id: old.id,
                recorded: describe_recorded(&old.event),
                now,
            });
        }
        match now_iter.next() {
            Some(new) => Err(NonDeterminism {
                event_id: recorded.boundary.id,
                recorded: "the end of the activation".into(),
                now: new.to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// What history holds, with what to do when it is a patch marker the code
/// no longer reaches.
fn describe_recorded(event: &Event) -> String {
    match event {
        Event::MarkerRecorded(marker) => format!(
            "{event}; the code does not take patched({:?}) at this point: keep the call \
             here, or deprecate_patch({:?}), while open runs have recorded it",
            marker.patch_id, marker.patch_id
        ),
        _ => event.to_string(),
    }
}

/// Whether a replayed event is the same command as the recorded one: same
/// kind and sequence number, same timer duration, same activity name.
/// Payloads may change between versions.
fn same_command(old: &Event, new: &Event) -> bool {
    match (old, new) {
        (Event::TimerStarted(a), Event::TimerStarted(b)) => {
            a.seq == b.seq && a.duration_ms == b.duration_ms
        }
        (Event::TimerCancelled(a), Event::TimerCancelled(b)) => a.seq == b.seq,
        (Event::ActivityScheduled(a), Event::ActivityScheduled(b)) => {
            a.seq == b.seq && a.name == b.name
        }
        (Event::ActivityCancelRequested(a), Event::ActivityCancelRequested(b)) => a.seq == b.seq,
        (Event::MarkerRecorded(a), Event::MarkerRecorded(b)) => a.patch_id == b.patch_id,
        (Event::ExternalSignalRequested(a), Event::ExternalSignalRequested(b)) => {
            a.seq == b.seq && a.workflow_id == b.workflow_id && a.name == b.name
        }
        (Event::ExternalCancelRequested(a), Event::ExternalCancelRequested(b)) => {
            a.seq == b.seq && a.workflow_id == b.workflow_id
        }
        (Event::ChildStartRequested(a), Event::ChildStartRequested(b)) => {
            a.seq == b.seq
                && a.closed_seq == b.closed_seq
                && a.workflow_id == b.workflow_id
                && a.workflow_type == b.workflow_type
        }
        (Event::WorkflowCompleted(_), Event::WorkflowCompleted(_))
        | (Event::WorkflowFailed(_), Event::WorkflowFailed(_))
        | (Event::WorkflowCancelled(_), Event::WorkflowCancelled(_))
        | (Event::WorkflowContinuedAsNew(_), Event::WorkflowContinuedAsNew(_)) => true,
        _ => false,
    }
}

impl fmt::Display for NonDeterminism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} non-determinism at event {}: history has [{}] but the code now did [{}]",
            Self::CODE,
            self.event_id,
            self.recorded,
            self.now
        )
    }
}

impl std::error::Error for NonDeterminism {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::event::{ActivationCompleted, MarkerRecorded, TimerStarted};

    fn recorded(produced: Vec<Event>) -> RecordedActivation {
        let at = |id, event| HistoryEvent {
            id,
            time_ms: 0,
            event,
        };
        RecordedActivation {
            inputs: Vec::new(),
            boundary: at(
                99,
                Event::ActivationCompleted(ActivationCompleted {
                    consumed: Vec::new(),
                }),
            ),
            produced: produced
                .into_iter()
                .enumerate()
                .map(|(i, e)| at(i as u64 + 2, e))
                .collect(),
        }
    }

    fn marker(deprecated: bool) -> Event {
        Event::MarkerRecorded(MarkerRecorded {
            patch_id: "p".into(),
            deprecated,
        })
    }

    fn timer() -> Event {
        Event::TimerStarted(TimerStarted {
            seq: 1,
            duration_ms: 5,
            fire_at_ms: 5,
        })
    }

    #[test]
    fn a_patch_marker_the_code_no_longer_reaches_is_named() {
        let nd =
            NonDeterminism::check(&recorded(vec![marker(false), timer()]), &[timer()]).unwrap_err();
        assert_eq!(nd.event_id, 2);
        assert!(nd.recorded.contains(r#"patched("p")"#), "{nd}");
    }

    #[test]
    fn a_deprecated_patch_marker_may_be_missing_from_the_code_or_not() {
        let history = recorded(vec![marker(true), timer()]);
        NonDeterminism::check(&history, &[timer()]).unwrap();
        NonDeterminism::check(&history, &[marker(true), timer()]).unwrap();
    }
}
