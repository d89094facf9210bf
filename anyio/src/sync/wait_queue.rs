//! The FIFO queue of blocked waiters that every primitive in this crate is built on.
//!
//! The queue lives inside the primitive's own mutex, next to the state it guards, so a
//! waiter is queued, granted or removed atomically with that state. It is *fair*: the
//! releasing side hands the resource (a lock, a permit, an item) directly to the oldest
//! waiter, which owns it from that moment, so no later arrival can barge in.
//!
//! **No grant to a cancelled waiter.** Each waiter records the innermost cancel scope it
//! waits in. Taking a waiter off the queue to grant it something ([`pop_first`] and the
//! calls built on it) passes over every waiter whose scope is cancelled by then: such a
//! waiter is *skipped* (taken off the queue, keeping its data, and woken to leave with
//! `Cancelled`), and the grant goes to the next one. A grant made before the cancellation
//! stays made ("completed is completed"). The rule lives here once, for every primitive and
//! the memory streams.
//!
//! Cancel safety rests on one rule: a waiter that goes away (its future dropped, or its
//! scope cancelled) calls [`WaitQueue::cancel`], which says whether it was never granted
//! (its data comes back: nothing happened) or had already been granted something (the
//! grant comes back, and the caller must pass it on or keep it). Nothing is lost between
//! "granted" and "the waiter noticed".
//!
//! [`pop_first`]: WaitQueue::pop_first

use std::sync::Arc;
use std::task::Waker;

use slab::Slab;

use crate::cancel::node::Node;

/// A waiter's place in a [`WaitQueue`]: its slot, and the number of its push, which no
/// other waiter of the queue shares (slots are reused, push numbers are not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaiterKey {
    slot: usize,
    seq: u64,
}

impl WaiterKey {
    /// The number of the push that queued this waiter: unique in its queue, never `0`.
    pub(crate) fn seq(self) -> u64 {
        self.seq
    }
}

#[derive(Debug)]
struct Waiter<D, G> {
    waker: Waker,
    /// What the waiter brought (a sender's item); `None` once taken by a grant.
    data: Option<D>,
    /// What the waiter was given; `Some` once granted.
    grant: Option<G>,
    /// The innermost scope the waiter waits in; `None` if nothing can cancel the wait.
    scope: Option<Arc<Node>>,
    /// Links of the FIFO list; meaningful while queued.
    prev: Option<usize>,
    next: Option<usize>,
    queued: bool,
    /// The number of its push (see [`WaiterKey`]).
    seq: u64,
}

impl<D, G> Waiter<D, G> {
    fn is_cancelled(&self) -> bool {
        self.scope.as_ref().is_some_and(|s| s.is_cancelled())
    }
}

/// How a waiter left the queue when it gave up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cancelled<D, G> {
    /// It was never granted anything (still queued, or skipped): here is what it brought.
    NotGranted(D),
    /// It had been taken off the queue and granted this: pass it on or keep it.
    Granted(G),
    /// It had been taken off the queue (its data consumed) but not granted yet.
    Popped,
}

/// What a queued waiter finds when it is polled.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Polled<D, G> {
    /// Still queued; its waker is up to date.
    Waiting,
    /// It was granted this, and has left the queue.
    Granted(G),
    /// It was skipped because its scope was cancelled, and has left the queue with what
    /// it brought. If its scope is no longer cancelled (a shield was raised meanwhile), it
    /// must start over: what it waits for may be free now.
    Skipped(D),
}

/// A FIFO queue of waiters; `D` is what a waiter brings, `G` what it is granted.
#[derive(Debug)]
pub(crate) struct WaitQueue<D, G> {
    waiters: Slab<Waiter<D, G>>,
    head: Option<usize>,
    tail: Option<usize>,
    queued: usize,
    /// How many waiters were ever pushed: the last one's [`WaiterKey::seq`].
    pushed: u64,
}

