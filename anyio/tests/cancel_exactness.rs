//! trio's cancellation rules at every instant: a scope's state is exact whether or not its
//! body has waited yet, on every backend and runtime flavour. Each case runs twice: with
//! every scope fresh (its body has not waited) and after a wait in each body.

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use anyio::{
    BoxError, CancelScope, Cancelled, EffectiveDeadline, Event, StartError, TaskGroup, TaskStatus,
    cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled, current_effective_deadline,
    current_time, move_on_after, sleep, task_group,
};
use futures_lite::future::poll_once;

/// Waits once (so every scope around joins the tree) when `wait` is set.
async fn pause(wait: bool) {
    if wait {
        cancel_shielded_checkpoint().await;
    }
}

async fn outer_cancel_is_seen_inside_an_inner_scope() -> Result<(), BoxError> {
    for wait in [false, true] {
        let outer = CancelScope::new();
        let (o, inner) = (outer.clone(), CancelScope::new());
        let i = inner.clone();
        let reached = Arc::new(AtomicBool::new(false));
        let r = reached.clone();
        let out = outer
            .run(async move {
                pause(wait).await;
                let res = i
                    .run(async move {
                        pause(wait).await;
                        o.cancel();
                        assert_eq!(
                            current_effective_deadline(),
                            EffectiveDeadline::AlreadyCancelled
                        );
                        checkpoint_if_cancelled().await
                    })
                    .await;
                assert_eq!(
                    res,
                    Err(Cancelled::new()),
                    "the inner scope lets it through"
                );
                res?;
                r.store(true, SeqCst);
                Ok::<_, Cancelled>(())
            })
            .await;
        assert_eq!(out, Ok(None), "wait: {wait}");
        assert!(outer.cancelled_caught() && !inner.cancelled_caught());
        assert!(!reached.load(SeqCst));
    }
    Ok(())
}

async fn effective_deadline_is_already_cancelled_again_after_a_shield_ends() -> Result<(), BoxError>
{
    for wait in [false, true] {
        let far = current_time() + Duration::from_secs(3600);
        let outer = CancelScope::with_deadline(far);
        let o = outer.clone();
        let out = outer
            .run(async move {
                pause(wait).await;
                assert_eq!(current_effective_deadline(), EffectiveDeadline::At(far));
                o.cancel();
                assert_eq!(
                    current_effective_deadline(),
                    EffectiveDeadline::AlreadyCancelled
                );
                let shielded = CancelScope::new().shielded(true);
                let inside = shielded
                    .run(async move {
                        pause(wait).await;
                        assert_eq!(current_effective_deadline(), EffectiveDeadline::Unbounded);
                        checkpoint_if_cancelled().await
                    })
                    .await;
                assert_eq!(inside, Ok(Some(())));
                assert_eq!(
                    current_effective_deadline(),
                    EffectiveDeadline::AlreadyCancelled
                );
                checkpoint_if_cancelled().await
            })
            .await;
        assert_eq!(out, Ok(None), "wait: {wait}");
    }
    Ok(())
}

async fn the_outermost_cancelled_scope_catches_not_the_inner_one() -> Result<(), BoxError> {
    for wait in [false, true] {
        let (outer, middle, inner) = (CancelScope::new(), CancelScope::new(), CancelScope::new());
        let (o, m, i) = (outer.clone(), middle.clone(), inner.clone());
        let after_inner = Arc::new(AtomicBool::new(false));
        let a = after_inner.clone();
        let out = outer
            .run(async move {
                pause(wait).await;
                let res = m
                    .run(async move {
                        pause(wait).await;
                        let i2 = i.clone();
                        let res = i
                            .run(async move {
                                pause(wait).await;
                                i2.cancel();
                                assert_eq!(checkpoint_if_cancelled().await, Err(Cancelled::new()));
                                o.cancel();
                                checkpoint_if_cancelled().await
                            })
                            .await;
                        assert_eq!(res, Err(Cancelled::new()), "inner must not catch");
                        res?;
                        a.store(true, SeqCst);
                        Ok::<_, Cancelled>(())
                    })
                    .await;
                assert_eq!(res, Err(Cancelled::new()), "middle must not catch");
                res?;
                Ok::<_, Cancelled>(())
            })
            .await;
        assert_eq!(out, Ok(None), "wait: {wait}");
        assert!(outer.cancelled_caught());
        assert!(!middle.cancelled_caught() && !inner.cancelled_caught());
        assert!(inner.cancel_called() && !middle.cancel_called());
        assert!(!after_inner.load(SeqCst), "code after the inner scope ran");
    }
    Ok(())
}

