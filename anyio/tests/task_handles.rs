//! Task handles (`create_task`, `start_with_handle`): states, cancelling one task through
//! its own scope, waiting, taking the value, on every backend and runtime flavour.

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::io;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use anyio::{
    BoxError, CancelScope, Event, GroupClosed, IsCancelled, TaskError, TaskGroup, TaskHandle,
    TaskState, TaskStatus, checkpoint, sleep_forever, task_group, wait_all_tasks_blocked,
};
use futures_lite::FutureExt;

#[path = "support/test_error.rs"]
mod test_error;
use test_error::TestError;

/// Waits for `gate`, then returns `value`.
async fn after(gate: Arc<Event>, value: u32) -> Result<u32, BoxError> {
    gate.wait().await?;
    Ok(value)
}

/// Sleeps until cancelled; records that its cleanup ran.
async fn until_cancelled(cleaned: Arc<AtomicBool>) -> Result<u32, BoxError> {
    match sleep_forever().await {
        Ok(()) => Ok(0),
        Err(cancelled) => {
            cleaned.store(true, SeqCst);
            Err(cancelled.into())
        }
    }
}

/// Sleeps until cancelled, then cleans up (shielded) until `release` is set, so the task
/// stays `Cancelling` until then.
async fn slow_cleanup(release: Arc<Event>) -> Result<u32, BoxError> {
    let Err(cancelled) = sleep_forever().await else {
        return Ok(0);
    };
    CancelScope::new()
        .shielded(true)
        .run(release.wait())
        .await?;
    Err(cancelled.into())
}

fn task_cancelled<T>(h: &TaskHandle<T>) -> TaskError {
    TaskError::TaskCancelled {
        id: h.id(),
        name: h.name().to_owned(),
    }
}

async fn states_follow_a_task_through_its_life() -> Result<(), BoxError> {
    let gate = Arc::new(Event::new());
    task_group(|tg: TaskGroup| async move {
        let h = tg.create_task(after(gate.clone(), 7))?;
        assert_eq!(h.state(), TaskState::Pending);
        wait_all_tasks_blocked().await?;
        assert_eq!(h.state(), TaskState::Pending);
        assert_eq!(h.try_take(), Err(TaskError::NotFinished));
        assert_eq!(
            TaskError::NotFinished.to_string(),
            "the task has not finished yet"
        );
        gate.set();
        h.wait().await?;
        assert_eq!(h.state(), TaskState::Finished);
        assert_eq!(h.try_take(), Ok(7));
        // Taken, and still finished; cancelling a finished task does nothing.
        h.cancel();
        assert_eq!(h.state(), TaskState::Finished);

        let release = Arc::new(Event::new());
        let c = tg.create_task(slow_cleanup(release.clone()))?;
        wait_all_tasks_blocked().await?;
        assert_eq!(c.state(), TaskState::Pending);
        c.cancel();
        assert_eq!(c.state(), TaskState::Cancelling);
        wait_all_tasks_blocked().await?;
        assert_eq!(c.state(), TaskState::Cancelling);
        release.set();
        c.wait().await?;
        assert_eq!(c.state(), TaskState::Cancelled);
        assert_eq!(c.try_take(), Err(task_cancelled(&c)));
        Ok(())
    })
    .await?;
    Ok(())
}

async fn a_group_cancellation_shows_as_cancelling_then_cancelled() -> Result<(), BoxError> {
    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    let out = task_group(|tg: TaskGroup| async move {
        let release = Arc::new(Event::new());
        let h = tg.create_task(slow_cleanup(release.clone()))?;
        *k.lock().unwrap() = Some(h.clone());
        wait_all_tasks_blocked().await?;
        tg.cancel();
        assert_eq!(h.state(), TaskState::Cancelling);
        release.set();
        Ok(())
    })
    .await?;
    // The body returned before its next checkpoint, so the group gives its value back.
    assert_eq!(out, Some(()));
    let h = kept
        .lock()
        .unwrap()
        .take()
        .expect("the body kept the handle");
    assert_eq!(h.state(), TaskState::Cancelled);
    Ok(())
}

async fn a_name_given_with_named_is_the_handle_name() -> Result<(), BoxError> {
    task_group(|tg: TaskGroup| async move {
        let h = tg.named("worker").create_task(async { Ok(1u8) })?;
        assert_eq!(h.name(), "worker");
        let info_id = tg
            .named("reporter")
            .create_task(async { Ok(anyio::get_current_task().map(|t| t.id())) })?;
        let id = info_id.id();
        assert_eq!(info_id.await?, Some(id));
        assert_eq!(h.await?, 1);
        Ok(())
    })
    .await?;
    Ok(())
}

