//! Cancel reasons: every cancellation the crate reports names the scope that was cancelled,
//! the task that cancelled it and why, wherever it is observed; and whether a task has a
//! cancellation pending.

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use anyio::{
    BoxError, CancelScope, Cancelled, CapacityLimiter, Event, LimiterError, Lock, ReceiveError,
    Semaphore, TaskGroup, TaskInfo, TimeoutError, cancellable, checkpoint,
    create_memory_object_stream, fail_after, get_current_task, has_pending_cancellation,
    move_on_after, sleep, sleep_forever, task_group, to_thread, wait_all_tasks_blocked,
};

const LONG: Duration = Duration::from_secs(30);

fn me() -> TaskInfo {
    get_current_task().expect("called inside a task")
}

/// Checks every part of a cause: the scope, the reason, and the task that cancelled.
fn assert_cause(c: &Cancelled, scope: anyio::ScopeId, reason: Option<&str>, by: Option<&TaskInfo>) {
    assert_eq!(c.scope_id(), Some(scope), "{c}");
    assert_eq!(c.reason(), reason, "{c}");
    assert_eq!(c.task_id(), by.map(TaskInfo::id), "{c}");
    assert_eq!(c.task_name(), by.map(TaskInfo::name), "{c}");
}

on_every_flavour!(
    a_checkpoint_reports_the_reason_the_scope_and_the_task,
    the_cause_reaches_every_kind_of_wait,
    a_fresh_nested_scope_reports_the_outer_cause_before_and_after_its_first_wait,
    the_innermost_cancelled_scope_gives_the_cause,
    a_group_cancelled_with_a_reason_pushes_it_to_its_tasks,
    a_failing_task_cancels_its_group_with_a_reason,
    a_panicking_task_cancels_its_group_with_a_reason,
    a_deadline_reads_deadline_exceeded,
    fail_after_puts_its_reason_in_the_timeout_error,
    the_first_cancel_wins,
    a_shield_hides_the_cause_until_it_is_cleared,
    a_cancel_from_a_plain_thread_names_no_task,
    a_task_group_error_and_a_start_error_carry_the_cause,
    the_current_task_knows_its_pending_cancellation,
    another_task_has_a_pending_cancellation_once_its_scope_is_cancelled,
);

async fn a_checkpoint_reports_the_reason_the_scope_and_the_task() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let me = me();
    let seen = Arc::new(Mutex::new(None));
    let seen2 = seen.clone();
    let out = scope
        .run(async move {
            handle.cancel_with_reason("shutting down");
            let err = checkpoint().await.unwrap_err();
            *seen2.lock().unwrap() = Some(err.clone());
            Err::<(), _>(err)
        })
        .await;
    assert_eq!(out, Ok(None));
    let err = seen.lock().unwrap().take().unwrap();
    assert_cause(&err, scope.id(), Some("shutting down"), Some(&me));
    assert_eq!(
        err.to_string(),
        format!(
            "cancelled via cancel scope {:x} by task {} {:?}; reason: shutting down",
            scope.id().as_u64(),
            me.id(),
            me.name()
        )
    );
    // The scope's identity prints in hexadecimal either way.
    assert_eq!(scope.id().to_string(), format!("{:x}", scope.id().as_u64()));
    // A cancellation with a cause still equals any other.
    assert_eq!(err, Cancelled::new());
    Ok(())
}

