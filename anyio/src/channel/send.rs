//! The sending end of a memory object stream.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Context, Poll};

use super::MemoryObjectStreamStatistics;
use super::error::SendError;
// Named by the docs; the code reports cancellations through `SendError::cancelled`.
#[cfg(doc)]
use super::error::SendErrorKind;
use super::state::{SendGrant, SendWaiter, Shared};
use crate::cancel::checkpoint::CancelWait;
use crate::cancel::current;
use crate::cancel::error::Cancelled;
use crate::loom::sync::AtomicBool;
use crate::resource::ClosedResourceError;
use crate::sync::wait_queue::{Cancelled as Left, Polled, WaiterKey};

/// The sending end of a memory object stream, made by
/// [`create_memory_object_stream`](super::create_memory_object_stream).
///
/// Send with [`send`](Self::send) (waits for room or a receiver) or
/// [`send_nowait`](Self::send_nowait). Every failed send gives its item back in the
/// [`SendError`].
///
/// # Handles and closing
///
/// Each handle (the first one and every clone) counts as one open sender. A handle is
/// closed by [`close`](Self::close) or by dropping it; the *end* is closed once every
/// handle is. Then receivers drain the buffer and get
/// [`EndOfStream`](crate::EndOfStream), and blocked receivers are woken with it, once every
/// item sent has been received (an item handed to a receive that has not returned it yet
/// may still come back).
///
/// A handle you closed yourself fails every later operation with
/// [`SendErrorKind::Closed`], and so does a send blocked on that same handle when it is
/// closed (from another task sharing the handle by reference, say). Closing a handle does
/// not affect its clones: a send blocked on another clone keeps waiting.
///
/// Cloning a closed handle gives a closed handle, which does not count as open (see
/// [`Clone`](#impl-Clone-for-MemoryObjectSendStream%3CT%3E)); [`try_clone`](Self::try_clone)
/// refuses instead, as AnyIO's `clone()` does.
///
/// # Cancel safety
///
/// A handle is not an operation; see [`send`](Self::send) for the waiting one. Dropping a
/// handle closes it.
pub struct MemoryObjectSendStream<T> {
    shared: Arc<Shared<T>>,
    id: u64,
    closed: AtomicBool,
}

impl<T> MemoryObjectSendStream<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>, id: u64) -> Self {
        MemoryObjectSendStream {
            shared,
            id,
            closed: AtomicBool::new(false),
        }
    }

    /// Sends `item` without waiting: hands it to the oldest waiting receiver (skipping those
    /// whose cancel scope is already cancelled), else puts it in the buffer if there is
    /// room, else fails with [`SendErrorKind::WouldBlock`].
    ///
    /// Fails with [`SendErrorKind::Closed`] if this handle is closed, and with
    /// [`SendErrorKind::Broken`] if every receive handle is. The error gives the item back.
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel. It is not a checkpoint.
    pub fn send_nowait(&self, item: T) -> Result<(), SendError<T>> {
        let mut state = self.shared.lock();
        state.try_send(item, self.closed.load(SeqCst))
    }

    /// Sends `item`, waiting until a receiver takes it or the buffer has room.
    ///
    /// It is a checkpoint: inside a cancelled scope it fails with
    /// [`SendErrorKind::Cancelled`] before doing anything. Otherwise it does what
    /// [`send_nowait`](Self::send_nowait) does and, where that would fail with
    /// `WouldBlock`, waits in line: blocked senders are served first come, first served.
    /// On a stream of buffer size 0 (rendezvous) it completes only when a receiver has
    /// taken the item.
    ///
    /// While waiting it fails with [`SendErrorKind::Broken`] when the last receive handle
    /// is closed, and with [`SendErrorKind::Closed`] when this handle is. Every error gives
    /// the item back.
    ///
    /// Like every send and [`receive`](super::MemoryObjectReceiveStream::receive), it is a
    /// checkpoint: it checks for cancellation first. One that can complete at once yields to
    /// the scheduler only when the task has used up its cooperative budget (128 such
    /// operations per poll of the task, as tokio's budget), so a loop that only sends into
    /// an unbounded stream still lets other tasks run, without a yield per item.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled send delivers nothing.
    ///
    /// - Cancelled by a scope: it fails with [`SendErrorKind::Cancelled`] and gives the
    ///   item back, unless a receiver had already taken the item, in which case the send
    ///   succeeded and returns `Ok(())` (the next checkpoint reports the cancellation).
    ///   Receivers do not take the item of a send whose scope is already cancelled.
    /// - Dropped before it completed: the item is dropped with the future, undelivered,
    ///   unless a receiver had already taken it.
    ///
    /// Either way the item is delivered exactly once or not at all.
    pub fn send(&self, item: T) -> SendFuture<'_, T> {
        SendFuture {
            tx: self,
            item: Some(item),
            key: None,
            wait: CancelWait::new(),
        }
    }

    /// Closes this handle. Idempotent, synchronous, and also what dropping the handle does.
    ///
    /// Later operations on this handle fail with [`SendErrorKind::Closed`], and so do sends
    /// blocked on it (they are woken). Clones of this handle are not affected. When the
    /// last open send handle closes, receivers get [`EndOfStream`](crate::EndOfStream)
    /// once every item sent has been received.
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel.
    pub fn close(&self) {
        if self.closed.swap(true, SeqCst) {
            return;
        }
        self.shared.lock().close_sender(self.id);
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
        state.open_senders += 1;
        let id = state.new_handle_id();
        drop(state);
        Ok(MemoryObjectSendStream::new(self.shared.clone(), id))
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

impl<T> Clone for MemoryObjectSendStream<T> {
    /// A new handle to the same end, open if this one is open.
    ///
    /// Cloning a **closed** handle does not fail and does not panic: it gives a handle that
    /// is closed too (every operation on it fails with [`SendErrorKind::Closed`], and it
    /// does not count as an open sender). Use
    /// [`try_clone`](MemoryObjectSendStream::try_clone) to get AnyIO's
    /// `ClosedResourceError` instead.
    fn clone(&self) -> Self {
        match self.try_clone() {
            Ok(handle) => handle,
            Err(ClosedResourceError) => {
                let id = self.shared.lock().new_handle_id();
                let handle = MemoryObjectSendStream::new(self.shared.clone(), id);
                handle.closed.store(true, SeqCst);
                handle
            }
        }
    }
}

impl<T> Drop for MemoryObjectSendStream<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> fmt::Debug for MemoryObjectSendStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryObjectSendStream")
            .field("closed", &self.is_closed())
            .field("statistics", &self.statistics())
            .finish()
    }
}

