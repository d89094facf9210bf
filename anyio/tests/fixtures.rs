//! Async fixtures: `#[anyio::fixture]`, fixture parameters, the `backend` and `task_group`
//! parameters, teardowns after passing, failing, panicking and timed-out tests, and
//! `TestRun`, the machinery `#[anyio::test]` expands to, driven directly so that a test
//! can fail on purpose and the order of what ran be checked afterwards.

use std::collections::HashMap;
use std::io;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyio::net::{SocketStream, connect_tcp, create_tcp_listener};
use anyio::testing::{Fixture, FixtureContext, TestFailure, TestRun, selected_backends};
use anyio::{Backend, BoxError, CancelScope, Runner, TaskGroup};

// ---- fixtures through the attributes ----

/// A plain value.
#[anyio::fixture]
async fn answer() -> u32 {
    anyio::checkpoint().await.unwrap();
    42
}

/// A fixture built from another.
#[anyio::fixture]
async fn doubled(answer: u32) -> u32 {
    answer * 2
}

/// A fallible setup.
#[anyio::fixture]
async fn port() -> io::Result<u16> {
    anyio::testing::free_tcp_port()
}

/// The backend the fixture was made on, from the `backend` parameter and from the run.
#[anyio::fixture]
async fn made_on(backend: Backend) -> (Backend, Backend) {
    (backend, anyio::current_backend().unwrap())
}

/// A new number for every instance.
#[anyio::fixture]
async fn serial() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

#[anyio::test]
async fn a_test_gets_its_fixtures_and_backend(
    answer: u32,
    doubled: u32,
    made_on: (Backend, Backend),
    backend: Backend,
) {
    assert_eq!(answer, 42);
    assert_eq!(doubled, 84);
    assert_eq!(made_on, (backend, backend));
    assert_eq!(anyio::current_backend(), Ok(backend));
}

#[anyio::test(tokio(current_thread), smol(worker_threads = 2))]
async fn fixtures_can_be_named_with_from(
    #[from(answer)] first: u32,
    #[from(crate::doubled)] second: u32,
    port: u16,
) -> Result<(), BoxError> {
    assert_eq!((first, second), (42, 84));
    std::net::TcpListener::bind(("127.0.0.1", port))?;
    Ok(())
}

#[anyio::test]
async fn every_use_of_a_fixture_is_a_new_instance(#[from(serial)] a: u32, #[from(serial)] b: u32) {
    assert_ne!(a, b);
}

/// One log per test, whoever asks for it.
#[anyio::fixture(shared)]
async fn journal() -> Log {
    Log::default()
}

/// A fixture that writes to the test's journal.
#[anyio::fixture]
async fn journaled(journal: Log) -> Fixture<()> {
    log_to(&journal, "journaled set up");
    Fixture::new(()).teardown(async move {
        log_to(&journal, "journaled torn down");
        Ok(())
    })
}

#[anyio::test]
async fn a_shared_fixture_is_made_once_per_test(
    journal: Log,
    _journaled: (),
    #[from(journal)] again: Log,
) {
    assert!(Arc::ptr_eq(&journal, &again));
    assert_eq!(entries(&journal), ["journaled set up"]);
}

#[test]
fn each_test_has_its_own_instance_of_a_shared_fixture() {
    for (_, runner) in runners() {
        let mut journals = Vec::new();
        for _ in 0..2 {
            let journal = TestRun::new("journals", runner.clone()).run(|fixtures| async move {
                let journal = journal::__anyio_setup(&fixtures).await;
                journaled::__anyio_setup(&fixtures).await;
                let again = journal::__anyio_setup(&fixtures).await;
                assert!(Arc::ptr_eq(&journal, &again));
                journal
            });
            assert_eq!(
                entries(&journal),
                ["journaled set up", "journaled torn down"]
            );
            journals.push(journal);
        }
        assert!(!Arc::ptr_eq(&journals[0], &journals[1]));
    }
}

/// What the fixtures of `teardowns_run_in_reverse_order` did, per backend (the two
/// variants of the test run in parallel).
static ORDER: Mutex<Option<HashMap<Backend, Vec<&'static str>>>> = Mutex::new(None);

fn record(backend: Backend, event: &'static str) {
    ORDER
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry(backend)
        .or_default()
        .push(event);
}

fn recorded(backend: Backend) -> Vec<&'static str> {
    ORDER
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .get(&backend)
        .cloned()
        .unwrap_or_default()
}

