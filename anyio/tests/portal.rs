//! Blocking portals, used from plain synchronous code on every backend.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use anyio::{
    Backend, BlockingPortal, CancelScope, Cancelled, PortalError, PortalStartError, Runner,
    TaskStatus, get_current_task, sleep, sleep_forever, start_blocking_portal,
};

fn backends() -> Vec<Backend> {
    anyio::testing::selected_backends()
}

fn portal(backend: Backend) -> BlockingPortal {
    start_blocking_portal(backend).unwrap_or_else(|e| panic!("{backend}: {e}"))
}

/// Polls `cond` from this (plain) thread for at most 10 s.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn call_returns_the_output() {
    for backend in backends() {
        let portal = portal(backend);
        assert_eq!(portal.backend(), backend);
        let caller = thread::current().id();
        let (n, loop_thread, on_task, seen_backend) = portal
            .call(|| async {
                sleep(Duration::from_millis(1)).await?;
                Ok::<_, Cancelled>((
                    42,
                    thread::current().id(),
                    get_current_task().is_some(),
                    anyio::current_backend().unwrap(),
                ))
            })
            .unwrap()
            .unwrap();
        assert_eq!(n, 42);
        assert_ne!(loop_thread, caller);
        assert!(on_task, "a call runs as an anyio task");
        assert_eq!(seen_backend, backend);
        portal.stop(false).unwrap();
        assert!(portal.is_stopped());
    }
}

#[test]
fn a_panic_resumes_in_the_caller_and_the_portal_survives() {
    for backend in backends() {
        let portal = portal(backend);
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            portal.call(|| async { panic!("boom in the portal") })
        }));
        let panic = out.expect_err("the panic comes back");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"boom in the portal"));
        assert_eq!(portal.call(|| async { 1 }), Ok(1), "{backend}");
    }
}

