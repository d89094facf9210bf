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

/// The stack of the thread that runs the root future in the stack tests: the default of a
/// test thread.
const ROOT_THREAD_STACK: usize = 2 << 20;
/// Set (to `backend:KiB`) in the child process of the stack tests: see [`root_stack_probe`].
const ROOT_STACK_ENV: &str = "ANYIO_ROOT_STACK_PROBE";

/// A root body that holds `N` bytes of locals across an await.
async fn root_with_locals<const N: usize>() -> usize {
    let buf = [1u8; N];
    anyio::checkpoint().await.unwrap();
    std::hint::black_box(&buf).len()
}

/// Runs [`root_with_locals`] on `backend`; a function of its own per size, so that the
/// probe's frame does not hold room for every size.
fn run_root_with_locals<const N: usize>(backend: Backend) -> usize {
    Runner::new(backend).run(root_with_locals::<N>()).unwrap()
}

/// The sizes of locals (KiB) the stack probe can run, a multiple of 32 KiB up to 2 MiB.
macro_rules! run_root_with_kib {
    ($backend:expr, $kib:expr, [$($k:literal),*]) => {
        match $kib {
            $($k => run_root_with_locals::<{ $k * 1024 }>($backend),)*
            other => panic!("no probe for {other} KiB"),
        }
    };
}

/// The child process of the stack tests: runs a root future with the locals that
/// `ROOT_STACK_ENV` asks for on a thread with a 2 MiB stack; a stack overflow aborts it.
#[test]
fn root_stack_probe() {
    let Ok(spec) = std::env::var(ROOT_STACK_ENV) else {
        return; // only meaningful as the child of the tests below
    };
    let (backend, kib) = spec.split_once(':').expect("backend:KiB");
    let backend: Backend = backend.parse().unwrap();
    let kib: usize = kib.parse().unwrap();
    let ran = std::thread::Builder::new()
        .stack_size(ROOT_THREAD_STACK)
        .spawn(move || {
            run_root_with_kib!(
                backend,
                kib,
                [
                    32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 480, 512,
                    544, 576, 608, 640, 672, 704, 736, 768, 800, 832, 864, 896, 928, 960, 992,
                    1024, 1056, 1088, 1120, 1152, 1184, 1216, 1248, 1280, 1312, 1344, 1376, 1408,
                    1440, 1472, 1504, 1536, 1568, 1600, 1632, 1664, 1696, 1728, 1760, 1792, 1824,
                    1856, 1888, 1920, 1952, 1984, 2016, 2048
                ]
            )
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(ran, kib * 1024);
}

/// Whether a root future holding `kib` KiB of locals runs on `backend` in a thread with a
/// 2 MiB stack, tried in a child process (an overflow aborts the process).
fn root_fits(backend: Backend, kib: usize) -> bool {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["root_stack_probe", "--exact", "--test-threads=1"])
        .env(ROOT_STACK_ENV, format!("{backend}:{kib}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn a_root_future_with_large_locals_fits_a_2_mib_thread_on_every_backend() {
    // A test's body is the root future: whatever the backend, a test thread must hold as
    // large a one (debug builds copy a future on every move).
    for backend in anyio::testing::selected_backends() {
        assert!(root_fits(backend, 256), "{backend}");
    }
}

/// Prints the largest locals (a multiple of 32 KiB) a root future can hold on each backend
/// in a 2 MiB thread: `cargo test -p anyio --test running -- --ignored --nocapture
/// root_stack_room`.
#[test]
#[ignore = "a measurement, not a check"]
fn root_stack_room() {
    for backend in anyio::testing::selected_backends() {
        let (mut fits, mut fails) = (0, 2048 / 32 + 1);
        while fails - fits > 1 {
            let mid = (fits + fails) / 2;
            if root_fits(backend, mid * 32) {
                fits = mid;
            } else {
                fails = mid;
            }
        }
        eprintln!("{backend}: a root future holds {} KiB of locals", fits * 32);
    }
}
