//! Synchronization primitives: AnyIO's section 1.5 and rules 2, 7 and 14, on every backend.
//!
//! Waiters are lined up deterministically: each test starts one waiter at a time and waits
//! (with `until`) until the primitive's statistics show it queued before starting the next.

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyio::{
    Borrower, BoxError, BusyResourceError, CancelScope, Cancelled, CapacityLimiter,
    CapacityLimiterToken, Condition, Event, IsCancelled, LimiterError, Lock, ResourceGuard,
    Semaphore, SemaphoreError, SemaphorePermit, TaskGroup, TaskId, TryAcquireError, WouldBlock,
    checkpoint, fail_after, get_current_task, move_on_after, task_group, wait_all_tasks_blocked,
};
use futures_lite::FutureExt;
use futures_lite::future::poll_once;

const SHORT: Duration = Duration::from_millis(20);

/// Yields until `cond` holds.
async fn until(mut cond: impl FnMut() -> bool) -> Result<(), Cancelled> {
    while !cond() {
        checkpoint().await?;
    }
    Ok(())
}

fn me() -> TaskId {
    get_current_task().expect("inside a task").id()
}

/// A small deterministic pseudo-random sequence (no dev-dependency needed).
fn next_random(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

// ---------------------------------------------------------------------------------------
// Event

#[anyio::test]
async fn event_set_wakes_every_waiter() -> Result<(), BoxError> {
    let event = Arc::new(Event::new());
    let woken = Arc::new(AtomicUsize::new(0));
    let (e, w) = (event.clone(), woken.clone());
    task_group(|tg: TaskGroup| async move {
        for i in 0..3 {
            let (e2, w2) = (e.clone(), w.clone());
            tg.start_soon(async move {
                e2.wait().await?;
                w2.fetch_add(1, SeqCst);
                Ok(())
            })?;
            until(|| e.statistics().tasks_waiting == i + 1).await?;
        }
        assert!(!e.is_set());
        assert_eq!(w.load(SeqCst), 0);
        e.set();
        assert!(e.is_set());
        assert_eq!(e.statistics().tasks_waiting, 0);
        Ok(())
    })
    .await?;
    assert_eq!(woken.load(SeqCst), 3);
    // Setting twice is harmless.
    event.set();
    assert!(event.is_set());
    Ok(())
}

#[anyio::test]
async fn event_wait_on_a_set_event_is_a_checkpoint() -> Result<(), BoxError> {
    let event = Event::new();
    event.set();
    // It yields once...
    let mut wait = event.wait();
    assert_eq!(poll_once(&mut wait).await, None);
    assert_eq!(wait.await, Ok(()));
    // ...and fails inside a cancelled scope although the event is set.
    let scope = CancelScope::new();
    scope.cancel();
    let out = scope
        .run(async {
            assert_eq!(event.wait().await, Err(Cancelled::new()));
            Ok::<_, Cancelled>(())
        })
        .await?;
    assert_eq!(out, Some(()));
    Ok(())
}

#[anyio::test]
async fn event_set_just_before_a_cancel_is_reported_as_set() -> Result<(), BoxError> {
    // Rule 2: the wait had completed, so it returns Ok and the next checkpoint raises.
    let event = Event::new();
    let scope = CancelScope::new();
    let handle = scope.clone();
    scope
        .run(async {
            let mut wait = event.wait();
            assert_eq!(poll_once(&mut wait).await, None);
            event.set();
            handle.cancel();
            assert_eq!(wait.await, Ok(()));
            assert_eq!(checkpoint().await, Err(Cancelled::new()));
            Ok::<_, Cancelled>(())
        })
        .await?;
    Ok(())
}

#[anyio::test]
async fn event_waiters_cancelled_or_dropped_leave_the_queue() -> Result<(), BoxError> {
    let event = Event::new();
    assert_eq!(move_on_after(SHORT, event.wait()).await?, None);
    assert_eq!(event.statistics().tasks_waiting, 0);
    let mut wait = event.wait();
    assert_eq!(poll_once(&mut wait).await, None);
    assert_eq!(event.statistics().tasks_waiting, 1);
    drop(wait);
    assert_eq!(event.statistics().tasks_waiting, 0);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Lock

#[anyio::test]
async fn lock_waiters_get_it_in_fifo_order_by_direct_hand_off() -> Result<(), BoxError> {
    let lock = Arc::new(Lock::new(Vec::new()));
    let ids = Arc::new(Mutex::new(Vec::new()));
    // Each waiter holds the lock until `go` is set, so the state can be checked.
    let go = Arc::new(Event::new());
    let (l, i) = (lock.clone(), ids.clone());
    task_group(|tg: TaskGroup| async move {
        let guard = l.acquire().await?;
        assert_eq!(l.statistics().owner, Some(me()));
        for n in 0..5 {
            let (l2, i2, go2) = (l.clone(), i.clone(), go.clone());
            tg.start_soon(async move {
                i2.lock().unwrap().push(me());
                let mut guard = l2.acquire().await?;
                guard.push(n);
                go2.wait().await?;
                Ok(())
            })?;
            until(|| l.statistics().tasks_waiting == n + 1).await?;
        }
        drop(guard);
        // Handed to the oldest waiter: still locked, and nobody can barge in.
        let stats = l.statistics();
        assert!(stats.locked);
        assert_eq!(stats.owner, Some(i.lock().unwrap()[0]));
        assert_eq!(stats.tasks_waiting, 4);
        assert_eq!(l.try_acquire().map(drop), Err(WouldBlock));
        go.set();
        Ok(())
    })
    .await?;
    assert_eq!(*lock.acquire().await?, [0, 1, 2, 3, 4]);
    assert!(!lock.locked());
    Ok(())
}

#[anyio::test]
async fn lock_uncontended_acquire_yields_once_unless_fast() -> Result<(), BoxError> {
    let lock = Lock::new(());
    assert!(!lock.fast_acquire());
    let mut acquire = lock.acquire();
    assert!(poll_once(&mut acquire).await.is_none());
    // Taken before the yield, so nobody takes it meanwhile.
    assert!(lock.locked());
    let guard = acquire.await?;
    drop(guard);
    assert!(!lock.locked());

    let fast = Lock::new_fast(());
    assert!(fast.fast_acquire());
    let guard = poll_once(fast.acquire()).await.expect("no yield")?;
    assert!(fast.locked());
    drop(guard);
    assert!(Lock::new(()).with_fast_acquire(true).fast_acquire());
    Ok(())
}

#[anyio::test]
async fn lock_cancelled_during_the_yield_gives_the_lock_back() -> Result<(), BoxError> {
    let lock = Lock::new(());
    let scope = CancelScope::new();
    let handle = scope.clone();
    scope
        .run(async {
            let mut acquire = lock.acquire();
            assert!(poll_once(&mut acquire).await.is_none());
            assert!(lock.locked());
            handle.cancel();
            assert_eq!(acquire.await.map(drop), Err(Cancelled::new()));
            assert!(!lock.locked());
            // Fast acquisition still checks for cancellation first.
            assert_eq!(
                Lock::new_fast(()).acquire().await.map(drop),
                Err(Cancelled::new())
            );
            Ok::<_, Cancelled>(())
        })
        .await?;
    Ok(())
}

#[anyio::test]
async fn lock_dropped_during_the_yield_gives_the_lock_back() -> Result<(), BoxError> {
    let lock = Lock::new(());
    let mut acquire = lock.acquire();
    assert!(poll_once(&mut acquire).await.is_none());
    drop(acquire);
    assert!(!lock.locked());
    Ok(())
}

#[anyio::test]
async fn lock_waiter_cancelled_by_a_scope_leaves_without_the_lock() -> Result<(), BoxError> {
    let lock = Lock::new(0);
    let guard = lock.acquire().await?;
    let out = move_on_after(SHORT, async { lock.acquire().await.map(drop) }).await?;
    assert_eq!(out, None);
    assert_eq!(lock.statistics().tasks_waiting, 0);
    drop(guard);
    assert!(!lock.locked());
    assert_eq!(lock.statistics().owner, None);
    Ok(())
}

#[anyio::test]
async fn lock_waiter_dropped_while_queued_leaves_without_the_lock() -> Result<(), BoxError> {
    let lock = Lock::new(());
    let guard = lock.acquire().await?;
    // Racing the acquire against a short wait drops it while it is queued.
    let raced = async { lock.acquire().await.map(drop) }
        .or(async {
            checkpoint().await?;
            Ok(())
        })
        .await;
    assert_eq!(raced, Ok(()));
    assert_eq!(lock.statistics().tasks_waiting, 0);
    drop(guard);
    assert!(!lock.locked());
    Ok(())
}

#[anyio::test]
async fn lock_handed_to_a_dropped_waiter_goes_to_the_next() -> Result<(), BoxError> {
    let lock = Arc::new(Lock::new(Vec::new()));
    let l = lock.clone();
    task_group(|tg: TaskGroup| async move {
        let guard = l.acquire().await?;
        let mut first = l.acquire();
        assert!(poll_once(&mut first).await.is_none());
        let l2 = l.clone();
        tg.start_soon(async move {
            l2.acquire().await?.push("second");
            Ok(())
        })?;
        until(|| l.statistics().tasks_waiting == 2).await?;
        drop(guard);
        // Handed to `first`, which is dropped before it noticed: passed on.
        assert_eq!(l.statistics().owner, Some(me()));
        drop(first);
        Ok(())
    })
    .await?;
    assert_eq!(*lock.acquire().await?, ["second"]);
    Ok(())
}

#[anyio::test]
async fn lock_handed_over_just_before_a_cancel_is_kept() -> Result<(), BoxError> {
    // Rule 2: the acquire completed, so it returns the guard; the next checkpoint raises.
    let lock = Lock::new(());
    let scope = CancelScope::new();
    let handle = scope.clone();
    let guard = lock.acquire().await?;
    scope
        .run(async {
            let mut acquire = lock.acquire();
            assert!(poll_once(&mut acquire).await.is_none());
            drop(guard);
            handle.cancel();
            let guard = acquire.await.expect("the lock was handed over first");
            assert_eq!(checkpoint().await, Err(Cancelled::new()));
            drop(guard);
            Ok::<_, Cancelled>(())
        })
        .await?;
    assert!(!lock.locked());
    Ok(())
}

#[anyio::test]
async fn lock_protects_its_value_across_tasks() -> Result<(), BoxError> {
    let counter = Arc::new(Lock::new_fast(0u64));
    let c = counter.clone();
    task_group(|tg: TaskGroup| async move {
        for _ in 0..8 {
            let c = c.clone();
            tg.start_soon(async move {
                for _ in 0..1000 {
                    let mut guard = c.acquire().await?;
                    let seen = *guard;
                    checkpoint().await?;
                    *guard = seen + 1;
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(*counter.acquire().await?, 8000);
    assert_eq!(Arc::try_unwrap(counter).unwrap().into_inner(), 8000);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Semaphore

#[test]
fn semaphore_constructors_validate_their_input() {
    let err = Semaphore::new(-1).unwrap_err();
    assert_eq!(err, SemaphoreError::NegativeInitialValue);
    assert_eq!(err.to_string(), "initial_value must be >= 0");
    let err = Semaphore::with_max_value(3, 2).unwrap_err();
    assert_eq!(err, SemaphoreError::MaxValueBelowInitialValue);
    assert_eq!(
        err.to_string(),
        "max_value must be equal to or higher than initial_value"
    );
    assert_eq!(
        Semaphore::with_max_value(0, -1).unwrap_err(),
        SemaphoreError::MaxValueBelowInitialValue
    );
    assert_eq!(
        Semaphore::new(u128::MAX).unwrap_err(),
        SemaphoreError::ValueTooLarge
    );
    let s = Semaphore::with_max_value(2, 2).unwrap();
    assert_eq!((s.value(), s.max_value()), (2, Some(2)));
    let s = Semaphore::new(5u8).unwrap();
    assert_eq!((s.value(), s.max_value()), (5, None));
}

#[test]
fn semaphore_released_past_its_maximum_is_an_error() {
    let s = Semaphore::with_max_value(1, 2).unwrap();
    s.release().unwrap();
    assert_eq!(s.value(), 2);
    let err = s.release().unwrap_err();
    assert_eq!(err, SemaphoreError::ReleasedTooManyTimes);
    assert_eq!(err.to_string(), "semaphore released too many times");
    assert_eq!(s.value(), 2);
    // A forgotten permit stays taken until released explicitly.
    s.try_acquire().unwrap().forget();
    assert_eq!(s.value(), 1);
    s.release().unwrap();
    assert_eq!(s.value(), 2);
    // A permit guard never pushes the value past the maximum.
    let permit = s.try_acquire().unwrap();
    s.release().unwrap();
    drop(permit);
    assert_eq!(s.value(), 2);
}

#[anyio::test]
async fn semaphore_waiters_are_served_in_order_by_hand_off() -> Result<(), BoxError> {
    let semaphore = Arc::new(Semaphore::new(0)?);
    let order = Arc::new(Mutex::new(Vec::new()));
    let (s, o) = (semaphore.clone(), order.clone());
    task_group(|tg: TaskGroup| async move {
        for n in 0..4 {
            let (s2, o2) = (s.clone(), o.clone());
            tg.start_soon(async move {
                s2.acquire().await?.forget();
                o2.lock().unwrap().push(n);
                Ok(())
            })?;
            until(|| s.statistics().tasks_waiting == n + 1).await?;
        }
        s.release()?;
        // Handed to the oldest waiter: the value stays 0.
        assert_eq!(s.value(), 0);
        assert_eq!(s.statistics().tasks_waiting, 3);
        assert_eq!(s.try_acquire().map(drop), Err(WouldBlock));
        // One at a time, so each recorded its turn before the next is let in.
        for n in 1..=4 {
            until(|| o.lock().unwrap().len() == n).await?;
            if n < 4 {
                s.release()?;
            }
        }
        Ok(())
    })
    .await?;
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3]);
    assert_eq!(semaphore.value(), 0);
    Ok(())
}

#[anyio::test]
async fn semaphore_uncontended_acquire_yields_once_unless_fast() -> Result<(), BoxError> {
    let s = Semaphore::new(1)?;
    let mut acquire = s.acquire();
    assert!(poll_once(&mut acquire).await.is_none());
    assert_eq!(s.value(), 0);
    drop(acquire);
    assert_eq!(s.value(), 1);

    let fast = Semaphore::new(1)?.with_fast_acquire(true);
    let permit = poll_once(fast.acquire()).await.expect("no yield")?;
    assert_eq!(fast.value(), 0);
    drop(permit);
    assert_eq!(fast.value(), 1);
    Ok(())
}

#[anyio::test]
async fn semaphore_cancelled_or_dropped_waiters_leak_no_permit() -> Result<(), BoxError> {
    let s = Semaphore::new(1)?;
    let permit = s.acquire().await?;
    assert_eq!(
        move_on_after(SHORT, async { s.acquire().await.map(drop) }).await?,
        None
    );
    // Polled once, then dropped after the permit was handed to it.
    let mut waiter = s.acquire();
    assert!(poll_once(&mut waiter).await.is_none());
    assert_eq!(s.statistics().tasks_waiting, 1);
    drop(permit);
    assert_eq!(s.value(), 0);
    drop(waiter);
    assert_eq!(s.value(), 1);
    assert_eq!(s.statistics().tasks_waiting, 0);
    // Cancelled during the yield of an uncontended acquire.
    let scope = CancelScope::new();
    let handle = scope.clone();
    scope
        .run(async {
            let mut acquire = s.acquire();
            assert!(poll_once(&mut acquire).await.is_none());
            handle.cancel();
            assert_eq!(acquire.await.map(drop), Err(Cancelled::new()));
            Ok::<_, Cancelled>(())
        })
        .await?;
    assert_eq!(s.value(), 1);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Condition

#[anyio::test]
async fn condition_notify_wakes_the_oldest_waiters_in_order() -> Result<(), BoxError> {
    let cond = Arc::new(Condition::new(Vec::new()));
    let c = cond.clone();
    task_group(|tg: TaskGroup| async move {
        for n in 0..4 {
            let c2 = c.clone();
            tg.start_soon(async move {
                let guard = c2.acquire().await?;
                let mut guard = c2.wait(guard).await?;
                guard.push(n);
                Ok(())
            })?;
            // Queued, and then (waiting released the lock) unlocked.
            until(|| c.statistics().tasks_waiting == n + 1 && !c.locked()).await?;
        }
        {
            let _guard = c.acquire().await?;
            c.notify(1);
            assert_eq!(c.statistics().tasks_waiting, 3);
        }
        until(|| c.lock().try_acquire().is_ok_and(|g| g.len() == 1)).await?;
        let guard = c.acquire().await?;
        c.notify(2);
        let stats = c.statistics();
        assert_eq!(stats.tasks_waiting, 1);
        assert!(stats.lock_statistics.locked);
        assert_eq!(stats.lock_statistics.owner, Some(me()));
        drop(guard);
        until(|| c.lock().try_acquire().is_ok_and(|g| g.len() == 3)).await?;
        c.notify_all();
        Ok(())
    })
    .await?;
    // The two woken together take the lock back in whichever order they run.
    let mut order = cond.acquire().await?.clone();
    order[1..3].sort();
    assert_eq!(order, [0, 1, 2, 3]);
    Ok(())
}

#[anyio::test]
async fn condition_wait_for_waits_until_the_predicate_holds() -> Result<(), BoxError> {
    let cond = Arc::new(Condition::new(0u32));
    let c = cond.clone();
    task_group(|tg: TaskGroup| async move {
        let c2 = c.clone();
        tg.start_soon(async move {
            let guard = c2.acquire().await?;
            let guard = c2.wait_for(guard, |n| *n >= 3).await?;
            assert_eq!(*guard, 3);
            Ok(())
        })?;
        for _ in 0..3 {
            until(|| c.statistics().tasks_waiting == 1).await?;
            *c.acquire().await? += 1;
            c.notify_all();
        }
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn condition_wait_cancelled_takes_the_lock_back_before_returning() -> Result<(), BoxError> {
    let cond = Arc::new(Condition::new(()));
    let returned = Arc::new(AtomicBool::new(false));
    let scope = CancelScope::new();
    let (c, r, handle) = (cond.clone(), returned.clone(), scope.clone());
    task_group(|tg: TaskGroup| async move {
        let (c2, r2) = (c.clone(), r.clone());
        tg.start_soon(async move {
            scope
                .run(async {
                    let guard = c2.acquire().await?;
                    let out = c2.wait(guard).await.map(drop);
                    // The lock was taken back before the error came out.
                    r2.store(true, SeqCst);
                    out
                })
                .await?;
            Ok(())
        })?;
        until(|| c.statistics().tasks_waiting == 1).await?;
        let guard = c.acquire().await?;
        handle.cancel();
        // The cancelled waiter queues for the lock, which this task holds...
        until(|| c.statistics().lock_statistics.tasks_waiting == 1).await?;
        wait_all_tasks_blocked().await?;
        // ...and does not return without it.
        assert!(!r.load(SeqCst), "returned without the lock");
        drop(guard);
        until(|| r.load(SeqCst)).await?;
        Ok(())
    })
    .await?;
    assert!(!cond.locked());
    Ok(())
}

#[anyio::test]
async fn condition_notification_of_a_dropped_waiter_goes_to_the_next() -> Result<(), BoxError> {
    let cond = Arc::new(Condition::new(false));
    let c = cond.clone();
    task_group(|tg: TaskGroup| async move {
        let guard = c.acquire().await?;
        let mut first = c.wait(guard);
        assert!(poll_once(&mut first).await.is_none());
        let c2 = c.clone();
        tg.start_soon(async move {
            let guard = c2.acquire().await?;
            *c2.wait(guard).await? = true;
            Ok(())
        })?;
        until(|| c.statistics().tasks_waiting == 2).await?;
        c.notify(1);
        drop(first);
        Ok(())
    })
    .await?;
    assert!(*cond.acquire().await?);
    Ok(())
}

#[anyio::test]
async fn condition_over_a_given_lock_shares_it() -> Result<(), BoxError> {
    let lock = Arc::new(Lock::new(7));
    let cond = Condition::with_lock(lock.clone());
    let guard = lock.acquire().await?;
    assert!(cond.locked());
    assert_eq!(cond.try_acquire().map(drop), Err(WouldBlock));
    drop(guard);
    assert_eq!(*cond.acquire().await?, 7);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// CapacityLimiter

#[test]
fn limiter_errors_say_what_went_wrong() {
    assert_eq!(
        CapacityLimiter::new(-1).unwrap_err().to_string(),
        "total_tokens must be >= 0"
    );
    let limiter = CapacityLimiter::new(2).unwrap();
    assert_eq!(
        limiter.set_total_tokens(-3),
        Err(LimiterError::NegativeTotalTokens)
    );
    let token = limiter.try_acquire_on_behalf_of("a").unwrap();
    let err = limiter.try_acquire_on_behalf_of("a").unwrap_err();
    assert_eq!(
        err,
        TryAcquireError::Limiter(LimiterError::AlreadyBorrowing)
    );
    assert_eq!(
        err.to_string(),
        "this borrower is already holding one of this CapacityLimiter's tokens"
    );
    let err = limiter.release_on_behalf_of("b").unwrap_err();
    assert_eq!(err, LimiterError::NotBorrowing);
    assert_eq!(
        err.to_string(),
        "this borrower isn't holding any of this CapacityLimiter's tokens"
    );
    drop(token);
    // Outside any task there is no current task to borrow for.
    assert_eq!(
        limiter.try_acquire().map(drop),
        Err(TryAcquireError::Limiter(LimiterError::NoCurrentTask))
    );
    assert_eq!(limiter.release(), Err(LimiterError::NoCurrentTask));
    assert!(!LimiterError::AlreadyBorrowing.is_cancelled());
    assert!(LimiterError::Cancelled(Cancelled::new()).is_cancelled());
    let boxed: BoxError = LimiterError::Cancelled(Cancelled::new()).into();
    assert!(anyio::is_cancelled(&*boxed));
}

#[test]
fn limiter_tokens_are_released_by_guard_or_explicitly() {
    let limiter = CapacityLimiter::new(2).unwrap();
    let a = limiter.try_acquire_on_behalf_of(1u32).unwrap();
    assert_eq!(a.borrower().downcast_ref::<u32>(), Some(&1));
    limiter.try_acquire_on_behalf_of(2u32).unwrap().forget();
    assert_eq!(limiter.borrowed_tokens(), 2);
    assert_eq!(limiter.available_tokens(), 0);
    assert_eq!(
        limiter.try_acquire_on_behalf_of(3u32).map(drop),
        Err(TryAcquireError::WouldBlock)
    );
    drop(a);
    assert_eq!(limiter.borrowed_tokens(), 1);
    limiter.release_on_behalf_of(2u32).unwrap();
    assert_eq!(limiter.borrowed_tokens(), 0);
    // A guard whose token was given back explicitly does not give back a later loan.
    let b = limiter.try_acquire_on_behalf_of("x").unwrap();
    limiter.release_on_behalf_of("x").unwrap();
    let c = limiter.try_acquire_on_behalf_of("x").unwrap();
    drop(b);
    assert_eq!(limiter.borrowed_tokens(), 1);
    drop(c);
    assert_eq!(limiter.borrowed_tokens(), 0);
    // Keys of different types are different borrowers.
    let _x = limiter.try_acquire_on_behalf_of(1u8).unwrap();
    let _y = limiter.try_acquire_on_behalf_of(1u16).unwrap();
    // Unlimited.
    let unlimited = CapacityLimiter::unlimited();
    assert_eq!(unlimited.total_tokens(), CapacityLimiter::UNLIMITED);
    let tokens: Vec<_> = (0..100)
        .map(|i| unlimited.try_acquire_on_behalf_of(i).unwrap())
        .collect();
    assert_eq!(unlimited.borrowed_tokens(), 100);
    drop(tokens);
    assert_eq!(
        CapacityLimiter::new(u128::MAX).unwrap().total_tokens(),
        CapacityLimiter::UNLIMITED
    );
}

#[anyio::test]
async fn limiter_borrows_for_the_current_task() -> Result<(), BoxError> {
    let limiter = CapacityLimiter::new(1)?;
    let token = limiter.acquire().await?;
    assert_eq!(token.borrower().task_id(), Some(me()));
    let stats = limiter.statistics();
    assert_eq!(stats.borrowers, [Borrower::new(me())]);
    assert_eq!((stats.borrowed_tokens, stats.total_tokens), (1, 1));
    assert_eq!(
        limiter.acquire().await.map(drop),
        Err(LimiterError::AlreadyBorrowing)
    );
    // The same task named as a key is the same borrower.
    assert_eq!(
        limiter.try_acquire_on_behalf_of(me()).map(drop),
        Err(TryAcquireError::Limiter(LimiterError::AlreadyBorrowing))
    );
    token.forget();
    limiter.release()?;
    assert_eq!(limiter.release(), Err(LimiterError::NotBorrowing));
    // An uncontended acquire yields once.
    let mut acquire = limiter.acquire();
    assert!(poll_once(&mut acquire).await.is_none());
    assert_eq!(limiter.borrowed_tokens(), 1);
    drop(acquire);
    assert_eq!(limiter.borrowed_tokens(), 0);
    Ok(())
}

#[anyio::test]
async fn limiter_reserves_a_freed_token_for_the_oldest_waiter() -> Result<(), BoxError> {
    let limiter = Arc::new(CapacityLimiter::new(1)?);
    let order = Arc::new(Mutex::new(Vec::new()));
    // Each waiter holds its token until `go` is set, so the state can be checked.
    let go = Arc::new(Event::new());
    let (l, o) = (limiter.clone(), order.clone());
    task_group(|tg: TaskGroup| async move {
        let token = l.acquire_on_behalf_of("host").await?;
        for n in 0..3 {
            let (l2, o2, go2) = (l.clone(), o.clone(), go.clone());
            tg.start_soon(async move {
                let _token = l2.acquire().await?;
                o2.lock().unwrap().push(n);
                go2.wait().await?;
                Ok(())
            })?;
            until(|| l.statistics().tasks_waiting == n + 1).await?;
        }
        drop(token);
        // Reserved: borrowed, and a late try_acquire cannot take it.
        assert_eq!(l.borrowed_tokens(), 1);
        assert_eq!(l.statistics().tasks_waiting, 2);
        assert_eq!(
            l.try_acquire_on_behalf_of("late").map(drop),
            Err(TryAcquireError::WouldBlock)
        );
        go.set();
        Ok(())
    })
    .await?;
    assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
    assert_eq!(limiter.borrowed_tokens(), 0);
    Ok(())
}

#[anyio::test]
async fn limiter_raising_total_tokens_wakes_exactly_that_many() -> Result<(), BoxError> {
    let limiter = Arc::new(CapacityLimiter::new(0)?);
    let running = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(Event::new());
    let (l, r, g) = (limiter.clone(), running.clone(), go.clone());
    task_group(|tg: TaskGroup| async move {
        for n in 0..5usize {
            let (l2, r2, g2) = (l.clone(), r.clone(), g.clone());
            tg.start_soon(async move {
                let _token = l2.acquire_on_behalf_of(n).await?;
                r2.fetch_add(1, SeqCst);
                g2.wait().await?;
                r2.fetch_sub(1, SeqCst);
                Ok(())
            })?;
            until(|| l.statistics().tasks_waiting == n + 1).await?;
        }
        l.set_total_tokens(2)?;
        let stats = l.statistics();
        assert_eq!((stats.borrowed_tokens, stats.tasks_waiting), (2, 3));
        let mut borrowers: Vec<usize> = stats
            .borrowers
            .iter()
            .map(|b| *b.downcast_ref::<usize>().unwrap())
            .collect();
        borrowers.sort();
        assert_eq!(borrowers, [0, 1]);
        until(|| g.statistics().tasks_waiting == 2).await?;
        wait_all_tasks_blocked().await?;
        assert_eq!(r.load(SeqCst), 2);
        // Lowering takes nothing back.
        l.set_total_tokens(1)?;
        assert_eq!((l.borrowed_tokens(), l.available_tokens()), (2, 0));
        l.set_total_tokens(3)?;
        assert_eq!(l.borrowed_tokens(), 3);
        assert_eq!(l.statistics().tasks_waiting, 2);
        g.set();
        Ok(())
    })
    .await?;
    assert_eq!(limiter.borrowed_tokens(), 0);
    assert_eq!(running.load(SeqCst), 0);
    Ok(())
}

#[anyio::test]
async fn limiter_token_of_a_dropped_waiter_goes_to_the_next() -> Result<(), BoxError> {
    let limiter = Arc::new(CapacityLimiter::new(1)?);
    let got = Arc::new(AtomicBool::new(false));
    let go = Arc::new(Event::new());
    let (l, g) = (limiter.clone(), got.clone());
    task_group(|tg: TaskGroup| async move {
        let token = l.acquire_on_behalf_of("host").await?;
        let mut first = l.acquire_on_behalf_of("first");
        assert!(poll_once(&mut first).await.is_none());
        let (l2, g2, go2) = (l.clone(), g.clone(), go.clone());
        tg.start_soon(async move {
            let _token = l2.acquire_on_behalf_of("second").await?;
            g2.store(true, SeqCst);
            go2.wait().await?;
            Ok(())
        })?;
        until(|| l.statistics().tasks_waiting == 2).await?;
        drop(token);
        assert_eq!(l.statistics().borrowers, [Borrower::new("first")]);
        drop(first);
        assert_eq!(l.statistics().borrowers, [Borrower::new("second")]);
        go.set();
        Ok(())
    })
    .await?;
    assert!(got.load(SeqCst));
    assert_eq!(limiter.borrowed_tokens(), 0);
    // A waiter cancelled by a scope leaves the queue without a token.
    let token = limiter.acquire_on_behalf_of(1).await?;
    assert_eq!(
        move_on_after(SHORT, async {
            limiter.acquire_on_behalf_of(2).await.map(drop)
        })
        .await?,
        None
    );
    assert_eq!(limiter.statistics().tasks_waiting, 0);
    drop(token);
    assert_eq!(limiter.borrowed_tokens(), 0);
    Ok(())
}

/// Counts a holder of a token while alive.
struct Holding(Arc<AtomicUsize>);

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

#[anyio::test]
async fn limiter_is_never_oversubscribed_under_random_acquire_and_cancel() -> Result<(), BoxError> {
    const TOTAL: usize = 3;
    let limiter = Arc::new(CapacityLimiter::new(TOTAL)?);
    let holders = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (l, h, m) = (limiter.clone(), holders.clone(), most.clone());
    task_group(|tg: TaskGroup| async move {
        for t in 0..12u64 {
            let (l, h, m) = (l.clone(), h.clone(), m.clone());
            tg.start_soon(async move {
                let mut rng = t + 1;
                for _ in 0..40 {
                    let hold = async {
                        let _token = l.acquire().await?;
                        let _holding = Holding(h.clone());
                        let now = h.fetch_add(1, SeqCst) + 1;
                        m.fetch_max(now, SeqCst);
                        assert!(now <= TOTAL, "{now} holders of {TOTAL} tokens");
                        checkpoint().await?;
                        Ok::<_, LimiterError>(())
                    };
                    let r = next_random(&mut rng);
                    match r % 3 {
                        // Cancelled by a scope at a random moment.
                        0 => {
                            let timeout = Duration::from_micros(r % 300);
                            move_on_after(timeout, hold).await?;
                        }
                        // Dropped at a random moment.
                        1 => {
                            let yields = r % 4;
                            hold.or(async {
                                for _ in 0..yields {
                                    checkpoint().await?;
                                }
                                Ok(())
                            })
                            .await?;
                        }
                        _ => hold.await?,
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    assert!(most.load(SeqCst) <= TOTAL);
    assert_eq!(holders.load(SeqCst), 0);
    let stats = limiter.statistics();
    assert_eq!((stats.borrowed_tokens, stats.tasks_waiting), (0, 0));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// No grant to a waiter that is already cancelled
//
// A waiter whose scope is cancelled before it is granted is never granted: the lock,
// permit, token or notification goes to the next eligible waiter. A grant made before the
// cancellation is kept (rule 2). Each of these runs on every backend, on one thread (where
// nothing runs between the host's steps, so the grant always meets a cancelled waiter that
// has not left yet) and on two worker threads.

on_every_flavour!(
    lock_released_after_its_waiters_group_is_cancelled_ends_unlocked,
    lock_passes_over_a_waiter_whose_scope_is_cancelled_to_the_next,
    lock_waiter_passed_over_then_shielded_takes_the_lock,
    semaphore_released_after_its_waiters_group_is_cancelled_keeps_its_value,
    semaphore_permit_handed_over_just_before_a_cancel_is_kept,
    semaphore_waiter_passed_over_then_shielded_takes_a_permit,
    event_set_after_a_waiters_scope_is_cancelled_reports_the_cancellation,
    event_waiter_passed_over_then_shielded_sees_the_event,
    condition_notify_passes_over_a_waiter_whose_scope_is_cancelled,
    condition_notified_just_before_a_cancel_returns_the_guard,
    condition_waiter_passed_over_then_shielded_waits_again,
    condition_waiter_dropped_while_retaking_the_lock_passes_its_notification_on,
    condition_notification_passed_on_skips_cancelled_and_late_waiters,
    condition_notify_all_passed_on_never_reaches_a_later_waiter,
    condition_notify_passed_on_never_reaches_a_later_waiter,
    limiter_never_lends_a_token_to_a_waiter_whose_scope_is_cancelled,
    limiter_token_handed_over_just_before_a_cancel_is_kept,
    limiter_waiter_passed_over_then_shielded_borrows_a_token,
);

/// How long a test waits for something that only a regression would keep from happening.
const PATIENCE: Duration = Duration::from_secs(10);

/// [`until`], failing with a `TimeoutError` if `cond` does not hold within [`PATIENCE`].
async fn soon(cond: impl FnMut() -> bool) -> Result<(), BoxError> {
    fail_after(PATIENCE, async { Ok::<_, BoxError>(until(cond).await?) }).await
}

/// Runs `body` in a shielded scope: how the host of a cancelled group keeps working.
async fn shielded<T>(
    body: impl Future<Output = Result<T, BoxError>>,
) -> Result<Option<T>, BoxError> {
    CancelScope::new().shielded(true).run(body).await
}

async fn lock_released_after_its_waiters_group_is_cancelled_ends_unlocked() -> Result<(), BoxError>
{
    let lock = Arc::new(Lock::new(Vec::new()));
    let outcome = Arc::new(Mutex::new(None));
    let (l, o) = (lock.clone(), outcome.clone());
    task_group(|tg: TaskGroup| async move {
        let guard = l.acquire().await?;
        let (l2, o2) = (l.clone(), o.clone());
        tg.start_soon(async move {
            let got = l2.acquire().await.map(|mut guard| guard.push("waiter"));
            *o2.lock().unwrap() = Some(got);
            Ok(())
        })?;
        until(|| l.statistics().tasks_waiting == 1).await?;
        tg.cancel();
        shielded(async {
            drop(guard);
            // Not handed to the cancelled waiter: unlocked at once.
            let stats = l.statistics();
            assert_eq!(
                (stats.locked, stats.owner, stats.tasks_waiting),
                (false, None, 0)
            );
            soon(|| o.lock().unwrap().is_some()).await
        })
        .await?;
        Ok(())
    })
    .await?;
    assert_eq!(*outcome.lock().unwrap(), Some(Err(Cancelled::new())));
    assert!(
        lock.try_acquire()?.is_empty(),
        "the waiter never had the lock"
    );
    Ok(())
}

async fn lock_passes_over_a_waiter_whose_scope_is_cancelled_to_the_next() -> Result<(), BoxError> {
    let lock = Arc::new(Lock::new(Vec::new()));
    let second_id = Arc::new(Mutex::new(None));
    let scope = CancelScope::new();
    // The second waiter holds the lock until the host has looked at it.
    let checked = Arc::new(Event::new());
    let (l, id, handle) = (lock.clone(), second_id.clone(), scope.clone());
    task_group(|tg: TaskGroup| async move {
        let guard = l.acquire().await?;
        let l1 = l.clone();
        tg.start_soon(async move {
            scope
                .run(async { l1.acquire().await.map(|mut g| g.push("first")) })
                .await?;
            Ok(())
        })?;
        until(|| l.statistics().tasks_waiting == 1).await?;
        let (l2, id2, c2) = (l.clone(), id.clone(), checked.clone());
        tg.start_soon(async move {
            *id2.lock().unwrap() = Some(me());
            let mut guard = l2.acquire().await?;
            guard.push("second");
            c2.wait().await?;
            Ok(())
        })?;
        until(|| l.statistics().tasks_waiting == 2).await?;
        handle.cancel();
        drop(guard);
        // Handed straight to the second waiter.
        let stats = l.statistics();
        checked.set();
        assert!(stats.locked);
        assert_eq!(stats.owner, *id.lock().unwrap());
        assert_eq!(stats.tasks_waiting, 0);
        Ok(())
    })
    .await?;
    assert_eq!(*lock.acquire().await?, ["second"]);
    Ok(())
}

async fn lock_waiter_passed_over_then_shielded_takes_the_lock() -> Result<(), BoxError> {
    let lock = Lock::new(());
    let guard = lock.acquire().await?;
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    let (outer_handle, inner_handle) = (outer.clone(), inner.clone());
    let mut acquiring = pin!(outer.run(inner.run(async { lock.acquire().await.map(drop) })));
    assert!(poll_once(acquiring.as_mut()).await.is_none());
    outer_handle.cancel();
    drop(guard);
    // Passed over while cancelled: the lock is free and nobody waits.
    assert!(!lock.locked());
    assert_eq!(lock.statistics().tasks_waiting, 0);
    // The shield lifts the cancellation before the waiter ran: it takes the lock after all.
    inner_handle.set_shield(true);
    assert_eq!(acquiring.await, Ok(Some(Some(()))));
    assert!(!lock.locked());
    Ok(())
}

async fn semaphore_released_after_its_waiters_group_is_cancelled_keeps_its_value()
-> Result<(), BoxError> {
    let semaphore = Arc::new(Semaphore::new(1)?);
    let outcome = Arc::new(Mutex::new(None));
    let (s, o) = (semaphore.clone(), outcome.clone());
    task_group(|tg: TaskGroup| async move {
        let permit = s.acquire().await?;
        let (s2, o2) = (s.clone(), o.clone());
        tg.start_soon(async move {
            let got = s2.acquire().await.map(SemaphorePermit::forget);
            *o2.lock().unwrap() = Some(got);
            Ok(())
        })?;
        until(|| s.statistics().tasks_waiting == 1).await?;
        tg.cancel();
        shielded(async {
            drop(permit);
            // Not handed to the cancelled waiter: back in the semaphore at once.
            assert_eq!(s.value(), 1);
            assert_eq!(s.statistics().tasks_waiting, 0);
            soon(|| o.lock().unwrap().is_some()).await
        })
        .await?;
        Ok(())
    })
    .await?;
    assert_eq!(*outcome.lock().unwrap(), Some(Err(Cancelled::new())));
    // A permit the waiter had taken would have been forgotten.
    assert_eq!(semaphore.value(), 1);
    Ok(())
}

async fn semaphore_permit_handed_over_just_before_a_cancel_is_kept() -> Result<(), BoxError> {
    let semaphore = Semaphore::new(1)?;
    let permit = semaphore.acquire().await?;
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(async {
            let mut acquire = semaphore.acquire();
            assert!(poll_once(&mut acquire).await.is_none());
            drop(permit);
            handle.cancel();
            let permit = acquire.await.expect("the permit was handed over first");
            assert_eq!(semaphore.value(), 0);
            drop(permit);
            checkpoint().await
        })
        .await?;
    assert_eq!(out, None);
    assert_eq!(semaphore.value(), 1);
    Ok(())
}

async fn semaphore_waiter_passed_over_then_shielded_takes_a_permit() -> Result<(), BoxError> {
    let semaphore = Semaphore::new(1)?;
    let permit = semaphore.acquire().await?;
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    let (outer_handle, inner_handle) = (outer.clone(), inner.clone());
    let mut acquiring = pin!(
        outer.run(inner.run(async { semaphore.acquire().await.map(SemaphorePermit::forget) }))
    );
    assert!(poll_once(acquiring.as_mut()).await.is_none());
    outer_handle.cancel();
    drop(permit);
    assert_eq!(semaphore.value(), 1);
    assert_eq!(semaphore.statistics().tasks_waiting, 0);
    inner_handle.set_shield(true);
    assert_eq!(acquiring.await, Ok(Some(Some(()))));
    assert_eq!(semaphore.value(), 0);
    Ok(())
}

async fn event_set_after_a_waiters_scope_is_cancelled_reports_the_cancellation()
-> Result<(), BoxError> {
    let event = Event::new();
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(async {
            let mut wait = event.wait();
            assert_eq!(poll_once(&mut wait).await, None);
            handle.cancel();
            event.set();
            assert_eq!(event.statistics().tasks_waiting, 0);
            wait.await
        })
        .await?;
    // The wait ended with the cancellation, which the scope caught.
    assert_eq!(out, None);
    Ok(())
}

async fn event_waiter_passed_over_then_shielded_sees_the_event() -> Result<(), BoxError> {
    let event = Event::new();
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    let (outer_handle, inner_handle) = (outer.clone(), inner.clone());
    let mut waiting = pin!(outer.run(inner.run(event.wait())));
    assert!(poll_once(waiting.as_mut()).await.is_none());
    outer_handle.cancel();
    event.set();
    inner_handle.set_shield(true);
    assert_eq!(waiting.await, Ok(Some(Some(()))));
    Ok(())
}

/// Starts a task that waits on `cond` (in `scope`, if given) and records `name` in the
/// protected value if it is notified; returns once it waits with the lock released.
async fn start_condition_waiter(
    tg: &TaskGroup,
    cond: &Arc<Condition<Vec<&'static str>>>,
    name: &'static str,
    scope: Option<CancelScope>,
) -> Result<(), BoxError> {
    let waiting = cond.statistics().tasks_waiting;
    let c = cond.clone();
    tg.start_soon(async move {
        let wait = async {
            let guard = c.acquire().await?;
            c.wait(guard).await?.push(name);
            Ok::<_, Cancelled>(())
        };
        match scope {
            Some(scope) => drop(scope.run(wait).await?),
            None => wait.await?,
        }
        Ok(())
    })?;
    until(|| cond.statistics().tasks_waiting == waiting + 1 && !cond.locked()).await?;
    Ok(())
}

async fn condition_notify_passes_over_a_waiter_whose_scope_is_cancelled() -> Result<(), BoxError> {
    let cond = Arc::new(Condition::new(Vec::new()));
    let scope = CancelScope::new();
    let (c, handle) = (cond.clone(), scope.clone());
    task_group(|tg: TaskGroup| async move {
        start_condition_waiter(&tg, &c, "first", Some(scope)).await?;
        start_condition_waiter(&tg, &c, "second", None).await?;
        handle.cancel();
        c.notify(1);
        // The notification went past the cancelled waiter to the second one.
        assert_eq!(c.statistics().tasks_waiting, 0);
        Ok(())
    })
    .await?;
    assert_eq!(*cond.acquire().await?, ["second"]);
    Ok(())
}

async fn condition_notified_just_before_a_cancel_returns_the_guard() -> Result<(), BoxError> {
    let cond = Condition::new(0u8);
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(async {
            let guard = cond.acquire().await?;
            let mut wait = cond.wait(guard);
            assert!(poll_once(&mut wait).await.is_none());
            cond.notify(1);
            handle.cancel();
            let mut guard = wait.await.expect("notified before the cancel");
            *guard = 1;
            drop(guard);
            checkpoint().await
        })
        .await?;
    assert_eq!(out, None);
    assert_eq!(*cond.try_acquire()?, 1);
    Ok(())
}

async fn condition_waiter_passed_over_then_shielded_waits_again() -> Result<(), BoxError> {
    // A fast lock, so that the first poll goes straight on to waiting.
    let cond = Condition::with_lock(Arc::new(Lock::new_fast(0u8)));
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    let (outer_handle, inner_handle) = (outer.clone(), inner.clone());
    let mut waiting = pin!(outer.run(inner.run(async {
        let guard = cond.acquire().await?;
        let mut guard = cond.wait(guard).await?;
        *guard += 1;
        Ok::<_, Cancelled>(())
    })));
    assert!(poll_once(waiting.as_mut()).await.is_none());
    assert_eq!(cond.statistics().tasks_waiting, 1);
    outer_handle.cancel();
    cond.notify(1);
    assert_eq!(cond.statistics().tasks_waiting, 0);
    // Shielded before it ran: the notification it was passed over for is gone, so it
    // waits again, for the next one.
    inner_handle.set_shield(true);
    assert!(poll_once(waiting.as_mut()).await.is_none());
    assert_eq!(cond.statistics().tasks_waiting, 1);
    cond.notify(1);
    assert_eq!(waiting.await, Ok(Some(Some(()))));
    assert_eq!(*cond.try_acquire()?, 1);
    Ok(())
}

async fn condition_waiter_dropped_while_retaking_the_lock_passes_its_notification_on()
-> Result<(), BoxError> {
    let cond = Arc::new(Condition::new(Vec::new()));
    let c = cond.clone();
    task_group(|tg: TaskGroup| async move {
        let guard = c.acquire().await?;
        let mut first = c.wait(guard);
        assert!(poll_once(&mut first).await.is_none());
        start_condition_waiter(&tg, &c, "second", None).await?;
        let guard = c.acquire().await?;
        c.notify(1);
        // `first` notices its notification and queues for the lock, which this task holds.
        assert!(poll_once(&mut first).await.is_none());
        assert_eq!(c.statistics().lock_statistics.tasks_waiting, 1);
        drop(first);
        // Its notification went on to the second waiter.
        assert_eq!(c.statistics().tasks_waiting, 0);
        drop(guard);
        Ok(())
    })
    .await?;
    assert_eq!(*cond.acquire().await?, ["second"]);
    Ok(())
}

async fn condition_notification_passed_on_skips_cancelled_and_late_waiters() -> Result<(), BoxError>
{
    let cond = Arc::new(Condition::new(Vec::new()));
    let scope = CancelScope::new();
    let (c, handle) = (cond.clone(), scope.clone());
    task_group(|tg: TaskGroup| async move {
        let guard = c.acquire().await?;
        let mut first = c.wait(guard);
        assert!(poll_once(&mut first).await.is_none());
        start_condition_waiter(&tg, &c, "second", Some(scope)).await?;
        start_condition_waiter(&tg, &c, "third", None).await?;
        c.notify(1);
        // Waiting since after the notify: not one of the tasks it was for.
        start_condition_waiter(&tg, &c, "late", None).await?;
        handle.cancel();
        drop(first);
        // Passed on to the oldest live task that was waiting at the notify.
        soon(|| c.lock().try_acquire().is_ok_and(|g| *g == ["third"])).await?;
        wait_all_tasks_blocked().await?;
        assert_eq!(c.statistics().tasks_waiting, 1);
        c.notify(1);
        Ok(())
    })
    .await?;
    assert_eq!(*cond.acquire().await?, ["third", "late"]);
    Ok(())
}

/// A notified waiter dropped before it noticed, then a task that starts waiting after the
/// notification: the dropped waiter's notification must not reach it.
async fn late_waiter_after_a_passed_on_notification(
    notify: fn(&Condition<Vec<&'static str>>),
) -> Result<(), BoxError> {
    let cond = Arc::new(Condition::new(Vec::new()));
    let c = cond.clone();
    task_group(|tg: TaskGroup| async move {
        let guard = c.acquire().await?;
        let mut first = c.wait(guard);
        assert!(poll_once(&mut first).await.is_none());
        notify(&c);
        start_condition_waiter(&tg, &c, "late", None).await?;
        drop(first);
        wait_all_tasks_blocked().await?;
        assert_eq!(c.statistics().tasks_waiting, 1, "the late waiter was woken");
        assert!(c.lock().try_acquire()?.is_empty());
        c.notify(1);
        Ok(())
    })
    .await?;
    assert_eq!(*cond.acquire().await?, ["late"]);
    Ok(())
}

async fn condition_notify_all_passed_on_never_reaches_a_later_waiter() -> Result<(), BoxError> {
    late_waiter_after_a_passed_on_notification(|c| c.notify_all()).await
}

async fn condition_notify_passed_on_never_reaches_a_later_waiter() -> Result<(), BoxError> {
    late_waiter_after_a_passed_on_notification(|c| c.notify(1)).await
}

async fn limiter_never_lends_a_token_to_a_waiter_whose_scope_is_cancelled() -> Result<(), BoxError>
{
    const TOTAL: usize = 3;
    const WAITERS: usize = 50;
    let limiter = Arc::new(CapacityLimiter::new(TOTAL)?);
    let lent = Arc::new(Mutex::new(Vec::new()));
    let cancelled = Arc::new(Mutex::new(Vec::new()));
    let (l, le, ca) = (limiter.clone(), lent.clone(), cancelled.clone());
    task_group(|tg: TaskGroup| async move {
        let mut host = Vec::new();
        for n in 0..TOTAL {
            host.push(l.acquire_on_behalf_of(("host", n)).await?);
        }
        let mut scopes = Vec::new();
        for n in 0..WAITERS {
            let scope = CancelScope::new();
            scopes.push(scope.clone());
            let (l2, le2, ca2) = (l.clone(), le.clone(), ca.clone());
            tg.start_soon(async move {
                let out = scope
                    .run(async {
                        let token = l2.acquire_on_behalf_of(n).await?;
                        le2.lock().unwrap().push(n);
                        checkpoint().await?;
                        drop(token);
                        Ok::<_, LimiterError>(())
                    })
                    .await?;
                if out.is_none() {
                    ca2.lock().unwrap().push(n);
                }
                Ok(())
            })?;
            until(|| l.statistics().tasks_waiting == n + 1).await?;
        }
        for scope in scopes.iter().step_by(3) {
            scope.cancel();
        }
        drop(host);
        Ok(())
    })
    .await?;
    let mut lent = lent.lock().unwrap().clone();
    let mut cancelled = cancelled.lock().unwrap().clone();
    lent.sort_unstable();
    cancelled.sort_unstable();
    let live: Vec<usize> = (0..WAITERS).filter(|n| n % 3 != 0).collect();
    let every_third: Vec<usize> = (0..WAITERS).step_by(3).collect();
    assert_eq!(lent, live, "a cancelled waiter was lent a token");
    assert_eq!(cancelled, every_third);
    let stats = limiter.statistics();
    assert_eq!((stats.borrowed_tokens, stats.tasks_waiting), (0, 0));
    Ok(())
}

async fn limiter_token_handed_over_just_before_a_cancel_is_kept() -> Result<(), BoxError> {
    let limiter = CapacityLimiter::new(1)?;
    let token = limiter.acquire_on_behalf_of("host").await?;
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(async {
            let mut acquire = limiter.acquire_on_behalf_of("waiter");
            assert!(poll_once(&mut acquire).await.is_none());
            drop(token);
            handle.cancel();
            let token = acquire.await.expect("the token was lent first");
            assert_eq!(token.borrower(), &Borrower::new("waiter"));
            drop(token);
            Ok::<_, LimiterError>(checkpoint().await?)
        })
        .await?;
    assert_eq!(out, None);
    assert_eq!(limiter.borrowed_tokens(), 0);
    Ok(())
}

async fn limiter_waiter_passed_over_then_shielded_borrows_a_token() -> Result<(), BoxError> {
    let limiter = CapacityLimiter::new(1)?;
    let token = limiter.acquire_on_behalf_of("host").await?;
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    let (outer_handle, inner_handle) = (outer.clone(), inner.clone());
    let mut acquiring = pin!(outer.run(inner.run(async {
        limiter
            .acquire_on_behalf_of("waiter")
            .await
            .map(CapacityLimiterToken::forget)
    })));
    assert!(poll_once(acquiring.as_mut()).await.is_none());
    outer_handle.cancel();
    drop(token);
    assert_eq!(limiter.borrowed_tokens(), 0);
    assert_eq!(limiter.statistics().tasks_waiting, 0);
    inner_handle.set_shield(true);
    assert_eq!(acquiring.await, Ok(Some(Some(()))));
    assert_eq!(limiter.statistics().borrowers, [Borrower::new("waiter")]);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ResourceGuard

#[test]
fn resource_guard_refuses_a_second_concurrent_user() {
    let guard = ResourceGuard::new("writing to");
    let token = guard.enter().unwrap();
    assert!(guard.is_busy());
    let err = guard.enter().unwrap_err();
    assert_eq!(err, BusyResourceError::new("writing to"));
    assert_eq!(
        err.to_string(),
        "Another task is already writing to this resource"
    );
    drop(token);
    assert!(!guard.is_busy());
    drop(guard.enter().unwrap());
    let default = ResourceGuard::default();
    let _t = default.enter().unwrap();
    assert_eq!(
        default.enter().unwrap_err().to_string(),
        "Another task is already using this resource"
    );
}

// ---------------------------------------------------------------------------------------
// Outside a run, and Send/Sync

#[test]
fn primitives_work_outside_a_run() {
    let event = Event::new();
    event.set();
    assert!(event.is_set());
    let lock = Lock::new(1);
    *lock.try_acquire().unwrap() += 1;
    assert_eq!(lock.statistics().owner, None);
    assert_eq!(*lock.try_acquire().unwrap(), 2);
    let s = Semaphore::new(1).unwrap();
    drop(s.try_acquire().unwrap());
    let cond = Condition::new(());
    cond.notify_all();
    // A plain executor can drive them; nothing can cancel them there.
    futures_lite::future::block_on(async {
        event.wait().await.unwrap();
        drop(lock.acquire().await.unwrap());
        drop(s.acquire().await.unwrap());
    });
}

fn send<T: Send>(_: &T) {}
fn send_sync<T: Send + Sync>(_: &T) {}

#[test]
fn primitives_and_their_futures_are_send() {
    let event = Event::new();
    let lock = Lock::new(0u8);
    let semaphore = Semaphore::new(1).unwrap();
    let cond = Condition::new(0u8);
    let limiter = CapacityLimiter::new(1).unwrap();
    let guard = ResourceGuard::default();
    send_sync(&event);
    send_sync(&lock);
    send_sync(&semaphore);
    send_sync(&cond);
    send_sync(&limiter);
    send_sync(&guard);
    send(&event.wait());
    send(&lock.acquire());
    send_sync(&lock.try_acquire().unwrap());
    send(&semaphore.acquire());
    send(&cond.acquire());
    send(&limiter.acquire());
    send(&limiter.acquire_on_behalf_of(1));
    let g = cond.try_acquire().unwrap();
    send(&cond.wait(g));
}
