//! The virtual clock: exact timer order, timeouts that take no real time, nested deadlines,
//! shields, manual control, the rate, and local I/O under autojump, on every backend and
//! flavour.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyio::{
    BoxError, CancelScope, Cancelled, EffectiveDeadline, Event, RunError, Runner, TimeoutError,
    VirtualClock, VirtualClockError, current_effective_deadline, current_time, fail_after,
    move_on_after, sleep, sleep_forever, wait_all_tasks_blocked,
};

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

const HOUR: Duration = Duration::from_secs(3600);
/// Only reached when a test hangs: the virtual clock itself is never checked against it.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Ten tasks sleep for shuffled durations: they wake one at a time, in deadline order, each
/// at exactly its deadline.
async fn timers_fire_in_exact_deadline_order() -> Result<(), BoxError> {
    let start = current_time();
    let log = Arc::new(Mutex::new(Vec::new()));
    let delays = [7u64, 2, 9, 4, 1, 10, 5, 3, 8, 6];
    anyio::task_group(|tg| {
        let log = log.clone();
        async move {
            for n in delays {
                let log = log.clone();
                tg.start_soon(async move {
                    sleep(secs(n)).await?;
                    log.lock().unwrap().push((n, current_time() - start));
                    Ok(())
                })?;
            }
            Ok(())
        }
    })
    .await?;
    let expected: Vec<(u64, Duration)> = (1..=10).map(|n| (n, secs(n))).collect();
    assert_eq!(*log.lock().unwrap(), expected);
    assert_eq!(current_time() - start, secs(10));
    Ok(())
}

/// Timers with the same deadline fire in the order they started waiting; with the clock
/// moving one deadline at a time, each group sees the same exact time.
async fn equal_deadlines_fire_together_at_the_same_time() -> Result<(), BoxError> {
    let start = current_time();
    let log = Arc::new(Mutex::new(Vec::new()));
    anyio::task_group(|tg| {
        let log = log.clone();
        async move {
            for (i, n) in [3u64, 1, 3, 1].into_iter().enumerate() {
                let log = log.clone();
                tg.start_soon(async move {
                    anyio::sleep_until(start + secs(n)).await?;
                    log.lock().unwrap().push((n, current_time() - start, i));
                    Ok(())
                })?;
            }
            Ok(())
        }
    })
    .await?;
    let mut log = log.lock().unwrap().clone();
    // Tasks woken together may run in either order on two workers: compare as sets, after
    // checking that every task of the first deadline ran before any of the second.
    assert_eq!(log.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 1, 3, 3]);
    log.sort();
    assert_eq!(
        log,
        [
            (1, secs(1), 1),
            (1, secs(1), 3),
            (3, secs(3), 0),
            (3, secs(3), 2)
        ]
    );
    Ok(())
}

/// `fail_after(1 h)` around `sleep_forever` fails with the timeout error at exactly one
/// virtual hour.
async fn fail_after_an_hour_fails_at_exactly_one_hour() -> Result<(), BoxError> {
    let real_start = Instant::now();
    let start = current_time();
    let err: BoxError = fail_after(HOUR, async {
        sleep_forever().await?;
        Ok::<_, BoxError>(())
    })
    .await
    .unwrap_err();
    let timeout = err.downcast::<TimeoutError>().expect("a timeout");
    assert_eq!(timeout.to_string(), "deadline exceeded");
    assert_eq!(current_time() - start, HOUR);
    assert!(real_start.elapsed() < HANG_GUARD);
    Ok(())
}

/// An inner deadline that comes first is caught by the inner scope, the outer one by the
/// outer scope, each at its exact time.
async fn nested_deadlines_cancel_the_right_scope() -> Result<(), BoxError> {
    let start = current_time();
    let outer = move_on_after(secs(10), async {
        let inner = move_on_after(secs(5), async {
            sleep(HOUR).await?;
            Ok::<_, Cancelled>("inner slept")
        })
        .await?;
        assert_eq!(inner, None);
        assert_eq!(current_time() - start, secs(5));
        sleep(HOUR).await?;
        Ok::<_, Cancelled>("outer slept")
    })
    .await?;
    assert_eq!(outer, None);
    assert_eq!(current_time() - start, secs(10));

    // The outer deadline first: the inner scope lets the cancellation through.
    let outer = move_on_after(secs(5), async {
        let inner = move_on_after(secs(10), async {
            sleep(HOUR).await?;
            Ok::<_, Cancelled>(())
        })
        .await;
        assert!(inner.is_err(), "the inner scope does not catch: {inner:?}");
        inner
    })
    .await?;
    assert_eq!(outer, None);
    assert_eq!(current_time() - start, secs(15));
    Ok(())
}