async fn clearing_a_shield_redelivers_the_outer_cancellation() -> Result<(), BoxError> {
    for wait in [false, true] {
        let outer = CancelScope::new();
        let o = outer.clone();
        let out = outer
            .run(async move {
                o.cancel();
                let shielded = CancelScope::new().shielded(true);
                let s = shielded.clone();
                let res = shielded
                    .run(async move {
                        pause(wait).await;
                        assert_eq!(checkpoint_if_cancelled().await, Ok(()));
                        s.set_shield(false);
                        assert_eq!(
                            current_effective_deadline(),
                            EffectiveDeadline::AlreadyCancelled
                        );
                        checkpoint_if_cancelled().await
                    })
                    .await;
                assert_eq!(res, Err(Cancelled::new()));
                res
            })
            .await;
        assert_eq!(out, Ok(None), "wait: {wait}");
    }
    Ok(())
}

async fn cancel_from_inside_a_shield_reaches_the_code_after_it() -> Result<(), BoxError> {
    for wait in [false, true] {
        let (scope1, scope2) = (CancelScope::new(), CancelScope::new());
        let s1 = scope1.clone();
        let reached = Arc::new(AtomicBool::new(false));
        let r = reached.clone();
        let out = scope1
            .run(async move {
                pause(wait).await;
                scope2
                    .run(async move {
                        pause(wait).await;
                        let shielded = CancelScope::new().shielded(true);
                        let inner = shielded
                            .run(async move {
                                pause(wait).await;
                                s1.cancel();
                                checkpoint_if_cancelled().await
                            })
                            .await;
                        assert_eq!(inner, Ok(Some(())), "the shield hides the cancel");
                        let res = checkpoint_if_cancelled().await;
                        assert_eq!(res, Err(Cancelled::new()));
                        res?;
                        r.store(true, SeqCst);
                        Ok::<_, Cancelled>(())
                    })
                    .await
            })
            .await;
        assert_eq!(out, Ok(None), "wait: {wait}");
        assert!(!reached.load(SeqCst));
    }
    Ok(())
}

async fn a_task_sees_its_group_cancel_inside_a_fresh_scope() -> Result<(), BoxError> {
    for wait in [false, true] {
        let seen = Arc::new(AtomicBool::new(false));
        let s = seen.clone();
        let out = task_group(|tg: TaskGroup| async move {
            let tg2 = tg.clone();
            tg.start_soon(async move {
                let res = CancelScope::new()
                    .run(async move {
                        pause(wait).await;
                        tg2.cancel();
                        checkpoint_if_cancelled().await
                    })
                    .await;
                assert_eq!(res, Err(Cancelled::new()));
                s.store(true, SeqCst);
                res?;
                Ok(())
            })?;
            Ok(())
        })
        .await;
        assert!(matches!(out, Ok(Some(()))), "wait: {wait}: {out:?}");
        assert!(seen.load(SeqCst));
    }
    Ok(())
}

on_every_flavour!(
    outer_cancel_is_seen_inside_an_inner_scope,
    effective_deadline_is_already_cancelled_again_after_a_shield_ends,
    the_outermost_cancelled_scope_catches_not_the_inner_one,
    clearing_a_shield_redelivers_the_outer_cancellation,
    cancel_from_inside_a_shield_reaches_the_code_after_it,
    a_task_sees_its_group_cancel_inside_a_fresh_scope,
);

