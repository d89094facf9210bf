//! `gather`, `amap`, `amap_limited` and `as_completed`, on every backend and runtime
//! flavour: order of results, failures, cancellation, limits, leaving early.

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use anyio::{
    AsCompletedError, BoxError, CancelScope, Cancelled, Event, IsCancelled, TaskGroup, TaskState,
    amap, amap_limited, as_completed, checkpoint, gather, sleep_forever, task_group,
    wait_all_tasks_blocked,
};

#[path = "support/test_error.rs"]
mod test_error;
use test_error::TestError;

/// A chain of events that makes tasks end in reverse order: task `i` waits for task
/// `i + 1` to end (the last one waits for nothing), and records when it ends.
#[derive(Clone)]
struct Reversed {
    ended: Arc<Vec<Event>>,
    order: Arc<Mutex<Vec<usize>>>,
}

impl Reversed {
    fn new(n: usize) -> Self {
        Reversed {
            ended: Arc::new((0..n).map(|_| Event::new()).collect()),
            order: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Task `i`: waits for the later ones, then ends.
    async fn task(self, i: usize) -> Result<(), Cancelled> {
        if let Some(next) = self.ended.get(i + 1) {
            next.wait().await?;
        }
        self.order.lock().unwrap().push(i);
        self.ended[i].set();
        Ok(())
    }

    fn order(&self) -> Vec<usize> {
        self.order.lock().unwrap().clone()
    }
}

async fn number(r: Reversed, i: usize) -> Result<usize, BoxError> {
    r.task(i).await?;
    Ok(i * 10)
}

async fn text(r: Reversed, i: usize) -> Result<String, BoxError> {
    r.task(i).await?;
    Ok(format!("task {i}"))
}

async fn flag(r: Reversed, i: usize) -> Result<bool, BoxError> {
    r.task(i).await?;
    Ok(i % 2 == 0)
}

async fn gather_keeps_argument_order_when_later_futures_finish_first() -> Result<(), BoxError> {
    let r = Reversed::new(4);
    let values = gather(vec![
        number(r.clone(), 0),
        number(r.clone(), 1),
        number(r.clone(), 2),
        number(r.clone(), 3),
    ])
    .await?;
    assert_eq!(values, [0, 10, 20, 30]);
    assert_eq!(r.order(), [3, 2, 1, 0]);
    Ok(())
}

async fn gather_takes_a_tuple_of_different_types() -> Result<(), BoxError> {
    let r = Reversed::new(3);
    let (n, s, b) = gather((number(r.clone(), 0), text(r.clone(), 1), flag(r.clone(), 2))).await?;
    assert_eq!((n, s.as_str(), b), (0, "task 1", true));
    assert_eq!(r.order(), [2, 1, 0]);

    let one: (usize,) = gather((number(Reversed::new(1), 0),)).await?;
    assert_eq!(one, (0,));
    Ok(())
}

async fn gather_takes_twelve_futures() -> Result<(), BoxError> {
    let r = Reversed::new(12);
    let all = gather((
        number(r.clone(), 0),
        text(r.clone(), 1),
        flag(r.clone(), 2),
        number(r.clone(), 3),
        text(r.clone(), 4),
        flag(r.clone(), 5),
        number(r.clone(), 6),
        text(r.clone(), 7),
        flag(r.clone(), 8),
        number(r.clone(), 9),
        text(r.clone(), 10),
        flag(r.clone(), 11),
    ))
    .await?;
    assert_eq!(all.0, 0);
    assert_eq!(all.10, "task 10");
    assert!(!all.11);
    assert_eq!(r.order(), (0..12).rev().collect::<Vec<_>>());
    Ok(())
}

async fn gather_takes_an_array() -> Result<(), BoxError> {
    let r = Reversed::new(3);
    let values: [usize; 3] = gather([
        number(r.clone(), 0),
        number(r.clone(), 1),
        number(r.clone(), 2),
    ])
    .await?;
    assert_eq!(values, [0, 10, 20]);
    assert_eq!(r.order(), [2, 1, 0]);
    Ok(())
}

async fn gather_of_an_empty_vec_is_empty() -> Result<(), BoxError> {
    let none: Vec<_> = Vec::<std::future::Ready<Result<u8, BoxError>>>::new();
    assert_eq!(gather(none).await?, Vec::<u8>::new());
    Ok(())
}

/// Sleeps until cancelled, counting its cleanup.
async fn sleeper(cleaned: Arc<AtomicUsize>) -> Result<u32, TestError> {
    if let Err(cancelled) = sleep_forever().await {
        cleaned.fetch_add(1, SeqCst);
        return Err(cancelled.into());
    }
    Ok(0)
}

/// Fails once every other task is blocked.
async fn failing() -> Result<u32, TestError> {
    wait_all_tasks_blocked().await?;
    Err(TestError::Failed("boom"))
}

async fn a_failure_in_gather_cancels_the_others_and_is_reported() -> Result<(), BoxError> {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let err = gather((
        sleeper(cleaned.clone()),
        failing(),
        sleeper(cleaned.clone()),
    ))
    .await
    .expect_err("a future failed");
    assert_eq!(err.into_errors(), [TestError::Failed("boom")]);
    assert_eq!(cleaned.load(SeqCst), 2, "both others saw the cancellation");
    Ok(())
}

async fn a_cancellation_from_outside_passes_through_gather() -> Result<(), BoxError> {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let scope = CancelScope::new();
    let s = scope.clone();
    let c = cleaned.clone();
    let out = task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            wait_all_tasks_blocked().await?;
            s.cancel();
            Ok(())
        })?;
        let gathered = scope
            .run(async move {
                let got = gather(vec![sleeper(c.clone()), sleeper(c)]).await;
                let err = got.expect_err("cancelled");
                assert!(err.is_cancelled());
                assert!(err.errors().is_empty());
                Err::<(), _>(err)
            })
            .await;
        // The scope that caused the cancellation caught it.
        assert!(matches!(gathered, Ok(None)));
        Ok(())
    })
    .await?;
    assert_eq!(out, Some(()));
    assert_eq!(cleaned.load(SeqCst), 2);
    Ok(())
}

