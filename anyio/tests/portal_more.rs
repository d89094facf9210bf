//! Portals, completed: named portal tasks, a portal into the running loop
//! (`with_blocking_portal`) on every flavour, and the shared `BlockingPortalProvider`.

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;

use futures_lite::FutureExt;

use anyio::{
    Backend, BlockingPortal, BlockingPortalProvider, BoxError, CancelScope, Cancelled, Event,
    PortalError, PortalLease, PortalStartError, Runner, TaskStatus, checkpoint, current_token,
    get_current_task, get_running_tasks, sleep_forever, to_thread, wait_all_tasks_blocked,
    with_blocking_portal,
};

fn backends() -> Vec<Backend> {
    anyio::testing::selected_backends()
}

fn portal(backend: Backend) -> BlockingPortal {
    anyio::start_blocking_portal(backend).unwrap_or_else(|e| panic!("{backend}: {e}"))
}

fn current_name() -> String {
    get_current_task()
        .expect("a portal task is an anyio task")
        .name()
        .to_owned()
}

// Names of portal tasks.

#[test]
fn named_portal_tasks_report_their_name() {
    for backend in backends() {
        let portal = portal(backend);

        let called = portal
            .named("caller")
            .call(|| async { current_name() })
            .unwrap();
        assert_eq!(called, "caller", "{backend}");

        let soon = portal
            .named("soon")
            .start_task_soon(|| async {
                let listed = get_running_tasks().iter().any(|t| t.name() == "soon");
                (current_name(), listed)
            })
            .unwrap();
        assert_eq!(soon.join(), Ok((String::from("soon"), true)), "{backend}");

        let (handle, started_as) = portal
            .named(String::from("starter"))
            .start_task(|status: TaskStatus<String>| async move {
                status.started(current_name());
                current_name()
            })
            .unwrap();
        assert_eq!(started_as, "starter", "{backend}");
        assert_eq!(handle.join(), Ok(String::from("starter")), "{backend}");

        portal.stop(false).unwrap();
    }
}

#[test]
fn unnamed_portal_tasks_are_named_after_their_closure() {
    for backend in backends() {
        let portal = portal(backend);
        let name = portal.call(|| async { current_name() }).unwrap();
        assert_eq!(
            name, "portal_more::unnamed_portal_tasks_are_named_after_their_closure",
            "{backend}"
        );
    }
}

#[test]
fn a_named_task_on_a_stopped_portal_is_an_error() {
    for backend in backends() {
        let portal = portal(backend);
        portal.stop(false).unwrap();
        assert_eq!(
            portal.named("late").call(|| async { 1 }),
            Err(PortalError::Stopped)
        );
        assert_eq!(
            portal
                .named("late")
                .start_task_soon(|| async { 1 })
                .unwrap_err(),
            PortalError::Stopped
        );
        assert!(matches!(
            portal.named("late").start_task(|_: TaskStatus| async {}),
            Err(PortalStartError::Portal(PortalError::Stopped))
        ));
    }
}

// A portal into the running loop.

on_every_flavour!(
    a_thread_calls_into_the_running_loop,
    the_portal_stops_when_its_scope_ends,
    remaining_tasks_are_waited_for_when_the_body_succeeds,
    remaining_tasks_are_cancelled_when_the_body_fails,
    blocking_calls_from_the_loop_itself_are_an_error,
    a_thread_stops_the_portal_and_the_body_sees_it,
    cancelling_the_enclosing_scope_cancels_the_portal_tasks,
    a_panicking_body_cancels_the_tasks_then_resumes,
    stop_with_cancel_cancels_the_tasks_but_not_the_body,
    dropping_the_scope_stops_the_portal_and_fails_calls_in_progress,
);

async fn a_thread_calls_into_the_running_loop() -> Result<(), BoxError> {
    let here = current_token();
    let (n, same_run, name) = with_blocking_portal(|portal| async move {
        let out = to_thread::run_sync(move || {
            assert!(get_current_task().is_none(), "the caller is a plain thread");
            portal.named("from-sync").call(move || async move {
                checkpoint().await?;
                Ok::<_, Cancelled>((6 * 7, current_token() == here, current_name()))
            })
        })
        .await?;
        Ok::<_, BoxError>(out??)
    })
    .await?;
    assert_eq!(n, 42);
    assert!(same_run, "the portal's tasks run in the caller's run");
    assert_eq!(name, "from-sync");
    Ok(())
}

