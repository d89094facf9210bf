//! The receiving end of a memory object stream.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::MemoryObjectStreamStatistics;
use super::error::ReceiveError;
use super::state::{RecvWaiter, Shared};
use crate::cancel::checkpoint::CancelWait;
use crate::cancel::current;
use crate::loom::sync::AtomicBool;
use crate::resource::ClosedResourceError;
use crate::sync::wait_queue::{Cancelled as Left, Polled, WaiterKey};

/// The receiving end of a memory object stream, made by
/// [`create_memory_object_stream`](super::create_memory_object_stream).
///
/// Receive with [`receive`](Self::receive) (waits for an item) or
/// [`receive_nowait`](Self::receive_nowait), or iterate: it is a
/// [`Stream`](futures_core::Stream) that ends at [`EndOfStream`](crate::EndOfStream).
/// Each item goes to exactly one receiver, in the order sent; blocked receivers are served
/// first come, first served.
///
/// # Handles and closing
///
/// Each handle (the first one and every clone) counts as one open receiver. A handle is
/// closed by [`close`](Self::close) or by dropping it; the *end* is closed once every
/// handle is. Then senders fail with [`SendErrorKind::Broken`](super::SendErrorKind::Broken)
/// (getting their item back), blocked senders are woken with it, and the buffered items,
/// which nobody can receive any more, are dropped.
///
/// A handle you closed yourself fails every later operation with [`ReceiveError::Closed`],
/// and so does a receive blocked on that same handle when it is closed (from another task
/// sharing the handle by reference, say), unless an item had already been handed to it: it
/// then returns that item. Closing a handle does not affect its clones: a receive blocked
/// on another clone keeps waiting.
///
/// Cloning a closed handle gives a closed handle, which does not count as open (see
/// [`Clone`](#impl-Clone-for-MemoryObjectReceiveStream%3CT%3E)); [`try_clone`](Self::try_clone)
/// refuses instead, as AnyIO's `clone()` does.
///
/// # Cancel safety
///
/// A handle is not an operation; see [`receive`](Self::receive) for the waiting one, and
/// [the `Stream` implementation](#impl-Stream-for-MemoryObjectReceiveStream%3CT%3E) for
/// iteration. Dropping a handle closes it; an item that had been handed to its pending
/// `poll_next` goes back to the stream first.
pub struct MemoryObjectReceiveStream<T> {
    shared: Arc<Shared<T>>,
    id: u64,
    closed: AtomicBool,
    /// The waiting state of a pending [`Stream::poll_next`].
    next: RecvOp,
}

/// The waiting state of one receive: its place in the queue and its registration with the
/// innermost cancel scope.
#[derive(Debug, Default)]
struct RecvOp {
    key: Option<WaiterKey>,
    wait: CancelWait,
}

