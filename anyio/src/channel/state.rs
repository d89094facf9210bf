//! The state both ends of a memory object stream share, and the rules of delivery
//! (AnyIO's rules 12 and 13), each applied under the one mutex.
//!
//! Blocked senders wait in `send_waiters` with their item; blocked receivers wait in
//! `recv_waiters`. Handing over is direct: a receiver that takes a blocked sender's item
//! grants that sender `()` ("delivered"); a sender that finds a waiting receiver grants it
//! the item. Whoever is granted owns the result from that moment, so a waiter that goes
//! away later either completes anyway (a sender: its item was delivered) or passes its item
//! on (a receiver: [`State::put_back`]). Nothing is lost between "granted" and "noticed".

use std::collections::VecDeque;
use std::sync::Arc;

use super::BufferSize;
use super::error::{ReceiveError, SendError, SendErrorKind};
use crate::cancel::node::Node;
use crate::loom::sync::Mutex;
use crate::sync::wait_queue::WaitQueue;

/// What a blocked sender is granted: its item was taken by a receiver, or it is refused
/// (its handle or every receiver was closed) and gets its item back.
#[derive(Debug)]
pub(crate) enum SendGrant<T> {
    Delivered,
    Refused(SendErrorKind, T),
}

/// What a blocked sender brings: its item, and which handle it sends through.
#[derive(Debug)]
pub(crate) struct SendWaiter<T> {
    pub(crate) item: T,
    pub(crate) handle: u64,
}

/// What a blocked receiver brings: which handle it receives through, and the innermost
/// scope it waits in, so a sender can skip it if that scope is already cancelled.
#[derive(Debug)]
pub(crate) struct RecvWaiter {
    pub(crate) handle: u64,
    pub(crate) scope: Option<Arc<Node>>,
}

impl RecvWaiter {
    /// Whether an item may be handed to this receiver: not if its scope is cancelled
    /// already, since it would only have to give the item back (rule 12).
    fn eligible(&self) -> bool {
        self.scope.as_ref().is_none_or(|s| !s.is_cancelled())
    }
}

#[derive(Debug)]
pub(crate) struct State<T> {
    pub(crate) buffer: VecDeque<T>,
    /// `usize::MAX` when unbounded.
    pub(crate) max: usize,
    pub(crate) unbounded: bool,
    pub(crate) open_senders: usize,
    pub(crate) open_receivers: usize,
    next_handle: u64,
    pub(crate) send_waiters: WaitQueue<SendWaiter<T>, SendGrant<T>>,
    /// Granted an item, or the error that ended the wait (`Closed`, `EndOfStream`).
    pub(crate) recv_waiters: WaitQueue<RecvWaiter, Result<T, ReceiveError>>,
}

/// The shared half of a memory object stream.
#[derive(Debug)]
pub(crate) struct Shared<T> {
    pub(crate) state: Mutex<State<T>>,
}

/// A buffer never preallocates more than this many slots; it grows as needed beyond.
const PREALLOCATE: usize = 1024;

impl<T> Shared<T> {
    pub(crate) fn new(size: BufferSize) -> Arc<Self> {
        let (max, unbounded) = match size {
            BufferSize::Bounded(n) => (n, false),
            BufferSize::Unbounded => (usize::MAX, true),
        };
        Arc::new(Shared {
            state: Mutex::new(State {
                buffer: VecDeque::with_capacity(if unbounded { 0 } else { max.min(PREALLOCATE) }),
                max,
                unbounded,
                open_senders: 1,
                open_receivers: 1,
                // Handles 0 and 1 are the two made with the stream.
                next_handle: 2,
                send_waiters: WaitQueue::new(),
                recv_waiters: WaitQueue::new(),
            }),
        })
    }
}

impl<T> State<T> {
    pub(crate) fn new_handle_id(&mut self) -> u64 {
        let id = self.next_handle;
        self.next_handle += 1;
        id
    }

    pub(crate) fn max_buffer_size(&self) -> BufferSize {
        if self.unbounded {
            BufferSize::Unbounded
        } else {
            BufferSize::Bounded(self.max)
        }
    }

