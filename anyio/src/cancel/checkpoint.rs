//! Checkpoints, and the registration that lets any wait be woken by a cancellation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker, ready};

use pin_project_lite::pin_project;

use super::current;
use super::error::Cancelled;
use super::node::Node;

/// Checks for cancellation, then lets other tasks run.
///
/// Returns [`Cancelled`] if the calling code is effectively cancelled, before yielding or
/// after it; otherwise yields to the scheduler once and returns `Ok(())`. Call it in long
/// computations so they can be cancelled and do not starve other tasks.
///
/// # Cancel safety
///
/// Cancel safe: it holds nothing.
pub fn checkpoint() -> Checkpoint {
    Checkpoint { yielded: false }
}

/// The future of [`checkpoint`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Checkpoint {
    yielded: bool,
}

impl Future for Checkpoint {
    type Output = Result<(), Cancelled>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if current::is_cancelled() {
            return Poll::Ready(Err(current::cancelled()));
        }
        if self.yielded {
            return Poll::Ready(Ok(()));
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Returns [`Cancelled`] if the calling code is effectively cancelled, without yielding
/// otherwise.
///
/// # Cancel safety
///
/// Cancel safe: it holds nothing.
pub fn checkpoint_if_cancelled() -> CheckpointIfCancelled {
    CheckpointIfCancelled { _priv: () }
}

/// The future of [`checkpoint_if_cancelled`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct CheckpointIfCancelled {
    _priv: (),
}

impl Future for CheckpointIfCancelled {
    type Output = Result<(), Cancelled>;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(if current::is_cancelled() {
            Err(current::cancelled())
        } else {
            Ok(())
        })
    }
}

/// Yields to the scheduler once and never fails, even inside a cancelled scope.
///
/// # Cancel safety
///
/// Cancel safe: it holds nothing.
pub fn cancel_shielded_checkpoint() -> CancelShieldedCheckpoint {
    CancelShieldedCheckpoint { yielded: false }
}

/// The future of [`cancel_shielded_checkpoint`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct CancelShieldedCheckpoint {
    yielded: bool,
}

impl Future for CancelShieldedCheckpoint {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Makes a future that knows nothing of anyio (a tokio channel, an HTTP request)
/// cancellable by the enclosing cancel scopes.
///
/// The future is polled as usual; if the calling code is or becomes effectively cancelled
/// before it completes, the returned future resolves to `Err(Cancelled)` and `fut` is
/// dropped where it stands (Rust's own cancellation). Nothing inside `fut` gets to run async
/// cleanup, so prefer anyio operations where they exist.
///
/// # Cancel safety
///
/// As cancel safe as `fut` itself: on cancellation `fut` is dropped.
///
/// ```
/// use std::time::Duration;
/// # anyio::run(async {
/// let never = std::future::pending::<()>();
/// let out = anyio::move_on_after(Duration::from_millis(10), anyio::cancellable(never)).await;
/// assert_eq!(out, Ok(None));
/// # }).unwrap();
/// ```
pub fn cancellable<F: Future>(fut: F) -> Cancellable<F> {
    Cancellable {
        fut,
        wait: CancelWait::new(),
    }
}

pin_project! {
    /// The future of [`cancellable`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Cancellable<F> {
        #[pin]
        fut: F,
        wait: CancelWait,
    }
}

impl<F: Future> Future for Cancellable<F> {
    type Output = Result<F::Output, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if current::is_cancelled() {
            return Poll::Ready(Err(current::cancelled()));
        }
        if let Poll::Ready(v) = this.fut.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match this.wait.register(cx) {
            Ok(()) => Poll::Pending,
            Err(c) => Poll::Ready(Err(c)),
        }
    }
}

/// A registration of a blocked operation with the innermost cancel scope, so that the
/// scope's cancellation wakes it. Every anyio wait holds one while pending; dropping it
/// deregisters.
#[derive(Debug, Default)]
pub(crate) struct CancelWait {
    reg: Option<Registered>,
}

/// Where a [`CancelWait`] is registered, and whom the waker it left there wakes.
#[derive(Debug)]
struct Registered {
    node: Arc<Node>,
    key: usize,
    wakes: WakerId,
}

/// A waker's identity, as [`Waker::will_wake`] compares it: its data and vtable addresses.
/// While the node's table holds the waker, neither can be reused by another waker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WakerId(pub(crate) usize, pub(crate) usize);

impl WakerId {
    #[inline]
    pub(crate) fn of(waker: &Waker) -> WakerId {
        WakerId(
            waker.data() as usize,
            std::ptr::from_ref(waker.vtable()) as usize,
        )
    }
}

impl CancelWait {
    pub(crate) fn new() -> Self {
        CancelWait { reg: None }
    }