async fn amap_keeps_input_order_when_later_items_finish_first() -> Result<(), BoxError> {
    let r = Reversed::new(5);
    let rc = r.clone();
    let values = amap(move |i| number(rc.clone(), i), 0..5).await?;
    assert_eq!(values, [0, 10, 20, 30, 40]);
    assert_eq!(r.order(), [4, 3, 2, 1, 0]);
    Ok(())
}

async fn amap_limited_runs_exactly_limit_tasks_at_once() -> Result<(), BoxError> {
    let now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (n, m) = (now.clone(), most.clone());
    let values = amap_limited(
        move |i: usize| {
            let (now, most) = (n.clone(), m.clone());
            async move {
                let running = now.fetch_add(1, SeqCst) + 1;
                most.fetch_max(running, SeqCst);
                // Every task started by now has been polled, and the body waits for room.
                wait_all_tasks_blocked().await?;
                now.fetch_sub(1, SeqCst);
                Ok::<_, BoxError>(i * 2)
            }
        },
        0..10,
        NonZeroUsize::new(3).unwrap(),
    )
    .await?;
    assert_eq!(values, (0..10).map(|i| i * 2).collect::<Vec<_>>());
    assert_eq!(most.load(SeqCst), 3);
    Ok(())
}

async fn amap_limited_takes_items_only_when_there_is_room() -> Result<(), BoxError> {
    let pulled = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Event::new());
    let (p, g) = (pulled.clone(), gate.clone());
    let results = Arc::new(Mutex::new(None));
    let res = results.clone();
    task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let items = (0..1000usize).inspect(move |_| {
                p.fetch_add(1, SeqCst);
            });
            let values = amap_limited(
                move |i| {
                    let g = g.clone();
                    async move {
                        g.wait().await?;
                        Ok::<_, BoxError>(i)
                    }
                },
                items,
                NonZeroUsize::new(2).unwrap(),
            )
            .await?;
            *res.lock().unwrap() = Some(values);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(pulled.load(SeqCst), 2, "two tasks, two items taken");
        gate.set();
        Ok(())
    })
    .await?;
    let values = results.lock().unwrap().take().expect("amap returned");
    assert_eq!(values, (0..1000).collect::<Vec<_>>());
    Ok(())
}

async fn a_failure_in_amap_stops_taking_items() -> Result<(), BoxError> {
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let items = (0..100usize).inspect(move |_| {
        p.fetch_add(1, SeqCst);
    });
    let err = amap_limited(
        |i| async move {
            checkpoint().await?;
            if i == 1 {
                Err(TestError::Failed("item 1"))
            } else {
                sleep_forever().await?;
                Ok(i)
            }
        },
        items,
        NonZeroUsize::new(2).unwrap(),
    )
    .await
    .expect_err("item 1 failed");
    assert_eq!(err.into_errors(), [TestError::Failed("item 1")]);
    assert_eq!(pulled.load(SeqCst), 2);
    Ok(())
}

