//! What `from_thread` and the blocking portals share: a one-shot result slot that a plain
//! thread blocks on, the run's registry of such slots (failed when the run ends, so no
//! thread waits forever on a loop that is gone), and the task that runs a future sent from
//! another thread.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread::Result as ThreadResult;
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;
use slab::Slab;

use crate::cancel::current;
use crate::cancel::node::Node;
use crate::context::{RunCtx, RunLocal, TaskData, TaskName};

/// Why a slot was filled without a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The task was cancelled (portal handles).
    Cancelled,
    /// The run ended (or dropped the task) before the task finished.
    Finished,
}

enum SlotState<T> {
    Pending,
    Done(ThreadResult<T>),
    Failed(Failure),
    Taken,
}

/// A one-shot result that one thread fills and another blocks on.
pub(crate) struct Slot<T> {
    state: Mutex<SlotState<T>>,
    ready: Condvar,
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Slot {
            state: Mutex::new(SlotState::Pending),
            ready: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fills the slot with the task's result; `false` (and the result dropped) if it was
    /// already filled.
    pub(crate) fn complete(&self, result: ThreadResult<T>) -> bool {
        let mut state = self.lock();
        if !matches!(*state, SlotState::Pending) {
            return false;
        }
        *state = SlotState::Done(result);
        drop(state);
        self.ready.notify_all();
        true
    }

    /// Fills the slot with a failure; `false` if it was already filled.
    pub(crate) fn fail(&self, why: Failure) -> bool {
        let mut state = self.lock();
        if !matches!(*state, SlotState::Pending) {
            return false;
        }
        *state = SlotState::Failed(why);
        drop(state);
        self.ready.notify_all();
        true
    }

    pub(crate) fn is_filled(&self) -> bool {
        !matches!(*self.lock(), SlotState::Pending)
    }

    /// Blocks until the slot is filled, then takes its content.
    ///
    /// # Panics
    ///
    /// If the content was already taken.
    pub(crate) fn wait(&self) -> Result<ThreadResult<T>, Failure> {
        let mut state = self.lock();
        while let SlotState::Pending = *state {
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        Self::take(&mut state)
    }

    /// Blocks until the slot is filled or `timeout` passes; whether it is filled.
    pub(crate) fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        while let SlotState::Pending = *state {
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return false,
                },
                None => Duration::from_secs(3600),
            };
            state = self
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    fn take(state: &mut SlotState<T>) -> Result<ThreadResult<T>, Failure> {
        match std::mem::replace(state, SlotState::Taken) {
            SlotState::Done(result) => Ok(result),
            SlotState::Failed(why) => {
                *state = SlotState::Failed(why);
                Err(why)
            }
            SlotState::Pending | SlotState::Taken => panic!("the result was already taken"),
        }
    }
}

/// A slot the run fails when it ends.
pub(crate) trait Abandon: Send + Sync {
    /// Fails the slot with [`Failure::Finished`] unless it is filled.
    fn run_finished(&self);
}

impl<T: Send> Abandon for Slot<T> {
    fn run_finished(&self) {
        self.fail(Failure::Finished);
    }
}

/// The slots other threads wait on, per run: failed when the run finishes.
#[derive(Default)]
pub(crate) struct Calls {
    inner: Mutex<CallsInner>,
}

#[derive(Default)]
struct CallsInner {
    finished: bool,
    pending: Slab<Arc<dyn Abandon>>,
}

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Calls")
            .field("finished", &inner.finished)
            .field("pending", &inner.pending.len())
            .finish()
    }
}

impl Calls {
    fn lock(&self) -> MutexGuard<'_, CallsInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl RunLocal for Calls {
    /// Marks the run finished and fails every slot still registered.
    fn run_finished(&self) {
        let pending = {
            let mut inner = self.lock();
            inner.finished = true;
            std::mem::take(&mut inner.pending)
        };
        for (_, slot) in pending {
            slot.run_finished();
        }
    }
}

/// A slot registered with its run: failed with [`Failure::Finished`] if the run ends first.
/// Unregisters when dropped.
pub(crate) struct Registration {
    run: Arc<RunCtx>,
    key: usize,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.key)
            .finish()
    }
}

impl Registration {
    /// Registers `slot`, or returns `None` if the run has already finished.
    pub(crate) fn new<T: Send + 'static>(run: &Arc<RunCtx>, slot: &Arc<Slot<T>>) -> Option<Self> {
        let calls = run.local::<Calls>();
        let mut inner = calls.lock();
        if inner.finished {
            return None;
        }
        let slot: Arc<dyn Abandon> = slot.clone();
        let key = inner.pending.insert(slot);
        drop(inner);
        Some(Registration {
            run: run.clone(),
            key,
        })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let calls = self.run.local::<Calls>();
        let mut inner = calls.lock();
        if !inner.finished {
            inner.pending.try_remove(self.key);
        }
    }
}

/// Whether this thread is polling a task of `run` right now: blocking here on that run
/// would deadlock it (or stall one of its workers).
pub(crate) fn on_loop_thread(run: &Arc<RunCtx>) -> bool {
    current::with_current(|cur| cur.is_some_and(|c| Arc::ptr_eq(&c.task_data().run, run)))
}

/// Spawns `fut` on `run` as a task linked under `parent` (so cancelling `parent` cancels
/// it); its result, or its panic, goes to `slot`. A task the runtime drops before it
/// finishes fails the slot with [`Failure::Finished`].
pub(crate) fn spawn_task<F>(
    run: &Arc<RunCtx>,
    parent: &Arc<Node>,
    name: TaskName,
    parent_id: Option<u64>,
    slot: Arc<Slot<F::Output>>,
    fut: F,
) where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let root = Node::new_task_under(TaskData::new(name, parent_id, run.clone()), parent);
    run.runtime.spawn(BridgeTask {
        root: Some(root),
        slot,
        fut: Some(fut),
    });
}

pin_project! {
    /// A future from another thread, run as an anyio task.
    struct BridgeTask<F: Future> {
        // `None` once finished.
        root: Option<Arc<Node>>,
        slot: Arc<Slot<F::Output>>,
        #[pin]
        fut: Option<F>,
    }

    impl<F: Future> PinnedDrop for BridgeTask<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let Some(root) = this.root.take() {
                // The runtime dropped the task (it is shutting down).
                let _ = catch_unwind(AssertUnwindSafe(|| this.fut.set(None)));
                root.unlink();
                this.slot.fail(Failure::Finished);
            }
        }
    }
}

impl<F: Future> Future for BridgeTask<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(root) = this.root.as_ref() else {
            return Poll::Ready(());
        };
        if root.is_aborted() {
            // Its caller's task group was dropped: dropped too, as every task of the group.
            let _ = catch_unwind(AssertUnwindSafe(|| this.fut.set(None)));
            let root = this.root.take().expect("checked above");
            root.unlink();
            this.slot.fail(Failure::Finished);
            return Poll::Ready(());
        }
        let mut fut = this.fut.as_mut();
        let polled = current::enter_task(root, cx, |cx| {
            catch_unwind(AssertUnwindSafe(|| {
                fut.as_mut()
                    .as_pin_mut()
                    .expect("polled after completion")
                    .poll(cx)
            }))
        });
        let result = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(panic) => Err(panic),
        };
        // Drop the future before reporting, so its destructors have run when the caller
        // resumes.
        let _ = catch_unwind(AssertUnwindSafe(|| this.fut.set(None)));
        let root = this.root.take().expect("checked above");
        root.unlink();
        this.slot.complete(result);
        Node::recycle(root);
        Poll::Ready(())
    }
}
