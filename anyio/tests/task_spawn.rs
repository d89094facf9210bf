//! Tasks started with `start_soon` before their first poll: such a task has no node in the
//! scope tree yet, and must still be listed, see its group's cancellation and abort, and
//! run exactly once. In its first poll it must see its group's state (a cancel made
//! during that poll included), and once it waits it must be seen by
//! `wait_all_tasks_blocked` and reached by the cancels of its group.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Poll, Waker};
use std::time::Duration;

use anyio::{
    BoxError, TaskGroup, TaskInfo, checkpoint, fail_after, get_running_tasks, sleep_forever,
    task_group, wait_all_tasks_blocked,
};

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

on_every_flavour!(
    a_task_started_in_a_cancelled_group_starts_cancelled,
    every_task_of_a_large_group_runs_once,
    a_task_sees_its_group_cancelled_during_its_first_poll,
    a_task_waiting_on_a_foreign_future_is_blocked_and_cancellable,
    tasks_finishing_while_their_group_is_cancelled_each_run_once,
);

const DEADLINE: Duration = Duration::from_secs(10);

/// The running task named `name`.
fn task_named(name: &str) -> TaskInfo {
    get_running_tasks()
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("no running task named {name}"))
}

/// On a current-thread runtime the body does not yield between these lines, so the task
/// has not been polled when it is listed, cancelled, and asked about.
#[anyio::test(tokio(current_thread), smol(current_thread))]
async fn a_task_not_polled_yet_is_listed_and_sees_its_group_cancelled() -> Result<(), BoxError> {
    let me = anyio::get_current_task().unwrap();
    let (seen_tx, seen_rx) = mpsc::channel();
    task_group(|tg: TaskGroup| async move {
        tg.named("later").start_soon(async move {
            let first = checkpoint().await;
            seen_tx
                .send(first.map_err(|c| c.reason().map(str::to_owned)))
                .unwrap();
            Ok(())
        })?;
        let later = task_named("later");
        assert_eq!(later.parent_id(), Some(me.id()));
        assert_eq!(get_running_tasks().len(), 2);
        assert!(!later.has_pending_cancellation());
        tg.cancel_with_reason("stop");
        assert!(later.has_pending_cancellation());
        Ok(())
    })
    .await?;
    assert_eq!(seen_rx.try_recv()?, Err(Some("stop".to_owned())));
    assert_eq!(get_running_tasks().len(), 1);
    Ok(())
}

/// The `TaskInfo` taken before the first poll follows the task once it runs, and says
/// nothing is pending once it has finished.
#[anyio::test(tokio(current_thread), smol(current_thread))]
async fn a_task_info_taken_before_the_first_poll_follows_the_task() -> Result<(), BoxError> {
    let info = task_group(|tg: TaskGroup| async move {
        tg.named("waiter").start_soon(async {
            sleep_forever().await?;
            Ok(())
        })?;
        let info = task_named("waiter");
        // Now polled, and waiting in the tree.
        wait_all_tasks_blocked().await?;
        assert!(!info.has_pending_cancellation());
        tg.cancel();
        assert!(info.has_pending_cancellation());
        Ok(info)
    })
    .await?
    .expect("the body returned its value");
    assert!(!info.has_pending_cancellation());
    assert_eq!(get_running_tasks().len(), 1);
    Ok(())
}