impl<D, G> Default for WaitQueue<D, G> {
    fn default() -> Self {
        WaitQueue {
            waiters: Slab::new(),
            head: None,
            tail: None,
            queued: 0,
            pushed: 0,
        }
    }
}

impl<D, G> WaitQueue<D, G> {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// How many waiters are queued (not yet taken off the queue).
    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Queues a waiter at the back. `scope` is the innermost cancel scope it waits in
    /// (`None` if nothing can cancel the wait): grants pass it over once that scope is
    /// cancelled.
    pub(crate) fn push(&mut self, data: D, scope: Option<Arc<Node>>, waker: &Waker) -> WaiterKey {
        self.pushed += 1;
        let key = self.waiters.insert(Waiter {
            waker: waker.clone(),
            data: Some(data),
            grant: None,
            scope,
            prev: self.tail,
            next: None,
            queued: true,
            seq: self.pushed,
        });
        match self.tail {
            Some(t) => self.waiters[t].next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        self.queued += 1;
        WaiterKey {
            slot: key,
            seq: self.pushed,
        }
    }

    /// Iterates over the queued waiters' data, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &D> + '_ {
        let mut next = self.head;
        std::iter::from_fn(move || {
            let key = next?;
            let w = &self.waiters[key];
            next = w.next;
            w.data.as_ref()
        })
    }

