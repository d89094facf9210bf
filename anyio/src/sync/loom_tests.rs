//! loom models of the synchronization primitives. Run with
//! `RUSTFLAGS="--cfg anyio_loom" CARGO_TARGET_DIR=target/loom cargo test -p anyio --lib
//! --release --no-default-features --features smol loom`.
//!
//! Each model races a wake (a release, a `set`, a `notify`, a raised `total_tokens`) against
//! a waiter that goes away (polled once, then dropped), over every interleaving, and checks
//! that nothing is lost: every remaining waiter finishes (loom reports a deadlock if one
//! is never woken) and the primitive ends up free. Futures are driven by loom's `block_on`
//! or polled by hand; outside an anyio task nothing cancels them, so the rule that a
//! cancelled waiter is passed over is modelled on the shared wait queue itself.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use loom::future::block_on;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;

use super::condition::Condition;
use super::event::Event;
use super::limiter::CapacityLimiter;
use super::lock::Lock;
use super::semaphore::Semaphore;
use super::wait_queue::{Polled, WaitQueue};
use crate::cancel::node::Node;
use crate::loom::lock;
use crate::loom::models::waker;
use crate::loom::sync::Mutex;

/// Polls `fut` once with a waker that does nothing, then drops it (and whatever it
/// returned): what a timeout or a `select!` does to a waiter.
fn poll_once_then_drop<F: Future + Unpin>(mut fut: F) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    let ready = matches!(Pin::new(&mut fut).poll(&mut cx), Poll::Ready(_));
    drop(fut);
    ready
}

#[test]
fn loom_lock_release_racing_a_dropped_waiter() {
    loom::model(|| {
        let lock = Arc::new(Lock::new_fast(0u32));
        let guard = lock.try_acquire().unwrap();
        let l = lock.clone();
        let dropper = thread::spawn(move || {
            poll_once_then_drop(l.acquire());
        });
        drop(guard);
        dropper.join().unwrap();
        let stats = lock.statistics();
        assert!(!stats.locked);
        assert_eq!(stats.tasks_waiting, 0);
    });
}

#[test]
fn loom_lock_handed_to_a_dropped_waiter_reaches_the_next() {
    loom::model(|| {
        let lock = Arc::new(Lock::new_fast(0u32));
        let guard = lock.try_acquire().unwrap();
        let (l1, l2) = (lock.clone(), lock.clone());
        let waiter = thread::spawn(move || {
            *block_on(l1.acquire()).unwrap() += 1;
        });
        let dropper = thread::spawn(move || {
            poll_once_then_drop(l2.acquire());
        });
        drop(guard);
        waiter.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(*lock.try_acquire().unwrap(), 1);
        assert_eq!(lock.statistics().tasks_waiting, 0);
    });
}

#[test]
fn loom_lock_with_yield_released_racing_a_waiter() {
    loom::model(|| {
        // The default (yielding) acquire, against a release.
        let lock = Arc::new(Lock::new(0u32));
        let guard = lock.try_acquire().unwrap();
        let l = lock.clone();
        let waiter = thread::spawn(move || {
            *block_on(l.acquire()).unwrap() += 1;
        });
        drop(guard);
        waiter.join().unwrap();
        assert_eq!(*lock.try_acquire().unwrap(), 1);
    });
}

/// The lock-free paths of the state word: an acquire and a release that take the fast
/// compare-and-swap race an acquirer that marks the word `QUEUED` and queues under the
/// mutex. Whoever comes second must get the lock exactly once, and the word must end free
/// (neither `LOCKED` nor a stale `QUEUED`, which would route every later release through
/// the mutex or, worse, leave the lock held).
#[test]
fn loom_lock_fast_release_racing_an_acquirer_that_queues() {
    loom::model(|| {
        let lock = Arc::new(Lock::new_fast(0u32));
        let l = lock.clone();
        let other = thread::spawn(move || {
            *block_on(l.acquire()).unwrap() += 1;
        });
        *block_on(lock.acquire()).unwrap() += 1;
        other.join().unwrap();
        let stats = lock.statistics();
        assert_eq!(
            (stats.locked, stats.owner, stats.tasks_waiting),
            (false, None, 0)
        );
        assert_eq!(*lock.try_acquire().unwrap(), 2);
    });
}

