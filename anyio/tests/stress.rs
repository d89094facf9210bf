//! A thousand tasks in nested groups under random cancellations and deadlines: every group
//! finishes, and no task outlives its group.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use anyio::{BoxError, CancelScope, TaskGroup};

/// A small deterministic generator (xorshift), so a failure can be replayed.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Counts a task as alive from its start until its future is dropped.
struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, SeqCst);
        Alive(count.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

const GROUPS: u64 = 20;
const TASKS_PER_GROUP: u64 = 50;

#[anyio::test]
async fn nested_groups_under_random_cancellation_all_finish() -> Result<(), BoxError> {
    let finished_groups = Arc::new(AtomicUsize::new(0));
    let total_alive = Arc::new(AtomicUsize::new(0));
    let started_tasks = Arc::new(AtomicUsize::new(0));
    let (fg, ta, st) = (
        finished_groups.clone(),
        total_alive.clone(),
        started_tasks.clone(),
    );
    let result = anyio::fail_after(Duration::from_secs(60), async move {
        anyio::task_group(|outer: TaskGroup| async move {
            for g in 0..GROUPS {
                let (fg, ta, st) = (fg.clone(), ta.clone(), st.clone());
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (g + 1));
                outer.start_soon(async move {
                    let alive = Arc::new(AtomicUsize::new(0));
                    let deadline = Duration::from_millis(rng.next(40));
                    let scope = CancelScope::with_timeout(deadline);
                    let a = alive.clone();
                    let mut inner_rng = rng.clone();
                    let ta2 = ta.clone();
                    scope
                        .run(anyio::task_group(|tg: TaskGroup| async move {
                            for _ in 0..TASKS_PER_GROUP {
                                let guard = (Alive::new(&a), Alive::new(&ta2));
                                st.fetch_add(1, SeqCst);
                                let nap = Duration::from_millis(inner_rng.next(30));
                                let cancel_group = inner_rng.next(100) < 3;
                                let tg2 = tg.clone();
                                tg.start_soon(async move {
                                    let _guard = guard;
                                    if cancel_group {
                                        tg2.cancel();
                                    }
                                    anyio::sleep(nap).await?;
                                    anyio::checkpoint().await?;
                                    Ok(())
                                })?;
                            }
                            Ok(())
                        }))
                        .await?;
                    // No task of this group is alive once the group has returned.
                    assert_eq!(alive.load(SeqCst), 0, "a task outlived its group {g}");
                    fg.fetch_add(1, SeqCst);
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        Ok::<_, BoxError>(())
    })
    .await;
    result?;
    assert_eq!(finished_groups.load(SeqCst), GROUPS as usize);
    assert_eq!(
        started_tasks.load(SeqCst),
        (GROUPS * TASKS_PER_GROUP) as usize
    );
    assert_eq!(total_alive.load(SeqCst), 0);
    Ok(())
}