    /// Registers the waker of `cx` with the current innermost scope, or returns
    /// `Err(Cancelled)` if the calling code is effectively cancelled. Outside any anyio task
    /// nothing can cancel the wait, and this does nothing.
    ///
    /// A wait polled with its task's own waker registers nothing: it reads the scope's
    /// flag, and a cancellation that sets it wakes the task. A wait polled with another
    /// waker (a combinator's of its own) registers that waker in the scope's table. One
    /// registered already in the same scope with the same waker only reads the scope's
    /// flag, without its lock: a cancellation sets the flag before it wakes the table's
    /// wakers under the lock, and only the owner removes an entry, so while the flag is
    /// clear a later cancellation still finds this waker there.
    #[inline]
    pub(crate) fn register(&mut self, cx: &Context<'_>) -> Result<(), Cancelled> {
        current::with_current(|cur| {
            let Some(cur) = cur else { return Ok(()) };
            let node = cur.innermost();
            if !cur.is_task_waker(cx.waker()) {
                return self.register_waker(node, cx);
            }
            // A cancellation reaching `node` wakes this task (see `Node`) after setting the
            // flag, so reading the flag is the whole registration.
            self.clear();
            if node.is_cancelled() {
                Err(node.cancelled())
            } else {
                Ok(())
            }
        })
    }

    /// [`register`](Self::register) for a wait polled with a waker that is not its task's:
    /// the waker goes into `node`'s table.
    #[inline(never)]
    fn register_waker(&mut self, node: &Arc<Node>, cx: &Context<'_>) -> Result<(), Cancelled> {
        let wakes = WakerId::of(cx.waker());
        let mut key = match &self.reg {
            Some(r) if Arc::ptr_eq(&r.node, node) => {
                if r.wakes == wakes && !node.is_cancelled() {
                    return Ok(());
                }
                Some(r.key)
            }
            _ => {
                self.clear();
                None
            }
        };
        let res = node.register_waiter(&mut key, cx.waker());
        // `self.reg`, if set, is in `node` (a registration elsewhere was cleared above).
        self.reg = key.map(|key| match self.reg.take() {
            Some(r) => Registered { key, wakes, ..r },
            None => Registered {
                node: node.clone(),
                key,
                wakes,
            },
        });
        res
    }

    /// Drops the registration, if any.
    #[inline]
    pub(crate) fn clear(&mut self) {
        if self.reg.is_some() {
            self.deregister();
        }
    }

    fn deregister(&mut self) {
        if let Some(Registered { node, key, .. }) = self.reg.take() {
            node.remove_waiter(key);
        }
    }
}

impl Drop for CancelWait {
    #[inline]
    fn drop(&mut self) {
        self.clear();
    }
}

/// The cancellation side of a readiness-driven operation (a socket receive, say), polled
/// again and again until it completes: the first poll is a checkpoint (cancellation, then
/// the cooperative budget); while the operation is pending, the wait is registered with
/// the innermost scope so that a cancellation wakes it and ends it with `Cancelled`. A
/// result that is ready wins over a cancellation that arrived meanwhile, so nothing that
/// the operation took is lost.
#[derive(Debug, Default)]
pub(crate) struct OpWait {
    wait: CancelWait,
    checked: bool,
}

impl OpWait {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// One poll of `op` under this wait. After a `Ready`, the next poll starts a new
    /// operation (with its own checkpoint), so one `OpWait` can serve a stream's successive
    /// reads.
    pub(crate) fn poll<R, E: From<Cancelled>>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut Context<'_>) -> Poll<Result<R, E>>,
    ) -> Poll<Result<R, E>> {
        poll_op_wait(&mut self.wait, &mut self.checked, cx, op)
    }
}

/// [`OpWait::poll`] over a registration and a checkpoint flag held elsewhere: a socket keeps
/// each direction's registration from one operation to the next, so that a task that
/// waits again in the same scope finds its waker registered already.
#[inline]
pub(crate) fn poll_op_wait<R, E: From<Cancelled>>(
    wait: &mut CancelWait,
    checked: &mut bool,
    cx: &mut Context<'_>,
    op: impl FnOnce(&mut Context<'_>) -> Poll<Result<R, E>>,
) -> Poll<Result<R, E>> {
    if !*checked {
        if let Err(cancelled) = ready!(current::poll_checkpoint(cx)) {
            return Poll::Ready(Err(cancelled.into()));
        }
        *checked = true;
    }
    if let Poll::Ready(res) = op(cx) {
        *checked = false;
        return Poll::Ready(res);
    }
    match wait.register(cx) {
        Ok(()) => Poll::Pending,
        Err(cancelled) => {
            *checked = false;
            Poll::Ready(Err(cancelled.into()))
        }
    }
}
