//! The single-threaded, deterministic executor: polls every ready workflow
//! task in a fixed order until all are blocked.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

use futures::future::LocalBoxFuture;

use crate::shared::{Shared, Spawned, TaskId};

/// Task ids woken since they were last polled, in wake order.
type ReadyQueue = Arc<Mutex<VecDeque<usize>>>;

struct TaskWaker {
    task: usize,
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

/// The tasks of one workflow run.
#[derive(Default)]
pub(crate) struct Executor {
    tasks: Vec<Option<(LocalBoxFuture<'static, ()>, Waker)>>,
    ready: ReadyQueue,
}

impl Executor {
    fn spawn(&mut self, shared: &Shared, spawned: Spawned) {
        let Spawned {
            future,
            cancels_seen,
        } = spawned;
        let task = self.tasks.len();
        shared.register_task(task, cancels_seen);
        let waker = Waker::from(Arc::new(TaskWaker {
            task,
            ready: self.ready.clone(),
        }));
        self.tasks.push(Some((future, waker)));
        self.push_ready(task);
    }

    fn push_ready(&self, task: usize) {
        if let Ok(mut ready) = self.ready.lock() {
            ready.push_back(task);
        }
    }

    fn pop_ready(&self) -> Option<usize> {
        self.ready.lock().ok()?.pop_front()
    }

    /// Poll tasks until none can make progress: every task is waiting on a
    /// timer, an activity, a signal or a condition that is still false.
    pub(crate) fn run_until_blocked(&mut self, shared: &Shared) {
        loop {
            for spawned in shared.take_spawned() {
                self.spawn(shared, spawned);
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

    /// A cancellation request arrived: cancel every pending step, and count
    /// it given to every task that is waiting (not woken since its last
    /// poll); the others get it at their next step.
    pub(crate) fn cancel(&self, shared: &Shared, reason: &str) {
        shared.cancel_all(reason);
        let woken: Vec<TaskId> = self
            .ready
            .lock()
            .map(|ready| ready.iter().copied().collect())
            .unwrap_or_default();
        for (task, _) in self.tasks.iter().enumerate().filter(|(_, t)| t.is_some()) {
            if !woken.contains(&task) {
                shared.cancel_reached(task);
            }
        }
    }

    fn poll(&mut self, shared: &Shared, task: TaskId) {
        let Some(Some((future, waker))) = self.tasks.get_mut(task) else {
            return;
        };
        let waker = waker.clone();
        shared.set_current_task(task);
        if future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            self.tasks[task] = None;
            shared.task_finished(task);
        }
    }
}