/// Set up first, torn down last: its teardown checks what the others did.
#[anyio::fixture]
async fn order_check(backend: Backend) -> Fixture<()> {
    record(backend, "check set up");
    Fixture::new(()).teardown(async move {
        let expected = [
            "check set up",
            "inner set up",
            "outer set up",
            "test",
            "outer torn down",
            "inner torn down",
        ];
        if recorded(backend) != expected {
            return Err(format!("wrong order: {:?}", recorded(backend)).into());
        }
        Ok(())
    })
}

#[anyio::fixture]
async fn inner(backend: Backend) -> Fixture<&'static str> {
    record(backend, "inner set up");
    Fixture::new("inner").teardown(async move {
        // A teardown may wait.
        anyio::sleep(Duration::from_millis(1)).await?;
        record(backend, "inner torn down");
        Ok(())
    })
}

#[anyio::fixture]
async fn outer(inner: &'static str, backend: Backend) -> Result<Fixture<String>, BoxError> {
    record(backend, "outer set up");
    Ok(
        Fixture::new(format!("outer({inner})")).teardown(async move {
            record(backend, "outer torn down");
            Ok(())
        }),
    )
}

#[anyio::test]
async fn teardowns_run_in_reverse_order(_order_check: (), outer: String, backend: Backend) {
    assert_eq!(outer, "outer(inner)");
    assert_eq!(
        recorded(backend),
        ["check set up", "inner set up", "outer set up"]
    );
    record(backend, "test");
}

/// The manual's server fixture: an echo server on a free port, started in the test's task
/// group and stopped by its teardown.
#[anyio::fixture]
async fn echo_server(port: u16, task_group: TaskGroup) -> Result<Fixture<u16>, BoxError> {
    let listener = create_tcp_listener(Some("127.0.0.1"), port).await?;
    let scope = CancelScope::new();
    let serving = scope.clone();
    task_group.start_soon(async move {
        serving
            .run(listener.serve(|stream: SocketStream| async move {
                while let Ok(data) = stream.receive(1024).await {
                    if stream.send(&data).await.is_err() {
                        break;
                    }
                }
            }))
            .await?;
        Ok(())
    })?;
    Ok(Fixture::new(port).teardown(async move {
        scope.cancel();
        Ok(())
    }))
}

#[anyio::test]
async fn a_server_fixture_serves_the_test(echo_server: u16) -> Result<(), BoxError> {
    let stream = connect_tcp("127.0.0.1", echo_server).await?;
    stream.send(b"ping").await?;
    assert_eq!(stream.receive(64).await?, b"ping");
    Ok(())
}

#[anyio::test]
fn a_synchronous_test_runs_once_per_backend(backend: Backend) {
    assert!(Backend::available().contains(&backend));
    // No run: the test is given its backend, nothing more.
    assert!(anyio::get_current_task().is_none());
}

#[anyio::test(smol)]
fn a_synchronous_test_runs_on_the_listed_backends(backend: Backend) {
    assert_eq!(backend, Backend::Smol);
}

// ---- timeouts through the attribute ----

#[anyio::test(timeout = "100ms")]
#[should_panic(expected = "timed out after 100ms")]
async fn a_test_that_hangs_fails_at_its_timeout() {
    let _ = anyio::sleep_forever().await;
}

#[anyio::test(tokio(current_thread), smol, timeout = "50ms")]
#[should_panic(expected = "timed out after 50ms and did not end within 50ms of being cancelled")]
async fn a_test_that_ignores_its_cancellation_is_abandoned() {
    let _ = CancelScope::new()
        .shielded(true)
        .run(anyio::sleep_forever())
        .await;
}

#[anyio::test(timeout = "10s")]
async fn a_test_within_its_timeout_passes() -> Result<(), BoxError> {
    anyio::sleep(Duration::from_millis(1)).await?;
    Ok(())
}

#[anyio::test]
#[ignore = "hangs without a timeout: run by `the_default_timeout_comes_from_the_environment`"]
async fn probe_for_the_default_timeout() {
    let _ = anyio::sleep_forever().await;
}