// ---------------------------------------------------------------------------------------
// Deadlines (trio's test_basic_timeout and test_yield_briefly_checks_for_timeout)

async fn a_deadline_passing_after_exit_does_not_cancel() -> Result<(), BoxError> {
    let scope = CancelScope::with_deadline(current_time() + Duration::from_millis(30));
    assert_eq!(
        scope.run(async { Ok::<_, Cancelled>(1) }).await,
        Ok(Some(1))
    );
    sleep(Duration::from_millis(60)).await?;
    assert!(
        !scope.cancel_called(),
        "the deadline passed after the scope exited"
    );
    // Moving the deadline into the past after exit cancels nothing either.
    scope.set_deadline(Some(current_time()));
    assert!(!scope.cancel_called());
    assert!(!scope.cancelled_caught());
    Ok(())
}

async fn a_past_deadline_set_before_entry_cancels_on_entry() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    scope.set_deadline(Some(current_time()));
    assert!(!scope.cancel_called(), "not entered yet");
    let out = scope.run(checkpoint()).await;
    assert_eq!(out, Ok(None));
    assert!(scope.cancel_called() && scope.cancelled_caught());
    Ok(())
}

async fn a_deadline_that_passed_while_busy_is_seen_by_the_next_checkpoint() -> Result<(), BoxError>
{
    let reached = Arc::new(AtomicBool::new(false));
    let r = reached.clone();
    let scope = CancelScope::with_deadline(current_time() + Duration::from_millis(30));
    let out = scope
        .run(async move {
            checkpoint().await?;
            // Busy, without a checkpoint, past the deadline.
            std::thread::sleep(Duration::from_millis(80));
            checkpoint().await?;
            r.store(true, SeqCst);
            Ok::<_, Cancelled>(())
        })
        .await;
    assert_eq!(out, Ok(None));
    assert!(scope.cancel_called() && scope.timed_out());
    assert!(!reached.load(SeqCst));

    // The same with move_on_after's private scope.
    let reached = Arc::new(AtomicBool::new(false));
    let r = reached.clone();
    let out = move_on_after(Duration::from_millis(30), async move {
        checkpoint().await?;
        std::thread::sleep(Duration::from_millis(80));
        checkpoint().await?;
        r.store(true, SeqCst);
        Ok::<_, Cancelled>(())
    })
    .await;
    assert_eq!(out, Ok(None));
    assert!(!reached.load(SeqCst));
    Ok(())
}

on_every_flavour!(
    a_deadline_passing_after_exit_does_not_cancel,
    a_past_deadline_set_before_entry_cancels_on_entry,
    a_deadline_that_passed_while_busy_is_seen_by_the_next_checkpoint,
);

// ---------------------------------------------------------------------------------------
// start() inside a cancelled scope (trio's rule)

async fn start_in_a_cancelled_scope_returns_the_tasks_error_not_to_the_group()
-> Result<(), BoxError> {
    let after_start = Arc::new(AtomicUsize::new(0));
    let a = after_start.clone();
    let out = task_group(|tg: TaskGroup| async move {
        let scope = CancelScope::new();
        scope.cancel();
        let res = scope
            .run(tg.start(|status: TaskStatus<u32>| async move {
                status.started(5);
                a.fetch_add(1, SeqCst);
                Err::<(), BoxError>("boom".into())
            }))
            .await;
        match res {
            Err(StartError::Failed(e)) => assert_eq!(e.to_string(), "boom"),
            other => panic!("start returned {other:?}"),
        }
        assert!(
            !tg.cancel_scope().cancel_called(),
            "the group saw the failure"
        );
        Ok(())
    })
    .await;
    assert!(matches!(out, Ok(Some(()))), "{out:?}");
    assert_eq!(after_start.load(SeqCst), 1);
    Ok(())
}