    /// `send_nowait` (rule 12): to the oldest eligible waiting receiver, else into the
    /// buffer, else `WouldBlock`. `closed` is the sending handle's own flag.
    pub(crate) fn try_send(&mut self, item: T, closed: bool) -> Result<(), SendError<T>> {
        if closed {
            return Err(SendError::new(SendErrorKind::Closed, item));
        }
        if self.open_receivers == 0 {
            return Err(SendError::new(SendErrorKind::Broken, item));
        }
        if !self.recv_waiters.is_empty() {
            if let Some((key, _)) = self.recv_waiters.pop_first(RecvWaiter::eligible) {
                self.recv_waiters.grant(key, Ok(item));
                return Ok(());
            }
        }
        if self.buffer.len() < self.max {
            self.buffer.push_back(item);
            return Ok(());
        }
        Err(SendError::new(SendErrorKind::WouldBlock, item))
    }

    /// `receive_nowait` (rule 12): first moves the oldest blocked sender's item into the
    /// buffer (taking it directly when the buffer is empty: the rendezvous), then takes the
    /// oldest buffered item; with nothing to take, `EndOfStream` once every sender is
    /// closed, else `WouldBlock`. `closed` is the receiving handle's own flag.
    pub(crate) fn try_recv(&mut self, closed: bool) -> Result<T, ReceiveError> {
        if closed {
            return Err(ReceiveError::Closed);
        }
        if let Some((key, waiter)) = self.send_waiters.pop_front() {
            self.send_waiters.grant(key, SendGrant::Delivered);
            if self.buffer.is_empty() {
                return Ok(waiter.item);
            }
            self.buffer.push_back(waiter.item);
        }
        if let Some(item) = self.buffer.pop_front() {
            return Ok(item);
        }
        if self.open_senders == 0 {
            return Err(ReceiveError::EndOfStream);
        }
        Err(ReceiveError::WouldBlock)
    }

    /// Whether a queued receiver should stop waiting and look again: something became
    /// available without being handed to it (it was skipped while its scope was cancelled,
    /// then the scope was un-cancelled by a shield), or the stream ended.
    pub(crate) fn receiver_should_retry(&self) -> bool {
        !self.buffer.is_empty() || !self.send_waiters.is_empty() || self.open_senders == 0
    }

    /// A receiver that was handed `item` went away without taking it: hand it to the oldest
    /// eligible waiting receiver, else put it back at the front of the buffer, where it was
    /// first in line. (The buffer may then hold one item over its size for a moment: the
    /// item must go somewhere, and FIFO order is kept.)
    pub(crate) fn put_back(&mut self, item: T) {
        if let Some((key, _)) = self.recv_waiters.pop_first(RecvWaiter::eligible) {
            self.recv_waiters.grant(key, Ok(item));
        } else {
            self.buffer.push_front(item);
        }
    }

    /// One send handle was closed. Its own blocked sends are refused with `Closed` (their
    /// items leave the queue at once, so no receiver can take them any more). When it was
    /// the last one, blocked receivers get `EndOfStream`, or, if items are still buffered,
    /// are woken to drain them first.
    pub(crate) fn close_sender(&mut self, handle: u64) {
        self.open_senders -= 1;
        while let Some((key, w)) = self.send_waiters.pop_first(|w| w.handle == handle) {
            let refusal = SendGrant::Refused(SendErrorKind::Closed, w.item);
            self.send_waiters.grant(key, refusal);
        }
        if self.open_senders == 0 {
            if self.buffer.is_empty() && self.send_waiters.is_empty() {
                while let Some((key, _)) = self.recv_waiters.pop_front() {
                    self.recv_waiters.grant(key, Err(ReceiveError::EndOfStream));
                }
            } else {
                self.recv_waiters.wake_all();
            }
        }
    }

    /// One receive handle was closed. Its own blocked receives end with `Closed`. When it
    /// was the last one, blocked senders are refused with `Broken` and get their items
    /// back, and the buffered items, which nobody can receive any more, are returned to be
    /// dropped outside the lock.
    pub(crate) fn close_receiver(&mut self, handle: u64) -> VecDeque<T> {
        self.open_receivers -= 1;
        while let Some((key, _)) = self.recv_waiters.pop_first(|w| w.handle == handle) {
            self.recv_waiters.grant(key, Err(ReceiveError::Closed));
        }
        if self.open_receivers > 0 {
            return VecDeque::new();
        }
        while let Some((key, w)) = self.send_waiters.pop_front() {
            let refusal = SendGrant::Refused(SendErrorKind::Broken, w.item);
            self.send_waiters.grant(key, refusal);
        }
        std::mem::take(&mut self.buffer)
    }
}
