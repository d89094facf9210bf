//! The root task of a run: the future given to `run`, polled with its context installed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::backend::Runtime;
use crate::cancel::current;
use crate::cancel::node::Node;
use crate::context::{RunCtx, TaskData, TaskName};

pin_project! {
    pub(crate) struct RootTask<F> {
        root: Arc<Node>,
        #[pin]
        fut: F,
    }

    impl<F> PinnedDrop for RootTask<F> {
        fn drop(this: Pin<&mut Self>) {
            // Also when the root is dropped without completing (a panic, a runtime shut
            // down): threads blocked on calls into the run must not wait forever.
            if let Some(task) = this.root.task() {
                task.run.finish();
            }
        }
    }
}

impl<F> RootTask<F> {
    pub(crate) fn new(runtime: Runtime, fut: F) -> Self {
        let root = Node::new_task(TaskData::new(
            TaskName::Static("main"),
            None,
            RunCtx::new(runtime),
        ));
        current::set_run_root(&root);
        RootTask { root, fut }
    }
}

impl<F: Future> Future for RootTask<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let poll = current::enter_task(this.root, || this.fut.poll(cx));
        if poll.is_ready() {
            if let Some(task) = this.root.task() {
                task.run.finish();
            }
        }
        poll
    }
}
