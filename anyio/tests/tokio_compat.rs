//! `Runner::tokio_compat`: code written for tokio (`tokio::time`, `tokio::net`,
//! `tokio::spawn`, hyper-util's `TokioExecutor` and `TokioTimer`) inside smol runs (one thread and two), in every kind of anyio task; the
//! option on tokio changes nothing; without it, tokio's own panic.
#![cfg(all(feature = "tokio-compat", feature = "smol"))]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyio::net::SocketAttributes;
use anyio::net::{SocketListener, TcpListenerOptions};
use anyio::{Backend, BoxError, CancelScope, Runner, TaskGroup, cancellable, to_thread};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DELAY: Duration = Duration::from_millis(30);
/// Only reached when a test fails.
const LONG: Duration = Duration::from_secs(3600);
/// The name of the shared runtime's one worker thread.
const COMPAT_THREAD: &str = "anyio-tokio-compat";
/// A group here ends with its body's value unless something cancelled it.
const NOT_CANCELLED: &str = "the task group was cancelled";

/// Runs `case` with the option on: on smol with one thread and with two, and on tokio
/// when that backend is built (where the option is a no-op), as `name::{smol_current_thread, smol_two_threads,
/// tokio_current_thread, tokio_two_threads}`.
macro_rules! with_tokio_compat {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[test]
            fn smol_current_thread() -> Result<(), BoxError> {
                run(Runner::new(Backend::Smol).current_thread(), super::$name)
            }

            #[test]
            fn smol_two_threads() -> Result<(), BoxError> {
                run(Runner::new(Backend::Smol).worker_threads(2), super::$name)
            }

            #[cfg(feature = "tokio")]
            #[test]
            fn tokio_current_thread() -> Result<(), BoxError> {
                run(Runner::new(Backend::Tokio).current_thread(), super::$name)
            }

            #[cfg(feature = "tokio")]
            #[test]
            fn tokio_two_threads() -> Result<(), BoxError> {
                run(Runner::new(Backend::Tokio).worker_threads(2), super::$name)
            }
        }
    )*};
}

fn run<F, Fut>(runner: Runner, case: F) -> Result<(), BoxError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    runner.tokio_compat(true).try_run(case())
}

with_tokio_compat!(
    tokio_sleep_returns_after_its_delay,
    tokio_sleep_works_in_every_group_task,
    tokio_connects_to_our_listener_and_exchanges_bytes,
    tokio_spawn_runs_a_task_and_joins_it,
    a_scope_cancels_a_cancellable_tokio_sleep,
    move_on_after_ends_a_cancellable_tokio_sleep,
    to_thread_closures_and_from_thread_calls_have_tokio,
    hyper_util_tokio_executor_and_timer_work,
    reqwest_fetches_from_our_server,
);

async fn tokio_sleep_returns_after_its_delay() -> Result<(), BoxError> {
    let start = Instant::now();
    tokio::time::sleep(DELAY).await;
    assert!(start.elapsed() >= DELAY, "woke after {:?}", start.elapsed());
    Ok(())
}

async fn tokio_sleep_works_in_every_group_task() -> Result<(), BoxError> {
    let done = anyio::task_group(|tg: TaskGroup| async move {
        let (tx, rx) = std::sync::mpsc::channel();
        for i in 0..16 {
            let tx = tx.clone();
            tg.start_soon(async move {
                let start = Instant::now();
                tokio::time::sleep(Duration::from_millis(i)).await;
                assert!(start.elapsed() >= Duration::from_millis(i));
                tx.send(i)?;
                Ok(())
            })?;
        }
        Ok(rx)
    })
    .await?
    .ok_or(NOT_CANCELLED)?;
    let mut done: Vec<u64> = done.try_iter().collect();
    done.sort_unstable();
    assert_eq!(done, (0..16).collect::<Vec<_>>());
    Ok(())
}

/// A listener of ours on IPv4 loopback, and its address.
async fn listen() -> Result<(SocketListener, SocketAddr), BoxError> {
    let mut listeners = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind()
        .await?
        .into_listeners();
    let listener = listeners.remove(0);
    let addr = SocketAddr::from(([127, 0, 0, 1], listener.local_port()?));
    Ok((listener, addr))
}

async fn tokio_connects_to_our_listener_and_exchanges_bytes() -> Result<(), BoxError> {
    let (listener, addr) = listen().await?;
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let stream = listener.accept().await?;
            let mut got = Vec::new();
            while got.len() < 5 {
                got.extend(stream.receive(5 - got.len()).await?);
            }
            assert_eq!(got, b"hello");
            stream.send(b"world").await?;
            Ok(())
        })?;
        let mut client = tokio::net::TcpStream::connect(addr).await?;
        client.write_all(b"hello").await?;
        let mut reply = [0; 5];
        client.read_exact(&mut reply).await?;
        assert_eq!(&reply, b"world");
        Ok(())
    })
    .await?
    .ok_or(NOT_CANCELLED)?;
    Ok(())
}

