//! The single-threaded, deterministic executor: polls every ready workflow
//! task in a fixed order until all are blocked.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

use futures::future::LocalBoxFuture;

use crate::shared::{Shared, Spawned, TaskId};

/// Task ids woken since they were last polled, in wake order.
type ReadyQueue = Arc<Mutex<VecDeque<TaskId>>>;

struct TaskWaker {
    task: TaskId,
    ready: ReadyQueue,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // The guest is single-threaded; the lock is never contended.
        if let Ok(mut ready) = self.ready.lock() {
            ready.push_back(self.task);
        }
    }
}

/// The tasks of one workflow run, by id.
#[derive(Default)]
pub(crate) struct Executor {
    tasks: BTreeMap<TaskId, (LocalBoxFuture<'static, ()>, Waker)>,
    ready: ReadyQueue,
}

impl Executor {
    fn spawn(&mut self, spawned: Spawned) {
        let Spawned { task, future } = spawned;
        let waker = Waker::from(Arc::new(TaskWaker {
            task,
            ready: self.ready.clone(),
        }));
        self.tasks.insert(task, (future, waker));
        self.push_ready(task);
    }

    fn push_ready(&self, task: TaskId) {
        if let Ok(mut ready) = self.ready.lock() {
            ready.push_back(task);
        }
    }

    fn pop_ready(&self) -> Option<TaskId> {
        self.ready.lock().ok()?.pop_front()
    }

    /// Poll tasks until none can make progress: every task is waiting on a
    /// timer, an activity, a signal or a condition that is still false.
    pub(crate) fn run_until_blocked(&mut self, shared: &Shared) {
        loop {
            for spawned in shared.take_spawned() {
                self.spawn(spawned);
            }
            if let Some(task) = self.pop_ready() {
                self.poll(shared, task);
                continue;
            }
            if shared.has_spawned() {
                continue;
            }
            if !shared.wake_satisfied_conditions() {
                return;
            }
        }
    }

    fn poll(&mut self, shared: &Shared, task: TaskId) {
        let Some((future, waker)) = self.tasks.get_mut(&task) else {
            return;
        };
        let waker = waker.clone();
        shared.set_current_task(task);
        if future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            self.tasks.remove(&task);
            shared.task_finished(task);
        } else {
            shared.polled(task);
        }
    }
}
