//! What a worker thread started by [`to_thread::run_sync`](super::to_thread::run_sync)
//! knows about the task that started it: the run (to call back into the loop), the
//! caller's cancel scope (for `from_thread::check_cancelled` and the calls back), and
//! whether the caller still waits for the thread.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use crate::cancel::node::Node;
use crate::context::RunCtx;

/// The context of the task that handed work to this thread.
#[derive(Clone, Debug)]
pub(crate) struct WorkerContext {
    pub(crate) run: Arc<RunCtx>,
    /// The innermost scope of the calling task when it started the thread.
    pub(crate) caller_scope: Arc<Node>,
    /// Whether the caller still waits for the thread; see [`CallerWaits`].
    caller_waits: Arc<AtomicBool>,
}

impl WorkerContext {
    /// The context for a thread started by a task whose innermost scope is `caller_scope`,
    /// and the guard the caller holds while it waits for the thread.
    pub(crate) fn new(run: Arc<RunCtx>, caller_scope: Arc<Node>) -> (Self, CallerWaits) {
        let caller_waits = Arc::new(AtomicBool::new(true));
        let ctx = WorkerContext {
            run,
            caller_scope,
            caller_waits: caller_waits.clone(),
        };
        (ctx, CallerWaits(caller_waits))
    }

    /// The scope that calls back into the loop run in: the caller's while it waits for
    /// this thread, `None` once it has abandoned the thread (AnyIO's rule: the calls are
    /// then in no scope of the caller's).
    pub(crate) fn call_scope(&self) -> Option<&Arc<Node>> {
        self.caller_waits.load(SeqCst).then_some(&self.caller_scope)
    }
}

/// Held by the task that waits for a worker thread; dropped when it stops waiting: when
/// the thread's result arrives (the thread makes no more calls then), when it returns
/// `Cancelled` without the result (`abandon_on_cancel`), or when its future is dropped.
#[derive(Debug)]
pub(crate) struct CallerWaits(Arc<AtomicBool>);

impl Drop for CallerWaits {
    fn drop(&mut self) {
        self.0.store(false, SeqCst);
    }
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
