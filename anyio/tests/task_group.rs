//! Task groups: AnyIO's rules 8–11, on every backend.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyio::{
    BoxError, CancelScope, Cancelled, GroupClosed, IsCancelled, StartError, TaskGroup, TaskStatus,
    checkpoint, sleep, task_group,
};
use futures_lite::FutureExt;

const LONG: Duration = Duration::from_secs(30);

/// A typed error for the tests that check aggregation exactly.
#[derive(Debug, PartialEq, Eq)]
enum TestError {
    Cancelled,
    Failed(&'static str),
}

impl From<Cancelled> for TestError {
    fn from(_: Cancelled) -> Self {
        TestError::Cancelled
    }
}

impl IsCancelled for TestError {
    fn is_cancelled(&self) -> bool {
        *self == TestError::Cancelled
    }
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[anyio::test]
async fn a_group_waits_for_every_task() -> Result<(), BoxError> {
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let out = task_group(|tg: TaskGroup| async move {
        for i in 0..10u64 {
            let d = d.clone();
            tg.start_soon(async move {
                sleep(Duration::from_millis(i * 2)).await?;
                d.fetch_add(1, SeqCst);
                Ok(())
            })?;
        }
        Ok("body value")
    })
    .await?;
    assert_eq!(out, Some("body value"));
    assert_eq!(done.load(SeqCst), 10);
    Ok(())
}

#[anyio::test]
async fn tasks_can_start_siblings_while_the_group_waits() -> Result<(), BoxError> {
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    task_group(|tg: TaskGroup| async move {
        let tg2 = tg.clone();
        tg.start_soon(async move {
            sleep(Duration::from_millis(5)).await?;
            tg2.start_soon(async move {
                sleep(Duration::from_millis(5)).await?;
                d.fetch_add(1, SeqCst);
                Ok(())
            })?;
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    assert_eq!(done.load(SeqCst), 1);
    Ok(())
}

#[anyio::test]
async fn a_failing_task_cancels_its_siblings_which_can_clean_up() -> Result<(), BoxError> {
    let cleaned = Arc::new(AtomicBool::new(false));
    let c = cleaned.clone();
    let started = Instant::now();
    let err = TaskGroup::<TestError>::run(|tg| async move {
        tg.start_soon(async move {
            let r = sleep(LONG).await;
            assert_eq!(r, Err(Cancelled::new()));
            // Async cleanup in a shielded scope.
            CancelScope::new()
                .shielded(true)
                .run(async {
                    sleep(Duration::from_millis(5)).await?;
                    Ok::<_, Cancelled>(())
                })
                .await?;
            c.store(true, SeqCst);
            r.map_err(Into::into)
        })
        .unwrap();
        tg.start_soon(async {
            sleep(Duration::from_millis(10)).await?;
            Err(TestError::Failed("boom"))
        })
        .unwrap();
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.errors(), &[TestError::Failed("boom")]);
    assert!(!err.is_cancelled());
    assert!(cleaned.load(SeqCst));
    assert!(started.elapsed() < Duration::from_secs(10));
    Ok(())
}

#[anyio::test]
async fn every_failure_is_kept_in_order() -> Result<(), BoxError> {
    let err = TaskGroup::<TestError>::run(|tg| async move {
        tg.start_soon(async {
            sleep(Duration::from_millis(5)).await?;
            Err(TestError::Failed("first"))
        })
        .unwrap();
        tg.start_soon(async {
            // Cancelled by the first failure, this task fails in its cleanup.
            let _ = sleep(LONG).await;
            Err(TestError::Failed("second"))
        })
        .unwrap();
        // The body is cancelled too; its cancellation is not a failure.
        sleep(LONG).await?;
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(
        err.into_errors(),
        vec![TestError::Failed("first"), TestError::Failed("second")]
    );
    Ok(())
}

#[anyio::test]
async fn the_body_failure_is_reported_and_cancels_the_tasks() -> Result<(), BoxError> {
    let err = TaskGroup::<TestError>::run(|tg| async move {
        tg.start_soon(async {
            sleep(LONG).await?;
            Ok(())
        })
        .unwrap();
        sleep(Duration::from_millis(5)).await?;
        Err::<(), _>(TestError::Failed("body"))
    })
    .await
    .unwrap_err();
    assert_eq!(err.into_single().ok(), Some(TestError::Failed("body")));
    Ok(())
}

#[anyio::test]
async fn cancelling_the_group_is_absorbed_by_the_group() -> Result<(), BoxError> {
    let scope_caught = Arc::new(Mutex::new(None));
    let sc = scope_caught.clone();
    let out = task_group(|tg: TaskGroup| async move {
        *sc.lock().unwrap() = Some(tg.cancel_scope());
        for _ in 0..3 {
            tg.start_soon(async {
                sleep(LONG).await?;
                Ok(())
            })?;
        }
        let tg2 = tg.clone();
        tg.start_soon(async move {
            sleep(Duration::from_millis(5)).await?;
            tg2.cancel();
            Ok(())
        })?;
        sleep(LONG).await?;
        Ok("not reached")
    })
    .await?;
    assert_eq!(out, None);
    let scope = scope_caught.lock().unwrap().take().unwrap();
    assert!(scope.cancel_called());
    assert!(scope.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn a_group_cancelled_by_an_outer_scope_reports_a_cancellation() -> Result<(), BoxError> {
    let outer = CancelScope::new();
    let handle = outer.clone();
    let out = outer
        .run(async move {
            let r = task_group(|tg: TaskGroup| async move {
                tg.start_soon(async {
                    sleep(LONG).await?;
                    Ok(())
                })?;
                handle.cancel();
                Ok(())
            })
            .await;
            let err = r.unwrap_err();
            assert!(err.is_cancelled());
            assert!(err.errors().is_empty());
            Err::<(), _>(err)
        })
        .await?;
    assert_eq!(out, None);
    assert!(outer.cancelled_caught());
    Ok(())
}

#[anyio::test]
async fn a_group_deadline_cancels_it() -> Result<(), BoxError> {
    let out = task_group(|tg: TaskGroup| async move {
        tg.cancel_scope()
            .set_deadline(Some(anyio::current_time() + Duration::from_millis(10)));
        tg.start_soon(async {
            sleep(LONG).await?;
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    assert_eq!(out, Some(()));
    Ok(())
}

#[anyio::test]
async fn an_empty_group_inside_a_cancelled_scope_still_exits_cleanly() -> Result<(), BoxError> {
    let scope = CancelScope::new();
    scope.cancel();
    let out = scope
        .run(async {
            let r = task_group(|_tg: TaskGroup| async { Ok(1) }).await;
            assert_eq!(r.unwrap(), Some(1));
            Ok::<_, Cancelled>(())
        })
        .await?;
    assert_eq!(out, Some(()));
    Ok(())
}

#[anyio::test]
async fn a_panicking_task_cancels_the_group_and_resumes_after_all_tasks() -> Result<(), BoxError> {
    let cleaned = Arc::new(AtomicBool::new(false));
    let c = cleaned.clone();
    let caught = std::panic::AssertUnwindSafe(task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let _ = sleep(LONG).await;
            CancelScope::new()
                .shielded(true)
                .run(sleep(Duration::from_millis(10)))
                .await?;
            c.store(true, SeqCst);
            Ok(())
        })?;
        tg.start_soon(async {
            sleep(Duration::from_millis(5)).await?;
            boom()
        })?;
        Ok(())
    }))
    .catch_unwind()
    .await;
    let panic = caught.unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"boom in a task"));
    assert!(
        cleaned.load(SeqCst),
        "the sibling finished before the panic resumed"
    );
    Ok(())
}

#[anyio::test]
async fn a_panicking_body_waits_for_the_tasks_then_resumes() -> Result<(), BoxError> {
    let cleaned = Arc::new(AtomicBool::new(false));
    let c = cleaned.clone();
    let caught = std::panic::AssertUnwindSafe(task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let _ = sleep(LONG).await;
            c.store(true, SeqCst);
            Ok(())
        })?;
        sleep(Duration::from_millis(5)).await?;
        panic!("boom in the body");
        #[allow(unreachable_code)]
        Ok(())
    }))
    .catch_unwind()
    .await;
    assert_eq!(
        caught.unwrap_err().downcast_ref::<&str>(),
        Some(&"boom in the body")
    );
    assert!(cleaned.load(SeqCst));
    Ok(())
}

#[anyio::test]
async fn nested_group_failures_propagate_outwards() -> Result<(), BoxError> {
    let err = TaskGroup::<TestError>::run(|outer| async move {
        outer
            .start_soon(async {
                let inner = TaskGroup::<TestError>::run(|tg| async move {
                    tg.start_soon(async { Err(TestError::Failed("deep")) })
                        .unwrap();
                    Ok(())
                })
                .await;
                inner.map(drop).map_err(|e| e.into_single().unwrap())
            })
            .unwrap();
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.into_single().ok(), Some(TestError::Failed("deep")));
    Ok(())
}

#[anyio::test]
async fn starting_a_task_in_a_finished_group_fails() -> Result<(), BoxError> {
    let leaked: Arc<Mutex<Option<TaskGroup>>> = Arc::default();
    let l = leaked.clone();
    task_group(|tg: TaskGroup| async move {
        *l.lock().unwrap() = Some(tg.clone());
        Ok(())
    })
    .await?;
    let tg = leaked.lock().unwrap().take().unwrap();
    assert_eq!(tg.start_soon(async { Ok(()) }), Err(GroupClosed));
    assert_eq!(
        GroupClosed.to_string(),
        "This task group is not active; no new tasks can be started."
    );
    let r = tg.start(|s: TaskStatus<u8>| async move {
        s.started(1);
        Ok(())
    });
    assert!(matches!(r.await, Err(StartError::Closed(GroupClosed))));
    Ok(())
}

#[anyio::test]
async fn start_returns_the_started_value_and_the_task_keeps_running() -> Result<(), BoxError> {
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    task_group(|tg: TaskGroup| async move {
        let port = tg
            .start(|status: TaskStatus<u16>| async move {
                sleep(Duration::from_millis(5)).await?;
                status.started(8080);
                sleep(Duration::from_millis(5)).await?;
                f.store(true, SeqCst);
                Ok(())
            })
            .await?;
        assert_eq!(port, 8080);
        Ok(())
    })
    .await?;
    assert!(finished.load(SeqCst));
    Ok(())
}

#[anyio::test]
async fn a_failure_before_started_comes_out_of_start_and_spares_the_group() -> Result<(), BoxError>
{
    let sibling_done = Arc::new(AtomicBool::new(false));
    let s = sibling_done.clone();
    TaskGroup::<TestError>::run(|tg| async move {
        tg.start_soon(async move {
            sleep(Duration::from_millis(20)).await?;
            s.store(true, SeqCst);
            Ok(())
        })
        .unwrap();
        let r = tg
            .start(|_status: TaskStatus<()>| async { Err(TestError::Failed("early")) })
            .await;
        assert!(matches!(
            r,
            Err(StartError::Failed(TestError::Failed("early")))
        ));
        assert!(!tg.cancel_scope().cancel_called());
        Ok(())
    })
    .await
    .unwrap();
    assert!(sibling_done.load(SeqCst));
    Ok(())
}

#[anyio::test]
async fn a_task_that_never_calls_started_is_an_error() -> Result<(), BoxError> {
    task_group(|tg: TaskGroup| async move {
        let r = tg.start(|_s: TaskStatus<u8>| async { Ok(()) }).await;
        let err = r.unwrap_err();
        assert!(matches!(err, StartError::NotStarted));
        assert_eq!(
            err.to_string(),
            "Child exited without calling task_status.started()"
        );
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn before_started_the_task_is_in_the_callers_scope() -> Result<(), BoxError> {
    // The caller of `start` runs outside the target group.
    let target: Arc<Mutex<Option<TaskGroup>>> = Arc::default();
    let t = target.clone();
    task_group(|outer: TaskGroup| async move {
        let t2 = t.clone();
        outer.start_soon(async move {
            task_group(|tg: TaskGroup| async move {
                *t2.lock().unwrap() = Some(tg.clone());
                sleep(LONG).await?;
                Ok(())
            })
            .await?;
            Ok(())
        })?;
        let tg = loop {
            if let Some(tg) = t.lock().unwrap().clone() {
                break tg;
            }
            sleep(Duration::from_millis(1)).await?;
        };
        let tg2 = tg.clone();
        let v = tg
            .start(|status: TaskStatus<&'static str>| async move {
                // Cancelling the target group does not reach a task that has not started...
                tg2.cancel();
                checkpoint().await?;
                sleep(Duration::from_millis(2)).await?;
                status.started("started despite the group's cancel");
                // ...but once started it is in the group's scope.
                assert_eq!(checkpoint().await, Err(Cancelled::new()));
                Ok(())
            })
            .await?;
        assert_eq!(v, "started despite the group's cancel");
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn cancelling_the_caller_cancels_a_task_that_has_not_started() -> Result<(), BoxError> {
    let tg_cancelled = Arc::new(AtomicBool::new(true));
    let t = tg_cancelled.clone();
    task_group(|tg: TaskGroup| async move {
        let caller = CancelScope::new();
        let handle = caller.clone();
        let out = caller
            .run(async {
                let r = tg
                    .start(|status: TaskStatus<()>| async move {
                        handle.cancel();
                        sleep(LONG).await?;
                        status.started(());
                        Ok(())
                    })
                    .await;
                let err = r.unwrap_err();
                assert!(err.is_cancelled());
                Err::<(), _>(err)
            })
            .await?;
        assert_eq!(out, None);
        t.store(tg.cancel_scope().cancel_called(), SeqCst);
        Ok(())
    })
    .await?;
    assert!(
        !tg_cancelled.load(SeqCst),
        "the group itself was not cancelled"
    );
    Ok(())
}

#[anyio::test]
async fn task_parents_and_names() -> Result<(), BoxError> {
    let host = anyio::get_current_task().unwrap();
    assert_eq!(host.name(), "main");
    assert_eq!(host.parent_id(), None);
    let infos = Arc::new(Mutex::new(Vec::new()));
    let i = infos.clone();
    task_group(|tg: TaskGroup| async move {
        let i2 = i.clone();
        tg.named("worker").start_soon(async move {
            i2.lock().unwrap().push(anyio::get_current_task().unwrap());
            Ok(())
        })?;
        tg.start_soon(named_by_type(i.clone()))?;
        let caller = anyio::get_current_task().unwrap();
        let i3 = i.clone();
        tg.start(|status: TaskStatus<()>| async move {
            let me = anyio::get_current_task().unwrap();
            assert_eq!(me.parent_id(), Some(caller.id()));
            status.started(());
            i3.lock().unwrap().push(anyio::get_current_task().unwrap());
            Ok(())
        })
        .await?;
        Ok(())
    })
    .await?;
    let infos = infos.lock().unwrap();
    assert_eq!(infos.len(), 3);
    assert!(infos.iter().all(|t| t.parent_id() == Some(host.id())));
    assert!(infos.iter().any(|t| t.name() == "worker"));
    assert!(
        infos.iter().any(|t| t.name().ends_with("named_by_type")),
        "{infos:?}"
    );
    Ok(())
}

async fn named_by_type(infos: Arc<Mutex<Vec<anyio::TaskInfo>>>) -> Result<(), BoxError> {
    infos
        .lock()
        .unwrap()
        .push(anyio::get_current_task().unwrap());
    Ok(())
}

#[anyio::test]
async fn dropping_an_unfinished_group_aborts_its_tasks() -> Result<(), BoxError> {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let group = task_group(|tg: TaskGroup| async move {
        for _ in 0..3 {
            let flag = Flag(d.clone());
            tg.start_soon(async move {
                let _flag = flag;
                // Not an anyio wait: only an abort can end it.
                std::future::pending::<()>().await;
                Ok(())
            })?;
        }
        sleep(LONG).await?;
        Ok(())
    });
    let out = anyio::move_on_after(Duration::from_millis(20), anyio::cancellable(group)).await?;
    assert!(out.is_none());
    let deadline = Instant::now() + Duration::from_secs(10);
    while dropped.load(SeqCst) < 3 && Instant::now() < deadline {
        sleep(Duration::from_millis(1)).await?;
    }
    assert_eq!(dropped.load(SeqCst), 3);
    Ok(())
}

#[anyio::test]
async fn a_status_can_be_ignored() -> Result<(), BoxError> {
    async fn server(status: TaskStatus<u16>) -> Result<(), BoxError> {
        status.started(1);
        Ok(())
    }
    server(TaskStatus::ignored()).await?;
    task_group(|tg: TaskGroup| async move {
        tg.start_soon(server(TaskStatus::ignored()))?;
        assert_eq!(tg.start(server).await?, 1);
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn io_errors_convert_out_of_a_group() -> Result<(), BoxError> {
    async fn run() -> std::io::Result<()> {
        TaskGroup::<std::io::Error>::run(|tg| async move {
            tg.start_soon(async { Err(std::io::Error::other("disk on fire")) })
                .unwrap();
            Ok(())
        })
        .await?;
        Ok(())
    }
    let err = run().await.unwrap_err();
    assert_eq!(err.to_string(), "disk on fire");
    Ok(())
}

/// A future that is ready at once, and panics when dropped.
struct PanicsWhenDropped(&'static str);

impl std::future::Future for PanicsWhenDropped {
    type Output = Result<(), BoxError>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

#[anyio::test]
async fn a_panic_in_drop_as_a_task_ends_resumes_like_any_panic_of_the_task() -> Result<(), BoxError>
{
    // A panic while the task's locals are dropped by a cancellation.
    let caught = std::panic::AssertUnwindSafe(task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let guard = PanicsWhenDropped("drop during cancellation");
            sleep(LONG).await?;
            drop(guard);
            Ok(())
        })?;
        sleep(Duration::from_millis(5)).await?;
        tg.cancel();
        Ok(())
    }))
    .catch_unwind()
    .await;
    let panic = caught.unwrap_err();
    assert_eq!(
        panic.downcast_ref::<String>().map(String::as_str),
        Some("drop during cancellation")
    );
    // A panic while the future of a task that has returned is dropped.
    let caught = std::panic::AssertUnwindSafe(task_group(|tg: TaskGroup| async move {
        tg.start_soon(PanicsWhenDropped("drop after returning"))?;
        Ok(())
    }))
    .catch_unwind()
    .await;
    let panic = caught.unwrap_err();
    assert_eq!(
        panic.downcast_ref::<String>().map(String::as_str),
        Some("drop after returning")
    );
    Ok(())
}

#[anyio::test]
async fn a_panic_in_drop_of_an_aborted_task_is_discarded_and_the_run_goes_on()
-> Result<(), BoxError> {
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let group = task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            struct Both(Arc<AtomicBool>, Option<PanicsWhenDropped>);
            impl Drop for Both {
                fn drop(&mut self) {
                    self.0.store(true, SeqCst);
                }
            }
            let _guard = Both(d, Some(PanicsWhenDropped("drop of an aborted task")));
            std::future::pending::<()>().await;
            Ok(())
        })?;
        sleep(LONG).await?;
        Ok(())
    });
    let out = anyio::move_on_after(Duration::from_millis(20), anyio::cancellable(group)).await?;
    assert!(out.is_none());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dropped.load(SeqCst) && Instant::now() < deadline {
        sleep(Duration::from_millis(1)).await?;
    }
    assert!(dropped.load(SeqCst), "the aborted task was dropped");
    // Nothing reached the runtime: this run, and its other tasks, go on.
    task_group(|tg: TaskGroup| async move {
        tg.start_soon(async { sleep(Duration::from_millis(1)).await.map_err(Into::into) })?;
        Ok(())
    })
    .await?;
    Ok(())
}

fn boom() -> Result<(), BoxError> {
    panic!("boom in a task")
}
