//! Running: `run`, `Runner`, backends, and anyio called from plain tokio or smol code.

use std::time::Duration;

use anyio::{Backend, BoxError, RunError, Runner, TaskGroup};

#[test]
fn backends_parse_from_their_names() {
    assert_eq!("tokio".parse::<Backend>(), Ok(Backend::Tokio));
    assert_eq!("smol".parse::<Backend>(), Ok(Backend::Smol));
    let err = "asyncio".parse::<Backend>().unwrap_err();
    assert_eq!(err.name(), "asyncio");
    assert_eq!(
        err.to_string(),
        "no such backend: \"asyncio\" (available: tokio, smol)"
    );
    assert_eq!(Backend::Smol.to_string(), "smol");
    assert_eq!(Backend::available(), vec![Backend::Tokio, Backend::Smol]);
}

#[test]
fn run_uses_tokio_by_default_and_returns_the_output() {
    let (backend, value) = anyio::run(async { (anyio::current_backend().unwrap(), 42) }).unwrap();
    assert_eq!(backend, Backend::Tokio);
    assert_eq!(value, 42);
}

#[test]
fn each_runner_configuration_runs_tasks() {
    let runners = [
        Runner::new(Backend::Tokio),
        Runner::new(Backend::Tokio).current_thread(),
        Runner::new(Backend::Tokio).worker_threads(3),
        Runner::new(Backend::Smol),
        Runner::new(Backend::Smol).worker_threads(2),
        Runner::new(Backend::Smol).current_thread(),
    ];
    for runner in runners {
        let expected = runner.backend();
        let out = runner
            .run(async move {
                assert_eq!(anyio::current_backend().unwrap(), expected);
                let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let c = count.clone();
                anyio::task_group(|tg: TaskGroup| async move {
                    for _ in 0..20 {
                        let c = c.clone();
                        tg.start_soon(async move {
                            anyio::sleep(Duration::from_millis(1)).await?;
                            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            Ok(())
                        })?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
                count.load(std::sync::atomic::Ordering::SeqCst)
            })
            .unwrap();
        assert_eq!(out, 20, "{runner:?}");
    }
}

#[test]
fn a_current_thread_runner_runs_every_task_on_the_calling_thread() {
    for backend in [Backend::Tokio, Backend::Smol] {
        let caller = std::thread::current().id();
        Runner::new(backend)
            .current_thread()
            .run(anyio::task_group(|tg: TaskGroup| async move {
                for _ in 0..5 {
                    tg.start_soon(async move {
                        assert_eq!(std::thread::current().id(), caller);
                        Ok(())
                    })?;
                }
                Ok(())
            }))
            .unwrap()
            .unwrap();
    }
}

#[test]
fn zero_worker_threads_is_an_error_not_a_panic() {
    for backend in [Backend::Tokio, Backend::Smol] {
        let err = Runner::new(backend)
            .worker_threads(0)
            .run(async {})
            .unwrap_err();
        assert!(matches!(err, RunError::InvalidOption(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "invalid runner option: worker_threads must be at least 1"
        );
    }
}

#[anyio::test]
async fn starting_a_run_inside_a_run_is_an_error() -> Result<(), BoxError> {
    let backend = anyio::current_backend()?;
    for other in [Backend::Tokio, Backend::Smol] {
        let err = Runner::new(other).run(async {}).unwrap_err();
        match err {
            RunError::AlreadyRunning(b) => assert_eq!(b, backend),
            e => panic!("unexpected {e}"),
        }
    }
    // Also from a task on a worker thread.
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let err = anyio::run(async {}).unwrap_err();
            assert!(matches!(err, RunError::AlreadyRunning(_)));
            assert_eq!(
                err.to_string(),
                format!("Already running {backend} in this thread")
            );
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[test]
fn anyio_works_inside_a_plain_tokio_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(anyio::current_backend(), Ok(Backend::Tokio));
        assert!(matches!(
            anyio::run(async {}),
            Err(RunError::AlreadyRunning(Backend::Tokio))
        ));
        let out = anyio::move_on_after(Duration::from_millis(10), anyio::sleep_forever())
            .await
            .unwrap();
        assert_eq!(out, None);
        let n = anyio::task_group(|tg: TaskGroup| async move {
            tg.start_soon(async {
                anyio::sleep(Duration::from_millis(1)).await?;
                Ok(())
            })?;
            Ok(5)
        })
        .await
        .unwrap();
        assert_eq!(n, Some(5));
        // Spawned from tokio itself, the task is a tokio task too.
        let inner = tokio::spawn(async { anyio::current_backend() })
            .await
            .unwrap();
        assert_eq!(inner, Ok(Backend::Tokio));
    });
}

#[test]
fn anyio_works_inside_a_plain_smol_block_on() {
    futures_lite::future::block_on(async {
        assert_eq!(anyio::current_backend(), Ok(Backend::Smol));
        let out = anyio::move_on_after(Duration::from_millis(10), anyio::sleep_forever())
            .await
            .unwrap();
        assert_eq!(out, None);
        let n = anyio::task_group(|tg: TaskGroup| async move {
            for _ in 0..3 {
                tg.start_soon(async {
                    anyio::sleep(Duration::from_millis(1)).await?;
                    Ok(())
                })?;
            }
            Ok(3)
        })
        .await
        .unwrap();
        assert_eq!(n, Some(3));
    });
}

#[test]
fn current_backend_outside_any_runtime_falls_back_to_smol() {
    // With the smol feature on, smol's reactor needs no setup, so it is always available.
    assert_eq!(anyio::current_backend(), Ok(Backend::Smol));
}

#[test]
fn a_panic_in_the_root_future_propagates_out_of_run() {
    for backend in [Backend::Tokio, Backend::Smol] {
        let r = std::panic::catch_unwind(|| Runner::new(backend).run(async { panic!("root") }));
        let payload = r.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"root"));
        // The thread can run again afterwards.
        assert_eq!(Runner::new(backend).run(async { 1 }).unwrap(), 1);
    }
}
