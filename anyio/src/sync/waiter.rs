//! The waiting half that every primitive of this module shares: a place in the primitive's
//! [`WaitQueue`] plus a registration with the innermost cancel scope.
//!
//! A primitive keeps its state (and its queue) behind one mutex and implements [`Queued`];
//! its waiting future keeps a [`Waiter`]. The rules of the crate live here, once:
//!
//! - the waiter queues with the innermost cancel scope it waits in, so a grant passes it
//!   over once that scope is cancelled (see [`WaitQueue`]), and while pending it is
//!   known to that scope (its task is, or its waker is registered there: see
//!   `CancelWait::register`), so a cancellation wakes it;
//! - on each poll it looks for its grant *before* it looks at cancellation, so an operation
//!   that already completed is reported as completed (rule 2: the next checkpoint raises);
//! - a waiter that was passed over while its scope was cancelled, and finds that scope no
//!   longer cancelled when it runs (a shield was raised meanwhile), starts its operation
//!   over rather than report a cancellation that is not in effect;
//! - a waiter that gives up (its scope cancelled, or its future dropped) leaves the queue;
//!   if it is dropped after being granted something, the grant is passed on with
//!   [`Queued::pass_on`], so nothing (a lock, a permit, a token) is ever leaked.

use std::task::{Context, Poll};

use super::wait_queue::{Cancelled as Left, Polled, WaitQueue, WaiterKey};
use crate::cancel::checkpoint::CancelWait;
use crate::cancel::current;
use crate::cancel::error::Cancelled;
use crate::loom::lock;
use crate::loom::sync::Mutex;

/// Where an acquisition stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Not polled yet, or starting over.
    Start,
    /// Took a free lock (permit, token) and yielded once; the next poll returns it.
    Yielded,
    /// Queued.
    Waiting,
    /// Returned its output.
    Done,
}

/// A primitive whose blocked callers wait in a [`WaitQueue`] inside its mutex.
pub(crate) trait Queued {
    /// Everything behind the primitive's mutex.
    type State;
    /// What a waiter brings.
    type Data;
    /// What a waiter is granted.
    type Grant;

    /// The primitive's mutex.
    fn state(&self) -> &Mutex<Self::State>;

    /// The queue inside the state.
    fn queue(state: &mut Self::State) -> &mut WaitQueue<Self::Data, Self::Grant>;

    /// A waiter that was granted `grant` went away without taking it: hand it to the next
    /// waiter, or give it back to the primitive.
    fn pass_on(&self, state: &mut Self::State, grant: Self::Grant);

    /// A waiter left the queue without being granted anything (or kept its grant): a
    /// primitive that mirrors "somebody waits" outside its mutex (the [`Lock`]'s state word)
    /// updates that mirror here. The caller holds the mutex (`state`).
    ///
    /// [`Lock`]: super::lock::Lock
    fn left_queue(&self, _state: &mut Self::State) {}

    /// The grant of the waiter `key` if it was handed over outside the queue: taken off
    /// it with its slot freed ([`WaitQueue::take_front`]), and told by its push number.
    /// Such a waiter must not look at its slot any more. Read without the mutex on a
    /// wake-up, and again under it before the slot is touched.
    fn handed_off(&self, _key: WaiterKey) -> Option<Self::Grant> {
        None
    }
}

/// The waiting state of one blocked operation.
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    key: Option<WaiterKey>,
    cancel: CancelWait,
    /// Nothing can cancel this wait (a condition taking its lock back): it queues with no
    /// scope and registers with none.
    shielded: bool,
}

impl Waiter {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A waiter that no cancellation reaches.
    pub(crate) fn shielded() -> Self {
        Waiter {
            shielded: true,
            ..Self::default()
        }
    }

    /// Queues the waiter at the back, with the innermost scope of the calling code; the
    /// caller holds the primitive's mutex (`state`).
    pub(crate) fn push<P: Queued + ?Sized>(
        &mut self,
        state: &mut P::State,
        data: P::Data,
        cx: &Context<'_>,
    ) {
        debug_assert!(self.key.is_none());
        let scope = if self.shielded {
            None
        } else {
            current::innermost_scope()
        };
        self.key = Some(P::queue(state).push(data, scope, cx.waker()));
    }