#[test]
fn many_threads_share_one_portal() {
    for backend in backends() {
        let portal = Arc::new(portal(backend));
        let threads: Vec<_> = (0..8u64)
            .map(|i| {
                let portal = portal.clone();
                thread::spawn(move || {
                    (0..50u64)
                        .map(|j| portal.call(move || async move { i * 1000 + j }).unwrap())
                        .sum::<u64>()
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let expected: u64 = (0..8u64)
            .map(|i| (0..50u64).map(|j| i * 1000 + j).sum::<u64>())
            .sum();
        assert_eq!(total, expected);
    }
}

#[test]
fn start_task_soon_and_join() {
    for backend in backends() {
        let portal = portal(backend);
        let handles: Vec<_> = (0..10u64)
            .map(|i| {
                portal
                    .start_task_soon(move || async move {
                        sleep(Duration::from_millis(10 - i)).await?;
                        Ok::<_, Cancelled>(i * i)
                    })
                    .unwrap()
            })
            .collect();
        let squares: Vec<u64> = handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect();
        assert_eq!(squares, (0..10u64).map(|i| i * i).collect::<Vec<_>>());

        let slow = portal
            .start_task_soon(|| async { sleep(Duration::from_millis(50)).await })
            .unwrap();
        assert!(!slow.is_finished());
        assert_eq!(slow.wait_timeout(Duration::from_millis(1)), Ok(false));
        assert_eq!(slow.wait_timeout(Duration::from_secs(10)), Ok(true));
        assert!(slow.is_finished());
        assert_eq!(slow.join(), Ok(Ok(())));
    }
}

#[test]
fn cancelling_a_handle_cancels_the_task() {
    for backend in backends() {
        let portal = portal(backend);
        let cleaned_up = Arc::new(AtomicBool::new(false));
        let c = cleaned_up.clone();
        let handle = portal
            .start_task_soon(move || async move {
                let r = sleep_forever().await;
                c.store(true, SeqCst);
                r
            })
            .unwrap();
        thread::sleep(Duration::from_millis(10));
        assert!(handle.cancel());
        assert!(!handle.cancel(), "only once");
        assert_eq!(handle.join(), Err(PortalError::Cancelled));
        eventually("the task to see its cancellation", || {
            cleaned_up.load(SeqCst)
        });

        // A finished task's result stands.
        let done = portal.start_task_soon(|| async { 5 }).unwrap();
        assert_eq!(done.wait_timeout(Duration::from_secs(10)), Ok(true));
        assert!(!done.cancel());
        assert_eq!(done.join(), Ok(5));

        // Cancelling does not reach the other tasks.
        assert_eq!(portal.call(|| async { 6 }), Ok(6), "{backend}");
    }
}

#[test]
fn a_task_cancelled_before_it_starts_runs_in_a_cancelled_scope() {
    for backend in backends() {
        // One loop thread, held by a task that blocks it: the next task cannot start
        // until it is released.
        let portal = Runner::new(backend)
            .current_thread()
            .start_blocking_portal()
            .unwrap();
        let (held_tx, held_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let blocker = portal
            .start_task_soon(move || async move {
                held_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
            .unwrap();
        held_rx.recv_timeout(Duration::from_secs(10)).unwrap();

        let (log_tx, log_rx) = mpsc::channel();
        let handle = portal
            .start_task_soon(move || async move {
                log_tx.send("ran").unwrap();
                if anyio::checkpoint().await == Err(Cancelled::new()) {
                    log_tx.send("first checkpoint cancelled").unwrap();
                }
                // Cleanup can still await, shielded.
                let cleanup = CancelScope::new()
                    .shielded(true)
                    .run(sleep(Duration::from_millis(1)))
                    .await;
                if cleanup == Ok(Some(())) {
                    log_tx.send("cleaned up").unwrap();
                }
            })
            .unwrap();
        assert!(handle.cancel());
        assert_eq!(handle.join(), Err(PortalError::Cancelled));
        release_tx.send(()).unwrap();
        assert_eq!(blocker.join(), Ok(()));

        let log: Vec<&str> = (0..3)
            .map(|_| log_rx.recv_timeout(Duration::from_secs(10)))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{backend}: the cancelled task did not run: {e}"));
        assert_eq!(
            log,
            ["ran", "first checkpoint cancelled", "cleaned up"],
            "{backend}"
        );
        portal.stop(false).unwrap();
    }
}

#[test]
fn start_task_returns_the_started_value() {
    for backend in backends() {
        let portal = portal(backend);
        let (handle, port) = portal
            .start_task(|status: TaskStatus<u16>| async move {
                sleep(Duration::from_millis(2)).await?;
                status.started(8080);
                sleep(Duration::from_millis(2)).await?;
                Ok::<_, Cancelled>("served")
            })
            .unwrap();
        assert_eq!(port, 8080);
        assert_eq!(handle.join(), Ok(Ok("served")));

        // A task that ends without starting.
        let err = portal
            .start_task(|_status: TaskStatus<u16>| async { "gave up" })
            .unwrap_err();
        match err {
            PortalStartError::NotStarted(output) => assert_eq!(output, "gave up"),
            other => panic!("{backend}: {other}"),
        }

        // A started task can be cancelled through its handle.
        let (handle, ()) = portal
            .start_task(|status: TaskStatus| async move {
                status.started(());
                sleep_forever().await
            })
            .unwrap();
        assert!(handle.cancel());
        assert_eq!(handle.join(), Err(PortalError::Cancelled));
    }
}

#[test]
fn wrap_async_resource_enters_and_exits_in_order() {
    for backend in backends() {
        let portal = portal(backend);
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (l1, l2) = (log.clone(), log.clone());
        {
            let resource = portal
                .wrap_async_resource(
                    move || async move {
                        sleep(Duration::from_millis(1)).await?;
                        l1.lock().unwrap().push("enter".into());
                        Ok::<_, Cancelled>(String::from("conn"))
                    },
                    move |conn: String| async move {
                        let _ = sleep(Duration::from_millis(1)).await;
                        l2.lock().unwrap().push(format!("exit {conn}"));
                    },
                )
                .unwrap()
                .unwrap();
            log.lock().unwrap().push(format!("use {}", *resource));
        } // dropped: exits
        assert_eq!(*log.lock().unwrap(), ["enter", "use conn", "exit conn"]);

        // Closed explicitly: the exit's output comes back.
        let resource = portal
            .wrap_async_resource(
                || async { Ok::<_, Cancelled>(3) },
                |n: i32| async move { n * 2 },
            )
            .unwrap()
            .unwrap();
        assert_eq!(*resource, 3);
        assert_eq!(resource.close(), Ok(6));

        // A failed enter runs no exit.
        let exited = Arc::new(AtomicBool::new(false));
        let e = exited.clone();
        let failed = portal
            .wrap_async_resource(
                || async { Err::<(), _>("refused") },
                move |()| async move { e.store(true, SeqCst) },
            )
            .unwrap();
        assert_eq!(failed.unwrap_err(), "refused");
        assert!(!exited.load(SeqCst), "{backend}");
    }
}

#[test]
fn stop_without_cancel_waits_for_the_tasks() {
    for backend in backends() {
        let portal = portal(backend);
        let finished = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let f = finished.clone();
                portal
                    .start_task_soon(move || async move {
                        sleep(Duration::from_millis(30)).await?;
                        f.fetch_add(1, SeqCst);
                        Ok::<_, Cancelled>(())
                    })
                    .unwrap()
            })
            .collect();
        portal.stop(false).unwrap();
        assert_eq!(finished.load(SeqCst), 3, "{backend}");
        for h in handles {
            assert_eq!(h.join(), Ok(Ok(())));
        }
        // After stop, calls fail.
        assert_eq!(portal.call(|| async { 1 }), Err(PortalError::Stopped));
        assert_eq!(
            portal.start_task_soon(|| async { 1 }).unwrap_err(),
            PortalError::Stopped
        );
        assert!(matches!(
            portal.start_task(|_: TaskStatus| async {}),
            Err(PortalStartError::Portal(PortalError::Stopped))
        ));
        // Stopping again is fine.
        portal.stop(true).unwrap();
    }
}

#[test]
fn stop_with_cancel_fails_every_blocked_caller() {
    for backend in backends() {
        let portal = Arc::new(portal(backend));
        let running = Arc::new(AtomicUsize::new(0));
        let callers: Vec<_> = (0..4)
            .map(|_| {
                let (portal, running) = (portal.clone(), running.clone());
                thread::spawn(move || {
                    portal.call(move || async move {
                        running.fetch_add(1, SeqCst);
                        sleep_forever().await
                    })
                })
            })
            .collect();
        let detached = portal
            .start_task_soon(|| async { sleep_forever().await })
            .unwrap();
        eventually("the callers' tasks", || running.load(SeqCst) == 4);
        let start = Instant::now();
        portal.stop(true).unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        for caller in callers {
            assert_eq!(
                caller.join().unwrap(),
                Err(PortalError::Cancelled),
                "{backend}"
            );
        }
        assert_eq!(detached.join(), Err(PortalError::Cancelled));
    }
}

#[test]
fn a_concurrent_stop_waits_for_the_same_shutdown() {
    for backend in backends() {
        let portal = Arc::new(portal(backend));
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        portal
            .start_task_soon(move || async move {
                let _ = sleep(Duration::from_millis(50)).await;
                d.store(true, SeqCst);
            })
            .unwrap();
        let other = {
            let (portal, done) = (portal.clone(), done.clone());
            thread::spawn(move || {
                portal.stop(false).unwrap();
                done.load(SeqCst)
            })
        };
        portal.stop(false).unwrap();
        assert!(done.load(SeqCst));
        assert!(other.join().unwrap(), "{backend}");
    }
}

#[test]
fn dropping_the_portal_stops_it() {
    for backend in backends() {
        let portal = portal(backend);
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        let handle = portal
            .start_task_soon(move || async move {
                sleep(Duration::from_millis(20)).await?;
                f.store(true, SeqCst);
                Ok::<_, Cancelled>(())
            })
            .unwrap();
        drop(portal);
        assert!(finished.load(SeqCst), "{backend}: drop waits for the tasks");
        assert_eq!(handle.join(), Ok(Ok(())));
    }
}

#[test]
fn calling_from_the_portals_own_loop_is_an_error() {
    for backend in backends() {
        let portal = Arc::new(portal(backend));
        let p = portal.clone();
        let results = portal
            .call(move || async move {
                let call = p.call(|| async { 1 });
                let soon = p.start_task_soon(|| async { 1 }).map(drop);
                let stop = p.stop(true);
                (call, soon, stop)
            })
            .unwrap();
        assert_eq!(
            results,
            (
                Err(PortalError::InEventLoopThread),
                Err(PortalError::InEventLoopThread),
                Err(PortalError::InEventLoopThread),
            ),
            "{backend}"
        );
        // Joining a handle there is an error too.
        let handle = portal.start_task_soon(|| async { 2 }).unwrap();
        let joined = portal.call(move || async move { handle.join() }).unwrap();
        assert_eq!(joined, Err(PortalError::InEventLoopThread));
        // The portal still works.
        assert_eq!(portal.call(|| async { 3 }), Ok(3));
        portal.stop(false).unwrap();
    }
}

#[test]
fn a_portal_with_runner_options() {
    for backend in backends() {
        let portal = Runner::new(backend)
            .worker_threads(2)
            .start_blocking_portal()
            .unwrap();
        assert_eq!(portal.call(|| async { 9 }), Ok(9), "{backend}");
        // The portal's token reaches the same loop.
        let token = portal.token();
        assert_eq!(token.run_sync(|| 10), Ok(10));
        portal.stop(false).unwrap();
        assert!(token.is_finished());
    }
}

#[test]
fn a_backend_that_cannot_start_is_an_error() {
    let err = Runner::new(Backend::Tokio)
        .worker_threads(0)
        .start_blocking_portal()
        .unwrap_err();
    assert!(err.to_string().contains("worker_threads"), "{err}");
}

#[test]
fn handles_are_send_and_sync() {
    fn is<T: Send + Sync>() {}
    is::<BlockingPortal>();
    is::<anyio::PortalTaskHandle<String>>();
    is::<anyio::EventLoopToken>();
}
