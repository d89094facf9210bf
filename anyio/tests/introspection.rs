//! Task introspection: the current task, the running tasks, and waiting until all are
//! blocked.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use anyio::{BoxError, TaskGroup};

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

#[anyio::test]
async fn wait_all_tasks_blocked_waits_for_busy_tasks() -> Result<(), BoxError> {
    let steps = Arc::new(AtomicUsize::new(0));
    let s = steps.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        for _ in 0..4 {
            let s = s.clone();
            tg.start_soon(async move {
                // Busy for a while, then blocked.
                for _ in 0..50 {
                    anyio::checkpoint().await?;
                    s.fetch_add(1, SeqCst);
                }
                anyio::sleep_forever().await?;
                Ok(())
            })?;
        }
        anyio::wait_all_tasks_blocked().await?;
        assert_eq!(s.load(SeqCst), 200);
        tg.cancel();
        Ok(())
    })
    .await?;
    Ok(())
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
