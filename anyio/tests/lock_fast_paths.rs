//! The corners of `Lock`'s lock-free paths (issue 17), on every flavour: the state word
//! must say "nobody waits" exactly when nobody does, so that a free lock is taken and a
//! lock nobody waits for is released without the mutex, while a lock somebody waits for
//! is still handed to the oldest waiter.

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::pin::pin;
use std::sync::{Arc, Mutex};

use anyio::{
    BoxError, CancelScope, Cancelled, Event, Lock, TaskGroup, TaskId, WouldBlock, checkpoint,
    get_current_task, task_group,
};
use futures_lite::future::poll_once;

fn me() -> TaskId {
    get_current_task().expect("inside a task").id()
}

/// Yields until `cond` holds.
async fn until(mut cond: impl FnMut() -> bool) -> Result<(), Cancelled> {
    while !cond() {
        checkpoint().await?;
    }
    Ok(())
}

/// Taking a free lock and releasing it with nobody waiting report the owner exactly.
async fn owner_is_reported_through_the_fast_paths() -> Result<(), BoxError> {
    let lock = Lock::new_fast(0u32);
    assert_eq!(lock.statistics().owner, None);
    let guard = lock.acquire().await?;
    let stats = lock.statistics();
    assert_eq!(
        (stats.locked, stats.owner, stats.tasks_waiting),
        (true, Some(me()), 0)
    );
    assert_eq!(lock.try_acquire().map(drop), Err(WouldBlock));
    drop(guard);
    let stats = lock.statistics();
    assert_eq!(
        (stats.locked, stats.owner, stats.tasks_waiting),
        (false, None, 0)
    );
    let guard = lock.try_acquire()?;
    assert_eq!(lock.statistics().owner, Some(me()));
    drop(guard);
    assert!(!lock.locked());
    Ok(())
}

/// A waiter dropped while queued leaves nobody waiting: the holder's release then unlocks
/// the lock, and the next acquire takes it at once.
async fn the_last_waiter_dropped_leaves_the_lock_free_on_release() -> Result<(), BoxError> {
    let lock = Lock::new_fast(0u32);
    let guard = lock.acquire().await?;
    {
        let mut waiter = pin!(lock.acquire());
        assert!(poll_once(waiter.as_mut()).await.is_none());
        assert_eq!(lock.statistics().tasks_waiting, 1);
    }
    assert_eq!(lock.statistics().tasks_waiting, 0);
    drop(guard);
    assert!(!lock.locked());
    let mut guard = lock.try_acquire()?;
    *guard += 1;
    drop(guard);
    assert_eq!(*lock.acquire().await?, 1);
    Ok(())
}

/// A waiter whose scope is cancelled leaves the queue: with nobody else waiting, the
/// release unlocks; with another waiter behind it, the lock goes to that one.
async fn a_cancelled_waiter_leaves_the_hand_off_to_the_next() -> Result<(), BoxError> {
    let lock = Arc::new(Lock::new_fast(Vec::new()));
    let second = Arc::new(Mutex::new(None));
    let scope = CancelScope::new();
    let done = Arc::new(Event::new());
    let (l, s2, handle, d) = (lock.clone(), second.clone(), scope.clone(), done.clone());
    task_group(|tg: TaskGroup| async move {
        let guard = l.acquire().await?;
        let l1 = l.clone();
        tg.start_soon(async move {
            let got = scope
                .run(async { l1.acquire().await.map(|mut g| g.push("first")) })
                .await?;
            assert_eq!(got, None, "cancelled while it waited");
            Ok(())
        })?;
        until(|| l.statistics().tasks_waiting == 1).await?;
        let (l2, s3, d2) = (l.clone(), s2.clone(), d.clone());
        tg.start_soon(async move {
            *s3.lock().unwrap() = Some(me());
            l2.acquire().await?.push("second");
            d2.set();
            Ok(())
        })?;
        until(|| l.statistics().tasks_waiting == 2).await?;
        handle.cancel();
        until(|| l.statistics().tasks_waiting == 1).await?;
        drop(guard);
        d.wait().await?;
        Ok(())
    })
    .await?;
    assert_eq!(*lock.try_acquire()?, ["second"]);
    let stats = lock.statistics();
    assert_eq!(
        (stats.locked, stats.owner, stats.tasks_waiting),
        (false, None, 0)
    );
    Ok(())
}