async fn as_completed_yields_in_completion_order() -> Result<(), BoxError> {
    let r = Reversed::new(3);
    let rc = r.clone();
    let seen = as_completed(
        [number(rc.clone(), 0), number(rc.clone(), 1), number(rc, 2)],
        |mut done| async move {
            let mut seen = Vec::new();
            while let Some(handle) = done.next().await? {
                assert_eq!(handle.state(), TaskState::Finished);
                seen.push(handle.await?);
            }
            assert_eq!(done.remaining(), 0);
            Ok(seen)
        },
    )
    .await?;
    assert_eq!(seen, [20, 10, 0]);
    assert_eq!(r.order(), [2, 1, 0]);
    Ok(())
}

async fn leaving_as_completed_early_cancels_the_rest() -> Result<(), BoxError> {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let c = cleaned.clone();
    let futs: Vec<_> = (0..4u32)
        .map(|i| {
            let c = c.clone();
            async move {
                if i == 2 {
                    wait_all_tasks_blocked().await?;
                    return Ok(i);
                }
                sleeper(c).await
            }
        })
        .collect();
    let first = as_completed(futs, |mut done| async move {
        let first = done.next().await?.expect("four tasks");
        let value = first.await.map_err(|_| TestError::Failed("task"))?;
        // Leaving: the three others are cancelled, each by its own scope.
        Ok(value)
    })
    .await;
    assert_eq!(first.map_err(|e| e.to_string()), Ok(2));
    assert_eq!(
        cleaned.load(SeqCst),
        3,
        "the others were cancelled and cleaned up"
    );
    Ok(())
}

async fn dropping_the_stream_cancels_the_rest() -> Result<(), BoxError> {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let futs = vec![sleeper(cleaned.clone()), sleeper(cleaned.clone())];
    let c = cleaned.clone();
    let out = as_completed(futs, |done| async move {
        wait_all_tasks_blocked().await?;
        drop(done);
        // The tasks were cancelled and have ended; the body goes on.
        wait_all_tasks_blocked().await?;
        assert_eq!(c.load(SeqCst), 2);
        checkpoint().await?;
        Ok("body")
    })
    .await;
    assert_eq!(out.map_err(|e| e.to_string()), Ok("body"));
    assert_eq!(cleaned.load(SeqCst), 2);
    Ok(())
}

/// Futures of different types, boxed to go in one `Vec`.
type BoxedTask = std::pin::Pin<Box<dyn Future<Output = Result<u32, TestError>> + Send>>;

async fn a_failing_task_fails_as_completed() -> Result<(), BoxError> {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let futs: Vec<BoxedTask> = vec![Box::pin(sleeper(cleaned.clone())), Box::pin(failing())];
    let err = as_completed(futs, |mut done| async move {
        // The sleeper ends only once the failure has cancelled it.
        let first = done.next().await?.expect("two tasks");
        assert_eq!(first.state(), TaskState::Failed);
        sleep_forever().await?;
        Ok(())
    })
    .await
    .expect_err("a task failed");
    let AsCompletedError::Group(group) = err else {
        panic!("not a group error: {err}");
    };
    assert_eq!(group.into_errors(), [TestError::Failed("boom")]);
    assert_eq!(cleaned.load(SeqCst), 1);
    Ok(())
}

async fn as_completed_without_futures_is_an_error() -> Result<(), BoxError> {
    let none: Vec<std::future::Ready<Result<u8, io::Error>>> = Vec::new();
    let err = as_completed(none, |_done| async { Ok(()) })
        .await
        .expect_err("no futures");
    assert!(matches!(err, AsCompletedError::NoFutures));
    assert_eq!(err.to_string(), "as_completed() takes at least one future");
    assert!(!err.is_cancelled());
    let io_err = io::Error::from(err);
    assert_eq!(io_err.kind(), io::ErrorKind::InvalidInput);
    Ok(())
}

on_every_flavour!(
    gather_keeps_argument_order_when_later_futures_finish_first,
    gather_takes_a_tuple_of_different_types,
    gather_takes_twelve_futures,
    gather_takes_an_array,
    gather_of_an_empty_vec_is_empty,
    a_failure_in_gather_cancels_the_others_and_is_reported,
    a_cancellation_from_outside_passes_through_gather,
    amap_keeps_input_order_when_later_items_finish_first,
    amap_limited_runs_exactly_limit_tasks_at_once,
    amap_limited_takes_items_only_when_there_is_room,
    a_failure_in_amap_stops_taking_items,
    as_completed_yields_in_completion_order,
    leaving_as_completed_early_cancels_the_rest,
    dropping_the_stream_cancels_the_rest,
    a_failing_task_fails_as_completed,
    as_completed_without_futures_is_an_error,
);