async fn the_portal_stops_when_its_scope_ends() -> Result<(), BoxError> {
    let kept = with_blocking_portal(|portal| async move {
        assert!(!portal.is_stopped());
        Ok::<_, Cancelled>(portal.clone())
    })
    .await?;
    assert!(kept.is_stopped());
    assert!(!kept.token().is_finished(), "the run goes on");
    let (call, soon, start) = to_thread::run_sync(move || {
        (
            kept.call(|| async { 1 }),
            kept.start_task_soon(|| async { 1 }).map(drop),
            kept.start_task(|_: TaskStatus| async {})
                .map(drop)
                .map_err(|e| e.to_string()),
        )
    })
    .await?;
    assert_eq!(call, Err(PortalError::Stopped));
    assert_eq!(soon, Err(PortalError::Stopped));
    assert_eq!(
        start,
        Err(String::from("the blocking portal is not running"))
    );
    Ok(())
}

async fn remaining_tasks_are_waited_for_when_the_body_succeeds() -> Result<(), BoxError> {
    let log = Arc::new(Mutex::new(Vec::<&str>::new()));
    let l = log.clone();
    let handle = with_blocking_portal(|portal| async move {
        let (task_log, watched) = (l.clone(), portal.clone());
        let handle = to_thread::run_sync(move || {
            portal.start_task_soon(move || async move {
                // The portal stops when the body has returned: this task outlives it.
                watched.sleep_until_stopped().await?;
                checkpoint().await?;
                task_log.lock().unwrap().push("task finished");
                Ok::<_, Cancelled>("value")
            })
        })
        .await??;
        l.lock().unwrap().push("body returned");
        Ok::<_, BoxError>(handle)
    })
    .await?;
    log.lock().unwrap().push("scope ended");
    assert_eq!(
        *log.lock().unwrap(),
        ["body returned", "task finished", "scope ended"]
    );
    let joined = to_thread::run_sync(move || handle.join()).await?;
    assert_eq!(joined, Ok(Ok("value")));
    Ok(())
}

async fn remaining_tasks_are_cancelled_when_the_body_fails() -> Result<(), BoxError> {
    let running = Arc::new(Event::new());
    let cleaned_up = Arc::new(AtomicBool::new(false));
    let (r, c) = (running.clone(), cleaned_up.clone());
    let handle = Arc::new(Mutex::new(None));
    let h = handle.clone();
    let out: Result<(), &str> = with_blocking_portal(|portal| async move {
        let started = to_thread::run_sync(move || {
            portal.start_task_soon(move || async move {
                r.set();
                let slept = sleep_forever().await;
                c.store(true, SeqCst);
                slept
            })
        })
        .await
        .expect("run_sync is not cancelled here")
        .expect("the portal runs");
        *h.lock().unwrap() = Some(started);
        running.wait().await.expect("nothing cancels the body yet");
        Err("the body failed")
    })
    .await;
    assert_eq!(out, Err("the body failed"));
    assert!(
        cleaned_up.load(SeqCst),
        "the scope waited for the cancelled task"
    );
    let handle = handle.lock().unwrap().take().expect("the task was started");
    let joined = to_thread::run_sync(move || handle.join()).await?;
    assert_eq!(joined, Err(PortalError::Cancelled));
    Ok(())
}

async fn blocking_calls_from_the_loop_itself_are_an_error() -> Result<(), BoxError> {
    let (call, soon, start, handle) = with_blocking_portal(|portal| async move {
        let call = portal.call(|| async { 1 });
        let soon = portal.start_task_soon(|| async { 1 }).map(drop);
        let start = portal
            .start_task(|_: TaskStatus| async {})
            .map(drop)
            .map_err(|e| e.to_string());
        // A handle made on a thread cannot be joined on the loop either.
        let p = portal.clone();
        let handle = to_thread::run_sync(move || p.start_task_soon(|| async { 2 })).await??;
        let joined = handle.join();
        Ok::<_, BoxError>((call, soon, start, joined))
    })
    .await?;
    assert_eq!(call, Err(PortalError::InEventLoopThread));
    assert_eq!(soon, Err(PortalError::InEventLoopThread));
    assert_eq!(
        start,
        Err(String::from(
            "this method cannot be called from the blocking portal's event loop thread"
        ))
    );
    assert_eq!(handle, Err(PortalError::InEventLoopThread));
    Ok(())
}