#[test]
fn the_default_timeout_comes_from_the_environment() {
    let probe = |value: &str| {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "probe_for_the_default_timeout::smol",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env(anyio::testing::TIMEOUT_ENV, value)
            .env(anyio::testing::BACKENDS_ENV, "smol")
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let text = probe("0.2");
    assert!(
        text.contains("test `probe_for_the_default_timeout` on smol timed out after 200ms"),
        "{text}"
    );
    let text = probe("soon");
    assert!(
        text.contains(
            "ANYIO_TEST_TIMEOUT: expected a number of seconds greater than 0, found \"soon\""
        ),
        "{text}"
    );
}

// ---- the machinery, driven directly ----

/// Every selected backend, on one thread and on two worker threads.
fn runners() -> Vec<(Backend, Runner)> {
    selected_backends()
        .into_iter()
        .flat_map(|backend| {
            [
                (backend, Runner::new(backend).current_thread()),
                (backend, Runner::new(backend).worker_threads(2)),
            ]
        })
        .collect()
}

type Log = Arc<Mutex<Vec<String>>>;

fn log_to(log: &Log, entry: impl Into<String>) {
    log.lock().unwrap().push(entry.into());
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// Sets up fixtures `a` then `b`, each logging its setup and teardown.
fn set_up_a_and_b(fixtures: &FixtureContext, log: &Log) {
    for name in ["a", "b"] {
        log_to(log, format!("set up {name}"));
        let log = log.clone();
        fixtures.add_fixture(
            name,
            Fixture::new(()).teardown(async move {
                anyio::checkpoint().await?;
                log_to(&log, format!("tear down {name}"));
                Ok(())
            }),
        );
    }
}

const AFTER_TEST: [&str; 5] = ["set up a", "set up b", "test", "tear down b", "tear down a"];

#[test]
fn teardowns_run_after_a_test_that_returns_an_error() {
    for (_, runner) in runners() {
        let log = Log::default();
        let out = TestRun::new("fails", runner.clone()).run(|fixtures| {
            let log = log.clone();
            async move {
                set_up_a_and_b(&fixtures, &log);
                log_to(&log, "test");
                Err::<(), _>("the test failed")
            }
        });
        assert_eq!(out, Err("the test failed"));
        assert_eq!(entries(&log), AFTER_TEST);
    }
}

#[test]
fn teardowns_run_after_a_test_that_panics_and_the_panic_goes_on() {
    for (_, runner) in runners() {
        let log = Log::default();
        let failure = TestRun::new("panics", runner.clone())
            .try_run(|fixtures| {
                let log = log.clone();
                async move {
                    set_up_a_and_b(&fixtures, &log);
                    log_to(&log, "test");
                    anyio::checkpoint().await.unwrap();
                    panic!("boom");
                }
            })
            .unwrap_err();
        assert!(matches!(failure, TestFailure::Panicked(_)), "{failure}");
        assert_eq!(failure.to_string(), "panicked: boom");
        assert_eq!(entries(&log), AFTER_TEST);

        let resumed = std::panic::catch_unwind(|| {
            TestRun::new("panics", runner.clone()).run(|_| async { panic!("again") })
        })
        .unwrap_err();
        assert_eq!(resumed.downcast_ref::<&str>(), Some(&"again"));
    }
}

#[test]
fn teardowns_run_shielded_after_a_timeout() {
    for (backend, runner) in runners() {
        let log = Log::default();
        let failure = TestRun::new("sleeper", runner.clone())
            .timeout(Duration::from_millis(100))
            .try_run(|fixtures| {
                let log = log.clone();
                async move {
                    set_up_a_and_b(&fixtures, &log);
                    log_to(&log, "test");
                    let slept = anyio::sleep_forever().await;
                    log_to(&log, format!("cancelled: {}", slept.is_err()));
                }
            })
            .unwrap_err();
        assert_eq!(
            failure.to_string(),
            format!("test `sleeper` on {backend} timed out after 100ms")
        );
        assert!(
            matches!(failure, TestFailure::TimedOut { ended: true, .. }),
            "{failure}"
        );
        assert_eq!(
            entries(&log),
            [
                "set up a",
                "set up b",
                "test",
                "cancelled: true",
                "tear down b",
                "tear down a"
            ]
        );
    }
}

#[test]
fn a_failed_teardown_fails_the_test_and_the_others_still_run() {
    for (_, runner) in runners() {
        let log = Log::default();
        let failure = TestRun::new("passes", runner.clone())
            .try_run(|fixtures| {
                let log = log.clone();
                async move {
                    set_up_a_and_b(&fixtures, &log);
                    fixtures.add_fixture(
                        "broken",
                        Fixture::new(()).teardown(async { Err("it broke".into()) }),
                    );
                    fixtures.add_fixture(
                        "panicky",
                        Fixture::new(()).teardown(async { panic!("teardown panic") }),
                    );
                    log_to(&log, "test");
                }
            })
            .unwrap_err();
        assert_eq!(
            failure.to_string(),
            "teardown of fixture `panicky` failed: panicked: teardown panic; \
             teardown of fixture `broken` failed: it broke"
        );
        assert_eq!(entries(&log), AFTER_TEST);
    }
}

/// A fixture whose setup fails.
#[anyio::fixture]
async fn unreachable_service() -> io::Result<u16> {
    Err(io::Error::new(
        io::ErrorKind::ConnectionRefused,
        "no service",
    ))
}

#[test]
fn a_failed_setup_fails_the_test_after_the_earlier_teardowns() {
    for (_, runner) in runners() {
        let log = Log::default();
        let failure = TestRun::new("needs_service", runner.clone())
            .try_run(|fixtures| {
                let log = log.clone();
                async move {
                    set_up_a_and_b(&fixtures, &log);
                    let _port = unreachable_service::__anyio_setup(&fixtures).await;
                    log_to(&log, "test");
                }
            })
            .unwrap_err();
        assert_eq!(
            failure.to_string(),
            "panicked: fixture `unreachable_service` failed: no service"
        );
        assert_eq!(
            entries(&log),
            ["set up a", "set up b", "tear down b", "tear down a"]
        );
    }
}

#[test]
fn a_failed_task_of_the_test_group_fails_the_test() {
    for (backend, runner) in runners() {
        let failure = TestRun::new("background", runner.clone())
            .try_run(|fixtures| async move {
                fixtures
                    .task_group()
                    .start_soon(async { Err("the server crashed".into()) })
                    .unwrap();
                let _ = anyio::sleep_forever().await;
            })
            .unwrap_err();
        assert_eq!(
            failure.to_string(),
            format!("test `background` on {backend}: a task failed: the server crashed")
        );
    }
}

#[test]
fn tasks_left_in_the_test_group_are_cancelled_after_the_teardowns() {
    for (_, runner) in runners() {
        let log = Log::default();
        TestRun::new("leaves_a_task", runner.clone()).run(|fixtures| {
            let log = log.clone();
            async move {
                let in_task = log.clone();
                fixtures
                    .task_group()
                    .start_soon(async move {
                        let slept = anyio::sleep_forever().await;
                        log_to(&in_task, format!("task cancelled: {}", slept.is_err()));
                        Ok(())
                    })
                    .unwrap();
                fixtures.add_fixture(
                    "a",
                    Fixture::new(()).teardown(async move {
                        log_to(&log, "tear down a");
                        Ok(())
                    }),
                );
            }
        });
        assert_eq!(entries(&log), ["tear down a", "task cancelled: true"]);
    }
}

#[test]
fn the_context_names_the_test_and_its_backend() {
    for (backend, runner) in runners() {
        let (name, seen) = TestRun::new("named", runner.clone())
            .run(|fixtures| async move { (fixtures.test_name().to_owned(), fixtures.backend()) });
        assert_eq!((name.as_str(), seen), ("named", backend));
    }
}

// ---- failures of whole tests, in a child process ----

/// A fixture whose teardown fails.
#[anyio::fixture]
async fn broken_teardown() -> Fixture<()> {
    Fixture::new(()).teardown(async { Err("it broke".into()) })
}

#[anyio::test(smol)]
#[ignore = "fails on purpose: run by `whole_tests_fail_with_clear_messages`"]
async fn probe_passes_but_its_teardown_fails(_broken_teardown: ()) {}

#[anyio::test(smol)]
#[ignore = "fails on purpose: run by `whole_tests_fail_with_clear_messages`"]
async fn probe_fails_and_its_teardown_too(_broken_teardown: ()) -> Result<(), String> {
    Err("the test's own error".into())
}

#[anyio::test(smol, timeout = "50ms")]
#[ignore = "ends its process: run by `whole_tests_fail_with_clear_messages`"]
async fn probe_blocks_its_thread() {
    std::thread::sleep(Duration::from_secs(3600));
}

/// Runs the ignored test `name` alone in a child process: its exit code and its output.
fn run_probe(name: &str) -> (Option<i32>, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--ignored", "--test-threads=1"])
        .env_remove(anyio::testing::TIMEOUT_ENV)
        .env_remove(anyio::testing::BACKENDS_ENV)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn whole_tests_fail_with_clear_messages() {
    let (code, text) = run_probe("probe_passes_but_its_teardown_fails::smol");
    assert_eq!(code, Some(101), "{text}");
    assert!(
        text.contains("teardown of fixture `broken_teardown` failed: it broke"),
        "{text}"
    );

    let (code, text) = run_probe("probe_fails_and_its_teardown_too::smol");
    assert_eq!(code, Some(101), "{text}");
    assert!(text.contains("Error: \"the test's own error\""), "{text}");
    assert!(
        text.contains(
            "teardown of fixture `broken_teardown` failed: it broke \
             (after the test returned an error)"
        ),
        "{text}"
    );

    let (code, text) = run_probe("probe_blocks_its_thread::smol");
    assert_eq!(code, Some(101), "{text}");
    assert!(
        text.contains(
            "test `probe_blocks_its_thread` on smol timed out after 50ms and did not end \
             within 50ms of being cancelled, and its thread stays blocked: ending the test \
             process"
        ),
        "{text}"
    );
}