/// Tasks blocked in a sleep, an event, a lock, a memory stream, a `cancellable` future and a
/// plain checkpoint loop all see the cause of the scope around their group.
async fn the_cause_reaches_every_kind_of_wait() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let me = me();
    let seen: Arc<Mutex<Vec<(&'static str, Cancelled)>>> = Arc::default();
    let lock = Arc::new(Lock::new(()));
    let event = Arc::new(Event::new());
    let semaphore = Arc::new(Semaphore::new(0)?);
    let limiter = Arc::new(CapacityLimiter::new(1)?);
    let holder = limiter.clone();
    let _borrowed = holder.try_acquire_on_behalf_of("the test")?;
    let (_tx, rx) = create_memory_object_stream::<u32>(0)?;
    let (tx, _rx) = create_memory_object_stream::<u32>(0)?;
    let (release, released) = mpsc::channel::<()>();
    let group_err = Arc::new(Mutex::new(None));
    let (seen2, lock2, group_err2) = (seen.clone(), lock.clone(), group_err.clone());
    let out = scope
        .run(async move {
            let lock3 = lock2.clone();
            let _held = lock2.acquire().await?;
            let res = task_group(|tg: TaskGroup| async move {
                let record = move |what, c: Cancelled| seen2.lock().unwrap().push((what, c));
                let r = record.clone();
                tg.start_soon(async move {
                    r("sleep", sleep(LONG).await.unwrap_err());
                    Ok(())
                })?;
                let (r, event) = (record.clone(), event.clone());
                tg.start_soon(async move {
                    r("event", event.wait().await.unwrap_err());
                    Ok(())
                })?;
                let (r, lock) = (record.clone(), lock3);
                tg.start_soon(async move {
                    r("lock", lock.acquire().await.map(drop).unwrap_err());
                    Ok(())
                })?;
                let r = record.clone();
                tg.start_soon(async move {
                    match rx.receive().await {
                        Err(ReceiveError::Cancelled(c)) => r("receive", c),
                        other => panic!("a receive ended with {other:?}"),
                    }
                    Ok(())
                })?;
                let r = record.clone();
                tg.start_soon(async move {
                    let e = tx.send(1).await.unwrap_err();
                    r("send", e.cancellation().expect("a cancelled send").clone());
                    Ok(())
                })?;
                let r = record.clone();
                tg.start_soon(async move {
                    let call = to_thread::run_sync(move || released.recv());
                    r("thread", call.abandon_on_cancel().await.unwrap_err());
                    Ok(())
                })?;
                let (r, semaphore) = (record.clone(), semaphore.clone());
                tg.start_soon(async move {
                    r(
                        "semaphore",
                        semaphore.acquire().await.map(drop).unwrap_err(),
                    );
                    Ok(())
                })?;
                let (r, limiter) = (record.clone(), limiter.clone());
                tg.start_soon(async move {
                    match limiter.acquire().await.map(drop) {
                        Err(LimiterError::Cancelled(c)) => r("limiter", c),
                        other => panic!("a limiter acquire ended with {other:?}"),
                    }
                    Ok(())
                })?;
                let r = record.clone();
                tg.start_soon(async move {
                    let never = std::future::pending::<()>();
                    r("cancellable", cancellable(never).await.unwrap_err());
                    Ok(())
                })?;
                wait_all_tasks_blocked().await?;
                handle.cancel_with_reason("stop");
                let c = checkpoint().await.unwrap_err();
                record("checkpoint", c.clone());
                Err::<(), _>(c.into())
            })
            .await;
            let err = res.unwrap_err();
            *group_err2.lock().unwrap() = err.cancellation().cloned();
            Err::<(), BoxError>(err.into())
        })
        .await?;
    assert_eq!(out, None);
    let mut seen = std::mem::take(&mut *seen.lock().unwrap());
    seen.sort_by_key(|(what, _)| *what);
    let names: Vec<_> = seen.iter().map(|(what, _)| *what).collect();
    assert_eq!(
        names,
        [
            "cancellable",
            "checkpoint",
            "event",
            "limiter",
            "lock",
            "receive",
            "semaphore",
            "send",
            "sleep",
            "thread"
        ]
    );
    // The abandoned thread may end now.
    release.send(())?;
    for (what, c) in &seen {
        assert_eq!(c.reason(), Some("stop"), "{what}: {c}");
        assert_cause(c, scope.id(), Some("stop"), Some(&me));
    }
    let group_err = group_err
        .lock()
        .unwrap()
        .take()
        .expect("the group was cancelled");
    assert_cause(&group_err, scope.id(), Some("stop"), Some(&me));
    Ok(())
}