async fn tokio_spawn_runs_a_task_and_joins_it() -> Result<(), BoxError> {
    let on_smol = anyio::current_backend()? == Backend::Smol;
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let joined = tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                (41 + 1, std::thread::current().name().map(String::from))
            })
            .await?;
            assert_eq!(joined.0, 42);
            if on_smol {
                // Run by the shared runtime's worker, not by an executor thread of ours.
                assert_eq!(joined.1.as_deref(), Some(COMPAT_THREAD));
            }
            Ok(())
        })?;
        Ok(())
    })
    .await?
    .ok_or(NOT_CANCELLED)?;
    Ok(())
}

async fn a_scope_cancels_a_cancellable_tokio_sleep() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let start = Instant::now();
    let out = anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            anyio::wait_all_tasks_blocked().await?;
            handle.cancel();
            Ok(())
        })?;
        Ok(scope
            .run(cancellable(tokio::time::sleep(LONG)))
            .await?
            .map(|()| scope.cancelled_caught()))
    })
    .await?
    .ok_or(NOT_CANCELLED)?;
    assert_eq!(out, None);
    assert!(start.elapsed() < LONG);
    Ok(())
}

async fn move_on_after_ends_a_cancellable_tokio_sleep() -> Result<(), BoxError> {
    let out = anyio::move_on_after(DELAY, cancellable(tokio::time::sleep(LONG))).await?;
    assert_eq!(out, None);
    Ok(())
}

async fn to_thread_closures_and_from_thread_calls_have_tokio() -> Result<(), BoxError> {
    let backend = anyio::current_backend()?;
    let (has_tokio, seen_backend, from_thread, nested) = to_thread::run_sync(|| {
        let from_thread = anyio::from_thread::run(|| async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            tokio::runtime::Handle::try_current().is_ok()
        });
        let nested = Runner::new(Backend::Smol)
            .current_thread()
            .run(async { 7 })
            .map_err(|e| e.to_string());
        (
            tokio::runtime::Handle::try_current().is_ok(),
            anyio::current_backend(),
            from_thread,
            nested,
        )
    })
    .await?;
    assert!(has_tokio);
    // The context entered for compatibility does not make a smol run's thread look like
    // tokio's: detection, and the runs such a thread may start, are as without it.
    assert_eq!(seen_backend, Ok(backend));
    assert_eq!(from_thread, Ok(true));
    let nested_expected = match backend {
        Backend::Smol => Ok(7),
        Backend::Tokio => Err("Already running tokio in this thread".to_owned()),
    };
    assert_eq!(nested, nested_expected);
    Ok(())
}

async fn hyper_util_tokio_executor_and_timer_work() -> Result<(), BoxError> {
    use hyper::rt::{Executor, Timer};
    use hyper_util::rt::{TokioExecutor, TokioTimer};

    let on_smol = anyio::current_backend()? == Backend::Smol;
    let (tx, rx) = tokio::sync::oneshot::channel();
    TokioExecutor::new().execute(async move {
        let _ = tx.send(std::thread::current().name().map(String::from));
    });
    let ran_on = rx.await?;
    if on_smol {
        assert_eq!(ran_on.as_deref(), Some(COMPAT_THREAD));
    }
    let start = Instant::now();
    TokioTimer::new().sleep(DELAY).await;
    assert!(start.elapsed() >= DELAY, "woke after {:?}", start.elapsed());
    Ok(())
}

/// reqwest (built on tokio's sockets, `tokio::spawn` and timers) fetches three times from an
/// HTTP/1.1 server of ours through its connection pool; a scope cancels a request the server
/// never answers.
async fn reqwest_fetches_from_our_server() -> Result<(), BoxError> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::service::service_fn;

    let (listener, addr) = listen().await?;
    let connections = Arc::new(AtomicUsize::new(0));
    let served = connections.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        let server_tg = tg.clone();
        tg.start_soon(async move {
            loop {
                let stream = listener.accept().await?;
                served.fetch_add(1, Ordering::SeqCst);
                server_tg.start_soon(async move {
                    let answer =
                        service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                            if req.uri().path() == "/never" {
                                std::future::pending::<()>().await;
                            }
                            let body = format!("you asked for {}", req.uri().path());
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from(body),
                            )))
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), answer)
                        .await;
                })?;
            }
            #[allow(unreachable_code)]
            Ok::<(), BoxError>(())
        })?;
        let client = reqwest::Client::new();
        for n in 1..=3 {
            let url = format!("http://{addr}/page{n}");
            let response = client.get(url).send().await?;
            assert_eq!(response.status(), 200);
            assert_eq!(response.text().await?, format!("you asked for /page{n}"));
        }
        // hyper-util's pool takes a connection back when its task has seen the body end,
        // which on two threads can come after the next request has asked for one: so at
        // least one connection, and at most one per request.
        let opened = connections.load(Ordering::SeqCst);
        assert!((1..=3).contains(&opened), "{opened} connections");
        let never = client.get(format!("http://{addr}/never")).send();
        let outcome = anyio::move_on_after(DELAY, cancellable(never)).await?;
        assert!(outcome.is_none(), "the request ended: {outcome:?}");
        tg.cancel();
        Ok(())
    })
    .await?;
    Ok(())
}

