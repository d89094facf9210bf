//! Cancel scopes: AnyIO's rules 1–7, on every backend.

use std::io;
use std::time::{Duration, Instant};

use anyio::{
    BoxError, CancelScope, Cancelled, EffectiveDeadline, IsCancelled, TaskGroup, TimeoutError,
    checkpoint, current_effective_deadline, current_time, sleep,
};

const LONG: Duration = Duration::from_secs(30);

#[anyio::test]
async fn cancellation_is_level_triggered_until_the_scope_exits() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(async move {
            handle.cancel();
            let mut failures = 0;
            for _ in 0..3 {
                if checkpoint().await == Err(Cancelled::new()) {
                    failures += 1;
                }
            }
            assert_eq!(failures, 3);
            assert_eq!(sleep(LONG).await, Err(Cancelled::new()));
            checkpoint().await?;
            Ok::<_, Cancelled>("not reached")
        })
        .await?;
    assert_eq!(out, None);
    assert!(scope.cancel_called());
    assert!(scope.cancelled_caught());
    // Outside the scope, checkpoints succeed again.
    checkpoint().await?;
    Ok(())
}

#[anyio::test]
async fn cancel_before_entry_takes_effect_on_entry() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    scope.cancel();
    let out = scope.run(async { sleep(LONG).await }).await?;
    assert_eq!(out, None);
    assert!(scope.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn a_scope_that_is_not_cancelled_returns_the_value() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let out = scope
        .run(async {
            checkpoint().await?;
            Ok::<_, Cancelled>(5)
        })
        .await?;
    assert_eq!(out, Some(5));
    assert!(!scope.cancel_called());
    assert!(!scope.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn cancel_from_another_task_wakes_a_blocked_sleeper() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let started = current_time();
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            sleep(Duration::from_millis(20)).await?;
            handle.cancel();
            Ok(())
        })?;
        let out = scope.run(sleep(LONG)).await?;
        assert_eq!(out, None);
        Ok(())
    })
    .await?;
    assert!(started.elapsed() < Duration::from_secs(10));
    Ok(())
}

