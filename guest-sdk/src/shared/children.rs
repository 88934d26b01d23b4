//! Child workflows the executor tracks: the close a parent awaits, and a
//! cancellation held until the child has started (sent before, it would
//! reach no run).

use super::{CommandKind, Shared};
use crate::bindings::keel::workflow::external;

/// A child workflow whose close is awaited.
pub(super) struct Child {
    pub(super) workflow_id: String,
    /// The sequence number its start resolves.
    pub(super) started_seq: u32,
    pub(super) started: bool,
    /// A cancellation asked for before it started: sent once it has.
    pub(super) pending_cancel: Option<String>,
}

impl Shared {
    /// Track child `workflow_id`, whose start resolves `started_seq` and
    /// whose close resolves `seq`.
    pub(crate) fn track_child(&self, seq: u32, started_seq: u32, workflow_id: &str) {
        self.track(seq, CommandKind::Child);
        self.children.borrow_mut().insert(
            seq,
            Child {
                workflow_id: workflow_id.to_string(),
                started_seq,
                started: false,
                pending_cancel: None,
            },
        );
    }

    /// The start `seq` resolved; if it is a child's that started, a
    /// cancellation asked for meanwhile is sent now.
    pub(super) fn child_start_resolved(&self, seq: u32, started: bool) {
        let mut children = self.children.borrow_mut();
        let Some((closed, child)) = children.iter_mut().find(|(_, c)| c.started_seq == seq) else {
            return;
        };
        if !started {
            let closed = *closed;
            children.remove(&closed);
            self.slots.borrow_mut().remove(&closed);
            return;
        }
        child.started = true;
        if let Some(reason) = child.pending_cancel.take() {
            external::request_cancel(&child.workflow_id, &reason);
        }
    }

    /// The child whose close resolves `seq` did not start.
    pub(crate) fn untrack_child(&self, seq: u32) {
        self.slots.borrow_mut().remove(&seq);
        self.children.borrow_mut().remove(&seq);
    }
}
