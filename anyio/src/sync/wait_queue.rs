//! The FIFO queue of blocked waiters that every primitive in this crate is built on.
//!
//! The queue lives inside the primitive's own mutex, next to the state it guards, so a
//! waiter is queued, granted or removed atomically with that state. It is *fair*: the
//! releasing side hands the resource (a lock, a permit, an item) directly to the oldest
//! waiter, which owns it from that moment, so no later arrival can barge in.
//!
//! Cancel safety rests on one rule: a waiter that goes away (its future dropped, or its
//! scope cancelled) calls [`WaitQueue::cancel`], which says whether it was still queued
//! (its data comes back: nothing happened) or had already been granted something (the
//! grant comes back, and the caller must pass it on or keep it). Nothing is lost between
//! "granted" and "the waiter noticed".

use std::task::Waker;

use slab::Slab;

/// A waiter's place in a [`WaitQueue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WaiterKey(usize);

#[derive(Debug)]
struct Waiter<D, G> {
    waker: Waker,
    /// What the waiter brought (a sender's item); `None` once taken by `pop_front`.
    data: Option<D>,
    /// What the waiter was given; `Some` once granted.
    grant: Option<G>,
    /// Links of the FIFO list; meaningful while queued.
    prev: Option<usize>,
    next: Option<usize>,
    queued: bool,
}

/// How a waiter left the queue when it gave up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cancelled<D, G> {
    /// It was still queued: here is what it brought.
    Queued(D),
    /// It had been taken off the queue and granted this: pass it on or keep it.
    Granted(G),
    /// It had been taken off the queue (its data consumed) but not granted yet.
    Popped,
}

/// A FIFO queue of waiters; `D` is what a waiter brings, `G` what it is granted.
#[derive(Debug)]
pub(crate) struct WaitQueue<D, G> {
    waiters: Slab<Waiter<D, G>>,
    head: Option<usize>,
    tail: Option<usize>,
    queued: usize,
}