async fn a_thread_stops_the_portal_and_the_body_sees_it() -> Result<(), BoxError> {
    let (tx, rx) = mpsc::channel();
    with_blocking_portal(|portal| async move {
        let p = portal.clone();
        // A thread anyio did not start: the body waits without blocking the loop.
        let thread = thread::spawn(move || {
            let first = p.call(|| async { "first" });
            let stopped = p.stop(false);
            let after = p.call(|| async { "after" });
            tx.send((first, stopped, after)).unwrap();
        });
        portal.sleep_until_stopped().await?;
        assert!(portal.is_stopped());
        to_thread::run_sync(move || thread.join().unwrap()).await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    assert_eq!(
        rx.try_recv()?,
        (Ok("first"), Ok(()), Err(PortalError::Stopped))
    );
    Ok(())
}

async fn cancelling_the_enclosing_scope_cancels_the_portal_tasks() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let canceller = scope.clone();
    let (tx, rx) = mpsc::channel();
    let out = scope
        .run(with_blocking_portal(|portal| async move {
            to_thread::run_sync(move || {
                let first = portal.call(move || async move {
                    canceller.cancel();
                    sleep_forever().await
                });
                // The portal still takes calls; they start in the cancelled scope.
                let second = portal.call(|| async { checkpoint().await });
                tx.send((first, second)).unwrap();
            })
            .await?;
            checkpoint().await?;
            Ok::<_, Cancelled>("not cancelled")
        }))
        .await;
    assert_eq!(out, Ok(None), "the scope caught its cancellation");
    assert_eq!(
        rx.try_recv()?,
        (Err(PortalError::Cancelled), Err(PortalError::Cancelled))
    );
    Ok(())
}

async fn stop_with_cancel_cancels_the_tasks_but_not_the_body() -> Result<(), BoxError> {
    let (tx, rx) = mpsc::channel();
    let body = with_blocking_portal(|portal| async move {
        let p = portal.clone();
        let thread = thread::spawn(move || {
            let forever = p.start_task_soon(sleep_forever).unwrap();
            let stopped = p.stop(true);
            tx.send((stopped, forever.join())).unwrap();
        });
        portal.sleep_until_stopped().await?;
        checkpoint().await?;
        to_thread::run_sync(move || thread.join().unwrap()).await?;
        Ok::<_, BoxError>("the body went on")
    })
    .await?;
    assert_eq!(body, "the body went on");
    assert_eq!(rx.try_recv()?, (Ok(()), Err(PortalError::Cancelled)));
    Ok(())
}

async fn a_panicking_body_cancels_the_tasks_then_resumes() -> Result<(), BoxError> {
    let running = Arc::new(Event::new());
    let cleaned_up = Arc::new(AtomicBool::new(false));
    let (r, c) = (running.clone(), cleaned_up.clone());
    let handle = Arc::new(Mutex::new(None));
    let h = handle.clone();
    let scope = with_blocking_portal(|portal| async move {
        let started = to_thread::run_sync(move || {
            portal.start_task_soon(move || async move {
                r.set();
                let slept = sleep_forever().await;
                c.store(true, SeqCst);
                slept
            })
        })
        .await??;
        *h.lock().unwrap() = Some(started);
        if running.wait().await.is_ok() {
            panic!("the body panicked");
        }
        Ok::<(), BoxError>(())
    });
    let panic = AssertUnwindSafe(scope)
        .catch_unwind()
        .await
        .expect_err("the panic resumes");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"the body panicked"));
    assert!(
        cleaned_up.load(SeqCst),
        "the task was cancelled and cleaned up first"
    );
    let handle = handle.lock().unwrap().take().expect("the task was started");
    let joined = to_thread::run_sync(move || handle.join()).await?;
    assert_eq!(joined, Err(PortalError::Cancelled));
    Ok(())
}

async fn dropping_the_scope_stops_the_portal_and_fails_calls_in_progress() -> Result<(), BoxError> {
    let running = Arc::new(Event::new());
    let (r, kept) = (running.clone(), Arc::new(Mutex::new(None)));
    let k = kept.clone();
    let (tx, rx) = mpsc::channel();
    let scope = with_blocking_portal(|portal| async move {
        *k.lock().unwrap() = Some(portal.clone());
        to_thread::run_sync(move || {
            let result = portal.call(move || async move {
                r.set();
                sleep_forever().await
            });
            tx.send(result).unwrap();
        })
        .abandon_on_cancel()
        .await?;
        Ok::<_, BoxError>(())
    });
    // The portal's scope is dropped once its task waits.
    let dropped = futures_lite::future::or(async { Some(scope.await) }, async {
        running.wait().await.expect("nothing cancels this");
        wait_all_tasks_blocked()
            .await
            .expect("nothing cancels this");
        None
    })
    .await;
    assert!(dropped.is_none(), "the scope never finishes by itself");
    let portal = kept.lock().unwrap().take().expect("the body ran");
    assert!(portal.is_stopped());
    let in_progress = to_thread::run_sync(move || rx.recv()).await?;
    assert_eq!(in_progress, Ok(Err(PortalError::Stopped)));
    let late = to_thread::run_sync(move || portal.call(|| async { 1 })).await?;
    assert_eq!(late, Err(PortalError::Stopped));
    Ok(())
}

