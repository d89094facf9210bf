//! The new task API's waits, cancelled by drop as well as by scope: a dropped wait loses
//! nothing, and a dropped group ends its handles' tasks without leaving a waiter hanging.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use anyio::{
    BoxError, CancelScope, Event, TaskError, TaskState, amap_limited, as_completed, checkpoint,
    fail_after, move_on_after, sleep_forever, task_group, wait_all_tasks_blocked,
};

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

on_every_flavour!(
    a_dropped_handle_wait_loses_nothing,
    a_handle_of_a_dropped_group_reads_cancelled,
    a_dropped_next_loses_no_completion,
    a_scope_cancelled_around_amap_cancels_its_tasks,
    a_dropped_amap_aborts_its_tasks,
);

const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `fut` once with a waker that does nothing, then drops it.
fn poll_once_and_drop<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

async fn a_dropped_handle_wait_loses_nothing() -> Result<(), BoxError> {
    let group = task_group(|tg| async move {
        let gate = Arc::new(Event::new());
        let g = gate.clone();
        let h = tg.create_task(async move {
            g.wait().await?;
            Ok(7u32)
        })?;
        // A wait, and the await of a clone, each dropped while pending.
        assert!(poll_once_and_drop(h.wait()).is_pending());
        assert!(poll_once_and_drop(h.clone().into_future()).is_pending());
        // One cancelled by a scope, also while pending.
        let waited = h.clone();
        let out = move_on_after(Duration::from_millis(20), async move {
            Ok::<_, BoxError>(waited.await?)
        })
        .await?;
        assert_eq!(out, None);
        assert_eq!(h.state(), TaskState::Pending);
        gate.set();
        // Nothing was taken: the value is still there for this one.
        assert_eq!(h.await?, 7);
        Ok(())
    });
    fail_after(DEADLINE, async { Ok::<_, BoxError>(group.await?) }).await?;
    Ok(())
}

async fn a_handle_of_a_dropped_group_reads_cancelled() -> Result<(), BoxError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let group = task_group(move |tg| async move {
        let h = tg.create_task(async move {
            s.fetch_add(1, SeqCst);
            sleep_forever().await?;
            Ok(1u32)
        })?;
        tx.send(h).unwrap();
        sleep_forever().await?;
        Ok(())
    });
    // The group runs until its task is waiting, then its future is dropped: the task is
    // aborted where it stands (no async cleanup), and its handle says so.
    let out = move_on_after(Duration::from_millis(50), async {
        group.await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    assert_eq!(out, None);
    let h = rx.recv()?;
    assert_eq!(started.load(SeqCst), 1);
    fail_after(DEADLINE, async {
        // Dropping may finish on a worker thread: wait until the task has ended.
        h.wait().await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    assert_eq!(h.state(), TaskState::Cancelled);
    assert!(matches!(h.await, Err(TaskError::TaskCancelled { .. })));
    Ok(())
}

async fn a_dropped_next_loses_no_completion() -> Result<(), BoxError> {
    let gates: Vec<Arc<Event>> = (0..3).map(|_| Arc::new(Event::new())).collect();
    let futs: Vec<_> = gates
        .iter()
        .enumerate()
        .map(|(i, gate)| {
            let gate = gate.clone();
            async move {
                gate.wait().await?;
                Ok::<_, BoxError>(i)
            }
        })
        .collect();
    let completed = as_completed(futs, |mut done| async move {
        let mut order = Vec::new();
        for i in [2, 0, 1] {
            // A `next` dropped while nothing has completed...
            assert!(poll_once_and_drop(done.next()).is_pending());
            // ...and one cancelled by a scope: neither takes a completion.
            let nothing = move_on_after(Duration::from_millis(5), async {
                Ok::<_, BoxError>(done.next().await?)
            })
            .await?;
            assert!(nothing.is_none(), "no task had completed");
            gates[i].set();
            let h = done.next().await?.expect("a task is left");
            order.push(h.await?);
        }
        assert!(done.next().await?.is_none());
        Ok(order)
    });
    let order = fail_after(DEADLINE, async { Ok::<_, BoxError>(completed.await?) }).await?;
    assert_eq!(order, [2, 0, 1]);
    Ok(())
}

async fn a_scope_cancelled_around_amap_cancels_its_tasks() -> Result<(), BoxError> {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let c = cleaned.clone();
    let scope = CancelScope::new();
    let s = scope.clone();
    let out = scope
        .run(async move {
            let items = amap_limited(
                move |i: u32| {
                    let c = c.clone();
                    let s = s.clone();
                    async move {
                        if i == 1 {
                            wait_all_tasks_blocked().await?;
                            s.cancel();
                        }
                        if sleep_forever().await.is_err() {
                            c.fetch_add(1, SeqCst);
                        }
                        checkpoint().await?;
                        Ok::<_, BoxError>(i)
                    }
                },
                0..10u32,
                std::num::NonZeroUsize::new(3).unwrap(),
            )
            .await;
            let err = items.unwrap_err();
            assert!(err.is_cancelled(), "{err}");
            Err::<(), BoxError>(err.into())
        })
        .await;
    // The scope caught its cancellation; the three running tasks cleaned up, and no item
    // after them was started.
    assert!(matches!(out, Ok(None)), "{out:?}");
    assert_eq!(cleaned.load(SeqCst), 3);
    Ok(())
}

async fn a_dropped_amap_aborts_its_tasks() -> Result<(), BoxError> {
    let started = Arc::new(AtomicUsize::new(0));
    let alive = Arc::new(());
    let (s, a) = (started.clone(), alive.clone());
    let out = move_on_after(Duration::from_millis(50), async move {
        let items = amap_limited(
            move |_: u32| {
                let s = s.clone();
                let a = a.clone();
                async move {
                    let _alive = a;
                    s.fetch_add(1, SeqCst);
                    sleep_forever().await?;
                    Ok::<_, BoxError>(())
                }
            },
            0..100u32,
            std::num::NonZeroUsize::new(4).unwrap(),
        );
        // Dropped from outside (the timeout drops nothing: it cancels; so drop it here).
        let polled = poll_once_and_drop(items);
        assert!(polled.is_pending());
        Ok::<_, BoxError>(())
    })
    .await?;
    assert_eq!(out, Some(()));
    // Every task that started was aborted: nothing holds its future any more.
    fail_after(DEADLINE, async {
        while Arc::strong_count(&alive) > 1 {
            checkpoint().await?;
        }
        Ok::<_, BoxError>(())
    })
    .await?;
    assert!(started.load(SeqCst) <= 4);
    Ok(())
}
