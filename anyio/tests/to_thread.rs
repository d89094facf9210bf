//! `to_thread::run_sync` on every backend: results, panics, limiters, and cancellation
//! (shielded by default, abandoned on request), with a stress test that counts the threads
//! running at once under random cancellations.

use std::future::IntoFuture;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyio::to_thread::{self, DEFAULT_THREAD_LIMIT, current_default_thread_limiter};
use anyio::{BoxError, CancelScope, CapacityLimiter, TaskGroup, checkpoint, sleep};
use futures_lite::FutureExt;

/// Counts the closures running at once and the most seen.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let n = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(n, SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, SeqCst);
    }

    /// Runs `f` counted.
    fn during<T>(&self, f: impl FnOnce() -> T) -> T {
        self.enter();
        let out = f();
        self.leave();
        out
    }
}

/// Waits (asynchronously) until `cond` holds, for at most 10 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) -> Result<(), BoxError> {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err(format!("timed out waiting for {what}").into());
        }
        sleep(Duration::from_millis(2)).await?;
    }
    Ok(())
}

#[anyio::test]
async fn returns_the_closures_result() -> Result<(), BoxError> {
    let caller = thread::current().id();
    let (n, worker) =
        to_thread::run_sync(|| ((1..=10u64).product::<u64>(), thread::current().id())).await?;
    assert_eq!(n, 3_628_800);
    assert_ne!(worker, caller, "the closure runs on another thread");
    let owned = to_thread::run_sync(|| String::from("moved back")).await?;
    assert_eq!(owned, "moved back");
    Ok(())
}

#[anyio::test]
async fn a_panic_resumes_in_the_caller() -> Result<(), BoxError> {
    let out = AssertUnwindSafe(
        to_thread::run_sync(|| -> u32 { panic!("boom in a thread") }).into_future(),
    )
    .catch_unwind()
    .await;
    let panic = out.expect_err("the panic comes back");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"boom in a thread"));
    // The token went back: the limiter is free again.
    let limiter = current_default_thread_limiter();
    eventually("the token", || limiter.borrowed_tokens() == 0).await?;
    assert_eq!(to_thread::run_sync(|| 1).await?, 1);
    Ok(())
}

#[anyio::test]
async fn the_default_limiter_has_40_tokens_and_is_adjustable() -> Result<(), BoxError> {
    let limiter = current_default_thread_limiter();
    assert_eq!(DEFAULT_THREAD_LIMIT, 40);
    assert_eq!(limiter.total_tokens(), 40);
    assert!(
        Arc::ptr_eq(&limiter, &current_default_thread_limiter()),
        "one per run"
    );
    // Reachable from inside a worker too, as the same limiter.
    let inside = to_thread::run_sync(current_default_thread_limiter).await?;
    assert!(Arc::ptr_eq(&limiter, &inside));

    limiter.set_total_tokens(2)?;
    let gauge = Arc::new(Gauge::default());
    anyio::task_group(|tg: TaskGroup| {
        let gauge = gauge.clone();
        async move {
            for _ in 0..8 {
                let gauge = gauge.clone();
                tg.start_soon(async move {
                    to_thread::run_sync(move || {
                        gauge.during(|| thread::sleep(Duration::from_millis(10)))
                    })
                    .await?;
                    Ok(())
                })?;
            }
            Ok(())
        }
    })
    .await?;
    assert_eq!(
        gauge.max.load(SeqCst),
        2,
        "exactly the limiter's tokens run at once"
    );
    assert_eq!(limiter.borrowed_tokens(), 0);
    Ok(())
}