async fn cancelling_one_task_leaves_its_siblings_running() -> Result<(), BoxError> {
    let gate = Arc::new(Event::new());
    let cleaned = Arc::new(AtomicBool::new(false));
    let out = task_group(|tg: TaskGroup| async move {
        let a = tg.create_task(after(gate.clone(), 1))?;
        let b = tg.create_task(until_cancelled(cleaned.clone()))?;
        let c = tg.create_task(after(gate.clone(), 3))?;
        wait_all_tasks_blocked().await?;
        b.cancel();
        assert_eq!(b.clone().await, Err(task_cancelled(&b)));
        assert!(cleaned.load(SeqCst), "the cancelled task's cleanup ran");
        assert_eq!(a.state(), TaskState::Pending);
        assert_eq!(c.state(), TaskState::Pending);
        gate.set();
        assert_eq!(a.await?, 1);
        assert_eq!(c.await?, 3);
        Ok("body")
    })
    .await?;
    assert_eq!(out, Some("body"));
    Ok(())
}

async fn a_task_cancelled_before_its_first_poll_runs_until_its_first_checkpoint()
-> Result<(), BoxError> {
    let reached = Arc::new(AtomicUsize::new(0));
    // Held while the task is made and cancelled: on a multi-threaded runtime the task may
    // start at once, and must not pass its checkpoint before it is cancelled.
    let hold = Arc::new(Mutex::new(()));
    let r = reached.clone();
    task_group(|tg: TaskGroup| async move {
        let guard = hold.lock().unwrap();
        let held = hold.clone();
        let h = tg.create_task(async move {
            r.fetch_add(1, SeqCst);
            drop(held.lock());
            checkpoint().await?;
            r.fetch_add(1, SeqCst);
            Ok(())
        })?;
        h.cancel();
        assert_eq!(h.state(), TaskState::Cancelling);
        drop(guard);
        h.wait().await?;
        assert_eq!(h.state(), TaskState::Cancelled);
        Ok(())
    })
    .await?;
    assert_eq!(reached.load(SeqCst), 1);
    Ok(())
}