/// A shielded sleep outlasts the deadline around it; the deadline is delivered at the next
/// checkpoint after the shield, at the virtual time the sleep ended.
async fn a_shield_holds_a_virtual_deadline_off() -> Result<(), BoxError> {
    let start = current_time();
    let out = move_on_after(secs(1), async {
        let shielded = CancelScope::new().shielded(true);
        shielded
            .run(async {
                sleep(secs(5)).await?;
                Ok::<_, Cancelled>(())
            })
            .await?;
        assert_eq!(current_time() - start, secs(5));
        sleep(HOUR).await?;
        Ok::<_, Cancelled>(())
    })
    .await?;
    assert_eq!(out, None);
    assert_eq!(current_time() - start, secs(5));
    Ok(())
}

/// Deadlines computed from the clock are exact virtual instants.
async fn deadlines_are_read_from_the_virtual_clock() -> Result<(), BoxError> {
    let start = current_time();
    let scope = CancelScope::with_timeout(secs(30));
    assert_eq!(scope.deadline(), Some(start + secs(30)));
    scope
        .run(async {
            assert_eq!(
                current_effective_deadline(),
                EffectiveDeadline::At(start + secs(30))
            );
            sleep_forever().await
        })
        .await?;
    assert!(scope.timed_out());
    assert_eq!(current_time() - start, secs(30));
    Ok(())
}

