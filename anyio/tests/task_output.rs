//! What the task API accepts without annotations: a bare `task_group(|tg| ..)`, tasks that
//! return `()` or `Result<(), E>`, `?` on `start_soon` in an `io::Error` group, and one `?`
//! for a run whose future returns a `Result`.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use anyio::{
    Backend, BoxError, GroupClosed, RunError, Runner, TaskGroup, TaskStatus, checkpoint, sleep,
    task_group,
};

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

on_every_flavour!(
    a_bare_group_runs_unit_tasks_and_result_tasks,
    an_io_error_group_takes_io_tasks_unit_tasks_and_question_marks,
    start_takes_a_task_that_returns_unit,
    a_closed_group_is_an_io_error_through_question_mark,
    a_task_that_never_returns_may_still_panic_and_fail_the_group,
);

/// No annotation anywhere: the group's error type is `BoxError`, an `io::Error` converts
/// into it with `?`, and a task that cannot fail returns `()`.
async fn a_bare_group_runs_unit_tasks_and_result_tasks() -> Result<(), BoxError> {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let value = task_group(|tg| async move {
        let r1 = r.clone();
        tg.start_soon(async move {
            r1.fetch_add(1, SeqCst);
        })?;
        let r2 = r.clone();
        tg.start_soon(async move {
            sleep(Duration::from_millis(1)).await?;
            std::fs::metadata(".")?;
            r2.fetch_add(10, SeqCst);
            Ok(())
        })?;
        let r3 = r.clone();
        tg.named("unit").start_soon(async move {
            checkpoint().await.unwrap();
            r3.fetch_add(100, SeqCst);
        })?;
        Ok(7)
    })
    .await?;
    assert_eq!(value, Some(7));
    assert_eq!(ran.load(SeqCst), 111);
    Ok(())
}

async fn io_task(fail: bool) -> io::Result<()> {
    checkpoint().await?;
    if fail {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad frame"));
    }
    Ok(())
}

async fn an_io_error_group_takes_io_tasks_unit_tasks_and_question_marks() -> Result<(), BoxError> {
    let unit_ran = Arc::new(AtomicUsize::new(0));
    let u = unit_ran.clone();
    let err = TaskGroup::<io::Error>::run(|tg| async move {
        tg.start_soon(io_task(false))?;
        tg.start_soon(async move {
            u.fetch_add(1, SeqCst);
        })?;
        tg.start_soon(io_task(true))?;
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(unit_ran.load(SeqCst), 1);
    // One failure comes back as itself through `?` into `io::Error`.
    let err: io::Error = err.into();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(err.to_string(), "bad frame");
    Ok(())
}

async fn start_takes_a_task_that_returns_unit() -> Result<(), BoxError> {
    let started = task_group(|tg| async move {
        let port = tg
            .start(|status: TaskStatus<u16>| async move {
                status.started(8080);
                checkpoint().await.unwrap();
            })
            .await?;
        Ok(port)
    })
    .await?;
    assert_eq!(started, Some(8080));
    Ok(())
}

async fn a_closed_group_is_an_io_error_through_question_mark() -> Result<(), BoxError> {
    let mut kept = None;
    TaskGroup::<io::Error>::run(|tg| {
        kept = Some(tg.clone());
        async { Ok(()) }
    })
    .await?;
    let tg = kept.expect("the body ran");
    let start_late = || -> io::Result<()> {
        tg.start_soon(async { Ok(()) })?;
        Ok(())
    };
    let err = start_late().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Other);
    assert_eq!(
        err.to_string(),
        "This task group is not active; no new tasks can be started."
    );
    assert_eq!(
        err.get_ref().and_then(|e| e.downcast_ref::<GroupClosed>()),
        Some(&GroupClosed)
    );
    Ok(())
}

/// A unit task reports nothing; a panic in one still cancels its siblings and resumes in
/// the caller, as with any task.
async fn a_task_that_never_returns_may_still_panic_and_fail_the_group() -> Result<(), BoxError> {
    use futures_lite::FutureExt;
    let sibling_cancelled = Arc::new(AtomicUsize::new(0));
    let s = sibling_cancelled.clone();
    let caught = std::panic::AssertUnwindSafe(task_group(|tg| async move {
        tg.start_soon(async move {
            if sleep(Duration::from_secs(30)).await.is_err() {
                s.fetch_add(1, SeqCst);
            }
        })?;
        tg.start_soon(async {
            checkpoint().await.unwrap();
            panic!("unit task panicked");
        })?;
        Ok(())
    }))
    .catch_unwind()
    .await;
    let panic = caught.unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"unit task panicked"));
    assert_eq!(sibling_cancelled.load(SeqCst), 1);
    Ok(())
}

/// `try_run` gives one error for a run that cannot start and for the future's own failure.
#[test]
fn try_run_flattens_the_run_error_and_the_futures_error() {
    for backend in anyio::testing::selected_backends() {
        let runner = Runner::new(backend);
        let ok: io::Result<u32> = runner.try_run(async {
            checkpoint().await?;
            Ok(3)
        });
        assert_eq!(ok.unwrap(), 3, "{backend}");

        let failed: io::Result<()> =
            runner.try_run(async { Err(io::Error::other("from the future")) });
        assert_eq!(
            failed.unwrap_err().to_string(),
            "from the future",
            "{backend}"
        );

        let unstartable: io::Result<()> = Runner::new(backend)
            .worker_threads(0)
            .try_run(async { Ok(()) });
        let err = unstartable.unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid runner option: worker_threads must be at least 1",
            "{backend}"
        );
        assert!(
            matches!(
                err.get_ref().and_then(|e| e.downcast_ref::<RunError>()),
                Some(RunError::InvalidOption(_))
            ),
            "{backend}"
        );

        let boxed: Result<(), BoxError> = Runner::new(backend)
            .worker_threads(0)
            .try_run(async { Ok(()) });
        assert!(boxed.unwrap_err().is::<RunError>(), "{backend}");
    }
}

/// The free function runs on the default backend.
#[test]
fn the_free_try_run_uses_the_default_backend() {
    let backend: Result<Backend, BoxError> =
        anyio::try_run(async { Ok(anyio::current_backend()?) });
    assert_eq!(backend.unwrap(), anyio::Runner::default().backend());
}
