//! `from_thread`: calling back into the loop from worker threads and from plain threads
//! with a token, on every backend, and the errors for calls that cannot run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyio::{
    Backend, BoxError, CancelScope, Cancelled, Event, FromThreadError, Runner, TaskGroup,
    from_thread, get_current_task, sleep, sleep_forever, to_thread,
};

#[anyio::test]
async fn run_from_a_worker_returns_the_futures_output() -> Result<(), BoxError> {
    let out = to_thread::run_sync(|| {
        from_thread::run(|| async {
            sleep(Duration::from_millis(2)).await?;
            let task = get_current_task().expect("the future runs as an anyio task");
            Ok::<_, Cancelled>((21 * 2, task.name().to_owned()))
        })
    })
    .await?;
    let (n, name) = out??;
    assert_eq!(n, 42);
    assert!(
        name.contains("from_thread"),
        "named after the closure: {name}"
    );
    Ok(())
}

#[anyio::test]
async fn run_sync_from_a_worker_runs_on_the_loop() -> Result<(), BoxError> {
    let (on_task, worker_has_task) = to_thread::run_sync(|| {
        let on_task = from_thread::run_sync(|| get_current_task().is_some())?;
        Ok::<_, FromThreadError>((on_task, get_current_task().is_some()))
    })
    .await??;
    assert!(on_task, "the closure runs inside a task on the loop");
    assert!(!worker_has_task);
    Ok(())
}

#[anyio::test]
async fn a_panic_on_the_loop_resumes_in_the_worker() -> Result<(), BoxError> {
    let caught = to_thread::run_sync(|| {
        catch_unwind(AssertUnwindSafe(|| {
            from_thread::run(|| async { panic!("boom on the loop") })
        }))
        .is_err()
    })
    .await?;
    assert!(caught);
    // The loop is fine afterwards.
    assert_eq!(
        to_thread::run_sync(|| from_thread::run_sync(|| 5)).await??,
        5
    );
    Ok(())
}

#[anyio::test]
async fn check_cancelled_reports_the_callers_cancellation() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let saw_ok = Arc::new(AtomicBool::new(false));
    let seen = saw_ok.clone();
    let start = Instant::now();
    let out = scope
        .run(async move {
            anyio::task_group(|tg: TaskGroup| async move {
                tg.start_soon(async move {
                    sleep(Duration::from_millis(30)).await?;
                    handle.cancel();
                    Ok(())
                })?;
                // A shielded wait: the thread notices the cancellation on its own.
                let result = to_thread::run_sync(move || {
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while Instant::now() < deadline {
                        from_thread::check_cancelled()?;
                        seen.store(true, SeqCst);
                        thread::sleep(Duration::from_millis(1));
                    }
                    Ok::<_, Cancelled>(())
                })
                .await?;
                result?;
                Ok(())
            })
            .await?;
            Ok::<_, BoxError>(())
        })
        .await?;
    assert_eq!(out, None);
    assert!(saw_ok.load(SeqCst), "not cancelled before the scope was");
    assert!(start.elapsed() < Duration::from_secs(5));
    // Outside any worker or task nothing can cancel the code.
    assert_eq!(
        thread::spawn(from_thread::check_cancelled).join().unwrap(),
        Ok(())
    );
    Ok(())
}

#[anyio::test]
async fn cancelling_the_caller_cancels_the_future_run_from_its_thread() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(async move {
            anyio::task_group(|tg: TaskGroup| async move {
                tg.start_soon(async move {
                    sleep(Duration::from_millis(30)).await?;
                    handle.cancel();
                    Ok(())
                })?;
                let from_loop = to_thread::run_sync(|| {
                    from_thread::run(|| async {
                        sleep_forever().await?;
                        Ok::<(), Cancelled>(())
                    })
                })
                .await?;
                assert_eq!(from_loop, Ok(Err(Cancelled::new())));
                anyio::checkpoint().await?;
                Ok(())
            })
            .await?;
            Ok::<_, BoxError>(())
        })
        .await?;
    assert_eq!(out, None);
    Ok(())
}

#[anyio::test]
async fn a_call_from_an_abandoned_thread_is_out_of_the_callers_scope() -> Result<(), BoxError> {
    let thread_runs = Arc::new(Event::new());
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (out_tx, out_rx) = mpsc::channel();
    let runs = thread_runs.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let abandoned = to_thread::run_sync(move || {
                runs.set();
                // Until the caller has abandoned this thread.
                go_rx.recv().unwrap();
                let checked = from_thread::check_cancelled();
                let call = from_thread::run(|| async {
                    sleep(Duration::from_millis(5)).await?;
                    anyio::checkpoint().await?;
                    Ok::<_, Cancelled>(42)
                });
                out_tx.send((checked, call)).unwrap();
            })
            .abandon_on_cancel()
            .await;
            assert_eq!(abandoned, Err(Cancelled::new()));
            Ok(())
        })?;
        thread_runs.wait().await?;
        // Cancels the caller, which abandons its thread.
        tg.cancel();
        Ok(())
    })
    .await?;
    go_tx.send(())?;
    let (checked, call) =
        to_thread::run_sync(move || out_rx.recv_timeout(Duration::from_secs(10))).await??;
    // The thread still learns that its caller was cancelled (AnyIO's check_cancelled)...
    assert_eq!(checked, Err(Cancelled::new()));
    // ...but what it runs on the loop now is no longer in the caller's scope.
    assert_eq!(call, Ok(Ok(42)));
    Ok(())
}

