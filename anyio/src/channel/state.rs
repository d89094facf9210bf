//! The state both ends of a memory object stream share, and the rules of delivery
//! (AnyIO's rules 12 and 13), each applied under the one mutex.
//!
//! Blocked senders wait in `send_waiters` with their item; blocked receivers wait in
//! `recv_waiters`. Handing over is direct: a receiver that takes a blocked sender's item
//! grants that sender `()` ("delivered"); a sender that finds a waiting receiver grants it
//! the item. Whoever is granted owns the result from that moment, so a waiter that goes
//! away later either completes anyway (a sender: its item was delivered) or passes its item
//! on (a receiver: [`State::put_back`]). Nothing is lost between "granted" and "noticed".
//!
//! Both queues pass over waiters whose cancel scope is cancelled (the rule of
//! [`WaitQueue`]): a sender never hands its item to such a receiver, nor a receiver take
//! such a sender's item. So while a live receiver waits, nothing is buffered.
//!
//! An item handed to a receiver that has not collected it yet is not received: that
//! receiver may still go away and give it back. The stream ends (`EndOfStream`) only once
//! every sender is closed and every item sent has been received: none buffered, none handed
//! out and not collected.

use std::collections::VecDeque;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::task::Waker;

use super::BufferSize;
use super::error::{ReceiveError, SendError, SendErrorKind};
use crate::loom::lock;
use crate::loom::sync::{Mutex, MutexGuard};
use crate::sync::wait_queue::{WaitQueue, WaiterKey};

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

/// What a blocked receiver brings: which handle it receives through.
#[derive(Debug)]
pub(crate) struct RecvWaiter {
    pub(crate) handle: u64,
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
    /// Items granted to receivers that have not collected them yet.
    handed_out: usize,
    /// The waiter last handed an item (or told its item was taken), to be woken once the
    /// mutex is let go ([`Locked`] does it).
    woken: Option<Waker>,
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
                handed_out: 0,
                woken: None,
            }),
        })
    }

    /// Locks the state. Dropping the result lets the mutex go, then wakes the waiter that
    /// was handed an item or told its item was taken meanwhile.
    pub(crate) fn lock(&self) -> Locked<'_, T> {
        Locked {
            guard: ManuallyDrop::new(lock(&self.state)),
        }
    }
}

/// The locked state of a stream (see [`Shared::lock`]).
pub(crate) struct Locked<'a, T> {
    guard: ManuallyDrop<MutexGuard<'a, State<T>>>,
}

impl<T> Deref for Locked<'_, T> {
    type Target = State<T>;

    fn deref(&self) -> &State<T> {
        &self.guard
    }
}

impl<T> DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut State<T> {
        &mut self.guard
    }
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        let woken = self.guard.woken.take();
        // SAFETY: the guard is dropped here, once, and `self` is not used after.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        if let Some(waker) = woken {
            waker.wake();
        }
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

    /// `send_nowait` (rule 12): to the oldest waiting receiver whose scope is not
    /// cancelled, else into the buffer, else `WouldBlock`. `closed` is the sending handle's
    /// own flag.
    pub(crate) fn try_send(&mut self, item: T, closed: bool) -> Result<(), SendError<T>> {
        if closed {
            return Err(SendError::new(SendErrorKind::Closed, item));
        }
        if self.open_receivers == 0 {
            return Err(SendError::new(SendErrorKind::Broken, item));
        }
        if let Some((key, _)) = self.recv_waiters.pop_front() {
            self.hand_over(key, item);
            return Ok(());
        }
        if self.buffer.len() < self.max {
            self.buffer.push_back(item);
            return Ok(());
        }
        Err(SendError::new(SendErrorKind::WouldBlock, item))
    }

    /// `receive_nowait` (rule 12): first moves the item of the oldest blocked sender whose
    /// scope is not cancelled into the buffer (taking it directly when the buffer is empty:
    /// the rendezvous), then takes the oldest buffered item; with nothing to take,
    /// `EndOfStream` once the stream [ended](Self::ended), else `WouldBlock`. `closed` is
    /// the receiving handle's own flag.
    pub(crate) fn try_recv(&mut self, closed: bool) -> Result<T, ReceiveError> {
        if closed {
            return Err(ReceiveError::Closed);
        }
        if let Some((key, waiter)) = self.send_waiters.pop_front() {
            let waker = self.send_waiters.grant_later(key, SendGrant::Delivered);
            self.wake_later(waker);
            if self.buffer.is_empty() {
                return Ok(waiter.item);
            }
            self.buffer.push_back(waiter.item);
        }
        if let Some(item) = self.buffer.pop_front() {
            return Ok(item);
        }
        if self.ended() {
            return Err(ReceiveError::EndOfStream);
        }
        Err(ReceiveError::WouldBlock)
    }

    /// Whether the stream has ended: every sender is closed and every item sent has been
    /// received, so none is buffered and none is handed to a receiver that has not
    /// collected it. (No blocked send is left once every sender is closed: closing a handle
    /// refuses its own.)
    fn ended(&self) -> bool {
        self.open_senders == 0 && self.buffer.is_empty() && self.handed_out == 0
    }

    /// Gives the blocked receivers `EndOfStream` if the stream has [ended](Self::ended).
    fn end_if_ended(&mut self) {
        if self.ended() {
            while let Some((key, _)) = self.recv_waiters.pop_front() {
                self.recv_waiters.grant(key, Err(ReceiveError::EndOfStream));
            }
        }
    }

    /// Grants `item` to the receiver `key`, taken off the queue.
    fn hand_over(&mut self, key: WaiterKey, item: T) {
        let waker = self.recv_waiters.grant_later(key, Ok(item));
        self.wake_later(waker);
        self.handed_out += 1;
    }

    /// Keeps `waker` to be woken once the mutex is let go; one kept before (never, on the
    /// paths that hand over one item per lock) is woken now.
    fn wake_later(&mut self, waker: Waker) {
        if let Some(earlier) = self.woken.replace(waker) {
            earlier.wake();
        }
    }

    /// A receiver collected what it was granted (`outcome`), which it returns: if that was
    /// an item, the stream may have ended with it.
    pub(crate) fn collect(&mut self, outcome: Result<T, ReceiveError>) -> Result<T, ReceiveError> {
        if outcome.is_ok() {
            self.handed_out -= 1;
            self.end_if_ended();
        }
        outcome
    }

    /// A receiver that was handed `item` went away without taking it: hand it to the oldest
    /// waiting receiver whose scope is not cancelled, else put it back at the front of the
    /// buffer, where it was first in line. (The buffer may then hold one item over its size
    /// for a moment: the item must go somewhere, and FIFO order is kept.)
    pub(crate) fn put_back(&mut self, item: T) {
        self.handed_out -= 1;
        if let Some((key, _)) = self.recv_waiters.pop_front() {
            self.hand_over(key, item);
        } else {
            self.buffer.push_front(item);
        }
    }

    /// One send handle was closed. Its own blocked sends are refused with `Closed` (their
    /// items leave the queue at once, so no receiver can take them any more). When it was
    /// the last one, and every item sent has been received, blocked receivers get
    /// `EndOfStream`; while an item is still handed out, they wait until it is collected
    /// (or given back, to one of them).
    pub(crate) fn close_sender(&mut self, handle: u64) {
        self.open_senders -= 1;
        while let Some((key, w)) = self.send_waiters.pop_first(|w| w.handle == handle) {
            let refusal = SendGrant::Refused(SendErrorKind::Closed, w.item);
            self.send_waiters.grant(key, refusal);
        }
        self.end_if_ended();
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