/// A lock released while a task waits is handed over: it stays locked, owned by the
/// waiter, and neither `try_acquire` nor a fast `acquire` can take it first.
async fn a_release_with_a_waiter_hands_over_and_nobody_barges() -> Result<(), BoxError> {
    let lock = Arc::new(Lock::new_fast(Vec::new()));
    let waiter_id = Arc::new(Mutex::new(None));
    let checked = Arc::new(Event::new());
    let (l, id, c) = (lock.clone(), waiter_id.clone(), checked.clone());
    task_group(|tg: TaskGroup| async move {
        let guard = l.acquire().await?;
        let (l1, id1, c1) = (l.clone(), id.clone(), c.clone());
        tg.start_soon(async move {
            *id1.lock().unwrap() = Some(me());
            let mut guard = l1.acquire().await?;
            guard.push("waiter");
            c1.wait().await?;
            Ok(())
        })?;
        until(|| l.statistics().tasks_waiting == 1).await?;
        drop(guard);
        let stats = l.statistics();
        assert_eq!(
            (stats.locked, stats.owner, stats.tasks_waiting),
            (true, *id.lock().unwrap(), 0)
        );
        assert_eq!(l.try_acquire().map(drop), Err(WouldBlock));
        let mut late = pin!(l.acquire());
        assert!(poll_once(late.as_mut()).await.is_none());
        assert_eq!(l.statistics().tasks_waiting, 1);
        c.set();
        late.await?.push("host");
        Ok(())
    })
    .await?;
    assert_eq!(*lock.try_acquire()?, ["waiter", "host"]);
    Ok(())
}

/// Tasks on every worker contend for the lock, each holding it across a checkpoint now
/// and then so that waiters queue: every increment lands once, and the lock ends free
/// with nobody waiting, for the fast and the default (yielding) lock.
async fn contending_tasks_lose_no_increment() -> Result<(), BoxError> {
    const TASKS: usize = 6;
    const ITERS: u64 = 500;
    for lock in [Lock::new_fast(0u64), Lock::new(0u64)] {
        let lock = Arc::new(lock);
        let l = lock.clone();
        task_group(|tg: TaskGroup| async move {
            for t in 0..TASKS {
                let l = l.clone();
                tg.start_soon(async move {
                    for i in 0..ITERS {
                        let mut guard = l.acquire().await?;
                        *guard += 1;
                        if (i + t as u64) % 7 == 0 {
                            checkpoint().await?;
                        }
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        let stats = lock.statistics();
        assert_eq!(
            (stats.locked, stats.owner, stats.tasks_waiting),
            (false, None, 0)
        );
        assert_eq!(*lock.try_acquire()?, TASKS as u64 * ITERS);
    }
    Ok(())
}

/// A lock handed to a waiter that is dropped before it noticed goes to the next waiter in
/// line, not to a later waiter that took the freed place in the queue; a waiter handed the
/// lock and then cancelled before it noticed returns the guard (the acquisition completed).
async fn a_hand_off_to_a_waiter_that_goes_away_reaches_the_next_in_line() -> Result<(), BoxError> {
    let lock = Lock::new_fast(Vec::new());
    let guard = lock.acquire().await?;
    let mut first = Box::pin(lock.acquire());
    assert!(poll_once(first.as_mut()).await.is_none());
    let mut second = pin!(lock.acquire());
    assert!(poll_once(second.as_mut()).await.is_none());
    drop(guard);
    // Handed to `first`, which has not run: the lock stays locked, one waiter is left.
    let stats = lock.statistics();
    assert_eq!((stats.locked, stats.tasks_waiting), (true, 1));
    // A later waiter queues behind `second`, in the place `first` left.
    let mut third = pin!(lock.acquire());
    assert!(poll_once(third.as_mut()).await.is_none());
    assert_eq!(lock.statistics().tasks_waiting, 2);
    drop(first);
    assert_eq!(lock.statistics().tasks_waiting, 1);
    let mut guard = poll_once(second.as_mut())
        .await
        .expect("the lock was passed on to the second waiter")?;
    guard.push("second");
    assert!(poll_once(third.as_mut()).await.is_none());
    drop(guard);
    let scope = CancelScope::new();
    let mut guard = scope
        .run(async {
            scope.cancel();
            third.await
        })
        .await?
        .expect("the lock was handed over before the cancellation");
    guard.push("third");
    drop(guard);
    assert_eq!(*lock.try_acquire()?, ["second", "third"]);
    let stats = lock.statistics();
    assert_eq!((stats.locked, stats.tasks_waiting), (false, 0));
    Ok(())
}

on_every_flavour!(
    owner_is_reported_through_the_fast_paths,
    the_last_waiter_dropped_leaves_the_lock_free_on_release,
    a_cancelled_waiter_leaves_the_hand_off_to_the_next,
    a_release_with_a_waiter_hands_over_and_nobody_barges,
    contending_tasks_lose_no_increment,
    a_hand_off_to_a_waiter_that_goes_away_reaches_the_next_in_line,
);

/// Outside a run there is no task: the lock works, and reports no owner.
#[test]
fn outside_a_run_the_lock_has_no_owner() {
    let lock = Lock::new(5u8);
    let guard = lock.try_acquire().expect("free");
    let stats = lock.statistics();
    assert_eq!((stats.locked, stats.owner), (true, None));
    drop(guard);
    assert!(!lock.locked());
}