/// The attributes' `tokio_compat` option turns the layer on for the test's run.
#[anyio::test(tokio(tokio_compat), smol(worker_threads = 2, tokio_compat))]
async fn the_test_attribute_takes_tokio_compat() -> Result<(), BoxError> {
    tokio_connects_to_our_listener_and_exchanges_bytes().await
}

#[test]
fn every_executor_thread_of_a_smol_run_has_tokio_and_reports_smol() -> Result<(), BoxError> {
    Runner::new(Backend::Smol)
        .worker_threads(2)
        .tokio_compat(true)
        .try_run(async {
            assert!(tokio::runtime::Handle::try_current().is_ok());
            let seen = anyio::task_group(|tg: TaskGroup| async move {
                let (tx, rx) = std::sync::mpsc::channel();
                for _ in 0..32 {
                    let tx = tx.clone();
                    tg.start_soon(async move {
                        anyio::sleep(Duration::from_millis(1)).await?;
                        let has_tokio = tokio::runtime::Handle::try_current().is_ok();
                        tx.send((has_tokio, anyio::current_backend()?))?;
                        Ok(())
                    })?;
                }
                Ok(rx)
            })
            .await?
            .ok_or(NOT_CANCELLED)?;
            let seen: Vec<_> = seen.try_iter().collect();
            assert_eq!(seen, vec![(true, Backend::Smol); 32]);
            Ok(())
        })
}

#[test]
fn a_portal_call_has_tokio() -> Result<(), BoxError> {
    let portal = Runner::new(Backend::Smol)
        .tokio_compat(true)
        .start_blocking_portal()?;
    let slept = portal.call(|| async {
        let start = Instant::now();
        tokio::time::sleep(DELAY).await;
        start.elapsed() >= DELAY
    })?;
    assert!(slept);
    portal.stop(false)?;
    Ok(())
}

#[test]
fn runs_share_one_tokio_runtime() -> Result<(), BoxError> {
    let spawn_on = || async {
        let name = tokio::spawn(async { std::thread::current().name().map(String::from) });
        Ok::<_, BoxError>(name.await?)
    };
    let runner = Runner::new(Backend::Smol)
        .current_thread()
        .tokio_compat(true);
    // A tokio socket made in one run still works in the next: the runtime outlives runs.
    let (listener, addr) = runner.try_run(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        Ok::<_, BoxError>((listener, addr))
    })?;
    let first = runner.try_run(spawn_on())?;
    let second = runner.try_run(async {
        let (accepted, connected) =
            tokio::join!(listener.accept(), tokio::net::TcpStream::connect(addr));
        assert_eq!(accepted?.0.peer_addr()?, connected?.local_addr()?);
        spawn_on().await
    })?;
    assert_eq!(first.as_deref(), Some(COMPAT_THREAD));
    assert_eq!(second, first);
    Ok(())
}

#[test]
fn without_the_option_a_smol_run_has_no_tokio_and_tokio_panics() -> Result<(), BoxError> {
    Runner::new(Backend::Smol).current_thread().try_run(async {
        assert!(tokio::runtime::Handle::try_current().is_err());
        let panic = std::panic::catch_unwind(|| drop(tokio::time::sleep(DELAY)))
            .expect_err("tokio::time::sleep outside tokio must panic");
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        assert_eq!(
            message,
            "there is no reactor running, must be called from the context of a Tokio 1.x runtime"
        );
        Ok(())
    })
}

#[test]
fn the_option_off_leaves_the_run_without_tokio_even_after_a_compat_run() -> Result<(), BoxError> {
    Runner::new(Backend::Smol)
        .tokio_compat(true)
        .try_run(async { Ok::<_, BoxError>(()) })?;
    Runner::new(Backend::Smol).worker_threads(2).try_run(async {
        assert!(tokio::runtime::Handle::try_current().is_err());
        let on_helper = anyio::task_group(|tg: TaskGroup| async move {
            let (tx, rx) = std::sync::mpsc::channel();
            for _ in 0..8 {
                let tx = tx.clone();
                tg.start_soon(async move {
                    anyio::sleep(Duration::from_millis(1)).await?;
                    tx.send(tokio::runtime::Handle::try_current().is_ok())?;
                    Ok(())
                })?;
            }
            Ok(rx)
        })
        .await?
        .ok_or(NOT_CANCELLED)?;
        assert_eq!(on_helper.try_iter().collect::<Vec<_>>(), vec![false; 8]);
        Ok(())
    })
}