impl<T> MemoryObjectReceiveStream<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>, id: u64) -> Self {
        MemoryObjectReceiveStream {
            shared,
            id,
            closed: AtomicBool::new(false),
            next: RecvOp::default(),
        }
    }

    /// Receives an item without waiting.
    ///
    /// First moves the oldest blocked sender's item into the buffer (on a rendezvous
    /// stream: takes it from that sender, whose `send` then completes), then takes the
    /// oldest buffered item. With nothing to take it fails with
    /// [`ReceiveError::EndOfStream`] if every send handle is closed and every item sent has
    /// been received, else with [`ReceiveError::WouldBlock`]: an item handed to a blocked
    /// receive that has not returned it yet is not received, since that receive may still
    /// be dropped and give it back. On a closed handle it fails with
    /// [`ReceiveError::Closed`]. Blocked senders whose scope is cancelled are passed over.
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel. It is not a checkpoint.
    pub fn receive_nowait(&self) -> Result<T, ReceiveError> {
        self.shared.lock().try_recv(self.closed.load(SeqCst))
    }

    /// Receives the next item, waiting until one is sent.
    ///
    /// It is a checkpoint: inside a cancelled scope it fails with
    /// [`ReceiveError::Cancelled`] before taking anything. Otherwise it does what
    /// [`receive_nowait`](Self::receive_nowait) does and, where that would fail with
    /// `WouldBlock`, waits in line for a sender to hand it an item.
    ///
    /// While waiting it fails with [`ReceiveError::EndOfStream`] once the last send handle
    /// is closed and every item sent has been received (an item handed to another receive
    /// counts once that receive returns it; if it is dropped instead, the item comes back,
    /// possibly to this one), and with [`ReceiveError::Closed`] when this handle is closed.
    ///
    /// One that can complete at once yields to the scheduler only when the task has used up
    /// its cooperative budget (128 such operations per poll of the task), as
    /// [`send`](super::MemoryObjectSendStream::send) does.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled receive consumes nothing, and an item handed to it is
    /// never lost.
    ///
    /// - Cancelled by a scope: it fails with [`ReceiveError::Cancelled`], having taken
    ///   nothing; but if a sender had already handed it an item, it returns that item
    ///   (rule 2: the operation completed; the next checkpoint reports the cancellation).
    ///   A sender does not hand items to receivers whose scope is already cancelled.
    /// - Dropped: if an item had been handed to it, the item goes to the oldest other
    ///   waiting receiver, or back to the front of the buffer, so it is the next one
    ///   received and FIFO order is kept. The buffer may then hold one item more than its
    ///   size until it is received.
    pub fn receive(&self) -> ReceiveFuture<'_, T> {
        ReceiveFuture {
            rx: self,
            op: RecvOp::default(),
        }
    }

    /// Closes this handle. Idempotent, synchronous, and also what dropping the handle does.
    ///
    /// Later operations on this handle fail with [`ReceiveError::Closed`], and so do
    /// receives blocked on it (they are woken). Clones are not affected. When the last open
    /// receive handle closes, senders fail with
    /// [`SendErrorKind::Broken`](super::SendErrorKind::Broken) and the buffered items are
    /// dropped.
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel.
    pub fn close(&self) {
        if self.closed.swap(true, SeqCst) {
            return;
        }
        let orphans = self.shared.lock().close_receiver(self.id);
        // Dropped after the lock is released: an item's destructor may use the stream.
        drop(orphans);
    }

    /// Whether this handle has been closed (by [`close`](Self::close)).
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel.
    pub fn is_closed(&self) -> bool {
        self.closed.load(SeqCst)
    }

    /// A new open handle to the same end: AnyIO's `clone()`. Fails with
    /// [`ClosedResourceError`] if this handle is closed.
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel.
    pub fn try_clone(&self) -> Result<Self, ClosedResourceError> {
        let mut state = self.shared.lock();
        if self.closed.load(SeqCst) {
            return Err(ClosedResourceError);
        }
        state.open_receivers += 1;
        let id = state.new_handle_id();
        drop(state);
        Ok(MemoryObjectReceiveStream::new(self.shared.clone(), id))
    }

    /// The stream's statistics: buffer use, open handles, blocked tasks.
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel.
    pub fn statistics(&self) -> MemoryObjectStreamStatistics {
        MemoryObjectStreamStatistics::of(&self.shared.lock())
    }
}

impl<T> Clone for MemoryObjectReceiveStream<T> {
    /// A new handle to the same end, open if this one is open.
    ///
    /// Cloning a **closed** handle does not fail and does not panic: it gives a handle that
    /// is closed too (every operation on it fails with [`ReceiveError::Closed`], and it
    /// does not count as an open receiver). Use
    /// [`try_clone`](MemoryObjectReceiveStream::try_clone) to get AnyIO's
    /// `ClosedResourceError` instead.
    fn clone(&self) -> Self {
        match self.try_clone() {
            Ok(handle) => handle,
            Err(ClosedResourceError) => {
                let id = self.shared.lock().new_handle_id();
                let handle = MemoryObjectReceiveStream::new(self.shared.clone(), id);
                handle.closed.store(true, SeqCst);
                handle
            }
        }
    }
}

impl<T> Drop for MemoryObjectReceiveStream<T> {
    fn drop(&mut self) {
        abandon(&self.shared, &mut self.next);
        self.close();
    }
}

impl<T> fmt::Debug for MemoryObjectReceiveStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryObjectReceiveStream")
            .field("closed", &self.is_closed())
            .field("statistics", &self.statistics())
            .finish()
    }
}

/// Iterates over the received items; the stream ends (`None`) at
/// [`EndOfStream`](crate::EndOfStream).
///
/// It also ends, without consuming anything, when the handle is closed or when the
/// enclosing cancel scope is cancelled: cancellation is level-triggered, so the next
/// checkpoint after the loop reports it. Use [`receive`](MemoryObjectReceiveStream::receive)
/// where you must tell these apart.
///
/// # Cancel safety
///
/// `poll_next` is a receive whose waiting state lives in the handle. If you stop polling
/// it while it is pending (a `next()` future dropped in a race, say), the handle keeps its
/// place in line: an item handed to it then is returned by the next `poll_next`, or goes
/// back to the stream when the handle is dropped. Nothing is lost, but the item waits for
/// this handle meanwhile; in `select`-like code prefer
/// [`receive`](MemoryObjectReceiveStream::receive), whose future gives its place up when
/// dropped.
impl<T> Stream for MemoryObjectReceiveStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let out = poll_receive(&this.shared, this.id, &this.closed, &mut this.next, cx);
        if out.is_ready() {
            // The handle outlives this wait: drop its registration with the scope now.
            this.next.wait.clear();
        }
        out.map(Result::ok)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.shared.lock().buffer.len(), None)
    }
}