async fn a_fresh_nested_scope_reports_the_outer_cause_before_and_after_its_first_wait()
-> Result<(), BoxError> {
    // Before: the outer scope is cancelled before the inner one is entered, and the inner
    // one has not waited, so neither is in the tree yet.
    let outer = CancelScope::new();
    let handle = outer.clone();
    let me = me();
    let me2 = me.clone();
    let outer_id = outer.id();
    outer
        .run(async move {
            handle.cancel_with_reason("outer");
            let inner = CancelScope::new();
            let err = inner
                .run(async { Ok::<_, Cancelled>(checkpoint().await.unwrap_err()) })
                .await?
                .unwrap();
            assert_cause(&err, outer_id, Some("outer"), Some(&me2));
            checkpoint().await
        })
        .await?;
    // After: the inner scope has waited (so both are linked), then the outer one is
    // cancelled and the cause is pushed down to it.
    let outer = CancelScope::new();
    let handle = outer.clone();
    let outer_id = outer.id();
    outer
        .run(async move {
            let inner = CancelScope::new();
            let err = inner
                .run(async {
                    sleep(Duration::from_millis(1)).await?;
                    handle.cancel_with_reason("outer, later");
                    Ok::<_, Cancelled>(checkpoint().await.unwrap_err())
                })
                .await?
                .unwrap();
            assert_cause(&err, outer_id, Some("outer, later"), Some(&me));
            checkpoint().await
        })
        .await?;
    Ok(())
}

/// With an enclosing scope and an inner one both cancelled, the code sees the inner one's
/// cause (as AnyIO, which does not deliver an outer cancellation into a scope that is
/// cancelled itself), linked or not.
async fn the_innermost_cancelled_scope_gives_the_cause() -> Result<(), BoxError> {
    for wait_first in [false, true] {
        let outer = CancelScope::new();
        let outer_handle = outer.clone();
        let inner = CancelScope::new();
        let inner_handle = inner.clone();
        let inner_probe = inner.clone();
        let inner_id = inner.id();
        let caught = outer
            .run(async move {
                inner
                    .run(async move {
                        if wait_first {
                            checkpoint().await?;
                        }
                        outer_handle.cancel_with_reason("outer");
                        inner_handle.cancel_with_reason("inner");
                        let err = checkpoint().await.unwrap_err();
                        assert_eq!(err.scope_id(), Some(inner_id));
                        assert_eq!(err.reason(), Some("inner"));
                        Err::<(), _>(err)
                    })
                    .await
            })
            .await?;
        assert_eq!(caught, None);
        assert!(
            !inner_probe.cancelled_caught(),
            "the outer scope catches it"
        );
    }
    Ok(())
}

