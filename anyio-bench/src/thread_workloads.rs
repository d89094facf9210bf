//! The thread workloads, written against anyio's public API only, each beside its native
//! counterpart:
//!
//! | fn | work per run | unit | native counterpart |
//! | --- | --- | --- | --- |
//! | [`to_thread_round_trips`] | 100 000 sequential `to_thread::run_sync` calls of a no-op closure | 100 000 calls | [`native_tokio_spawn_blocking_round_trips`] (`tokio::task::spawn_blocking`) on tokio; [`native_blocking_unblock_round_trips`] (`blocking::unblock`) on smol |
//! | [`portal_call_round_trips`] | 20 000 sequential `BlockingPortal::call`s of a ready future from a plain thread | 20 000 calls | [`native_tokio_handle_round_trips`] (`Handle::block_on(handle.spawn(..))` from a plain thread) on tokio; [`native_smol_executor_round_trips`] (`async_io::block_on(executor.spawn(..))`) on smol |
//!
//! The `to_thread` round trip includes what the native calls do not: a limiter token taken
//! and returned (the run's default 40-token `CapacityLimiter`) and the worker context set
//! for `from_thread`. A portal call is an anyio task of the portal's task group (a task
//! root node, a cancel scope for its handle) and a blocking wait on a condition variable.

use std::time::{Duration, Instant};

use anyio::{BlockingPortal, Runner, to_thread};

/// Sequential `to_thread::run_sync` round trips per run.
pub(crate) const THREAD_CALLS: usize = 100_000;
/// Sequential portal calls per run.
pub(crate) const PORTAL_CALLS: usize = 20_000;

/// 100 000 sequential `to_thread::run_sync(|| ())` round trips, inside an anyio task.
pub(crate) async fn to_thread_round_trips() {
    for _ in 0..THREAD_CALLS {
        to_thread::run_sync(|| ())
            .await
            .expect("nothing cancels the benchmark task");
    }
}

/// Native counterpart on tokio: 100 000 sequential `tokio::task::spawn_blocking(|| ())`
/// round trips, inside a task of a tokio runtime.
pub(crate) async fn native_tokio_spawn_blocking_round_trips() {
    for _ in 0..THREAD_CALLS {
        tokio::task::spawn_blocking(|| ())
            .await
            .expect("a no-op closure does not panic");
    }
}

/// Native counterpart on smol: 100 000 sequential `blocking::unblock(|| ())` round trips,
/// inside a task of any executor.
pub(crate) async fn native_blocking_unblock_round_trips() {
    for _ in 0..THREAD_CALLS {
        blocking::unblock(|| ()).await;
    }
}

/// Starts a portal with `runner` and times `PORTAL_CALLS` sequential calls of a ready
/// future from the calling (plain) thread; the portal's start and stop are not timed.
///
/// Call it from a plain thread, outside every run.
pub(crate) fn portal_call_round_trips(runner: &Runner) -> Duration {
    let portal: BlockingPortal = runner
        .start_blocking_portal()
        .unwrap_or_else(|e| panic!("cannot start the portal: {e}"));
    // One call first, so the loop's thread is up and warm.
    portal.call(|| async {}).expect("the portal runs");
    let start = Instant::now();
    for i in 0..PORTAL_CALLS {
        let out = portal
            .call(move || async move { i })
            .expect("the portal runs");
        debug_assert_eq!(out, i);
    }
    let elapsed = start.elapsed();
    portal.stop(false).expect("called from a plain thread");
    elapsed
}

/// Native counterpart of the portal on tokio: `PORTAL_CALLS` sequential
/// `handle.block_on(handle.spawn(..))` round trips from a plain thread into a
/// multi-threaded runtime with `workers` workers.
pub(crate) fn native_tokio_handle_round_trips(workers: usize) -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let handle = rt.handle().clone();
    handle.block_on(handle.spawn(async {})).expect("task");
    let start = Instant::now();
    for i in 0..PORTAL_CALLS {
        let out = handle
            .block_on(handle.spawn(async move { i }))
            .expect("task");
        debug_assert_eq!(out, i);
    }
    start.elapsed()
}

/// Native counterpart of the portal on smol: an `async_executor::Executor` run by one
/// thread of its own, and `PORTAL_CALLS` sequential `async_io::block_on(ex.spawn(..))`
/// round trips from the calling thread.
pub(crate) fn native_smol_executor_round_trips() -> Duration {
    use std::sync::Arc;

    let ex = Arc::new(async_executor::Executor::new());
    let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
    let runner = {
        let ex = ex.clone();
        std::thread::spawn(move || async_io::block_on(ex.run(stop_rx.recv())))
    };
    async_io::block_on(ex.spawn(async {}));
    let start = Instant::now();
    for i in 0..PORTAL_CALLS {
        let out = async_io::block_on(ex.spawn(async move { i }));
        debug_assert_eq!(out, i);
    }
    let elapsed = start.elapsed();
    drop(stop_tx);
    let _ = runner.join();
    elapsed
}