/// A queued waiter leaving (its future dropped) clears `QUEUED` while the holder releases:
/// the release either hands the lock to nobody through the mutex or takes the fast path
/// once the waiter is gone; a later acquirer always finds the lock free.
#[test]
fn loom_lock_waiter_leaving_racing_the_release_leaves_the_word_free() {
    loom::model(|| {
        let lock = Arc::new(Lock::new_fast(0u32));
        let guard = lock.try_acquire().unwrap();
        let l = lock.clone();
        let dropper = thread::spawn(move || {
            let mut fut = Box::pin(l.acquire());
            let mut cx = Context::from_waker(Waker::noop());
            let first = fut.as_mut().poll(&mut cx).is_ready();
            drop(fut);
            first
        });
        drop(guard);
        dropper.join().unwrap();
        assert!(!lock.locked());
        let guard = lock.try_acquire().unwrap();
        assert_eq!(lock.statistics().tasks_waiting, 0);
        drop(guard);
        assert!(!lock.locked());
    });
}

/// While a waiter is queued, a released lock is handed to it: a `try_acquire` that saw the
/// waiter queued gets the lock only after that waiter had it, and every acquirer gets it
/// exactly once.
#[test]
fn loom_lock_try_acquire_racing_a_hand_off_never_barges() {
    // Three threads around the hand-off: bounded preemption keeps it to seconds (unbounded,
    // a minute on 2 cores).
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let lock = Arc::new(Lock::new_fast(0u32));
        let guard = lock.try_acquire().unwrap();
        let (l1, l2) = (lock.clone(), lock.clone());
        let waiter = thread::spawn(move || {
            *block_on(l1.acquire()).unwrap() += 1;
        });
        let barger = thread::spawn(move || {
            let saw_waiter = l2.statistics().tasks_waiting == 1;
            let Ok(mut g) = l2.try_acquire() else {
                return false;
            };
            if saw_waiter {
                assert_eq!(*g, 1, "took the lock before a waiter that had queued");
            }
            *g += 10;
            true
        });
        drop(guard);
        let barged = barger.join().unwrap();
        waiter.join().unwrap();
        let total = *lock.try_acquire().unwrap();
        assert_eq!(total, if barged { 11 } else { 1 });
        let stats = lock.statistics();
        assert_eq!((stats.locked, stats.tasks_waiting), (false, 0));
    });
}

#[test]
fn loom_semaphore_permit_of_a_dropped_waiter_reaches_the_next() {
    loom::model(|| {
        let semaphore = Arc::new(Semaphore::new(1).unwrap().with_fast_acquire(true));
        let permit = semaphore.try_acquire().unwrap();
        let (s1, s2) = (semaphore.clone(), semaphore.clone());
        let waiter = thread::spawn(move || {
            drop(block_on(s1.acquire()).unwrap());
        });
        let dropper = thread::spawn(move || {
            poll_once_then_drop(s2.acquire());
        });
        drop(permit);
        waiter.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(semaphore.value(), 1);
        assert_eq!(semaphore.statistics().tasks_waiting, 0);
    });
}

#[test]
fn loom_semaphore_explicit_release_racing_a_dropped_waiter() {
    loom::model(|| {
        let semaphore = Arc::new(Semaphore::with_max_value(0, 1).unwrap());
        let s = semaphore.clone();
        let dropper = thread::spawn(move || {
            poll_once_then_drop(s.acquire());
        });
        semaphore.release().unwrap();
        dropper.join().unwrap();
        // The permit is back whether the waiter took it, was handed it, or never queued.
        assert_eq!(semaphore.value(), 1);
        assert_eq!(semaphore.statistics().tasks_waiting, 0);
    });
}

#[test]
fn loom_event_set_racing_a_waiter_and_a_dropped_waiter() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let (e1, e2) = (event.clone(), event.clone());
        let waiter = thread::spawn(move || block_on(e1.wait()).unwrap());
        let dropper = thread::spawn(move || {
            poll_once_then_drop(e2.wait());
        });
        event.set();
        waiter.join().unwrap();
        dropper.join().unwrap();
        assert!(event.is_set());
        assert_eq!(event.statistics().tasks_waiting, 0);
    });
}

#[test]
fn loom_condition_notification_of_a_dropped_waiter_reaches_the_next() {
    // Three threads each taking the lock: bounded preemption keeps it to seconds.
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let cond = Arc::new(Condition::with_lock(Arc::new(Lock::new_fast(false))));
        let (c1, c2) = (cond.clone(), cond.clone());
        let waiter = thread::spawn(move || {
            block_on(async {
                let mut guard = c1.acquire().await.unwrap();
                while !*guard {
                    guard = c1.wait(guard).await.unwrap();
                }
            });
        });
        let dropper = thread::spawn(move || {
            let guard = block_on(c2.acquire()).unwrap();
            if !*guard {
                poll_once_then_drop(c2.wait(guard));
            }
        });
        {
            let mut guard = block_on(cond.acquire()).unwrap();
            *guard = true;
            cond.notify(1);
        }
        waiter.join().unwrap();
        dropper.join().unwrap();
        assert!(!cond.locked());
        assert_eq!(cond.statistics().tasks_waiting, 0);
    });
}

