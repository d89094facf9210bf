//! Deadlines at the end of the clock: a deadline too far for the backend's timer means "no
//! deadline", on every backend and flavour, through every path that arms a timer (issue 12,
//! section 3). tokio's timer used to panic ("overflow when adding duration to instant") for
//! a deadline within a millisecond of the largest `Instant`.

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::time::{Duration, Instant};

use anyio::{
    BoxError, CancelScope, TimeoutError, current_time, fail_after, fail_at, move_on_after,
    move_on_at, sleep, sleep_until,
};

const SHORT: Duration = Duration::from_millis(20);

/// The largest `Instant` the platform can represent (found from now with `checked_add`).
fn last_instant() -> Instant {
    let now = Instant::now();
    let fits = |nanos: u128| {
        let d = Duration::new(
            (nanos / 1_000_000_000) as u64,
            (nanos % 1_000_000_000) as u32,
        );
        now.checked_add(d)
    };
    let (mut lo, mut hi) = (0u128, u128::from(u64::MAX) * 1_000_000_000 + 999_999_999);
    if let Some(last) = fits(hi) {
        return last;
    }
    // `fits(lo)` always holds, `fits(hi)` never does.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid).is_some() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    fits(lo).expect("checked")
}

/// The deadlines the tests use: the last `Instant`, and just before it.
fn far_deadlines() -> Vec<Instant> {
    let far = last_instant();
    vec![
        far,
        far - Duration::from_nanos(1),
        far - Duration::from_millis(1),
        far - Duration::from_secs(1),
    ]
}

/// A delay that, added to the current time, lands within a millisecond of the end.
fn far_delays() -> Vec<Duration> {
    let left = last_instant().duration_since(current_time());
    vec![
        Duration::MAX,
        left,
        left - Duration::from_micros(500),
        left - Duration::from_secs(1),
    ]
}

async fn sleep_until_a_far_deadline_waits_like_sleep_forever() -> Result<(), BoxError> {
    for deadline in far_deadlines() {
        let out = move_on_after(SHORT, sleep_until(deadline)).await?;
        assert_eq!(out, None, "{deadline:?}");
    }
    for delay in far_delays() {
        let out = move_on_after(SHORT, sleep(delay)).await?;
        assert_eq!(out, None, "{delay:?}");
    }
    Ok(())
}

async fn move_on_at_a_far_deadline_is_no_deadline() -> Result<(), BoxError> {
    for deadline in far_deadlines() {
        let out = move_on_at(deadline, sleep(SHORT)).await?;
        assert_eq!(out, Some(()), "{deadline:?}");
    }
    for delay in far_delays() {
        let out = move_on_after(delay, sleep(SHORT)).await?;
        assert_eq!(out, Some(()), "{delay:?}");
    }
    Ok(())
}

async fn fail_at_a_far_deadline_is_no_deadline() -> Result<(), BoxError> {
    for deadline in far_deadlines() {
        fail_at(deadline, async { Ok::<_, BoxError>(()) }).await?;
        fail_at(deadline, async {
            sleep(SHORT).await?;
            Ok::<_, BoxError>(())
        })
        .await?;
    }
    for delay in far_delays() {
        let out = fail_after(delay, async {
            sleep(SHORT).await?;
            Ok::<_, BoxError>(7)
        })
        .await;
        match out {
            Ok(7) => {}
            Ok(other) => panic!("unexpected value {other}"),
            Err(e) => {
                assert!(!e.is::<TimeoutError>(), "{delay:?} timed out");
                return Err(e);
            }
        }
    }
    Ok(())
}

async fn a_scope_with_a_far_deadline_is_not_cancelled() -> Result<(), BoxError> {
    for deadline in far_deadlines() {
        let scope = CancelScope::with_deadline(deadline);
        let out = scope.run(sleep(SHORT)).await?;
        assert_eq!(out, Some(()), "{deadline:?}");
        assert!(!scope.cancel_called());
        assert_eq!(scope.deadline(), Some(deadline));
    }
    Ok(())
}

async fn set_deadline_before_entry_to_a_far_deadline() -> Result<(), BoxError> {
    for deadline in far_deadlines() {
        let scope = CancelScope::new();
        scope.set_deadline(Some(deadline));
        let out = scope.run(sleep(SHORT)).await?;
        assert_eq!(out, Some(()), "{deadline:?}");
        assert!(!scope.cancel_called());
    }
    Ok(())
}

async fn set_deadline_while_running_to_a_far_deadline() -> Result<(), BoxError> {
    for deadline in far_deadlines() {
        // From no deadline: the timer is armed while the body waits.
        let scope = CancelScope::new();
        let handle = scope.clone();
        let out = scope
            .run(async move {
                sleep(Duration::from_millis(2)).await?;
                handle.set_deadline(Some(deadline));
                sleep(SHORT).await
            })
            .await?;
        assert_eq!(out, Some(()), "{deadline:?}");
        assert!(!scope.cancel_called());

        // From a near deadline whose timer is already armed: the timer is moved.
        let scope = CancelScope::with_deadline(current_time() + Duration::from_secs(30));
        let handle = scope.clone();
        let out = scope
            .run(async move {
                sleep(Duration::from_millis(2)).await?;
                handle.set_deadline(Some(deadline));
                sleep(SHORT).await?;
                // And back to a near one, which still fires.
                handle.set_deadline(Some(current_time() + Duration::from_millis(5)));
                sleep(Duration::from_secs(30)).await
            })
            .await?;
        assert_eq!(out, None, "{deadline:?}");
        assert!(scope.cancel_called());
    }
    Ok(())
}

on_every_flavour!(
    sleep_until_a_far_deadline_waits_like_sleep_forever,
    move_on_at_a_far_deadline_is_no_deadline,
    fail_at_a_far_deadline_is_no_deadline,
    a_scope_with_a_far_deadline_is_not_cancelled,
    set_deadline_before_entry_to_a_far_deadline,
    set_deadline_while_running_to_a_far_deadline,
);
