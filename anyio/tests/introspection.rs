//! Task introspection: the current task, the running tasks, and waiting until all are
//! blocked.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyio::{BoxError, Event, TaskGroup};

#[test]
fn there_is_no_current_task_outside_anyio() {
    assert!(anyio::get_current_task().is_none());
    assert!(anyio::get_running_tasks().is_empty());
}

#[anyio::test]
async fn running_tasks_lists_every_unfinished_task() -> Result<(), BoxError> {
    let me = anyio::get_current_task().unwrap();
    assert_eq!(anyio::get_running_tasks(), vec![me.clone()]);
    let ready = Arc::new(AtomicUsize::new(0));
    let r = ready.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        for i in 0..3 {
            let r = r.clone();
            tg.named(format!("sleeper-{i}")).start_soon(async move {
                r.fetch_add(1, SeqCst);
                anyio::sleep_forever().await?;
                Ok(())
            })?;
        }
        anyio::wait_all_tasks_blocked().await?;
        assert_eq!(r.load(SeqCst), 3);
        let tasks = anyio::get_running_tasks();
        let mut names: Vec<&str> = tasks.iter().map(|t| t.name()).collect();
        names.sort();
        assert_eq!(names, ["main", "sleeper-0", "sleeper-1", "sleeper-2"]);
        let me = anyio::get_current_task().unwrap();
        for t in tasks.iter().filter(|t| t.id() != me.id()) {
            assert_eq!(t.parent_id(), Some(me.id()));
        }
        tg.cancel();
        Ok(())
    })
    .await?;
    assert_eq!(anyio::get_running_tasks(), vec![me]);
    Ok(())
}

/// How many times each `wait_all_tasks_blocked` scenario runs.
const REPEATS: usize = 100;