#[anyio::test]
async fn a_call_running_when_its_caller_abandons_the_thread_is_cancelled() -> Result<(), BoxError> {
    let in_call = Arc::new(Event::new());
    let (out_tx, out_rx) = mpsc::channel();
    // Holds the thread until the group has ended, so its caller sees the cancellation
    // before the thread could finish (a result ready first would rightly win).
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let entered = in_call.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let abandoned = to_thread::run_sync(move || {
                let call = from_thread::run(move || async move {
                    entered.set();
                    sleep_forever().await
                });
                out_tx.send(call).unwrap();
                let _ = go_rx.recv_timeout(Duration::from_secs(10));
            })
            .abandon_on_cancel()
            .await;
            assert_eq!(abandoned, Err(Cancelled::new()));
            Ok(())
        })?;
        in_call.wait().await?;
        tg.cancel();
        Ok(())
    })
    .await?;
    go_tx.send(())?;
    let call = to_thread::run_sync(move || out_rx.recv_timeout(Duration::from_secs(10))).await??;
    // It was made while the caller waited, so it was in the caller's scope.
    assert_eq!(call, Ok(Err(Cancelled::new())));
    Ok(())
}

#[anyio::test]
async fn a_token_works_from_a_plain_thread() -> Result<(), BoxError> {
    let token = anyio::current_token();
    assert_eq!(token.backend(), anyio::current_backend()?);
    assert!(!token.is_finished());
    let t = token.clone();
    let plain = thread::spawn(move || {
        let a = t.run(|| async {
            sleep(Duration::from_millis(2)).await?;
            Ok::<_, Cancelled>(get_current_task().is_some())
        });
        let b = t.run_sync(|| 7);
        (a, b)
    });
    // Wait for the thread without blocking the loop.
    let (a, b) = to_thread::run_sync(move || plain.join().unwrap()).await?;
    assert_eq!(a, Ok(Ok(true)));
    assert_eq!(b, Ok(7));
    // A worker can take the token of its run, too.
    let inner = to_thread::run_sync(|| anyio::current_token().run_sync(|| 8)).await?;
    assert_eq!(inner, Ok(8));
    Ok(())
}

#[anyio::test]
async fn calls_from_the_loop_thread_are_errors() -> Result<(), BoxError> {
    let token = anyio::current_token();
    assert_eq!(
        token.run_sync(|| ()),
        Err(FromThreadError::InEventLoopThread)
    );
    assert_eq!(
        token.run(|| async {}),
        Err(FromThreadError::InEventLoopThread)
    );
    assert_eq!(
        from_thread::run_sync(|| ()),
        Err(FromThreadError::InEventLoopThread)
    );
    // From a task started by a task group, too.
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            assert_eq!(
                token.run_sync(|| ()),
                Err(FromThreadError::InEventLoopThread)
            );
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[test]
fn without_a_worker_or_token_it_is_an_error() {
    let err = thread::spawn(|| from_thread::run_sync(|| ()))
        .join()
        .unwrap()
        .unwrap_err();
    assert_eq!(err, FromThreadError::NoEventLoop);
    assert!(err.to_string().contains("current_token"), "{err}");
    assert_eq!(
        from_thread::run(|| async {}),
        Err(FromThreadError::NoEventLoop)
    );
}

#[test]
#[should_panic(expected = "current_token")]
fn current_token_outside_a_loop_panics() {
    let _ = anyio::current_token();
}

#[test]
fn a_token_of_a_finished_run_is_an_error() {
    for backend in anyio::testing::selected_backends() {
        let token = Runner::new(backend)
            .run(async { anyio::current_token() })
            .unwrap();
        assert!(token.is_finished(), "{backend}");
        assert_eq!(token.run_sync(|| 1), Err(FromThreadError::RunFinished));
        assert_eq!(token.run(|| async { 1 }), Err(FromThreadError::RunFinished));
    }
}

#[test]
fn a_call_blocked_when_the_run_ends_gets_an_error() {
    for backend in anyio::testing::selected_backends() {
        let (plain, started) = Runner::new(backend)
            .run(async {
                let token = anyio::current_token();
                let started = Arc::new(AtomicBool::new(false));
                let s = started.clone();
                let plain = thread::spawn(move || {
                    token.run(move || async move {
                        s.store(true, SeqCst);
                        // Nothing cancels a task run through a token but its own scopes.
                        let _ = sleep_forever().await;
                    })
                });
                while !started.load(SeqCst) {
                    sleep(Duration::from_millis(1)).await.unwrap();
                }
                (plain, started)
            })
            .unwrap();
        assert!(started.load(SeqCst));
        assert_eq!(
            plain.join().unwrap(),
            Err(FromThreadError::RunFinished),
            "{backend}"
        );
    }
}

#[test]
fn an_abandoned_worker_blocked_on_the_loop_gets_an_error_when_the_run_ends() {
    for backend in [Backend::Tokio, Backend::Smol] {
        if !anyio::testing::selected_backends().contains(&backend) {
            continue;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        Runner::new(backend)
            .run(async move {
                let out = anyio::move_on_after(Duration::from_millis(20), async move {
                    to_thread::run_sync(move || {
                        // A shielded wait on the loop: it outlives its caller.
                        let r = from_thread::run(|| async {
                            CancelScope::new()
                                .shielded(true)
                                .run(async {
                                    sleep(Duration::from_secs(30)).await?;
                                    Ok::<_, Cancelled>(())
                                })
                                .await
                        });
                        tx.send(r).unwrap();
                    })
                    .abandon_on_cancel()
                    .await
                })
                .await;
                assert_eq!(out, Ok(None));
            })
            .unwrap();
        let r = rx.recv_timeout(Duration::from_secs(10)).expect("no hang");
        assert_eq!(r, Err(FromThreadError::RunFinished), "{backend}");
    }
}