async fn a_task_cancelled_through_its_handle_does_not_cancel_or_fail_the_group()
-> Result<(), BoxError> {
    let out = TaskGroup::<TestError>::run(|tg| async move {
        let h = tg.create_task(async {
            sleep_forever().await?;
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        h.cancel();
        h.wait().await?;
        assert_eq!(h.state(), TaskState::Cancelled);
        assert!(!tg.cancel_scope().cancel_called());
        // The body goes on: its checkpoints pass.
        checkpoint().await?;
        Ok(5)
    })
    .await;
    assert_eq!(out.map_err(|e| e.into_errors()), Ok(Some(5)));
    Ok(())
}

async fn a_task_that_answers_its_cancellation_with_a_value_is_finished() -> Result<(), BoxError> {
    task_group(|tg: TaskGroup| async move {
        let h = tg.create_task(async {
            match sleep_forever().await {
                Ok(()) => Ok("slept"),
                Err(_) => Ok("stopped early"),
            }
        })?;
        wait_all_tasks_blocked().await?;
        h.cancel();
        assert_eq!(h.clone().await?, "stopped early");
        assert_eq!(h.state(), TaskState::Finished);
        Ok(())
    })
    .await?;
    Ok(())
}

async fn a_failing_task_fails_the_group_and_its_handle_says_failed() -> Result<(), BoxError> {
    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    let err = TaskGroup::<TestError>::run(|tg| async move {
        let h = tg.named("parser").create_task(async {
            checkpoint().await?;
            Err::<u32, _>(TestError::Failed("boom"))
        })?;
        *k.lock().unwrap() = Some(h);
        sleep_forever().await?;
        Ok(())
    })
    .await
    .expect_err("the task failed");
    // Reported once, by the group; the body's cancellation is not a failure.
    assert_eq!(err.into_errors(), [TestError::Failed("boom")]);
    let h = kept
        .lock()
        .unwrap()
        .take()
        .expect("the body kept the handle");
    assert_eq!(h.state(), TaskState::Failed);
    let failed = h.try_take().expect_err("the task failed");
    assert_eq!(
        failed,
        TaskError::Failed {
            id: h.id(),
            name: "parser".to_owned(),
            message: "boom".to_owned(),
        }
    );
    assert_eq!(
        failed.to_string(),
        format!("task parser (id {}) failed: boom", h.id())
    );
    assert!(!failed.is_cancelled());
    assert!(!anyio::is_cancelled(&io::Error::from(failed)));
    Ok(())
}

async fn a_panicking_task_is_failed_and_the_group_resumes_its_panic() -> Result<(), BoxError> {
    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    let panicked = AssertUnwindSafe(task_group(|tg: TaskGroup| async move {
        let h = tg.named("bomb").create_task(async {
            checkpoint().await?;
            if true {
                panic!("kaboom");
            }
            Ok(0u32)
        })?;
        *k.lock().unwrap() = Some(h);
        Ok(())
    }))
    .catch_unwind()
    .await
    .expect_err("the group resumes the task's panic");
    assert_eq!(panicked.downcast_ref::<&str>(), Some(&"kaboom"));
    let h = kept
        .lock()
        .unwrap()
        .take()
        .expect("the body kept the handle");
    assert_eq!(h.state(), TaskState::Failed);
    assert_eq!(
        h.try_take(),
        Err(TaskError::Failed {
            id: h.id(),
            name: "bomb".to_owned(),
            message: "kaboom".to_owned(),
        })
    );
    Ok(())
}

async fn many_tasks_wait_on_one_handle() -> Result<(), BoxError> {
    let gate = Arc::new(Event::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    task_group(|tg: TaskGroup| async move {
        let h = tg.create_task(after(gate.clone(), 42))?;
        for _ in 0..5 {
            let h = h.clone();
            let s = s.clone();
            tg.start_soon(async move {
                h.wait().await?;
                s.lock().unwrap().push(h.state());
                Ok(())
            })?;
        }
        let taken = h.clone();
        let taker = tg.create_task(async move { Ok(taken.await) })?;
        wait_all_tasks_blocked().await?;
        assert!(s.lock().unwrap().is_empty());
        gate.set();
        assert_eq!(taker.await?, Ok(42));
        Ok(())
    })
    .await?;
    assert_eq!(*seen.lock().unwrap(), [TaskState::Finished; 5]);
    Ok(())
}

async fn many_tasks_get_a_copy_of_one_value() -> Result<(), BoxError> {
    let gate = Arc::new(Event::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    task_group(|tg: TaskGroup| async move {
        let h = tg.create_task(after(gate.clone(), 42))?;
        for _ in 0..5 {
            let h = h.clone();
            let s = s.clone();
            tg.start_soon(async move {
                let v = h.get().await?;
                s.lock().unwrap().push(v);
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        gate.set();
        Ok(())
    })
    .await?;
    assert_eq!(*seen.lock().unwrap(), [42; 5]);
    Ok(())
}

async fn a_waiter_cancelled_while_waiting_gets_a_cancellation() -> Result<(), BoxError> {
    task_group(|tg: TaskGroup| async move {
        let h = tg.create_task(async {
            sleep_forever().await?;
            Ok(1u32)
        })?;
        let scope = CancelScope::new();
        let scope_id = scope.id();
        let s = scope.clone();
        tg.start_soon(async move {
            wait_all_tasks_blocked().await?;
            s.cancel();
            Ok(())
        })?;
        let waited = h.clone();
        let got = scope
            .run(async move { Ok::<_, BoxError>(waited.await) })
            .await?;
        let err = got
            .expect("the body returned")
            .expect_err("the waiter was cancelled");
        assert!(matches!(err, TaskError::Cancelled(_)));
        assert!(err.is_cancelled());
        let TaskError::Cancelled(cancelled) = &err else {
            unreachable!("matched above")
        };
        // The waiter's cancellation, with its cause: the scope cancelled around the wait.
        assert_eq!(cancelled.scope_id(), Some(scope_id));
        assert_eq!(err.to_string(), cancelled.to_string());
        assert!(
            err.to_string()
                .starts_with(&format!("cancelled via cancel scope {scope_id:x} by task ")),
            "{err}"
        );
        assert!(anyio::is_cancelled(&io::Error::from(err.clone())));
        assert!(anyio::is_cancelled(&*BoxError::from(err)));
        // The task's cancellation is not the waiter's: the task runs on.
        assert_eq!(h.state(), TaskState::Pending);
        h.cancel();
        let own = h.clone().await.expect_err("the task was cancelled");
        assert_eq!(own, task_cancelled(&h));
        assert!(!own.is_cancelled());
        assert!(!anyio::is_cancelled(&io::Error::from(own)));
        Ok(())
    })
    .await?;
    Ok(())
}

async fn a_cancelled_waiter_gets_the_cancellation_even_when_the_task_has_finished()
-> Result<(), BoxError> {
    task_group(|tg: TaskGroup| async move {
        let h = tg.create_task(async { Ok(3u32) })?;
        h.wait().await?;
        let scope = CancelScope::new();
        scope.cancel();
        let waited = h.clone();
        let got = scope
            .run(async move { Ok::<_, BoxError>(waited.await) })
            .await?;
        assert!(matches!(got, Some(Err(TaskError::Cancelled(_)))));
        // Nothing was consumed.
        assert_eq!(h.try_take(), Ok(3));
        Ok(())
    })
    .await?;
    Ok(())
}

async fn a_value_is_taken_once() -> Result<(), BoxError> {
    task_group(|tg: TaskGroup| async move {
        let h = tg.create_task(async { Ok(String::from("once")) })?;
        assert_eq!(h.clone().await?, "once");
        let again = h.clone().await.expect_err("taken already");
        assert_eq!(again, TaskError::Taken);
        assert_eq!(again.to_string(), "the task's value was already taken");
        assert_eq!(h.try_take(), Err(TaskError::Taken));
        Ok(())
    })
    .await?;
    Ok(())
}

async fn dropping_every_handle_detaches_the_task() -> Result<(), BoxError> {
    let gate = Arc::new(Event::new());
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let out = task_group(|tg: TaskGroup| async move {
        let g = gate.clone();
        let h = tg.create_task(async move {
            g.wait().await?;
            f.store(true, SeqCst);
            Ok(())
        })?;
        drop(h);
        wait_all_tasks_blocked().await?;
        gate.set();
        Ok(())
    })
    .await?;
    assert_eq!(out, Some(()));
    assert!(
        finished.load(SeqCst),
        "the group waited for the detached task"
    );
    Ok(())
}

async fn service(status: TaskStatus<u16>, gate: Arc<Event>) -> Result<&'static str, BoxError> {
    status.started(8080);
    gate.wait().await?;
    Ok("served")
}

async fn start_with_handle_gives_the_started_value_and_a_handle() -> Result<(), BoxError> {
    let gate = Arc::new(Event::new());
    let out = task_group(|tg: TaskGroup| async move {
        let g = gate.clone();
        let (port, h) = tg
            .named("service")
            .start_with_handle(|status| service(status, g))
            .await?;
        assert_eq!(port, 8080);
        assert_eq!(h.name(), "service");
        assert_eq!(h.state(), TaskState::Pending);
        gate.set();
        assert_eq!(h.await?, "served");

        // Cancelled through its handle after it started: the group goes on.
        let (port, h) = tg
            .start_with_handle(|status| service(status, Arc::new(Event::new())))
            .await?;
        assert_eq!(port, 8080);
        wait_all_tasks_blocked().await?;
        h.cancel();
        assert_eq!(h.clone().await, Err(task_cancelled(&h)));
        Ok("body")
    })
    .await?;
    assert_eq!(out, Some("body"));
    Ok(())
}

async fn create_task_on_a_finished_group_fails() -> Result<(), BoxError> {
    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    task_group(|tg: TaskGroup| async move {
        *k.lock().unwrap() = Some(tg);
        Ok(())
    })
    .await?;
    let tg = kept
        .lock()
        .unwrap()
        .take()
        .expect("the body kept the group");
    assert_eq!(tg.create_task(async { Ok(1u8) }).err(), Some(GroupClosed));
    Ok(())
}

on_every_flavour!(
    states_follow_a_task_through_its_life,
    a_group_cancellation_shows_as_cancelling_then_cancelled,
    a_name_given_with_named_is_the_handle_name,
    cancelling_one_task_leaves_its_siblings_running,
    a_task_cancelled_before_its_first_poll_runs_until_its_first_checkpoint,
    a_task_cancelled_through_its_handle_does_not_cancel_or_fail_the_group,
    a_task_that_answers_its_cancellation_with_a_value_is_finished,
    a_failing_task_fails_the_group_and_its_handle_says_failed,
    a_panicking_task_is_failed_and_the_group_resumes_its_panic,
    many_tasks_wait_on_one_handle,
    many_tasks_get_a_copy_of_one_value,
    a_waiter_cancelled_while_waiting_gets_a_cancellation,
    a_cancelled_waiter_gets_the_cancellation_even_when_the_task_has_finished,
    a_value_is_taken_once,
    dropping_every_handle_detaches_the_task,
    start_with_handle_gives_the_started_value_and_a_handle,
    create_task_on_a_finished_group_fails,
);