async fn a_task_started_in_a_cancelled_group_starts_cancelled() -> Result<(), BoxError> {
    let ran_past = Arc::new(AtomicUsize::new(0));
    let r = ran_past.clone();
    let (seen_tx, seen_rx) = mpsc::channel();
    let out = task_group(|tg: TaskGroup| async move {
        tg.cancel_with_reason("closed for the day");
        for _ in 0..3 {
            let (r, seen_tx) = (r.clone(), seen_tx.clone());
            tg.start_soon(async move {
                let first = checkpoint().await;
                let seen = first.as_ref().map(|_| ());
                seen_tx.send(seen.map_err(|c| c.reason().map(str::to_owned)))?;
                first?;
                r.fetch_add(1, SeqCst);
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    // The body returned normally: the cancellation the tasks ended with is absorbed.
    assert_eq!(out, Some(()));
    assert_eq!(ran_past.load(SeqCst), 0);
    let seen: Vec<_> = seen_rx.try_iter().collect();
    assert_eq!(seen, vec![Err(Some("closed for the day".to_owned())); 3]);
    Ok(())
}

/// Counts its drops.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// On a current-thread runtime the tasks cannot run while the body is polled: dropping the
/// group then drops every one of them without a poll of its future.
#[anyio::test(tokio(current_thread), smol(current_thread))]
async fn tasks_of_a_dropped_group_are_dropped_unpolled() -> Result<(), BoxError> {
    const TASKS: usize = 50;
    let ran = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (r, d) = (ran.clone(), dropped.clone());
    let mut group = Box::pin(task_group(move |tg: TaskGroup| async move {
        for _ in 0..TASKS {
            let (r, guard) = (r.clone(), DropCount(d.clone()));
            tg.start_soon(async move {
                let _guard = guard;
                r.fetch_add(1, SeqCst);
                Ok(())
            })?;
        }
        sleep_forever().await?;
        Ok(())
    }));
    let first = std::future::poll_fn(|cx| Poll::Ready(group.as_mut().poll(cx))).await;
    assert!(first.is_pending());
    assert_eq!(get_running_tasks().len(), 1 + TASKS);
    drop(group);
    fail_after(DEADLINE, async {
        while dropped.load(SeqCst) < TASKS {
            checkpoint().await?;
        }
        Ok::<_, BoxError>(())
    })
    .await?;
    assert_eq!(ran.load(SeqCst), 0);
    assert_eq!(dropped.load(SeqCst), TASKS);
    assert_eq!(get_running_tasks().len(), 1);
    Ok(())
}

async fn every_task_of_a_large_group_runs_once() -> Result<(), BoxError> {
    const TASKS: usize = 10_000;
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..TASKS).map(|_| AtomicUsize::new(0)).collect());
    let r = runs.clone();
    fail_after(DEADLINE, async move {
        task_group(|tg: TaskGroup| async move {
            for i in 0..TASKS {
                let r = r.clone();
                tg.start_soon(async move {
                    r[i].fetch_add(1, SeqCst);
                    // Half of them wait once, so some are in the tree while others start.
                    if i % 2 == 0 {
                        checkpoint().await?;
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    assert!(runs.iter().all(|n| n.load(SeqCst) == 1));
    assert_eq!(get_running_tasks().len(), 1);
    Ok(())
}

/// The first poll, before the task has waited: it is listed under its group's host with
/// its name, and a cancel of its group made in that poll is its own pending cancellation
/// and its next checkpoint's error, with the reason.
async fn a_task_sees_its_group_cancelled_during_its_first_poll() -> Result<(), BoxError> {
    let me = anyio::get_current_task().unwrap();
    let (seen_tx, seen_rx) = mpsc::channel();
    let out = task_group(|tg: TaskGroup| async move {
        let group = tg.clone();
        tg.named("first").start_soon(async move {
            let info = anyio::get_current_task().unwrap();
            let listed = get_running_tasks().into_iter().any(|t| t == info);
            let before = info.has_pending_cancellation();
            group.cancel_with_reason("from inside");
            let after = info.has_pending_cancellation();
            let first = checkpoint()
                .await
                .map_err(|c| c.reason().map(str::to_owned));
            let parent = info.parent_id();
            seen_tx.send((info.name().to_owned(), parent, listed, before, after, first))?;
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    assert_eq!(out, Some(()));
    let (name, parent, listed, before, after, first) = seen_rx.try_recv()?;
    assert_eq!(name, "first");
    assert_eq!(parent, Some(me.id()));
    assert!(listed);
    assert!(!before);
    assert!(after);
    assert_eq!(first, Err(Some("from inside".to_owned())));
    assert_eq!(get_running_tasks().len(), 1);
    Ok(())
}

/// A future that knows nothing of anyio: ready once `open` is called, waking the waker it
/// was last polled with.
#[derive(Clone, Default)]
struct Gate(Arc<Mutex<(bool, Option<Waker>)>>);

impl Gate {
    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut state = self.0.lock().unwrap();
            if state.0 {
                return Poll::Ready(());
            }
            state.1 = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    fn open(&self) {
        let mut state = self.0.lock().unwrap();
        state.0 = true;
        if let Some(waker) = state.1.take() {
            waker.wake();
        }
    }
}

/// A task whose first poll ends waiting on a future that never registers with anyio is
/// still seen blocked by `wait_all_tasks_blocked` (which would wait for ever for a task it
/// thought not polled yet), and a cancel of its group reaches it.
async fn a_task_waiting_on_a_foreign_future_is_blocked_and_cancellable() -> Result<(), BoxError> {
    let gate = Gate::default();
    let (seen_tx, seen_rx) = mpsc::channel();
    let out = fail_after(DEADLINE, async {
        let out = task_group(|tg: TaskGroup| async move {
            let g = gate.clone();
            tg.named("foreign").start_soon(async move {
                g.wait().await;
                seen_tx.send(
                    checkpoint()
                        .await
                        .map_err(|c| c.reason().map(str::to_owned)),
                )?;
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            let task = task_named("foreign");
            assert!(!task.has_pending_cancellation());
            tg.cancel_with_reason("enough");
            assert!(task.has_pending_cancellation());
            gate.open();
            Ok(())
        })
        .await?;
        Ok::<_, BoxError>(out)
    })
    .await?;
    assert_eq!(out, Some(()));
    assert_eq!(seen_rx.try_recv()?, Err(Some("enough".to_owned())));
    assert_eq!(get_running_tasks().len(), 1);
    Ok(())
}

/// A cancel of the group made by one of its tasks while the others start, wait and finish
/// (on two threads in the multi-threaded flavour): every task runs exactly once, those
/// that checkpoint after the cancel see it, and the group ends with none left.
async fn tasks_finishing_while_their_group_is_cancelled_each_run_once() -> Result<(), BoxError> {
    const TASKS: usize = 2_000;
    const CANCELLER: usize = TASKS / 2;
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..TASKS).map(|_| AtomicUsize::new(0)).collect());
    let cancelled = Arc::new(AtomicUsize::new(0));
    let (r, c) = (runs.clone(), cancelled.clone());
    let out = fail_after(DEADLINE, async move {
        let out = task_group(|tg: TaskGroup| async move {
            for i in 0..TASKS {
                let (r, c, group) = (r.clone(), c.clone(), tg.clone());
                tg.start_soon(async move {
                    r[i].fetch_add(1, SeqCst);
                    if i == CANCELLER {
                        group.cancel();
                    }
                    if i % 2 == 0 && checkpoint().await.is_err() {
                        c.fetch_add(1, SeqCst);
                    }
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        Ok::<_, BoxError>(out)
    })
    .await?;
    assert_eq!(out, Some(()));
    assert!(runs.iter().all(|n| n.load(SeqCst) == 1));
    // At least the canceller's own checkpoint comes after the cancel.
    assert!(cancelled.load(SeqCst) >= 1);
    assert_eq!(get_running_tasks().len(), 1);
    Ok(())
}