impl<D, G> Default for WaitQueue<D, G> {
    fn default() -> Self {
        WaitQueue {
            waiters: Slab::new(),
            head: None,
            tail: None,
            queued: 0,
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

    /// Queues a waiter at the back.
    pub(crate) fn push(&mut self, data: D, waker: &Waker) -> WaiterKey {
        let key = self.waiters.insert(Waiter {
            waker: waker.clone(),
            data: Some(data),
            grant: None,
            prev: self.tail,
            next: None,
            queued: true,
        });
        match self.tail {
            Some(t) => self.waiters[t].next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        self.queued += 1;
        WaiterKey(key)
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

    /// Takes the oldest queued waiter off the queue and returns its data. The waiter keeps
    /// its slot until it collects a [`grant`](Self::grant) or cancels.
    pub(crate) fn pop_front(&mut self) -> Option<(WaiterKey, D)> {
        let key = self.head?;
        self.unlink(key);
        let data = self.waiters[key]
            .data
            .take()
            .expect("a queued waiter has its data");
        Some((WaiterKey(key), data))
    }

    /// Takes the oldest queued waiter for which `pred` holds off the queue.
    pub(crate) fn pop_first(&mut self, mut pred: impl FnMut(&D) -> bool) -> Option<(WaiterKey, D)> {
        let mut next = self.head;
        while let Some(key) = next {
            let w = &self.waiters[key];
            next = w.next;
            if w.data.as_ref().is_some_and(&mut pred) {
                self.unlink(key);
                let data = self.waiters[key]
                    .data
                    .take()
                    .expect("a queued waiter has its data");
                return Some((WaiterKey(key), data));
            }
        }
        None
    }

    /// Grants `value` to a waiter taken off the queue, and wakes it.
    pub(crate) fn grant(&mut self, key: WaiterKey, value: G) {
        let w = &mut self.waiters[key.0];
        debug_assert!(!w.queued && w.grant.is_none());
        w.grant = Some(value);
        w.waker.wake_by_ref();
    }

    /// Takes the oldest queued waiter off the queue, grants it `value` and wakes it; gives
    /// `value` back if nobody waits.
    pub(crate) fn grant_front(&mut self, value: G) -> Result<D, G> {
        match self.pop_front() {
            Some((key, data)) => {
                self.grant(key, value);
                Ok(data)
            }
            None => Err(value),
        }
    }

    /// Called by a waiter when it is polled: takes its grant if it has one (and frees its
    /// slot), otherwise remembers the new waker.
    pub(crate) fn poll_grant(&mut self, key: WaiterKey, waker: &Waker) -> Option<G> {
        let w = &mut self.waiters[key.0];
        if let Some(g) = w.grant.take() {
            self.waiters.remove(key.0);
            return Some(g);
        }
        if !w.waker.will_wake(waker) {
            w.waker = waker.clone();
        }
        None
    }

    /// Whether a waiter has been taken off the queue (granted or about to be).
    #[cfg(test)]
    pub(crate) fn is_popped(&self, key: WaiterKey) -> bool {
        !self.waiters[key.0].queued
    }

    /// Removes a waiter that gives up, reporting what it held (see [`Cancelled`]).
    pub(crate) fn cancel(&mut self, key: WaiterKey) -> Cancelled<D, G> {
        if self.waiters[key.0].queued {
            self.unlink(key.0);
        }
        let w = self.waiters.remove(key.0);
        match (w.data, w.grant) {
            (_, Some(g)) => Cancelled::Granted(g),
            (Some(d), None) => Cancelled::Queued(d),
            (None, None) => Cancelled::Popped,
        }
    }

    /// Wakes every queued waiter without taking it off the queue (a state change it must
    /// re-examine, such as a close).
    pub(crate) fn wake_all(&self) {
        let mut next = self.head;
        while let Some(key) = next {
            let w = &self.waiters[key];
            w.waker.wake_by_ref();
            next = w.next;
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
        let a = q.push("a", &w);
        let b = q.push("b", &w);
        let c = q.push("c", &w);
        assert_eq!(q.len(), 3);
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(q.grant_front(1), Ok("a"));
        assert_eq!(q.grant_front(2), Ok("b"));
        assert_eq!(count.0.load(SeqCst), 2);
        assert_eq!(q.poll_grant(b, &w), Some(2));
        assert_eq!(q.poll_grant(a, &w), Some(1));
        assert_eq!(q.poll_grant(c, &w), None);
        assert_eq!(q.len(), 1);
        assert_eq!(q.cancel(c), Cancelled::Queued("c"));
        assert_eq!(q.grant_front(3), Err(3));
        assert!(q.is_empty());
    }

    #[test]
    fn a_cancelled_waiter_gives_back_what_it_was_granted() {
        let (_c, w) = waker();
        let mut q: WaitQueue<(), &str> = WaitQueue::new();
        let a = q.push((), &w);
        let b = q.push((), &w);
        q.grant_front("permit").unwrap();
        assert!(q.is_popped(a));
        assert_eq!(q.cancel(a), Cancelled::Granted("permit"));
        // The grant is passed on to the next waiter.
        q.grant_front("permit").unwrap();
        assert_eq!(q.poll_grant(b, &w), Some("permit"));
    }

    #[test]
    fn cancelling_in_the_middle_keeps_the_order() {
        let (_c, w) = waker();
        let mut q: WaitQueue<u8, ()> = WaitQueue::new();
        let keys: Vec<_> = (0..5).map(|i| q.push(i, &w)).collect();
        assert_eq!(q.cancel(keys[2]), Cancelled::Queued(2));
        assert_eq!(q.cancel(keys[0]), Cancelled::Queued(0));
        assert_eq!(q.cancel(keys[4]), Cancelled::Queued(4));
        let k = q.push(5, &w);
        assert_eq!(q.iter().copied().collect::<Vec<_>>(), [1, 3, 5]);
        assert_eq!(q.pop_first(|&d| d > 2).map(|(_, d)| d), Some(3));
        assert_eq!(q.pop_front().map(|(_, d)| d), Some(1));
        assert_eq!(q.pop_front(), Some((k, 5)));
        assert_eq!(q.pop_front(), None);
    }
}