#[test]
fn loom_limiter_total_tokens_raised_while_tasks_wait() {
    loom::model(|| {
        let limiter = Arc::new(CapacityLimiter::new(0).unwrap());
        let spawn_waiter = |key: u8| {
            let l = limiter.clone();
            thread::spawn(move || {
                let token = block_on(l.acquire_on_behalf_of(key)).unwrap();
                assert!(l.borrowed_tokens() <= l.total_tokens());
                drop(token);
            })
        };
        let a = spawn_waiter(1);
        let b = spawn_waiter(2);
        limiter.set_total_tokens(1).unwrap();
        a.join().unwrap();
        b.join().unwrap();
        let stats = limiter.statistics();
        assert_eq!((stats.borrowed_tokens, stats.tasks_waiting), (0, 0));
    });
}

#[test]
fn loom_limiter_token_of_a_dropped_waiter_reaches_the_next() {
    loom::model(|| {
        let limiter = Arc::new(CapacityLimiter::new(1).unwrap());
        let token = limiter.try_acquire_on_behalf_of(0u8).unwrap();
        let (l1, l2) = (limiter.clone(), limiter.clone());
        let waiter = thread::spawn(move || {
            drop(block_on(l1.acquire_on_behalf_of(1u8)).unwrap());
        });
        let dropper = thread::spawn(move || {
            poll_once_then_drop(l2.acquire_on_behalf_of(2u8));
        });
        drop(token);
        waiter.join().unwrap();
        dropper.join().unwrap();
        let stats = limiter.statistics();
        assert_eq!((stats.borrowed_tokens, stats.tasks_waiting), (0, 0));
    });
}

#[test]
fn loom_limiter_total_lowered_while_a_task_waits() {
    loom::model(|| {
        let limiter = Arc::new(CapacityLimiter::new(2).unwrap());
        let token = limiter.try_acquire_on_behalf_of(1u8).unwrap();
        let l = limiter.clone();
        let waiter = thread::spawn(move || {
            // Free at once if it comes before the lowering; otherwise it waits for `token`.
            let token = block_on(l.acquire_on_behalf_of(2u8)).unwrap();
            drop(token);
        });
        limiter.set_total_tokens(1).unwrap();
        drop(token);
        waiter.join().unwrap();
        let stats = limiter.statistics();
        assert_eq!((stats.borrowed_tokens, stats.tasks_waiting), (0, 0));
    });
}

#[test]
fn loom_a_grant_racing_a_cancel_never_reaches_the_cancelled_waiter() {
    loom::model(|| {
        let scope = Node::new_scope(None, false);
        let (count, waker) = waker();
        let queue = Arc::new(Mutex::new(WaitQueue::<&str, u32>::new()));
        // `a` waits in `scope` and is registered with it, as a `Waiter` would be; `b`
        // waits where nothing cancels it.
        let (a, b) = {
            let mut q = lock(&queue);
            (
                q.push("a", Some(scope.clone()), &waker),
                q.push("b", None, &waker),
            )
        };
        let mut registration = None;
        scope.register_waiter(&mut registration, &waker).unwrap();
        let s = scope.clone();
        let canceller = thread::spawn(move || s.cancel());
        let q = queue.clone();
        let granter = thread::spawn(move || lock(&q).grant_front(1));
        canceller.join().unwrap();
        let granted = granter.join().unwrap();
        let mut q = lock(&queue);
        match q.poll_grant(a, &waker) {
            // Granted before the cancel: kept, and `b` waits on.
            Polled::Granted(1) => {
                assert_eq!(granted, Ok("a"));
                assert_eq!(q.poll_grant(b, &waker), Polled::Waiting);
            }
            // Cancelled first: passed over, and the grant went to `b`.
            Polled::Skipped("a") => {
                assert_eq!(granted, Ok("b"));
                assert_eq!(q.poll_grant(b, &waker), Polled::Granted(1));
            }
            other => panic!("`a` ended {other:?}"),
        }
        // Either way `a` was woken to notice.
        assert!(count.0.load(SeqCst) >= 1);
    });
}