#[anyio::test]
async fn a_custom_limiter_bounds_the_threads() -> Result<(), BoxError> {
    let limiter = Arc::new(CapacityLimiter::new(1)?);
    let default = current_default_thread_limiter();
    let gauge = Arc::new(Gauge::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    anyio::task_group(|tg: TaskGroup| {
        let (limiter, default, gauge, seen) = (
            limiter.clone(),
            default.clone(),
            gauge.clone(),
            seen.clone(),
        );
        async move {
            for _ in 0..4 {
                let (limiter, default, gauge, seen) = (
                    limiter.clone(),
                    default.clone(),
                    gauge.clone(),
                    seen.clone(),
                );
                tg.start_soon(async move {
                    let l = limiter.clone();
                    to_thread::run_sync(move || {
                        gauge.during(|| {
                            seen.lock()
                                .unwrap()
                                .push((l.borrowed_tokens(), default.borrowed_tokens()));
                            thread::sleep(Duration::from_millis(5));
                        })
                    })
                    .limiter(limiter)
                    .await?;
                    Ok(())
                })?;
            }
            Ok(())
        }
    })
    .await?;
    assert_eq!(gauge.max.load(SeqCst), 1);
    for (custom, default) in seen.lock().unwrap().iter() {
        assert_eq!(
            (*custom, *default),
            (1, 0),
            "only the custom limiter is used"
        );
    }
    assert_eq!(limiter.borrowed_tokens(), 0);
    Ok(())
}

#[anyio::test]
async fn the_caller_is_shielded_by_default() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let start = Instant::now();
    let out = scope
        .run(async move {
            let canceller = handle.clone();
            let value = anyio::task_group(|tg: TaskGroup| async move {
                tg.start_soon(async move {
                    sleep(Duration::from_millis(20)).await?;
                    canceller.cancel();
                    Ok(())
                })?;
                let value = to_thread::run_sync(|| {
                    thread::sleep(Duration::from_millis(150));
                    "finished anyway"
                })
                .await;
                Ok(value)
            })
            .await
            .map_err(|e| -> BoxError { e.to_string().into() })?
            .expect("the body returned");
            // The thread's result was not lost...
            assert_eq!(value, Ok("finished anyway"));
            assert!(start.elapsed() >= Duration::from_millis(150));
            // ...and the cancellation arrives at the next checkpoint.
            checkpoint().await?;
            Ok::<_, BoxError>("unreachable")
        })
        .await?;
    assert_eq!(out, None, "the scope caught its cancellation");
    assert!(scope.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn abandon_on_cancel_returns_promptly() -> Result<(), BoxError> {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let start = Instant::now();
    let out = anyio::move_on_after(Duration::from_millis(20), async move {
        to_thread::run_sync(move || {
            thread::sleep(Duration::from_millis(300));
            f.fetch_add(1, SeqCst);
        })
        .abandon_on_cancel()
        .await
    })
    .await;
    assert_eq!(out, Ok(None), "the call was cancelled");
    assert!(
        start.elapsed() < Duration::from_millis(250),
        "it did not wait for the thread: {:?}",
        start.elapsed()
    );
    assert_eq!(finished.load(SeqCst), 0);
    // The abandoned thread keeps its token until it ends.
    let limiter = current_default_thread_limiter();
    assert_eq!(limiter.borrowed_tokens(), 1);
    eventually("the abandoned thread", || finished.load(SeqCst) == 1).await?;
    eventually("its token", || limiter.borrowed_tokens() == 0).await?;
    Ok(())
}

#[anyio::test]
async fn a_caller_cancelled_while_waiting_for_a_token_does_not_start_the_thread()
-> Result<(), BoxError> {
    let limiter = Arc::new(CapacityLimiter::new(1)?);
    let ran = Arc::new(AtomicUsize::new(0));
    let (l, r) = (limiter.clone(), ran.clone());
    anyio::task_group(|tg: TaskGroup| async move {
        let l2 = l.clone();
        tg.start_soon(async move {
            to_thread::run_sync(|| thread::sleep(Duration::from_millis(100)))
                .limiter(l2)
                .await?;
            Ok(())
        })?;
        sleep(Duration::from_millis(10)).await?;
        let out = anyio::move_on_after(Duration::from_millis(10), async move {
            to_thread::run_sync(move || {
                r.fetch_add(1, SeqCst);
            })
            .limiter(l)
            .await
        })
        .await?;
        assert_eq!(out, None);
        Ok(())
    })
    .await?;
    assert_eq!(ran.load(SeqCst), 0);
    assert_eq!(limiter.borrowed_tokens(), 0);
    Ok(())
}

/// A small xorshift generator: reproducible per seed, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[anyio::test]
async fn random_cancellations_never_oversubscribe_or_leak_tokens() -> Result<(), BoxError> {
    const TOKENS: usize = 3;
    let limiter = Arc::new(CapacityLimiter::new(TOKENS)?);
    let gauge = Arc::new(Gauge::default());
    let completed = Arc::new(AtomicUsize::new(0));
    anyio::task_group(|tg: TaskGroup| {
        let (limiter, gauge, completed) = (limiter.clone(), gauge.clone(), completed.clone());
        async move {
            for task in 0..12u64 {
                let (limiter, gauge, completed) =
                    (limiter.clone(), gauge.clone(), completed.clone());
                tg.start_soon(async move {
                    let mut rng =
                        Rng(0x9E37_79B9_7F4A_7C15 ^ (task + 1).wrapping_mul(0x0001_2345_6789));
                    for _ in 0..15 {
                        let work = Duration::from_micros(rng.below(3_000));
                        let timeout = Duration::from_micros(rng.below(4_000));
                        let abandon = rng.below(2) == 0;
                        let (g, c) = (gauge.clone(), completed.clone());
                        let call = to_thread::run_sync(move || {
                            g.during(|| thread::sleep(work));
                            c.fetch_add(1, SeqCst);
                        })
                        .limiter(limiter.clone());
                        let call = if abandon {
                            call.abandon_on_cancel()
                        } else {
                            call
                        };
                        let _ = anyio::move_on_after(timeout, call.into_future()).await?;
                        assert!(limiter.borrowed_tokens() <= TOKENS);
                    }
                    Ok(())
                })?;
            }
            Ok(())
        }
    })
    .await?;
    // Abandoned threads may still run; each returns its token when it ends.
    eventually("every token back", || limiter.borrowed_tokens() == 0).await?;
    assert_eq!(gauge.now.load(SeqCst), 0);
    let max = gauge.max.load(SeqCst);
    assert!(
        max <= TOKENS,
        "{max} threads ran at once with {TOKENS} tokens"
    );
    assert!(max >= 1 && completed.load(SeqCst) >= 1);
    Ok(())
}

#[test]
fn works_in_a_task_of_a_plain_tokio_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let n = rt
        .block_on(async { to_thread::run_sync(|| 6 * 7).await })
        .unwrap();
    assert_eq!(n, 42);
}