#[anyio::test]
async fn cancellation_reaches_tasks_of_groups_inside_the_scope() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(anyio::task_group(|tg: TaskGroup| async move {
            for _ in 0..4 {
                tg.start_soon(async {
                    sleep(LONG).await?;
                    Ok(())
                })?;
            }
            anyio::wait_all_tasks_blocked().await?;
            handle.cancel();
            Ok(())
        }))
        .await?;
    // The group reported a cancellation it did not cause; the scope that caused it caught it.
    assert_eq!(out, None);
    assert!(scope.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn a_shield_blocks_an_outer_cancellation_so_cleanup_can_await() -> Result<(), BoxError> {
    let outer = CancelScope::new();
    let handle = outer.clone();
    let out = outer
        .run(async move {
            handle.cancel();
            assert_eq!(checkpoint().await, Err(Cancelled::new()));
            let shielded = CancelScope::new().shielded(true);
            let cleanup = shielded
                .run(async {
                    sleep(Duration::from_millis(5)).await?;
                    checkpoint().await?;
                    Ok::<_, Cancelled>("cleaned up")
                })
                .await?;
            assert_eq!(cleanup, Some("cleaned up"));
            // Back outside the shield, the outer cancellation applies again.
            checkpoint().await?;
            Ok::<_, Cancelled>(())
        })
        .await?;
    assert_eq!(out, None);
    assert!(outer.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn a_shield_does_not_block_its_own_cancel() -> Result<(), BoxError> {
    let scope = CancelScope::new().shielded(true);
    let handle = scope.clone();
    let out = scope
        .run(async move {
            handle.cancel();
            checkpoint().await
        })
        .await?;
    assert_eq!(out, None);
    assert!(scope.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn a_shield_does_not_block_its_own_deadline() -> Result<(), BoxError> {
    let scope = CancelScope::with_timeout(Duration::from_millis(10)).shielded(true);
    let out = scope.run(sleep(LONG)).await?;
    assert_eq!(out, None);
    assert!(scope.cancelled_caught());
    assert!(scope.timed_out());
    Ok(())
}

#[anyio::test]
async fn clearing_the_shield_redelivers_a_pending_outer_cancellation() -> Result<(), BoxError> {
    let outer = CancelScope::new();
    let outer_handle = outer.clone();
    let inner = CancelScope::new().shielded(true);
    let inner_handle = inner.clone();
    let inner_run = inner.clone();
    let out = outer
        .run(async move {
            outer_handle.cancel();
            inner_run
                .run(async move {
                    checkpoint().await?;
                    inner_handle.set_shield(false);
                    assert!(!inner_handle.shield());
                    checkpoint().await?;
                    Ok::<_, Cancelled>(())
                })
                .await
        })
        .await?;
    assert_eq!(out, None);
    // The inner scope was not cancelled itself, so the outer one caught the cancellation.
    assert!(!inner.cancelled_caught());
    assert!(outer.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn setting_the_shield_while_cancelled_stops_the_cancellation() -> Result<(), BoxError> {
    let outer = CancelScope::new();
    let outer_handle = outer.clone();
    let inner = CancelScope::new();
    let inner_handle = inner.clone();
    let inner_run = inner.clone();
    outer
        .run(async move {
            inner_run
                .run(async move {
                    outer_handle.cancel();
                    assert_eq!(checkpoint().await, Err(Cancelled::new()));
                    inner_handle.set_shield(true);
                    checkpoint().await?;
                    sleep(Duration::from_millis(1)).await?;
                    Ok::<_, Cancelled>(())
                })
                .await?;
            // Outside the shielded scope the outer cancellation is delivered again.
            checkpoint().await
        })
        .await?;
    assert!(outer.cancelled_caught());
    assert!(!inner.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn the_outermost_visible_cancelled_scope_catches() -> Result<(), BoxError> {
    let outer = CancelScope::new();
    let inner = CancelScope::new();
    let (o, i) = (outer.clone(), inner.clone());
    let inner_run = inner.clone();
    let out = outer
        .run(async move {
            let r = inner_run
                .run(async move {
                    i.cancel();
                    o.cancel();
                    checkpoint().await
                })
                .await;
            // The inner scope lets the cancellation through to the outer one.
            assert_eq!(r, Err(Cancelled::new()));
            r
        })
        .await?;
    assert_eq!(out, None);
    assert!(!inner.cancelled_caught());
    assert!(outer.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn a_shielded_cancelled_scope_catches_even_inside_a_cancelled_one() -> Result<(), BoxError> {
    let outer = CancelScope::new();
    let inner = CancelScope::new().shielded(true);
    let (o, i) = (outer.clone(), inner.clone());
    let inner_run = inner.clone();
    outer
        .run(async move {
            o.cancel();
            let r = inner_run
                .run(async move {
                    i.cancel();
                    checkpoint().await
                })
                .await?;
            assert_eq!(r, None);
            checkpoint().await
        })
        .await?;
    assert!(inner.cancelled_caught());
    assert!(outer.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn a_cancellation_from_an_outer_scope_passes_through_an_inner_one() -> Result<(), BoxError> {
    let outer = CancelScope::new();
    let o = outer.clone();
    let inner = CancelScope::new();
    let i = inner.clone();
    outer
        .run(async move {
            let r = i.run(async move {
                o.cancel();
                checkpoint().await
            });
            let r = r.await;
            assert_eq!(r, Err(Cancelled::new()));
            r
        })
        .await?;
    assert!(!inner.cancelled_caught());
    assert!(outer.cancelled_caught());
    Ok(())
}

#[anyio::test(virtual_clock)]
async fn move_on_after_moves_on_at_the_deadline() -> Result<(), BoxError> {
    let started = current_time();
    let out = anyio::move_on_after(Duration::from_millis(30), sleep(LONG)).await?;
    assert_eq!(out, None);
    assert_eq!(current_time() - started, Duration::from_millis(30));
    Ok(())
}

#[anyio::test]
async fn move_on_after_returns_the_value_of_a_fast_body() -> Result<(), BoxError> {
    let out = anyio::move_on_after(Duration::from_secs(10), async {
        sleep(Duration::from_millis(1)).await?;
        Ok::<_, Cancelled>("done")
    })
    .await?;
    assert_eq!(out, Some("done"));
    Ok(())
}

#[anyio::test]
async fn a_deadline_in_the_past_cancels_at_the_first_checkpoint() -> Result<(), BoxError> {
    let past = current_time() - Duration::from_millis(1);
    let scope = CancelScope::with_deadline(past);
    let out = scope.run(checkpoint()).await?;
    assert_eq!(out, None);
    assert!(scope.cancel_called());
    assert!(scope.timed_out());
    let out = anyio::move_on_at(past, async {
        sleep(LONG).await?;
        Ok::<_, Cancelled>(())
    })
    .await?;
    assert_eq!(out, None);
    Ok(())
}

#[anyio::test]
async fn a_deadline_too_far_for_the_clock_means_no_deadline() -> Result<(), BoxError> {
    let scope = CancelScope::with_timeout(Duration::MAX);
    assert_eq!(scope.deadline(), None);
    let out = scope.run(checkpoint()).await?;
    assert_eq!(out, Some(()));
    let out = anyio::fail_after(Duration::MAX, async { Ok::<_, BoxError>(1) }).await?;
    assert_eq!(out, 1);
    Ok(())
}

#[anyio::test(virtual_clock)]
async fn moving_the_deadline_later_rearms_it() -> Result<(), BoxError> {
    let started = current_time();
    let scope = CancelScope::with_timeout(Duration::from_millis(20));
    let handle = scope.clone();
    let out = scope
        .run(async move {
            handle.set_deadline(Some(current_time() + Duration::from_millis(150)));
            sleep(Duration::from_millis(60)).await?;
            Ok::<_, Cancelled>("survived the first deadline")
        })
        .await?;
    assert_eq!(out, Some("survived the first deadline"));
    assert_eq!(current_time() - started, Duration::from_millis(60));
    Ok(())
}

#[anyio::test(virtual_clock)]
async fn moving_the_deadline_earlier_while_waiting_rearms_it() -> Result<(), BoxError> {
    let scope = CancelScope::with_timeout(LONG);
    let handle = scope.clone();
    let started = current_time();
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            sleep(Duration::from_millis(10)).await?;
            handle.set_deadline(Some(current_time() + Duration::from_millis(20)));
            Ok(())
        })?;
        assert_eq!(scope.run(sleep(LONG)).await?, None);
        assert!(scope.timed_out());
        Ok(())
    })
    .await?;
    assert_eq!(current_time() - started, Duration::from_millis(30));
    Ok(())
}

#[anyio::test(virtual_clock)]
async fn clearing_the_deadline_disarms_it() -> Result<(), BoxError> {
    let started = current_time();
    let scope = CancelScope::with_timeout(Duration::from_millis(10));
    let handle = scope.clone();
    let out = scope
        .run(async move {
            handle.set_deadline(None);
            sleep(Duration::from_millis(40)).await?;
            Ok::<_, Cancelled>(1)
        })
        .await?;
    assert_eq!(out, Some(1));
    assert!(!scope.cancel_called());
    assert_eq!(current_time() - started, Duration::from_millis(40));
    Ok(())
}

#[anyio::test(virtual_clock)]
async fn fail_after_fails_with_a_timeout_error() -> Result<(), BoxError> {
    let started = current_time();
    let err = anyio::fail_after(Duration::from_millis(10), async {
        sleep(LONG).await?;
        Ok::<_, BoxError>(())
    })
    .await
    .unwrap_err();
    assert!(err.is::<TimeoutError>(), "{err}");
    assert!(!anyio::is_cancelled(&*err));
    assert_eq!(current_time() - started, Duration::from_millis(10));

    let io_err: io::Error = anyio::fail_at(current_time() + Duration::from_millis(10), async {
        sleep(LONG).await?;
        Ok::<_, io::Error>(())
    })
    .await
    .unwrap_err();
    assert_eq!(io_err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(current_time() - started, Duration::from_millis(20));
    Ok(())
}

#[anyio::test]
async fn fail_after_returns_the_value_in_time() -> Result<(), BoxError> {
    let v = anyio::fail_after(Duration::from_secs(10), async {
        checkpoint().await?;
        Ok::<_, BoxError>(3)
    })
    .await?;
    assert_eq!(v, 3);
    Ok(())
}

#[anyio::test]
async fn fail_after_lets_an_outer_cancellation_through() -> Result<(), BoxError> {
    let outer = CancelScope::new();
    let o = outer.clone();
    let out = outer
        .run(async move {
            let r = anyio::fail_after(LONG, async move {
                o.cancel();
                sleep(LONG).await?;
                Ok::<_, BoxError>(())
            })
            .await;
            let err = r.unwrap_err();
            assert!(anyio::is_cancelled(&*err), "not a cancellation: {err}");
            assert!(!err.is::<TimeoutError>());
            Err::<(), _>(err)
        })
        .await?;
    assert_eq!(out, None);
    assert!(outer.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn a_manual_cancel_before_the_deadline_is_not_a_timeout() -> Result<(), BoxError> {
    let scope = CancelScope::with_timeout(LONG);
    let handle = scope.clone();
    let out = scope
        .run(async move {
            handle.cancel();
            checkpoint().await
        })
        .await?;
    assert_eq!(out, None);
    assert!(scope.cancelled_caught());
    assert!(!scope.timed_out());
    Ok(())
}

#[anyio::test]
async fn the_effective_deadline_is_the_earliest_up_to_a_shield() -> Result<(), BoxError> {
    assert_eq!(current_effective_deadline(), EffectiveDeadline::Unbounded);
    let now = current_time();
    let (d1, d2, d3) = (
        now + Duration::from_secs(100),
        now + Duration::from_secs(50),
        now + Duration::from_secs(200),
    );
    anyio::move_on_at(d1, async move {
        assert_eq!(current_effective_deadline(), EffectiveDeadline::At(d1));
        anyio::move_on_at(d2, async move {
            assert_eq!(current_effective_deadline(), EffectiveDeadline::At(d2));
            // A later deadline inside does not extend the earlier one outside.
            anyio::move_on_at(d3, async move {
                assert_eq!(current_effective_deadline(), EffectiveDeadline::At(d2));
                // A shield hides the deadlines outside it.
                CancelScope::with_deadline(d3)
                    .shielded(true)
                    .run(async move {
                        assert_eq!(current_effective_deadline(), EffectiveDeadline::At(d3));
                        CancelScope::new()
                            .shielded(true)
                            .run(async {
                                assert_eq!(
                                    current_effective_deadline(),
                                    EffectiveDeadline::Unbounded
                                );
                                Ok::<_, Cancelled>(())
                            })
                            .await
                    })
                    .await
            })
            .await
        })
        .await
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn the_effective_deadline_reports_an_existing_cancellation() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    scope
        .run(async move {
            handle.cancel();
            assert_eq!(
                current_effective_deadline(),
                EffectiveDeadline::AlreadyCancelled
            );
            let d = current_time() + Duration::from_secs(5);
            CancelScope::with_deadline(d)
                .shielded(true)
                .run(async move {
                    assert_eq!(current_effective_deadline(), EffectiveDeadline::At(d));
                    Ok::<_, Cancelled>(())
                })
                .await?;
            checkpoint().await
        })
        .await?;
    Ok(())
}

#[anyio::test]
async fn checkpoint_if_cancelled_fails_only_when_cancelled() -> Result<(), BoxError> {
    anyio::checkpoint_if_cancelled().await?;
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(async move {
            anyio::checkpoint_if_cancelled().await?;
            handle.cancel();
            assert_eq!(
                anyio::checkpoint_if_cancelled().await,
                Err(Cancelled::new())
            );
            anyio::checkpoint_if_cancelled().await
        })
        .await?;
    assert_eq!(out, None);
    Ok(())
}

#[anyio::test]
async fn a_cancel_shielded_checkpoint_never_fails() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(async move {
            handle.cancel();
            anyio::cancel_shielded_checkpoint().await;
            anyio::cancel_shielded_checkpoint().await;
            Ok::<_, Cancelled>("still here")
        })
        .await?;
    assert_eq!(out, Some("still here"));
    Ok(())
}

#[anyio::test]
async fn a_foreign_future_made_cancellable_is_dropped_on_cancel() -> Result<(), BoxError> {
    struct DropFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);
    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let foreign = async move {
        let _flag = flag;
        std::future::pending::<u32>().await
    };
    let out = anyio::move_on_after(Duration::from_millis(10), anyio::cancellable(foreign)).await?;
    assert_eq!(out, None);
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    let ready = anyio::cancellable(async { 7 }).await?;
    assert_eq!(ready, 7);
    Ok(())
}

#[anyio::test]
async fn one_test_recognises_cancellation_in_every_error_type() -> Result<(), BoxError> {
    let io_err: io::Error = Cancelled::new().into();
    assert!(anyio::is_cancelled(&io_err));
    assert_ne!(io_err.kind(), io::ErrorKind::Interrupted);
    assert!(!anyio::is_cancelled(&io::Error::from(
        io::ErrorKind::Interrupted
    )));
    let boxed: BoxError = Cancelled::new().into();
    assert!(boxed.is_cancelled());
    let boxed_io: BoxError = io::Error::from(Cancelled::new()).into();
    assert!(boxed_io.is_cancelled());
    let other: BoxError = "plain failure".into();
    assert!(!other.is_cancelled());
    assert!(!anyio::is_cancelled(&TimeoutError::new()));
    assert!(anyio::is_cancelled(&Cancelled::new()));
    Ok(())
}

#[anyio::test]
async fn a_scope_polled_in_a_select_can_be_dropped_midway() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    let waiting = scope.run(sleep(LONG));
    let raced = futures_lite::future::or(async { Some(waiting.await) }, async {
        sleep(Duration::from_millis(5)).await.ok();
        None
    })
    .await;
    assert!(raced.is_none());
    // Cancelling the abandoned scope later is harmless, and the enclosing code is unaffected.
    scope.cancel();
    checkpoint().await?;
    sleep(Duration::from_millis(1)).await?;
    Ok(())
}

#[anyio::test]
#[should_panic(expected = "single-use")]
async fn a_scope_cannot_be_entered_twice() {
    let scope = CancelScope::new();
    scope.run(checkpoint()).await.unwrap();
    let _ = scope.run(checkpoint()).await;
}

#[anyio::test]
async fn sleep_zero_is_a_checkpoint() -> Result<(), BoxError> {
    sleep(Duration::ZERO).await?;
    let scope = CancelScope::new();
    scope.cancel();
    assert_eq!(scope.run(sleep(Duration::ZERO)).await?, None);
    Ok(())
}

#[anyio::test]
async fn sleep_until_waits_for_the_instant() -> Result<(), BoxError> {
    let until = current_time() + Duration::from_millis(20);
    anyio::sleep_until(until).await?;
    assert!(current_time() >= until);
    // An instant in the past returns at once.
    anyio::sleep_until(current_time() - Duration::from_secs(1)).await?;
    Ok(())
}

#[anyio::test]
async fn sleep_forever_ends_only_by_cancellation() -> Result<(), BoxError> {
    let out = anyio::move_on_after(Duration::from_millis(10), anyio::sleep_forever()).await?;
    assert_eq!(out, None);
    Ok(())
}

#[anyio::test]
async fn current_time_is_monotonic() -> Result<(), BoxError> {
    let a = current_time();
    sleep(Duration::from_millis(2)).await?;
    let b = current_time();
    assert!(b > a);
    Ok(())
}

#[anyio::test]
async fn a_past_deadline_cancels_on_entry_even_without_waiting() -> Result<(), BoxError> {
    let past = current_time() - Duration::from_millis(1);
    let scope = CancelScope::with_deadline(past);
    assert_eq!(scope.run(anyio::checkpoint_if_cancelled()).await?, None);
    assert!(scope.cancelled_caught());
    let out = anyio::move_on_after(Duration::ZERO, anyio::checkpoint_if_cancelled()).await?;
    assert_eq!(out, None);
    let out = anyio::move_on_at(past, anyio::checkpoint_if_cancelled()).await?;
    assert_eq!(out, None);
    let err = anyio::fail_after(Duration::ZERO, async {
        anyio::checkpoint_if_cancelled().await?;
        Ok::<_, BoxError>(())
    })
    .await
    .unwrap_err();
    assert!(err.is::<TimeoutError>());
    let err = anyio::fail_at(past, async {
        anyio::checkpoint_if_cancelled().await?;
        Ok::<_, BoxError>(())
    })
    .await
    .unwrap_err();
    assert!(err.is::<TimeoutError>());
    Ok(())
}

#[anyio::test]
async fn a_timeout_reaches_scopes_and_tasks_nested_inside_it() -> Result<(), BoxError> {
    let inner = CancelScope::new();
    let inner_run = inner.clone();
    let out = anyio::move_on_after(Duration::from_millis(20), async move {
        inner_run
            .run(anyio::task_group(|tg: TaskGroup| async move {
                for _ in 0..3 {
                    tg.start_soon(async {
                        sleep(LONG).await?;
                        Ok(())
                    })?;
                }
                sleep(LONG).await?;
                Ok(())
            }))
            .await
    })
    .await?;
    assert_eq!(out, None);
    // The timeout caused the cancellation, so the inner scope let it through.
    assert!(!inner.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn nested_timeouts_the_earlier_one_wins() -> Result<(), BoxError> {
    let started = Instant::now();
    let out = anyio::move_on_after(LONG, async {
        let inner = anyio::move_on_after(Duration::from_millis(10), sleep(LONG)).await?;
        assert_eq!(inner, None);
        Ok::<_, Cancelled>("outer went on")
    })
    .await?;
    assert_eq!(out, Some("outer went on"));
    let out = anyio::move_on_after(Duration::from_millis(10), async {
        anyio::move_on_after(LONG, sleep(LONG)).await?;
        Ok::<_, Cancelled>("not reached")
    })
    .await?;
    assert_eq!(out, None);
    assert!(started.elapsed() < Duration::from_secs(10));
    Ok(())
}