/// The future of [`MemoryObjectReceiveStream::receive`].
///
/// # Cancel safety
///
/// Cancel safe; see [`receive`](MemoryObjectReceiveStream::receive). Dropping it at any
/// point leaves the stream consistent and loses no item.
#[must_use = "futures do nothing unless awaited"]
pub struct ReceiveFuture<'a, T> {
    rx: &'a MemoryObjectReceiveStream<T>,
    op: RecvOp,
}

impl<T> Future for ReceiveFuture<'_, T> {
    type Output = Result<T, ReceiveError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let rx = this.rx;
        poll_receive(&rx.shared, rx.id, &rx.closed, &mut this.op, cx)
    }
}

impl<T> Drop for ReceiveFuture<'_, T> {
    fn drop(&mut self) {
        abandon(&self.rx.shared, &mut self.op);
    }
}

impl<T> fmt::Debug for ReceiveFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiveFuture")
            .field("waiting", &self.op.key.is_some())
            .finish_non_exhaustive()
    }
}

/// One poll of a receive through handle `id` (whose flag is `closed`).
fn poll_receive<T>(
    shared: &Shared<T>,
    id: u64,
    closed: &AtomicBool,
    op: &mut RecvOp,
    cx: &mut Context<'_>,
) -> Poll<Result<T, ReceiveError>> {
    let Some(key) = op.key else {
        // The first poll: the checkpoint, then `receive_nowait`, then queueing.
        if let Err(c) = std::task::ready!(current::poll_checkpoint(cx)) {
            return Poll::Ready(Err(ReceiveError::Cancelled(c)));
        }
        return receive_or_queue(shared, id, closed, op, cx);
    };
    let registered = op.wait.register(cx);
    let mut state = shared.lock();
    match state.recv_waiters.poll_grant(key, cx.waker()) {
        // An item handed over is returned even if the scope was cancelled since (rule 2).
        Polled::Granted(outcome) => {
            op.key = None;
            Poll::Ready(state.collect(outcome))
        }
        Polled::Waiting => {
            drop(state);
            match registered {
                Ok(()) => Poll::Pending,
                Err(c) => Poll::Ready(leave(shared, op, ReceiveError::Cancelled(c))),
            }
        }
        Polled::Skipped(_) => {
            op.key = None;
            drop(state);
            match registered {
                Err(c) => Poll::Ready(Err(ReceiveError::Cancelled(c))),
                // Passed over while its scope was cancelled, and a shield has lifted that
                // cancellation since: what it missed may still be there.
                Ok(()) => receive_or_queue(shared, id, closed, op, cx),
            }
        }
    }
}

/// `receive_nowait` through handle `id`, or, where that would block, queueing (with the
/// innermost scope, so a sender passes this receive over once it is cancelled) and
/// registering with that scope.
fn receive_or_queue<T>(
    shared: &Shared<T>,
    id: u64,
    closed: &AtomicBool,
    op: &mut RecvOp,
    cx: &mut Context<'_>,
) -> Poll<Result<T, ReceiveError>> {
    let mut state = shared.lock();
    match state.try_recv(closed.load(SeqCst)) {
        Err(ReceiveError::WouldBlock) => {}
        done => return Poll::Ready(done),
    }
    let waiter = RecvWaiter { handle: id };
    let scope = current::innermost_scope();
    op.key = Some(state.recv_waiters.push(waiter, scope, cx.waker()));
    drop(state);
    match op.wait.register(cx) {
        Ok(()) => Poll::Pending,
        Err(c) => Poll::Ready(leave(shared, op, ReceiveError::Cancelled(c))),
    }
}

/// Leaves the queue for `why`, returning the item handed over meanwhile if there is one.
fn leave<T>(shared: &Shared<T>, op: &mut RecvOp, why: ReceiveError) -> Result<T, ReceiveError> {
    let key = op.key.take().expect("a waiting receive has a key");
    let mut state = shared.lock();
    match state.recv_waiters.cancel(key) {
        Left::Granted(outcome) => state.collect(outcome),
        Left::NotGranted(_) | Left::Popped => Err(why),
    }
}

/// A receive that goes away while waiting: it leaves the queue, and passes on an item
/// that had been handed to it.
fn abandon<T>(shared: &Shared<T>, op: &mut RecvOp) {
    if let Some(key) = op.key.take() {
        let mut state = shared.lock();
        if let Left::Granted(Ok(item)) = state.recv_waiters.cancel(key) {
            state.put_back(item);
        }
    }
    op.wait.clear();
}