    /// Takes the oldest queued waiter whose scope is not cancelled off the queue and returns
    /// its data, to be [granted](Self::grant) something; the waiter keeps its slot until it
    /// collects the grant or cancels. The cancelled ones on the way are skipped.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<(WaiterKey, D)> {
        // Nobody waits on most sends and receives of a memory stream: no call for them.
        self.head?;
        self.pop_first(|_| true)
    }

    /// As [`pop_front`](Self::pop_front), for the oldest waiter for which `pred` holds:
    /// waiters for which it holds but whose scope is cancelled are skipped on the way.
    pub(crate) fn pop_first(&mut self, mut pred: impl FnMut(&D) -> bool) -> Option<(WaiterKey, D)> {
        let mut next = self.head;
        while let Some(key) = next {
            let w = &self.waiters[key];
            next = w.next;
            if !w.data.as_ref().is_some_and(&mut pred) {
                continue;
            }
            self.unlink(key);
            let w = &mut self.waiters[key];
            if w.is_cancelled() {
                // Skipped: it keeps its data, and is woken to leave (or start over).
                w.waker.wake_by_ref();
                continue;
            }
            let data = w.data.take().expect("a queued waiter has its data");
            return Some((
                WaiterKey {
                    slot: key,
                    seq: w.seq,
                },
                data,
            ));
        }
        None
    }

    /// Grants `value` to a waiter taken off the queue, and wakes it.
    pub(crate) fn grant(&mut self, key: WaiterKey, value: G) {
        let w = &mut self.waiters[key.slot];
        debug_assert!(!w.queued && w.grant.is_none());
        w.grant = Some(value);
        w.waker.wake_by_ref();
    }

    /// Grants `value` to a waiter taken off the queue, and returns its waker for the caller
    /// to wake once it has let its mutex go, so that the woken task does not find the
    /// mutex held. The slot keeps a waker that does nothing: a granted waiter is never
    /// woken through its slot again.
    pub(crate) fn grant_later(&mut self, key: WaiterKey, value: G) -> Waker {
        let w = &mut self.waiters[key.slot];
        debug_assert!(!w.queued && w.grant.is_none());
        w.grant = Some(value);
        std::mem::replace(&mut w.waker, Waker::noop().clone())
    }

    /// Takes the oldest eligible waiter off the queue (see [`pop_front`](Self::pop_front)),
    /// grants it `value` and wakes it; gives `value` back if nobody eligible waits.
    pub(crate) fn grant_front(&mut self, value: G) -> Result<D, G> {
        match self.pop_front() {
            Some((key, data)) => {
                self.grant(key, value);
                Ok(data)
            }
            None => Err(value),
        }
    }

    /// Takes the oldest eligible waiter off the queue (see [`pop_front`](Self::pop_front))
    /// *and frees its slot*, returning its key, its data and its waker, which the caller
    /// wakes once it has let its mutex go. For a primitive that tells the waiter of its
    /// grant outside the queue (the [`Lock`](super::lock::Lock)'s hand-off, by push number):
    /// the woken waiter then owns what it was given without taking the mutex again, and
    /// must never look at its slot, which another waiter may be using already.
    pub(crate) fn take_front(&mut self) -> Option<(WaiterKey, D, Waker)> {
        let (key, data) = self.pop_front()?;
        let w = self.waiters.remove(key.slot);
        debug_assert!(w.grant.is_none());
        Some((key, data, w.waker))
    }

    /// Called by a waiter when it is polled: what it finds (see [`Polled`]). Unless it is
    /// still waiting, it has left the queue and its slot is freed; while it waits, the new
    /// waker is remembered.
    pub(crate) fn poll_grant(&mut self, key: WaiterKey, waker: &Waker) -> Polled<D, G> {
        let w = &mut self.waiters[key.slot];
        let off_queue = !w.queued;
        // A waiter off the queue that still has its data was skipped (a granted one's data
        // was taken when it was popped).
        let polled = match (w.grant.take(), w.data.take_if(|_| off_queue)) {
            (Some(g), _) => Polled::Granted(g),
            (None, Some(d)) => Polled::Skipped(d),
            (None, None) => {
                if !w.waker.will_wake(waker) {
                    w.waker = waker.clone();
                }
                return Polled::Waiting;
            }
        };
        self.waiters.remove(key.slot);
        polled
    }

    /// Whether a waiter has been taken off the queue (granted, about to be, or skipped).
    #[cfg(test)]
    pub(crate) fn is_popped(&self, key: WaiterKey) -> bool {
        !self.waiters[key.slot].queued
    }

    /// Removes a waiter that gives up, reporting what it held (see [`Cancelled`]).
    pub(crate) fn cancel(&mut self, key: WaiterKey) -> Cancelled<D, G> {
        if self.waiters[key.slot].queued {
            self.unlink(key.slot);
        }
        let w = self.waiters.remove(key.slot);
        match (w.data, w.grant) {
            (_, Some(g)) => Cancelled::Granted(g),
            (Some(d), None) => Cancelled::NotGranted(d),
            (None, None) => Cancelled::Popped,
        }
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next) = {
            let w = &mut self.waiters[key];
            debug_assert!(w.queued);
            w.queued = false;
            (w.prev.take(), w.next.take())
        };
        match prev {
            Some(p) => self.waiters[p].next = next,
            None => self.head = next,
        }
        match next {
            Some(n) => self.waiters[n].prev = prev,
            None => self.tail = prev,
        }
        self.queued -= 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn grants_go_to_the_oldest_waiter_first() {
        let (count, w) = waker();
        let mut q: WaitQueue<&str, u32> = WaitQueue::new();
        let a = q.push("a", None, &w);
        let b = q.push("b", None, &w);
        let c = q.push("c", None, &w);
        assert_eq!(q.len(), 3);
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(q.grant_front(1), Ok("a"));
        assert_eq!(q.grant_front(2), Ok("b"));
        assert_eq!(count.0.load(SeqCst), 2);
        assert_eq!(q.poll_grant(b, &w), Polled::Granted(2));
        assert_eq!(q.poll_grant(a, &w), Polled::Granted(1));
        assert_eq!(q.poll_grant(c, &w), Polled::Waiting);
        assert_eq!(q.len(), 1);
        assert_eq!(q.cancel(c), Cancelled::NotGranted("c"));
        assert_eq!(q.grant_front(3), Err(3));
        assert!(q.is_empty());
    }

    #[test]
    fn a_cancelled_waiter_gives_back_what_it_was_granted() {
        let (_c, w) = waker();
        let mut q: WaitQueue<(), &str> = WaitQueue::new();
        let a = q.push((), None, &w);
        let b = q.push((), None, &w);
        q.grant_front("permit").unwrap();
        assert!(q.is_popped(a));
        assert_eq!(q.cancel(a), Cancelled::Granted("permit"));
        // The grant is passed on to the next waiter.
        q.grant_front("permit").unwrap();
        assert_eq!(q.poll_grant(b, &w), Polled::Granted("permit"));
    }

    #[test]
    fn cancelling_in_the_middle_keeps_the_order() {
        let (_c, w) = waker();
        let mut q: WaitQueue<u8, ()> = WaitQueue::new();
        let keys: Vec<_> = (0..5).map(|i| q.push(i, None, &w)).collect();
        assert_eq!(q.cancel(keys[2]), Cancelled::NotGranted(2));
        assert_eq!(q.cancel(keys[0]), Cancelled::NotGranted(0));
        assert_eq!(q.cancel(keys[4]), Cancelled::NotGranted(4));
        let k = q.push(5, None, &w);
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [1, 3, 5]);
        assert_eq!(q.pop_first(|&d| d > 2).map(|(_, d)| d), Some(3));
        assert_eq!(q.pop_front().map(|(_, d)| d), Some(1));
        assert_eq!(q.pop_front(), Some((k, 5)));
        assert_eq!(q.pop_front(), None);
    }

    #[test]
    fn a_waiter_whose_scope_is_cancelled_is_skipped_and_the_grant_goes_to_the_next() {
        let (count, w) = waker();
        let scope = Node::new_scope(None, false);
        let mut q: WaitQueue<&str, u32> = WaitQueue::new();
        let a = q.push("a", Some(scope.clone()), &w);
        let b = q.push("b", None, &w);
        scope.cancel();
        assert_eq!(q.grant_front(1), Ok("b"));
        // Both were taken off the queue and woken: `a` to leave, `b` to take its grant.
        assert!(q.is_empty());
        assert_eq!(count.0.load(SeqCst), 2);
        assert_eq!(q.poll_grant(a, &w), Polled::Skipped("a"));
        assert_eq!(q.poll_grant(b, &w), Polled::Granted(1));
        // With nobody else eligible, the grant comes back.
        let c = q.push("c", Some(scope), &w);
        assert_eq!(q.grant_front(2), Err(2));
        assert_eq!(q.cancel(c), Cancelled::NotGranted("c"));
    }

    #[test]
    fn a_grant_made_before_the_cancel_is_kept() {
        let (_c, w) = waker();
        let scope = Node::new_scope(None, false);
        let mut q: WaitQueue<(), u32> = WaitQueue::new();
        let a = q.push((), Some(scope.clone()), &w);
        q.grant_front(7).unwrap();
        scope.cancel();
        assert_eq!(q.poll_grant(a, &w), Polled::Granted(7));
    }

    #[test]
    fn only_cancelled_waiters_that_the_predicate_accepts_are_skipped() {
        let (_c, w) = waker();
        let scope = Node::new_scope(None, false);
        let mut q: WaitQueue<u8, ()> = WaitQueue::new();
        let keys: Vec<_> = (0..4).map(|i| q.push(i, Some(scope.clone()), &w)).collect();
        scope.cancel();
        assert_eq!(q.pop_first(|&d| d % 2 == 1), None);
        // 1 and 3 were skipped; 0 and 2 wait on, in order, until they notice.
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [0, 2]);
        assert_eq!(q.poll_grant(keys[1], &w), Polled::Skipped(1));
        assert_eq!(q.poll_grant(keys[0], &w), Polled::Waiting);
        assert_eq!(q.cancel(keys[3]), Cancelled::NotGranted(3));
    }
}