/// `wait_all_tasks_blocked` returns before the clock jumps: a waiting task goes first.
async fn wait_all_tasks_blocked_goes_before_a_jump() -> Result<(), BoxError> {
    let start = current_time();
    anyio::task_group(|tg| async move {
        tg.start_soon(async move {
            sleep(secs(1)).await?;
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(current_time(), start);
        Ok(())
    })
    .await?;
    assert_eq!(current_time() - start, secs(1));
    Ok(())
}

/// With autojump off, only `advance` moves the clock; it wakes the timers that became due.
async fn advance_moves_the_clock_by_hand() -> Result<(), BoxError> {
    let clock = VirtualClock::current().expect("the test runs on a virtual clock");
    clock.set_autojump(None);
    let start = current_time();
    let woke = Arc::new(Mutex::new(None));
    let done = Arc::new(Event::new());
    anyio::task_group(|tg| {
        let (woke, done) = (woke.clone(), done.clone());
        async move {
            let (task_woke, task_done) = (woke.clone(), done.clone());
            tg.start_soon(async move {
                sleep(secs(10)).await?;
                *task_woke.lock().unwrap() = Some(current_time() - start);
                task_done.set();
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            clock.advance(secs(4))?;
            wait_all_tasks_blocked().await?;
            assert_eq!(*woke.lock().unwrap(), None);
            assert_eq!(current_time() - start, secs(4));
            assert_eq!(clock.now(), start + secs(4));
            clock.advance(secs(7))?;
            done.wait().await?;
            Ok(())
        }
    })
    .await?;
    assert_eq!(*woke.lock().unwrap(), Some(secs(11)));
    Ok(())
}

/// At a rate above 0 the clock runs by itself: a virtual second passes in a real
/// millisecond at rate 1000, with autojump off.
async fn a_rate_runs_the_clock_by_itself() -> Result<(), BoxError> {
    let clock = VirtualClock::current().expect("the test runs on a virtual clock");
    clock.set_autojump(None);
    clock.set_rate(1000.0)?;
    assert_eq!(clock.rate(), 1000.0);
    let real_start = Instant::now();
    let start = current_time();
    sleep(secs(2)).await?;
    assert!(current_time() - start >= secs(2));
    assert!(real_start.elapsed() < HANG_GUARD);
    clock.set_rate(0.0)?;
    let frozen = current_time();
    anyio::checkpoint().await?;
    assert_eq!(current_time(), frozen);
    Ok(())
}

/// With a real threshold, the clock waits for work outside the run's tasks (a thread, here)
/// that finishes within it: the deadline around the work does not fire.
async fn a_threshold_lets_outside_work_finish_first() -> Result<(), BoxError> {
    let clock = VirtualClock::current().expect("the test runs on a virtual clock");
    clock.set_autojump(Some(secs(10)));
    assert_eq!(clock.autojump_threshold(), Some(secs(10)));
    let start = current_time();
    let out = fail_after(HOUR, async {
        anyio::to_thread::run_sync(|| std::thread::sleep(Duration::from_millis(10))).await?;
        Ok::<_, BoxError>("the thread finished")
    })
    .await?;
    assert_eq!(out, "the thread finished");
    assert_eq!(current_time(), start);
    Ok(())
}

/// `advance` works from a thread outside the run, as from a task.
async fn advance_from_another_thread() -> Result<(), BoxError> {
    let clock = VirtualClock::current().expect("the test runs on a virtual clock");
    clock.set_autojump(None);
    let start = current_time();
    anyio::task_group(|tg| async move {
        tg.start_soon(async move {
            wait_all_tasks_blocked().await?;
            let clock = clock.clone();
            anyio::to_thread::run_sync(move || clock.advance(secs(90))).await??;
            Ok(())
        })?;
        sleep(secs(60)).await?;
        assert_eq!(current_time() - start, secs(90));
        Ok(())
    })
    .await?;
    Ok(())
}

/// The clock's driver is not a task of the run.
async fn the_driver_is_not_a_task() -> Result<(), BoxError> {
    let tasks = anyio::get_running_tasks();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].name(), "main");
    Ok(())
}

on_every_flavour!(
    virtual_clock: timers_fire_in_exact_deadline_order,
    equal_deadlines_fire_together_at_the_same_time,
    fail_after_an_hour_fails_at_exactly_one_hour,
    nested_deadlines_cancel_the_right_scope,
    a_shield_holds_a_virtual_deadline_off,
    deadlines_are_read_from_the_virtual_clock,
    wait_all_tasks_blocked_goes_before_a_jump,
    advance_moves_the_clock_by_hand,
    a_rate_runs_the_clock_by_itself,
    a_threshold_lets_outside_work_finish_first,
    advance_from_another_thread,
    the_driver_is_not_a_task,
);

#[cfg(unix)]
mod tcp {
    use super::*;
    use anyio::net::{SocketAttributes, SocketStream, TcpListenerOptions, connect_tcp};

    async fn pair() -> Result<(SocketStream, SocketStream), BoxError> {
        let multi = TcpListenerOptions::new()
            .local_host("127.0.0.1")
            .bind()
            .await?;
        let listener = multi.into_listeners().remove(0);
        let port = listener.local_port()?;
        let (client, server) =
            futures_lite::future::zip(connect_tcp("127.0.0.1", port), listener.accept()).await;
        Ok((client?, server?))
    }

    /// Receives exactly `n` bytes.
    async fn receive_exactly(stream: &SocketStream, n: usize) -> Result<Vec<u8>, BoxError> {
        let mut got = Vec::new();
        while got.len() < n {
            let chunk = stream.receive(n - got.len()).await?;
            assert!(!chunk.is_empty(), "the peer closed early");
            got.extend_from_slice(&chunk);
        }
        Ok(got)
    }

    /// One-way messages with a virtual second between them, under an hour's deadline that
    /// stays pending all along: each message is received at the exact virtual time it was
    /// sent, so the clock never jumps while bytes sent over loopback wait to be read.
    async fn a_tcp_exchange_follows_virtual_time() -> Result<(), BoxError> {
        let start = current_time();
        let (client, server) = pair().await?;
        let received = Arc::new(Mutex::new(Vec::new()));
        fail_after(HOUR, async {
            anyio::task_group(|tg| {
                let received = received.clone();
                async move {
                    tg.start_soon(async move {
                        for i in 0..5u8 {
                            let got = receive_exactly(&server, 4).await?;
                            assert_eq!(got, [i; 4]);
                            received.lock().unwrap().push(current_time() - start);
                            // A reply, read by the client before it sleeps.
                            server.send(&[i]).await?;
                        }
                        Ok(())
                    })?;
                    for i in 0..5u8 {
                        client.send(&[i; 4]).await?;
                        assert_eq!(receive_exactly(&client, 1).await?, [i]);
                        sleep(secs(1)).await?;
                    }
                    Ok(())
                }
            })
            .await?;
            Ok::<_, BoxError>(())
        })
        .await?;
        let expected: Vec<Duration> = (0..5).map(secs).collect();
        assert_eq!(*received.lock().unwrap(), expected);
        assert_eq!(current_time() - start, secs(5));
        Ok(())
    }

    /// Messages sent with no reply to wait for: the sender sleeps at once, so its timer is
    /// pending while the bytes are on their way; the receiver still sees each at the time
    /// it was sent.
    async fn one_way_messages_are_read_before_the_sender_wakes() -> Result<(), BoxError> {
        let start = current_time();
        let (client, server) = pair().await?;
        let received = Arc::new(Mutex::new(Vec::new()));
        anyio::task_group(|tg| {
            let received = received.clone();
            async move {
                tg.start_soon(async move {
                    for i in 0..5u8 {
                        let got = receive_exactly(&server, 4).await?;
                        assert_eq!(got, [i; 4]);
                        received.lock().unwrap().push(current_time() - start);
                    }
                    Ok(())
                })?;
                for i in 0..5u8 {
                    client.send(&[i; 4]).await?;
                    sleep(secs(1)).await?;
                }
                Ok(())
            }
        })
        .await?;
        let expected: Vec<Duration> = (0..5).map(secs).collect();
        assert_eq!(*received.lock().unwrap(), expected);
        Ok(())
    }

    on_every_flavour!(
        virtual_clock: a_tcp_exchange_follows_virtual_time,
        one_way_messages_are_read_before_the_sender_wakes,
    );
}

#[test]
fn invalid_rates_are_errors_and_leave_the_rate_alone() {
    let clock = VirtualClock::new();
    for rate in [-1.0, -0.0001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = clock.set_rate(rate).unwrap_err();
        assert!(matches!(err, VirtualClockError::InvalidRate(r) if r.to_bits() == rate.to_bits()));
        assert_eq!(
            err.to_string(),
            format!(
                "invalid virtual clock rate {rate}: it must be a finite number of virtual \
                 seconds per real second, 0 or more"
            )
        );
        assert_eq!(clock.rate(), 0.0);
    }
    clock.set_rate(2.5).unwrap();
    assert_eq!(clock.rate(), 2.5);
}

#[test]
fn advancing_past_the_end_of_instant_is_an_error() {
    let clock = VirtualClock::new();
    Runner::default()
        .virtual_clock(clock.clone())
        .run(async {
            let before = current_time();
            let err = clock.advance(Duration::MAX).unwrap_err();
            assert_eq!(err, VirtualClockError::Overflow);
            assert_eq!(
                err.to_string(),
                "the virtual clock cannot move past the end of `Instant`"
            );
            assert_eq!(current_time(), before);
        })
        .unwrap();
}

#[test]
fn a_clock_serves_one_run_at_a_time_and_keeps_its_time() {
    let clock = VirtualClock::new().autojump(Duration::ZERO);
    let first_end = Runner::new(anyio::Backend::Smol)
        .virtual_clock(clock.clone())
        .run(async {
            let other = std::thread::spawn({
                let clock = clock.clone();
                move || Runner::default().virtual_clock(clock).run(async {})
            })
            .join()
            .unwrap();
            let err = other.unwrap_err();
            assert!(matches!(err, RunError::InvalidOption(_)), "{err:?}");
            assert_eq!(
                err.to_string(),
                "invalid runner option: the virtual clock is in use by another run"
            );
            sleep(HOUR).await.unwrap();
            current_time()
        })
        .unwrap();
    assert_eq!(clock.now(), first_end);
    let second_start = Runner::default()
        .virtual_clock(clock.clone())
        .run(async { current_time() })
        .unwrap();
    assert_eq!(second_start, first_end);
}

#[test]
fn a_run_without_a_virtual_clock_has_none() {
    let none = anyio::run(async { VirtualClock::current().is_none() }).unwrap();
    assert!(none);
    assert!(VirtualClock::current().is_none());
}
