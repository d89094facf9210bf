//! What a worker thread started by [`to_thread::run_sync`](super::to_thread::run_sync)
//! knows about the task that started it: the run (to call back into the loop) and the
//! caller's cancel scope (for `from_thread::check_cancelled`).

use std::cell::RefCell;
use std::sync::Arc;

use crate::cancel::node::Node;
use crate::context::RunCtx;

/// The context of the task that handed work to this thread.
#[derive(Clone, Debug)]
pub(crate) struct WorkerContext {
    pub(crate) run: Arc<RunCtx>,
    /// The innermost scope of the calling task when it started the thread.
    pub(crate) caller_scope: Arc<Node>,
}

thread_local! {
    static WORKER: RefCell<Option<WorkerContext>> = const { RefCell::new(None) };
}

/// Runs `f` with `ctx` installed as this thread's worker context.
pub(crate) fn with_worker<R>(ctx: WorkerContext, f: impl FnOnce() -> R) -> R {
    struct Reset(Option<WorkerContext>);
    impl Drop for Reset {
        fn drop(&mut self) {
            WORKER.with(|w| *w.borrow_mut() = self.0.take());
        }
    }
    let _reset = Reset(WORKER.with(|w| w.borrow_mut().replace(ctx)));
    f()
}

/// The worker context of this thread, if anyio started it for a task.
pub(crate) fn current() -> Option<WorkerContext> {
    WORKER.with(|w| w.borrow().clone())
}