async fn a_group_cancelled_with_a_reason_pushes_it_to_its_tasks() -> Result<(), BoxError> {
    let me = me();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let group_scope = Arc::new(Mutex::new(None));
    let group_scope2 = group_scope.clone();
    task_group(|tg: TaskGroup| async move {
        *group_scope2.lock().unwrap() = Some(tg.cancel_scope().id());
        for _ in 0..3 {
            let seen = seen2.clone();
            tg.start_soon(async move {
                // In a nested scope of its own, linked when it sleeps.
                let err = CancelScope::new()
                    .run(async { Ok::<_, Cancelled>(sleep_forever().await.unwrap_err()) })
                    .await?
                    .unwrap();
                seen.lock().unwrap().push(err);
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        tg.cancel_with_reason("enough");
        Ok(())
    })
    .await?;
    let group_scope = group_scope.lock().unwrap().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    for err in seen.iter() {
        assert_cause(err, group_scope, Some("enough"), Some(&me));
    }
    Ok(())
}

async fn a_failing_task_cancels_its_group_with_a_reason() -> Result<(), BoxError> {
    let seen = Arc::new(Mutex::new(None));
    let failed_task = Arc::new(Mutex::new(None));
    let (seen2, failed2) = (seen.clone(), failed_task.clone());
    let group_scope = Arc::new(Mutex::new(None));
    let group_scope2 = group_scope.clone();
    let err = task_group(|tg: TaskGroup| async move {
        *group_scope2.lock().unwrap() = Some(tg.cancel_scope().id());
        tg.start_soon(async move {
            *seen2.lock().unwrap() = Some(sleep_forever().await.unwrap_err());
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        tg.start_soon(async move {
            *failed2.lock().unwrap() = get_current_task();
            Err("boom".into())
        })?;
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.errors().len(), 1);
    let group_scope = group_scope.lock().unwrap().unwrap();
    let failed = failed_task.lock().unwrap().take().unwrap();
    let cancelled = seen.lock().unwrap().take().unwrap();
    assert_cause(
        &cancelled,
        group_scope,
        Some("a task in the task group failed"),
        Some(&failed),
    );
    Ok(())
}

async fn a_panicking_task_cancels_its_group_with_a_reason() -> Result<(), BoxError> {
    let seen = Arc::new(Mutex::new(None));
    let panicked_task = Arc::new(Mutex::new(None));
    let (seen2, panicked2) = (seen.clone(), panicked_task.clone());
    let group = task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            *seen2.lock().unwrap() = Some(sleep_forever().await.unwrap_err());
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        tg.start_soon(async move {
            *panicked2.lock().unwrap() = get_current_task();
            panic!("the task panics on purpose");
        })?;
        Ok(())
    });
    let out = futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(group)).await;
    assert!(out.is_err(), "the panic is resumed in the group's host");
    let panicked = panicked_task.lock().unwrap().take().unwrap();
    let cancelled = seen.lock().unwrap().take().unwrap();
    assert_eq!(
        cancelled.reason(),
        Some("a task in the task group panicked")
    );
    assert_eq!(cancelled.task_id(), Some(panicked.id()));
    Ok(())
}

async fn a_deadline_reads_deadline_exceeded() -> Result<(), BoxError> {
    // A scope with a handle: its identity is known.
    let scope = CancelScope::with_timeout(Duration::from_millis(5));
    let err = scope
        .run(async { Ok::<_, Cancelled>(sleep(LONG).await.unwrap_err()) })
        .await?
        .unwrap();
    assert_cause(&err, scope.id(), Some("deadline exceeded"), None);
    assert_eq!(
        err.to_string(),
        format!(
            "cancelled via cancel scope {:x}; reason: deadline exceeded",
            scope.id()
        )
    );
    // The private scope of a timeout, its deadline passing while it waits...
    let err = move_on_after(Duration::from_millis(5), async {
        Ok::<_, Cancelled>(sleep(LONG).await.unwrap_err())
    })
    .await?
    .unwrap();
    assert_eq!(err.reason(), Some("deadline exceeded"));
    assert_eq!(err.task_id(), None);
    assert!(err.scope_id().is_some());
    // ...and already past on entry.
    let err = move_on_after(Duration::ZERO, async {
        Ok::<_, Cancelled>(checkpoint().await.unwrap_err())
    })
    .await?
    .unwrap();
    assert_eq!(err.reason(), Some("deadline exceeded"));
    assert_eq!(err.task_name(), None);
    Ok(())
}

async fn fail_after_puts_its_reason_in_the_timeout_error() -> Result<(), BoxError> {
    let inside = Arc::new(Mutex::new(None));
    let inside2 = inside.clone();
    let err: BoxError = fail_after(Duration::from_millis(5), async move {
        let c = sleep(LONG).await.unwrap_err();
        *inside2.lock().unwrap() = Some(c.clone());
        Err::<(), BoxError>(c.into())
    })
    .with_reason("the server did not reply")
    .await
    .unwrap_err();
    let timeout = err.downcast_ref::<TimeoutError>().expect("a TimeoutError");
    assert_eq!(timeout.reason(), Some("the server did not reply"));
    assert_eq!(err.to_string(), "the server did not reply");
    // The code inside saw the deadline, not the timeout's reason (as AnyIO).
    let c = inside.lock().unwrap().take().unwrap();
    assert_eq!(c.reason(), Some("deadline exceeded"));
    // Without a reason, the message is the default one.
    let err: BoxError = fail_after(Duration::from_millis(5), async {
        sleep(LONG).await?;
        Ok::<_, BoxError>(())
    })
    .await
    .unwrap_err();
    let timeout = err.downcast_ref::<TimeoutError>().expect("a TimeoutError");
    assert_eq!(timeout.reason(), None);
    assert_eq!(err.to_string(), "deadline exceeded");
    assert_eq!(TimeoutError::new().to_string(), "deadline exceeded");
    assert_eq!(TimeoutError::with_reason("x"), TimeoutError::new());
    Ok(())
}

async fn the_first_cancel_wins() -> Result<(), BoxError> {
    let scope = CancelScope::with_timeout(Duration::from_millis(5));
    let handle = scope.clone();
    let err = scope
        .run(async move {
            handle.cancel_with_reason("first");
            handle.cancel_with_reason("second");
            handle.cancel();
            // The deadline passes too, and changes nothing.
            let first = sleep(Duration::from_millis(10)).await.unwrap_err();
            assert_eq!(first.reason(), Some("first"));
            Ok::<_, Cancelled>(checkpoint().await.unwrap_err())
        })
        .await?
        .unwrap();
    assert_eq!(err.reason(), Some("first"));
    // A plain cancel first: no reason, and a later reason does not add one.
    let scope = CancelScope::new();
    let handle = scope.clone();
    let err = scope
        .run(async move {
            handle.cancel();
            handle.cancel_with_reason(String::from("too late"));
            Ok::<_, Cancelled>(checkpoint().await.unwrap_err())
        })
        .await?
        .unwrap();
    assert_eq!(err.reason(), None);
    assert_eq!(err.scope_id(), Some(scope.id()));
    let me = me();
    assert_eq!(
        err.to_string(),
        format!(
            "cancelled via cancel scope {:x} by task {} {:?}",
            scope.id(),
            me.id(),
            me.name()
        )
    );
    Ok(())
}

async fn a_shield_hides_the_cause_until_it_is_cleared() -> Result<(), BoxError> {
    let outer = CancelScope::new();
    let outer_handle = outer.clone();
    let outer_id = outer.id();
    outer
        .run(async move {
            let shield = CancelScope::new().shielded(true);
            let shield_handle = shield.clone();
            shield
                .run(async move {
                    // Linked first, so the cancellation is pushed down to the shield.
                    checkpoint().await?;
                    outer_handle.cancel_with_reason("outer");
                    checkpoint().await?;
                    assert!(!has_pending_cancellation());
                    // A nested scope not linked yet sees the shield too.
                    CancelScope::new().run(checkpoint()).await?;
                    shield_handle.set_shield(false);
                    assert!(has_pending_cancellation());
                    let err = checkpoint().await.unwrap_err();
                    assert_eq!(err.scope_id(), Some(outer_id));
                    assert_eq!(err.reason(), Some("outer"));
                    // Raised again: hidden again.
                    shield_handle.set_shield(true);
                    checkpoint().await?;
                    shield_handle.set_shield(false);
                    Err::<(), _>(checkpoint().await.unwrap_err())
                })
                .await
        })
        .await?;
    Ok(())
}

async fn a_cancel_from_a_plain_thread_names_no_task() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let err = scope
        .run(async move {
            std::thread::spawn(move || handle.cancel_with_reason("from a thread"))
                .join()
                .unwrap();
            Ok::<_, Cancelled>(checkpoint().await.unwrap_err())
        })
        .await?
        .unwrap();
    assert_cause(&err, scope.id(), Some("from a thread"), None);
    assert_eq!(
        err.to_string(),
        format!(
            "cancelled via cancel scope {:x}; reason: from a thread",
            scope.id()
        )
    );
    Ok(())
}

async fn a_task_group_error_and_a_start_error_carry_the_cause() -> Result<(), BoxError> {
    let outer = CancelScope::new();
    let handle = outer.clone();
    let outer_id = outer.id();
    outer
        .run(async move {
            handle.cancel_with_reason("leaving");
            let err = task_group(|tg: TaskGroup| async move {
                let started = tg
                    .start(|_status: anyio::TaskStatus<()>| async { Ok(()) })
                    .await;
                match started {
                    Err(anyio::StartError::Cancelled(c)) => {
                        assert_eq!(c.scope_id(), Some(outer_id));
                        assert_eq!(c.reason(), Some("leaving"));
                    }
                    other => panic!("start ended with {other:?}"),
                }
                checkpoint().await?;
                Ok(())
            })
            .await
            .unwrap_err();
            let c = err.cancellation().expect("a cancellation").clone();
            assert_eq!(c.reason(), Some("leaving"));
            assert_eq!(
                err.to_string(),
                format!("task group {c}"),
                "the group's message carries the cause"
            );
            Err::<(), _>(c)
        })
        .await?;
    Ok(())
}

async fn the_current_task_knows_its_pending_cancellation() -> Result<(), BoxError> {
    assert!(!has_pending_cancellation());
    assert!(!me().has_pending_cancellation());
    let scope = CancelScope::new();
    let handle = scope.clone();
    scope
        .run(async move {
            assert!(!has_pending_cancellation());
            handle.cancel();
            assert!(has_pending_cancellation());
            assert!(me().has_pending_cancellation());
            checkpoint().await
        })
        .await?;
    assert!(!has_pending_cancellation());
    assert!(!me().has_pending_cancellation());
    Ok(())
}

/// The other task is blocked in a call to a thread, which a cancellation does not
/// interrupt, so it stays put while its state is read.
async fn another_task_has_a_pending_cancellation_once_its_scope_is_cancelled()
-> Result<(), BoxError> {
    for shielded in [false, true] {
        let info = Arc::new(Mutex::new(None));
        let (info2, info3) = (info.clone(), info.clone());
        let (release, released) = mpsc::channel::<()>();
        let shield = CancelScope::new().shielded(shielded);
        let shield_handle = shield.clone();
        task_group(|tg: TaskGroup| async move {
            tg.start_soon(async move {
                *info2.lock().unwrap() = get_current_task();
                shield
                    .run(async move {
                        to_thread::run_sync(move || released.recv()).await??;
                        Ok::<_, BoxError>(())
                    })
                    .await?;
                checkpoint().await?;
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            let other = info3.lock().unwrap().clone().expect("the task has started");
            assert!(!other.has_pending_cancellation());
            tg.cancel_with_reason("stop");
            assert_eq!(other.has_pending_cancellation(), !shielded);
            if shielded {
                shield_handle.set_shield(false);
                assert!(other.has_pending_cancellation());
            }
            // The body, in the cancelled group too.
            assert!(has_pending_cancellation());
            release.send(())?;
            Ok(())
        })
        .await?;
        let other = info.lock().unwrap().take().unwrap();
        assert!(
            !other.has_pending_cancellation(),
            "a finished task has none"
        );
    }
    Ok(())
}

#[anyio::test]
async fn cancelled_without_a_cause_reads_as_before() -> Result<(), BoxError> {
    let c = Cancelled::new();
    assert_eq!(c.to_string(), "cancelled by a cancel scope");
    assert_eq!(c.reason(), None);
    assert_eq!(c.scope_id(), None);
    assert_eq!(c.task_id(), None);
    assert_eq!(c.task_name(), None);
    assert_eq!(c, Cancelled::default());
    // Cheap to pass around: one pointer, also inside a `Result`.
    assert_eq!(
        std::mem::size_of::<Result<(), Cancelled>>(),
        std::mem::size_of::<usize>()
    );
    // Scopes have distinct identities.
    assert_ne!(CancelScope::new().id(), CancelScope::new().id());
    Ok(())
}