/// The future of [`MemoryObjectSendStream::send`].
///
/// # Cancel safety
///
/// Cancel safe; see [`send`](MemoryObjectSendStream::send). Dropping it at any point
/// leaves the stream consistent: the item is delivered exactly once or not at all.
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture<'a, T> {
    tx: &'a MemoryObjectSendStream<T>,
    /// The item until it is queued or sent; `None` after completion.
    item: Option<T>,
    /// This send's place in the queue while it waits.
    key: Option<WaiterKey>,
    wait: CancelWait,
}

// The item is moved around by value and never pinned.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> SendFuture<'_, T> {
    /// The first poll: the checkpoint, then `send_nowait`, then queueing.
    fn start(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        let entered = std::task::ready!(current::poll_checkpoint(cx));
        let item = self
            .item
            .take()
            .expect("`SendFuture` polled after completion");
        if let Err(c) = entered {
            return Poll::Ready(Err(SendError::cancelled(c, item)));
        }
        self.send_or_queue(item, cx)
    }

    /// `send_nowait`, or, where that would block, queueing (with the innermost scope, so a
    /// receiver passes this send over once it is cancelled) and registering with that scope.
    fn send_or_queue(&mut self, item: T, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        let mut state = self.tx.shared.lock();
        let item = match state.try_send(item, self.tx.closed.load(SeqCst)) {
            Err(e) if e.is_would_block() => e.into_inner(),
            done => return Poll::Ready(done),
        };
        let waiter = SendWaiter {
            item,
            handle: self.tx.id,
        };
        let scope = current::innermost_scope();
        self.key = Some(state.send_waiters.push(waiter, scope, cx.waker()));
        drop(state);
        match self.wait.register(cx) {
            Ok(()) => Poll::Pending,
            Err(c) => Poll::Ready(self.leave(c)),
        }
    }

    /// Leaves the queue for `why`: the item comes back in the error, unless the send was
    /// settled meanwhile (a receiver took the item, or a close refused it).
    fn leave(&mut self, why: Cancelled) -> Result<(), SendError<T>> {
        let key = self.key.take().expect("a waiting send has a key");
        let left = self.tx.shared.lock().send_waiters.cancel(key);
        match left {
            Left::NotGranted(waiter) => Err(SendError::cancelled(why, waiter.item)),
            Left::Granted(grant) => settled(grant),
            // Never left so: a waiter is taken off the queue and granted at once.
            Left::Popped => Ok(()),
        }
    }
}

/// The outcome of a send that was granted something.
fn settled<T>(grant: SendGrant<T>) -> Result<(), SendError<T>> {
    match grant {
        SendGrant::Delivered => Ok(()),
        SendGrant::Refused(kind, item) => Err(SendError::new(kind, item)),
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(key) = this.key else {
            return this.start(cx);
        };
        let registered = this.wait.register(cx);
        let polled = this
            .tx
            .shared
            .lock()
            .send_waiters
            .poll_grant(key, cx.waker());
        match (polled, registered) {
            // Settled counts even if the scope was cancelled since (rule 2): a delivered
            // item stays delivered.
            (Polled::Granted(grant), _) => {
                this.key = None;
                Poll::Ready(settled(grant))
            }
            (Polled::Waiting, Ok(())) => Poll::Pending,
            (Polled::Waiting, Err(c)) => Poll::Ready(this.leave(c)),
            (Polled::Skipped(waiter), registered) => {
                this.key = None;
                match registered {
                    Err(c) => Poll::Ready(Err(SendError::cancelled(c, waiter.item))),
                    // Passed over while its scope was cancelled, and a shield has lifted
                    // that cancellation since: it sends after all.
                    Ok(()) => this.send_or_queue(waiter.item, cx),
                }
            }
        }
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // The item, if still queued, is dropped after the lock is released.
            let _left = self.tx.shared.lock().send_waiters.cancel(key);
        }
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("waiting", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