async fn start_in_a_cancelled_scope_keeps_the_task_in_that_scope() -> Result<(), BoxError> {
    let reached = Arc::new(AtomicBool::new(false));
    let r = reached.clone();
    let out = task_group(|tg: TaskGroup| async move {
        let scope = CancelScope::new();
        scope.cancel();
        let res = scope
            .run(async {
                let res = tg
                    .start(|status: TaskStatus<u32>| async move {
                        status.started(5);
                        // Still in the caller's cancelled scope.
                        checkpoint().await?;
                        r.store(true, SeqCst);
                        Ok(())
                    })
                    .await;
                match &res {
                    Err(StartError::Failed(e)) => assert!(anyio::is_cancelled(&**e)),
                    other => panic!("start returned {other:?}"),
                }
                res
            })
            .await;
        assert!(matches!(res, Ok(None)), "the scope catches: {res:?}");
        assert!(!tg.cancel_scope().cancel_called());
        Ok(())
    })
    .await;
    assert!(matches!(out, Ok(Some(()))), "{out:?}");
    assert!(!reached.load(SeqCst), "the task left the cancelled scope");
    Ok(())
}

async fn start_in_a_cancelled_scope_reports_the_cancellation() -> Result<(), BoxError> {
    let out = task_group(|tg: TaskGroup| async move {
        for calls_started in [true, false] {
            let scope = CancelScope::new();
            scope.cancel();
            let tg2 = tg.clone();
            let res = scope
                .run(async move {
                    let res = tg2
                        .start(move |status: TaskStatus<u32>| async move {
                            if calls_started {
                                status.started(5);
                            }
                            Ok(())
                        })
                        .await;
                    assert!(matches!(res, Err(StartError::Cancelled(_))), "{res:?}");
                    res
                })
                .await;
            assert!(matches!(res, Ok(None)), "{res:?}");
        }
        Ok(())
    })
    .await;
    assert!(matches!(out, Ok(Some(()))), "{out:?}");
    Ok(())
}

on_every_flavour!(
    start_in_a_cancelled_scope_returns_the_tasks_error_not_to_the_group,
    start_in_a_cancelled_scope_keeps_the_task_in_that_scope,
    start_in_a_cancelled_scope_reports_the_cancellation,
);

// ---------------------------------------------------------------------------------------
// A dropped group stops its tasks at every depth

async fn a_dropped_group_stops_tasks_at_every_depth() -> Result<(), BoxError> {
    let event = Arc::new(Event::new());
    let ran_past = Arc::new(AtomicUsize::new(0));
    let (e, r) = (event.clone(), ran_past.clone());
    let group = task_group(|tg: TaskGroup| async move {
        // child -> nested group -> grandchild -> nested group -> great-grandchild
        tg.start_soon(async move {
            task_group(|tg2: TaskGroup| async move {
                let (e2, r2) = (e.clone(), r.clone());
                tg2.start_soon(async move {
                    task_group(|tg3: TaskGroup| async move {
                        let (e3, r3) = (e2.clone(), r2.clone());
                        tg3.start_soon(async move {
                            let _ = e3.wait().await;
                            r3.fetch_add(1, SeqCst);
                            Ok(())
                        })?;
                        let _ = e2.wait().await;
                        r2.fetch_add(1, SeqCst);
                        Ok(())
                    })
                    .await?;
                    Ok(())
                })?;
                let _ = e.wait().await;
                r.fetch_add(1, SeqCst);
                Ok(())
            })
            .await?;
            Ok(())
        })?;
        anyio::sleep_forever().await?;
        Ok(())
    });
    let mut group = Box::pin(group);
    while event.statistics().tasks_waiting < 3 {
        assert!(poll_once(group.as_mut()).await.is_none());
        sleep(Duration::from_millis(1)).await?;
    }
    drop(group);
    event.set();
    // Give any task that would wrongly run on plenty of time to do so.
    for _ in 0..20 {
        checkpoint().await?;
        sleep(Duration::from_millis(2)).await?;
    }
    assert_eq!(ran_past.load(SeqCst), 0, "a task ran past its await");
    Ok(())
}

on_every_flavour!(a_dropped_group_stops_tasks_at_every_depth);
