//! The synchronization workloads, written against anyio's public API only: W3 (the anchors'
//! mutex workload) and the rates of the other primitives, each beside the nearest native
//! primitive of the backends.
//!
//! | fn | work per run | unit | nearest native primitive |
//! | --- | --- | --- | --- |
//! | [`mutex`] (W3) | 8 tasks x 100 000 lock/increment/unlock, `Lock::new_fast` | 800 000 locks | `tokio::sync::Mutex` (fair, FIFO) on tokio; `async_lock::Mutex` (unfair, a releaser may re-take it) on smol |
//! | [`mutex_checkpointing`] | W3 with the default `Lock` (every acquire yields once, as AnyIO's) | 800 000 locks | the same |
//! | [`semaphore`] | 8 tasks x 100 000 acquire/release of a 4-permit fast `Semaphore` | 800 000 acquires | `tokio::sync::Semaphore`; `async_lock::Semaphore` |
//! | [`event_ping_pong`] | 100 000 round trips between two tasks, two `Event`s per round trip | 100 000 round trips | `tokio::sync::Notify` ping-pong; `event_listener::Event` ping-pong |
//! | [`capacity_limiter`] | 8 tasks x 100 000 acquire/release of a 4-token `CapacityLimiter` | 800 000 acquires | none: a `tokio::sync::Semaphore` / `async_lock::Semaphore` of 4 permits, without the per-borrower bookkeeping (trio's `CapacityLimiter` is the real counterpart) |
//!
//! Every lock, permit and token is handed directly to the oldest waiter when it is released
//! under contention (AnyIO's fairness rule), so with 8 tasks contending each acquisition is
//! a task switch: the holder cannot release and re-take it in one go. `async_lock::Mutex`
//! lets the releasing task barge back in, which is faster under contention and unfair; the
//! anyio figure on smol measures the fair policy against that unfair one.

use std::sync::Arc;

use anyio::{CapacityLimiter, Event, Lock, Semaphore, TaskGroup};

/// W3: tasks contending for the lock.
pub(crate) const MUTEX_TASKS: usize = 8;
/// W3: lock/increment/unlock per task.
pub(crate) const MUTEX_ITERS: u64 = 100_000;
/// Tasks of the semaphore and capacity-limiter workloads.
pub(crate) const PERMIT_TASKS: usize = 8;
/// Acquire/release pairs per task of the semaphore and capacity-limiter workloads.
pub(crate) const PERMIT_ITERS: usize = 100_000;
/// Permits of the semaphore, tokens of the limiter.
pub(crate) const PERMITS: usize = 4;
/// Round trips of the event ping-pong.
pub(crate) const PING_PONGS: usize = 100_000;

/// Runs `MUTEX_TASKS` tasks that each increment a counter behind `lock` `MUTEX_ITERS`
/// times, and checks the total.
async fn contend(lock: Lock<u64>) {
    let counter = Arc::new(lock);
    let c = counter.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        for _ in 0..MUTEX_TASKS {
            let c = c.clone();
            tg.start_soon(async move {
                for _ in 0..MUTEX_ITERS {
                    *c.acquire().await? += 1;
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("W3 task group failed: {e}"));
    let total = *counter
        .acquire()
        .await
        .expect("W3: nothing cancels this task");
    assert_eq!(total, MUTEX_TASKS as u64 * MUTEX_ITERS);
}

/// W3: 8 tasks x 100 000 lock/increment/unlock on a fast-acquire `Lock<u64>` (no yield when
/// the lock is free, as `tokio::sync::Mutex`).
pub(crate) async fn mutex() {
    contend(Lock::new_fast(0)).await;
}

/// W3 with AnyIO's default lock: every acquire is a full checkpoint (it yields once even
/// when the lock is free).
pub(crate) async fn mutex_checkpointing() {
    contend(Lock::new(0)).await;
}

/// 8 tasks x 100 000 acquire/release of a fast-acquire semaphore with 4 permits.
pub(crate) async fn semaphore() {
    let semaphore = Arc::new(
        Semaphore::new(PERMITS)
            .expect("a valid initial value")
            .with_fast_acquire(true),
    );
    let s = semaphore.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        for _ in 0..PERMIT_TASKS {
            let s = s.clone();
            tg.start_soon(async move {
                for _ in 0..PERMIT_ITERS {
                    drop(s.acquire().await?);
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("semaphore task group failed: {e}"));
    assert_eq!(semaphore.value(), PERMITS);
}

/// 100 000 round trips between two tasks: one sets the round's ping event and waits for
/// its pong event, the other waits for the ping and sets the pong. Events cannot be reset
/// (as in AnyIO), so each round has its own pair, made before the clock starts mattering
/// (it is part of the timed body, but a small part).
pub(crate) async fn event_ping_pong() {
    let rounds: Arc<Vec<(Event, Event)>> = Arc::new(
        (0..PING_PONGS)
            .map(|_| (Event::new(), Event::new()))
            .collect(),
    );
    let r = rounds.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        let ponger = r.clone();
        tg.start_soon(async move {
            for (ping, pong) in ponger.iter() {
                ping.wait().await?;
                pong.set();
            }
            Ok(())
        })?;
        for (ping, pong) in r.iter() {
            ping.set();
            pong.wait().await?;
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("ping-pong task group failed: {e}"));
    assert!(
        rounds
            .iter()
            .all(|(ping, pong)| ping.is_set() && pong.is_set())
    );
}

/// 8 tasks x 100 000 acquire/release of a capacity limiter with 4 tokens, each task
/// borrowing for itself.
pub(crate) async fn capacity_limiter() {
    let limiter = Arc::new(CapacityLimiter::new(PERMITS).expect("a valid total"));
    let l = limiter.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        for _ in 0..PERMIT_TASKS {
            let l = l.clone();
            tg.start_soon(async move {
                for _ in 0..PERMIT_ITERS {
                    drop(l.acquire().await?);
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("capacity limiter task group failed: {e}"));
    assert_eq!(limiter.borrowed_tokens(), 0);
}
