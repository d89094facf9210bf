//! The root task of a run: the future given to `run`, polled with its context installed.
//!
//! Two things make the root behave alike on every backend:
//! - The future is boxed once, as the run starts, so only a pointer travels through the
//!   backend's frames: a debug build copies a future on every move, and a large root (a
//!   test body with big locals) would otherwise need a different stack on each backend.
//! - It is polled only when woken (or new), as a spawned task is. tokio's `block_on` does
//!   that anyway; async-executor's `run` polls the future it runs whenever its executor
//!   wakes, and such a poll would look like the root running to
//!   [`wait_all_tasks_blocked`](crate::wait_all_tasks_blocked).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::clock_driver;
use crate::backend::Runtime;
use crate::cancel::current;
use crate::cancel::node::Node;
use crate::context::{RunCtx, TaskData, TaskName};

/// The root future of a run, boxed by [`Runner::run`](crate::Runner::run).
pub(crate) type RootFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

pub(crate) struct RootTask<'a, T> {
    root: Arc<Node>,
    fut: RootFuture<'a, T>,
}

impl<'a, T> RootTask<'a, T> {
    /// The root task of a new run on `runtime`; a run with a virtual clock also gets the
    /// clock's driver.
    pub(crate) fn new(runtime: Runtime, fut: RootFuture<'a, T>) -> Self {
        let clock = runtime.virtual_clock().cloned();
        let run = RunCtx::new(runtime);
        if let Some(clock) = clock {
            clock_driver::spawn(&run, clock);
        }
        let root = Node::new_task(TaskData::new(TaskName::Static("main"), None, run));
        current::set_run_root(&root);
        RootTask { root, fut }
    }
}

impl<T> Drop for RootTask<'_, T> {
    fn drop(&mut self) {
        // Also when the root is dropped without completing (a panic, a runtime shut
        // down): threads blocked on calls into the run must not wait forever.
        if let Some(task) = self.root.task() {
            task.run.finish();
        }
    }
}

impl<T> Future for RootTask<'_, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        let poll = current::enter_task_if_woken(&this.root, cx, |cx| this.fut.as_mut().poll(cx))
            .unwrap_or(Poll::Pending);
        if poll.is_ready() {
            if let Some(task) = this.root.task() {
                task.run.finish();
            }
        }
        poll
    }
}
