//! The test harness itself: `#[anyio::test]` options, `Result` tests, the
//! `ANYIO_BACKENDS` restriction and the proptest helper.

use std::process::Command;
use std::time::Duration;

use anyio::{Backend, BoxError, TaskGroup};
use proptest::prelude::*;

#[anyio::test]
async fn tests_can_return_results() -> Result<(), BoxError> {
    anyio::sleep(Duration::from_millis(1)).await?;
    Ok(())
}

#[anyio::test(tokio)]
async fn a_test_restricted_to_tokio() {
    assert_eq!(anyio::current_backend(), Ok(Backend::Tokio));
}

#[anyio::test(smol)]
async fn a_test_restricted_to_smol() {
    assert_eq!(anyio::current_backend(), Ok(Backend::Smol));
}

#[anyio::test(tokio(current_thread), smol(current_thread))]
async fn current_thread_options_keep_every_task_on_one_thread() -> Result<(), BoxError> {
    let here = std::thread::current().id();
    anyio::task_group(|tg: TaskGroup| async move {
        for _ in 0..4 {
            tg.start_soon(async move {
                anyio::checkpoint().await?;
                assert_eq!(std::thread::current().id(), here);
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test(tokio(worker_threads = 3), smol(worker_threads = 3))]
async fn worker_thread_options_spread_tasks_over_threads() -> Result<(), BoxError> {
    let threads = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let t = threads.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        for _ in 0..64 {
            let t = t.clone();
            tg.start_soon(async move {
                // Keep a thread busy so the others pick up work.
                std::thread::sleep(Duration::from_millis(2));
                t.lock().unwrap().insert(std::thread::current().id());
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    assert!(threads.lock().unwrap().len() > 1);
    Ok(())
}

#[anyio::test]
#[should_panic(expected = "expected failure")]
async fn should_panic_is_kept() {
    panic!("expected failure");
}

#[anyio::test]
async fn probe_for_the_environment_restriction() {}

#[test]
fn the_environment_variable_restricts_the_backends() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "probe_for_the_environment_restriction",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(anyio::testing::BACKENDS_ENV, "smol")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("skipped on tokio: not in ANYIO_BACKENDS"),
        "{stderr}"
    );
    assert!(!stderr.contains("skipped on smol"), "{stderr}");

    let out = Command::new(std::env::current_exe().unwrap())
        .args(["probe_for_the_environment_restriction"])
        .env(anyio::testing::BACKENDS_ENV, "asyncio")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("no such backend: \"asyncio\""), "{text}");
}

#[test]
fn a_skipped_should_panic_test_still_passes() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["should_panic_is_kept", "--nocapture", "--test-threads=1"])
        .env(anyio::testing::BACKENDS_ENV, "smol")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("test result: ok. 2 passed"), "{text}");
    assert!(
        text.contains(
            "skipped on tokio: not in ANYIO_BACKENDS (a #[should_panic] test: expected failure)"
        ),
        "{text}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// A property checked on every backend: a task group returns the sum of what its
    /// tasks computed, whatever their delays.
    #[test]
    fn task_results_are_never_lost(delays in proptest::collection::vec(0u64..3, 1..12)) {
        anyio::testing::on_each_backend(|_backend| {
            let delays = delays.clone();
            async move {
                let total = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
                let t = total.clone();
                let expected: u64 = delays.iter().sum();
                anyio::task_group(|tg: TaskGroup| async move {
                    for d in delays {
                        let t = t.clone();
                        tg.start_soon(async move {
                            anyio::sleep(Duration::from_millis(d)).await?;
                            t.fetch_add(d, std::sync::atomic::Ordering::SeqCst);
                            Ok(())
                        })?;
                    }
                    Ok(())
                })
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(total.load(std::sync::atomic::Ordering::SeqCst), expected);
                Ok(())
            }
        })?;
    }
}