#[test]
fn the_scope_future_is_send() {
    fn is_send<T: Send>(_: &T) {}
    let scope =
        with_blocking_portal(|portal| async move { Ok::<_, Cancelled>(portal.is_stopped()) });
    is_send(&scope);
}

// The shared portal provider.

#[test]
fn two_leases_share_one_portal_and_the_last_one_stops_it() {
    for backend in backends() {
        let provider = BlockingPortalProvider::new(backend);
        assert_eq!(provider.lease_count(), 0);
        let first = provider.lease().unwrap();
        let second = provider.lease().unwrap();
        assert_eq!(provider.lease_count(), 2);
        assert_eq!(first.token(), second.token(), "{backend}");
        assert_eq!(first.backend(), backend);

        // A task that sees the portal stop.
        let saw_stop = Arc::new(AtomicBool::new(false));
        let (seen, watched) = (saw_stop.clone(), (*second).clone());
        let watcher = second
            .start_task_soon(move || async move {
                watched.sleep_until_stopped().await?;
                seen.store(true, SeqCst);
                Ok::<_, Cancelled>(())
            })
            .unwrap();

        drop(first);
        assert_eq!(provider.lease_count(), 1);
        assert_eq!(second.call(|| async { 5 }), Ok(5), "still running");
        assert!(!saw_stop.load(SeqCst));

        let old = (*second).clone();
        let old_token = second.token();
        drop(second);
        assert_eq!(provider.lease_count(), 0);
        assert!(
            saw_stop.load(SeqCst),
            "{backend}: the last lease stopped it"
        );
        assert_eq!(watcher.join(), Ok(Ok(())));
        assert!(old_token.is_finished(), "its thread has ended");
        assert!(old.is_stopped());
        assert_eq!(old.call(|| async { 1 }), Err(PortalError::Stopped));

        // The next user gets a fresh, working portal.
        let again = provider.lease().unwrap();
        assert_ne!(again.token(), old_token);
        assert_eq!(again.call(|| async { 6 }), Ok(6), "{backend}");
    }
}

#[test]
fn many_threads_lease_one_portal_at_once() {
    const THREADS: u64 = 8;
    for backend in backends() {
        let provider = BlockingPortalProvider::with_runner(Runner::new(backend).worker_threads(2));
        let barrier = Barrier::new(THREADS as usize);
        let results: Vec<_> = thread::scope(|s| {
            let threads: Vec<_> = (0..THREADS)
                .map(|i| {
                    let (provider, barrier) = (&provider, &barrier);
                    s.spawn(move || {
                        let lease = provider.lease().unwrap();
                        // Every thread holds its lease before any drops one.
                        barrier.wait();
                        let doubled = lease.call(move || async move { i * 2 }).unwrap();
                        let token = lease.token();
                        barrier.wait();
                        drop(lease);
                        (doubled, token)
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let doubled: Vec<u64> = results.iter().map(|(d, _)| *d).collect();
        assert_eq!(doubled, (0..THREADS).map(|i| i * 2).collect::<Vec<_>>());
        let token = &results[0].1;
        assert!(
            results.iter().all(|(_, t)| t == token),
            "{backend}: one portal"
        );
        assert_eq!(provider.lease_count(), 0);
        assert!(token.is_finished(), "{backend}: the last lease stopped it");
    }
}

#[test]
fn a_provider_in_a_static_starts_on_first_use() {
    static PROVIDER: BlockingPortalProvider = BlockingPortalProvider::new(Backend::Smol);
    if !backends().contains(&Backend::Smol) {
        return;
    }
    assert_eq!(PROVIDER.lease_count(), 0);
    let lease = PROVIDER.lease().unwrap();
    assert_eq!(lease.backend(), Backend::Smol);
    assert_eq!(lease.call(|| async { 3 }), Ok(3));
    drop(lease);
    assert_eq!(PROVIDER.lease_count(), 0);
}

#[test]
fn a_provider_that_cannot_start_reports_the_run_error() {
    let provider =
        BlockingPortalProvider::with_runner(Runner::new(Backend::Tokio).worker_threads(0));
    let err = provider.lease().unwrap_err();
    assert!(err.to_string().contains("worker_threads"), "{err}");
    assert_eq!(provider.lease_count(), 0);
}

#[test]
fn providers_and_leases_are_send_and_sync() {
    fn is<T: Send + Sync>() {}
    is::<BlockingPortalProvider>();
    is::<PortalLease<'static>>();
    is::<anyio::PortalTaskBuilder<'static>>();
}