    /// Registers with the innermost cancel scope after [`push`](Self::push), with the
    /// mutex released. If the scope is already cancelled, the waiter leaves the queue and
    /// the result says how the operation ended.
    pub(crate) fn register<P: Queued + ?Sized>(
        &mut self,
        primitive: &P,
        cx: &Context<'_>,
    ) -> Poll<Result<P::Grant, Cancelled>> {
        if self.shielded {
            return Poll::Pending;
        }
        match self.cancel.register(cx) {
            Ok(()) => Poll::Pending,
            Err(c) => Poll::Ready(self.give_up(primitive, c)),
        }
    }

    /// Polls a queued waiter: `Some(Ok(grant))` if it has been granted, else
    /// `Some(Err(Cancelled))` if its scope is cancelled (the waiter then leaves the queue),
    /// else `Pending`. `None` means it was passed over while its scope was cancelled and
    /// that scope is no longer cancelled: it has left the queue, and the caller starts the
    /// operation over.
    pub(crate) fn poll<P: Queued + ?Sized>(
        &mut self,
        primitive: &P,
        cx: &Context<'_>,
    ) -> Poll<Option<Result<P::Grant, Cancelled>>> {
        let key = self.key.expect("polled a waiter that is not queued");
        if let Some(g) = primitive.handed_off(key) {
            return Poll::Ready(Some(Ok(self.took(g))));
        }
        let polled = {
            let mut state = lock(primitive.state());
            match primitive.handed_off(key) {
                Some(g) => Polled::Granted(g),
                None => P::queue(&mut state).poll_grant(key, cx.waker()),
            }
        };
        match polled {
            Polled::Waiting => self.register(primitive, cx).map(Some),
            Polled::Granted(g) => Poll::Ready(Some(Ok(self.took(g)))),
            Polled::Skipped(_) => {
                self.key = None;
                self.cancel.clear();
                Poll::Ready(current::is_cancelled().then(|| Err(current::cancelled())))
            }
        }
    }

    /// The waiter was granted `g` and has left the queue.
    fn took<G>(&mut self, g: G) -> G {
        self.key = None;
        self.cancel.clear();
        g
    }

    /// Leaves the queue because the scope is cancelled. A grant that arrived in the
    /// meantime means the operation completed: it is returned (rule 2).
    fn give_up<P: Queued + ?Sized>(
        &mut self,
        primitive: &P,
        c: Cancelled,
    ) -> Result<P::Grant, Cancelled> {
        self.cancel.clear();
        let Some(key) = self.key.take() else {
            return Err(c);
        };
        let mut state = lock(primitive.state());
        let left = leave::<P>(primitive, &mut state, key);
        match left {
            Left::Granted(g) => Ok(g),
            Left::NotGranted(_) | Left::Popped => Err(c),
        }
    }

    /// Leaves the queue because the operation's future is dropped, passing on anything it
    /// was granted. Does nothing if the waiter is not queued.
    pub(crate) fn abandon<P: Queued + ?Sized>(&mut self, primitive: &P) {
        self.cancel.clear();
        if let Some(key) = self.key.take() {
            let mut state = lock(primitive.state());
            if let Left::Granted(g) = leave::<P>(primitive, &mut state, key) {
                primitive.pass_on(&mut state, g);
            }
        }
    }
}

/// Takes the waiter `key` out of the queue, under the mutex (`state`), reporting what it
/// held: a waiter handed its grant outside the queue has no slot left to free.
fn leave<P: Queued + ?Sized>(
    primitive: &P,
    state: &mut P::State,
    key: WaiterKey,
) -> Left<P::Data, P::Grant> {
    if let Some(g) = primitive.handed_off(key) {
        return Left::Granted(g);
    }
    let left = P::queue(state).cancel(key);
    primitive.left_queue(state);
    left
}