/// `wait_all_tasks_blocked` under a generous bound (it takes milliseconds); how long it took.
async fn bounded_wait() -> Result<Duration, BoxError> {
    let start = Instant::now();
    anyio::fail_after(Duration::from_secs(5), async {
        anyio::wait_all_tasks_blocked().await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    Ok(start.elapsed())
}

/// Prints the median and the slowest of `times` (see them with `--nocapture`).
fn report(what: &str, threads: &str, times: &mut [Duration]) {
    times.sort_unstable();
    let backend = anyio::current_backend().unwrap();
    eprintln!(
        "wait_all_tasks_blocked, {what}, {backend} {threads}: median {:?}, max {:?} ({} calls)",
        times[times.len() / 2],
        times[times.len() - 1],
        times.len()
    );
}

/// The root task waits until a child is blocked, `REPEATS` times.
async fn the_root_waits_for_a_blocked_child(threads: &str) -> Result<(), BoxError> {
    let mut times = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        let waiting = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(Event::new());
        let (w, s) = (waiting.clone(), stop.clone());
        let took = anyio::task_group(|tg: TaskGroup| async move {
            tg.start_soon(async move {
                w.store(true, SeqCst);
                s.wait().await?;
                Ok(())
            })?;
            let took = bounded_wait().await?;
            assert!(waiting.load(SeqCst), "returned before the child waited");
            stop.set();
            Ok::<_, BoxError>(took)
        })
        .await?;
        times.push(took.expect("nothing cancels the group"));
    }
    report("the root waits for a child", threads, &mut times);
    Ok(())
}

#[anyio::test(tokio(current_thread), smol(current_thread))]
async fn the_root_waits_for_a_blocked_child_on_one_thread() -> Result<(), BoxError> {
    the_root_waits_for_a_blocked_child("current_thread").await
}

#[anyio::test(tokio(worker_threads = 2), smol(worker_threads = 2))]
async fn the_root_waits_for_a_blocked_child_on_two_threads() -> Result<(), BoxError> {
    the_root_waits_for_a_blocked_child("worker_threads = 2").await
}

/// A child waits until the root task is blocked, `REPEATS` times.
async fn a_child_waits_for_the_blocked_root(threads: &str) -> Result<(), BoxError> {
    let times = Arc::new(Mutex::new(Vec::with_capacity(REPEATS)));
    for _ in 0..REPEATS {
        let waiting = Arc::new(AtomicBool::new(false));
        let done = Arc::new(Event::new());
        let (w, d, t) = (waiting.clone(), done.clone(), times.clone());
        anyio::task_group(|tg: TaskGroup| async move {
            tg.start_soon(async move {
                let took = bounded_wait().await?;
                assert!(w.load(SeqCst), "returned before the root waited");
                t.lock().unwrap().push(took);
                d.set();
                Ok(())
            })?;
            waiting.store(true, SeqCst);
            done.wait().await?;
            Ok::<_, BoxError>(())
        })
        .await?;
    }
    report(
        "a child waits for the root",
        threads,
        &mut times.lock().unwrap(),
    );
    Ok(())
}

#[anyio::test(tokio(current_thread), smol(current_thread))]
async fn a_child_waits_for_the_blocked_root_on_one_thread() -> Result<(), BoxError> {
    a_child_waits_for_the_blocked_root("current_thread").await
}

#[anyio::test(tokio(worker_threads = 2), smol(worker_threads = 2))]
async fn a_child_waits_for_the_blocked_root_on_two_threads() -> Result<(), BoxError> {
    a_child_waits_for_the_blocked_root("worker_threads = 2").await
}

/// Checkpoints each busy task (and the root, when a child is the one waiting) runs before
/// it blocks.
const BUSY_STEPS: usize = 200;

/// Busy tasks (looping on checkpoints, or waking each other through a channel) have all
/// finished their work when `wait_all_tasks_blocked` returns, whichever task calls it.
async fn wait_all_tasks_blocked_waits_for_busy_tasks() -> Result<(), BoxError> {
    for round in 0..10 {
        let steps = Arc::new(AtomicUsize::new(0));
        let root_steps = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(Event::new());
        let (s, r, d) = (steps.clone(), root_steps.clone(), done.clone());
        // In odd rounds a child waits and the root is busy too.
        let child_waits = round % 2 == 1;
        anyio::task_group(|tg: TaskGroup| async move {
            for _ in 0..3 {
                let (s, d) = (s.clone(), d.clone());
                tg.start_soon(async move {
                    for _ in 0..BUSY_STEPS {
                        anyio::checkpoint().await?;
                        s.fetch_add(1, SeqCst);
                    }
                    d.wait().await?;
                    Ok(())
                })?;
            }
            // A pair that keeps waking each other.
            let (ping_tx, ping_rx) = anyio::create_memory_object_stream::<usize>(0)?;
            let (pong_tx, pong_rx) = anyio::create_memory_object_stream::<usize>(0)?;
            let (s1, s2, d1) = (s.clone(), s.clone(), d.clone());
            tg.start_soon(async move {
                for i in 0..BUSY_STEPS {
                    ping_tx.send(i).await?;
                    pong_rx.receive().await?;
                    s1.fetch_add(1, SeqCst);
                }
                d1.wait().await?;
                Ok(())
            })?;
            tg.start_soon(async move {
                while let Ok(i) = ping_rx.receive().await {
                    pong_tx.send(i).await?;
                    s2.fetch_add(1, SeqCst);
                }
                Ok(())
            })?;
            let expected = 5 * BUSY_STEPS;
            if child_waits {
                let (s, r2, d2) = (s.clone(), r.clone(), d.clone());
                tg.start_soon(async move {
                    bounded_wait().await?;
                    assert_eq!(s.load(SeqCst), expected, "the busy tasks had not finished");
                    assert_eq!(r2.load(SeqCst), BUSY_STEPS, "the root had not finished");
                    d2.set();
                    Ok(())
                })?;
                for _ in 0..BUSY_STEPS {
                    anyio::checkpoint().await?;
                    r.fetch_add(1, SeqCst);
                }
                d.wait().await?;
            } else {
                bounded_wait().await?;
                assert_eq!(s.load(SeqCst), expected, "the busy tasks had not finished");
                d.set();
            }
            Ok::<_, BoxError>(())
        })
        .await?;
    }
    Ok(())
}

#[anyio::test(tokio(current_thread), smol(current_thread))]
async fn wait_all_tasks_blocked_waits_for_busy_tasks_on_one_thread() -> Result<(), BoxError> {
    wait_all_tasks_blocked_waits_for_busy_tasks().await
}

#[anyio::test(tokio(worker_threads = 2), smol(worker_threads = 2))]
async fn wait_all_tasks_blocked_waits_for_busy_tasks_on_two_threads() -> Result<(), BoxError> {
    wait_all_tasks_blocked_waits_for_busy_tasks().await
}

/// Several tasks wait at once, the root among them, while another is blocked: each counts
/// the others as blocked, so all of them return.
async fn several_tasks_wait_at_once() -> Result<(), BoxError> {
    let returned = Arc::new(AtomicUsize::new(0));
    let all_returned = Arc::new(Event::new());
    let stop = Arc::new(Event::new());
    let s = stop.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            s.wait().await?;
            Ok(())
        })?;
        for _ in 0..2 {
            let (r, all) = (returned.clone(), all_returned.clone());
            tg.start_soon(async move {
                bounded_wait().await?;
                if r.fetch_add(1, SeqCst) + 1 == 3 {
                    all.set();
                }
                Ok(())
            })?;
        }
        bounded_wait().await?;
        if returned.fetch_add(1, SeqCst) + 1 == 3 {
            all_returned.set();
        }
        anyio::fail_after(Duration::from_secs(5), async {
            all_returned.wait().await?;
            Ok::<_, BoxError>(())
        })
        .await?;
        stop.set();
        Ok::<_, BoxError>(())
    })
    .await?;
    Ok(())
}

#[anyio::test(tokio(current_thread), smol(current_thread))]
async fn several_tasks_wait_at_once_on_one_thread() -> Result<(), BoxError> {
    several_tasks_wait_at_once().await
}

#[anyio::test(tokio(worker_threads = 2), smol(worker_threads = 2))]
async fn several_tasks_wait_at_once_on_two_threads() -> Result<(), BoxError> {
    several_tasks_wait_at_once().await
}

#[anyio::test]
async fn task_ids_are_unique() -> Result<(), BoxError> {
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let i = ids.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        for _ in 0..50 {
            let i = i.clone();
            tg.start_soon(async move {
                i.lock()
                    .unwrap()
                    .push(anyio::get_current_task().unwrap().id());
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    let mut ids = ids.lock().unwrap().clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50);
    Ok(())
}
