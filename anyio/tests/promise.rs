//! `Promise`, AnyIO's `Future`: set once, awaited by many, cancellable; its waits are
//! checkpoints; on every backend and flavour.
//!
//! Waiters are lined up deterministically: each test starts its waiters and waits (with
//! `until`) until the promise's statistics show them queued before it ends the promise.

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::io;
use std::sync::{Arc, Mutex};

use anyio::{
    AlreadyFinished, BoxError, CancelScope, Cancelled, IsCancelled, Promise, PromiseError,
    PromiseStatus, TaskGroup, checkpoint, task_group,
};
use futures_lite::future::poll_once;

/// Yields until `cond` holds.
async fn until(mut cond: impl FnMut() -> bool) -> Result<(), Cancelled> {
    while !cond() {
        checkpoint().await?;
    }
    Ok(())
}

/// Starts `n` tasks that wait for `promise` and record what they got, in `results`, and
/// returns once all of them wait (beside those already waiting).
async fn start_waiters<T, E>(
    tg: &TaskGroup,
    promise: &Promise<T, E>,
    n: usize,
    results: &Arc<Mutex<Vec<Result<T, String>>>>,
) -> Result<(), BoxError>
where
    T: Clone + Send + Sync + 'static,
    E: std::fmt::Display + Send + Sync + 'static,
{
    let already = promise.statistics().tasks_waiting;
    for _ in 0..n {
        let (p, r) = (promise.clone(), results.clone());
        tg.start_soon(async move {
            let got = p.wait().await.cloned().map_err(|e| e.to_string());
            r.lock().unwrap().push(got);
            Ok(())
        })?;
    }
    until(|| promise.statistics().tasks_waiting == already + n).await?;
    Ok(())
}

async fn every_waiter_gets_the_value() -> Result<(), BoxError> {
    let promise: Promise<String> = Promise::new();
    let results = Arc::new(Mutex::new(Vec::new()));
    let (p, r) = (promise.clone(), results.clone());
    task_group(|tg: TaskGroup| async move {
        start_waiters(&tg, &p, 3, &r).await?;
        assert!(r.lock().unwrap().is_empty());
        assert_eq!(p.status(), PromiseStatus::Pending);
        p.set("done".to_string())?;
        assert_eq!(p.status(), PromiseStatus::Finished);
        assert_eq!(p.statistics().tasks_waiting, 0);
        Ok(())
    })
    .await?;
    assert_eq!(*results.lock().unwrap(), vec![Ok("done".to_string()); 3]);
    // The value stays for later readers, waiting or not.
    assert_eq!(promise.value()?, "done");
    assert_eq!(promise.wait().await?, "done");
    assert!(promise.error()?.is_none());
    Ok(())
}

async fn every_waiter_gets_the_error() -> Result<(), BoxError> {
    let promise: Promise<u32, io::Error> = Promise::new();
    let results = Arc::new(Mutex::new(Vec::new()));
    let (p, r) = (promise.clone(), results.clone());
    task_group(|tg: TaskGroup| async move {
        start_waiters(&tg, &p, 2, &r).await?;
        p.set_error(io::Error::other("boom"))?;
        assert_eq!(p.status(), PromiseStatus::Failed);
        Ok(())
    })
    .await?;
    assert_eq!(
        *results.lock().unwrap(),
        vec![Err("the promise failed: boom".to_string()); 2]
    );
    // Every reader gets the same error.
    let PromiseError::Failed(first) = promise.wait().await.unwrap_err() else {
        panic!("a failed promise reports its error");
    };
    let PromiseError::Failed(second) = promise.value().unwrap_err() else {
        panic!("a failed promise reports its error");
    };
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(first.to_string(), "boom");
    assert_eq!(
        promise.error()?.map(|e| e.to_string()).as_deref(),
        Some("boom")
    );
    Ok(())
}

async fn setting_twice_gives_the_value_back() -> Result<(), BoxError> {
    let promise: Promise<String> = Promise::new();
    promise.set("first".to_string())?;
    let err: AlreadyFinished<String> = promise.set("second".to_string()).unwrap_err();
    assert_eq!(err.status(), PromiseStatus::Finished);
    assert_eq!(err.to_string(), "the promise has already finished");
    assert!(!err.is_cancelled());
    assert_eq!(err.into_inner(), "second");
    let err = promise.set_error("an error".into()).unwrap_err();
    assert_eq!(err.status(), PromiseStatus::Finished);
    assert_eq!(err.into_inner().to_string(), "an error");
    assert_eq!(promise.value()?, "first");

    let failed: Promise<String> = Promise::new();
    failed.set_error("boom".into())?;
    let err = failed.set("value".to_string()).unwrap_err();
    assert_eq!(err.status(), PromiseStatus::Failed);
    assert_eq!(err.to_string(), "the promise has already failed");
    assert_eq!(err.into_inner(), "value");
    let err = failed.set_error("again".into()).unwrap_err();
    assert_eq!(err.into_inner().to_string(), "again");
    assert_eq!(
        failed.error()?.map(|e| e.to_string()).as_deref(),
        Some("boom")
    );
    Ok(())
}

async fn cancelling_wakes_every_waiter_with_the_cancelled_error() -> Result<(), BoxError> {
    let promise: Promise<u32> = Promise::new();
    let results = Arc::new(Mutex::new(Vec::new()));
    let (p, r) = (promise.clone(), results.clone());
    task_group(|tg: TaskGroup| async move {
        start_waiters(&tg, &p, 2, &r).await?;
        assert!(p.cancel());
        assert_eq!(p.status(), PromiseStatus::Cancelled);
        Ok(())
    })
    .await?;
    assert_eq!(
        *results.lock().unwrap(),
        vec![Err("the promise was cancelled".to_string()); 2]
    );
    let err = promise.wait().await.unwrap_err();
    assert!(matches!(err, PromiseError::PromiseCancelled));
    // The promise's own cancellation is not a cancel scope's.
    assert!(!err.is_cancelled());
    assert!(matches!(
        promise.value(),
        Err(PromiseError::PromiseCancelled)
    ));
    assert!(matches!(
        promise.error(),
        Err(PromiseError::PromiseCancelled)
    ));
    // Cancelling again does nothing; setting is refused with the value back.
    assert!(!promise.cancel());
    let err = promise.set(5).unwrap_err();
    assert_eq!(err.status(), PromiseStatus::Cancelled);
    assert_eq!(err.to_string(), "the promise was cancelled");
    assert_eq!(err.into_inner(), 5);
    Ok(())
}

async fn cancelling_an_ended_promise_keeps_its_result() -> Result<(), BoxError> {
    let set: Promise<&str> = Promise::new();
    set.set("item")?;
    assert!(!set.cancel());
    assert_eq!(set.status(), PromiseStatus::Finished);
    assert_eq!(*set.wait().await?, "item");

    let failed: Promise<&str> = Promise::new();
    failed.set_error("failed".into())?;
    assert!(!failed.cancel());
    assert_eq!(failed.status(), PromiseStatus::Failed);
    assert_eq!(
        failed.wait().await.unwrap_err().to_string(),
        "the promise failed: failed"
    );
    Ok(())
}

async fn a_pending_promise_is_not_finished() -> Result<(), BoxError> {
    let promise: Promise<u8> = Promise::default();
    assert_eq!(promise.status(), PromiseStatus::Pending);
    let err = promise.value().unwrap_err();
    assert!(matches!(err, PromiseError::NotFinished));
    assert_eq!(err.to_string(), "the promise has not finished yet");
    assert!(!err.is_cancelled());
    assert!(matches!(promise.error(), Err(PromiseError::NotFinished)));
    assert_eq!(
        format!("{promise:?}"),
        "Promise { status: Pending, tasks_waiting: 0 }"
    );
    Ok(())
}

async fn a_waiter_cancelled_while_waiting_gets_cancelled() -> Result<(), BoxError> {
    let promise: Promise<u32> = Promise::new();
    let results = Arc::new(Mutex::new(Vec::new()));
    let scope = CancelScope::new();
    let (p, r, s) = (promise.clone(), results.clone(), scope.clone());
    task_group(|tg: TaskGroup| async move {
        // One waiter in a scope that is cancelled, one outside it.
        let (p2, s2) = (p.clone(), s.clone());
        tg.start_soon(async move {
            let caught = s2
                .run(async {
                    let err = p2.wait().await.unwrap_err();
                    assert!(matches!(err, PromiseError::Cancelled(_)));
                    assert!(err.is_cancelled());
                    assert!(anyio::is_cancelled(&BoxError::from(err.clone())));
                    if let PromiseError::Cancelled(c) = &err {
                        assert_eq!(err.to_string(), c.to_string());
                    }
                    Err::<(), _>(err)
                })
                .await?;
            assert_eq!(caught, None);
            Ok(())
        })?;
        until(|| p.statistics().tasks_waiting == 1).await?;
        start_waiters(&tg, &p, 1, &r).await?;
        s.cancel();
        until(|| p.statistics().tasks_waiting == 1).await?;
        p.set(9)?;
        Ok(())
    })
    .await?;
    assert!(scope.cancelled_caught());
    assert_eq!(*results.lock().unwrap(), vec![Ok(9)]);
    Ok(())
}

async fn a_waiter_cancelled_before_waiting_gets_cancelled_though_the_value_is_ready()
-> Result<(), BoxError> {
    let promise: Promise<u32> = Promise::new();
    promise.set(1)?;
    let scope = CancelScope::new();
    scope.cancel();
    let caught = scope
        .run(async {
            let err = promise.wait().await.unwrap_err();
            assert!(err.is_cancelled());
            Err::<(), _>(err)
        })
        .await?;
    assert_eq!(caught, None);
    // Outside the scope the value is there.
    assert_eq!(*promise.wait().await?, 1);
    Ok(())
}

async fn waiting_on_an_ended_promise_is_a_checkpoint() -> Result<(), BoxError> {
    let promise: Promise<u32> = Promise::new();
    promise.set(3)?;
    let mut wait = promise.wait();
    assert!(poll_once(&mut wait).await.is_none());
    assert_eq!(*wait.await?, 3);
    Ok(())
}

async fn a_value_set_just_before_a_cancel_is_returned() -> Result<(), BoxError> {
    // Completed is completed: the next checkpoint reports the cancellation.
    let promise: Promise<u32> = Promise::new();
    let scope = CancelScope::new();
    let handle = scope.clone();
    let caught = scope
        .run(async {
            let mut wait = promise.wait();
            assert!(poll_once(&mut wait).await.is_none());
            promise.set(4)?;
            handle.cancel();
            assert_eq!(*wait.await?, 4);
            checkpoint().await?;
            Ok::<_, BoxError>(())
        })
        .await?;
    assert_eq!(caught, None);
    Ok(())
}

async fn a_value_set_after_the_cancel_is_not_returned() -> Result<(), BoxError> {
    // The waiter's scope was cancelled first: the wait reports the cancellation, and the
    // value stays in the promise.
    let promise: Promise<u32> = Promise::new();
    let scope = CancelScope::new();
    let handle = scope.clone();
    let caught = scope
        .run(async {
            let mut wait = promise.wait();
            assert!(poll_once(&mut wait).await.is_none());
            handle.cancel();
            promise.set(5)?;
            let err = wait.await.unwrap_err();
            assert!(err.is_cancelled());
            Err::<(), BoxError>(err.into())
        })
        .await?;
    assert_eq!(caught, None);
    assert_eq!(*promise.wait().await?, 5);
    Ok(())
}

async fn setting_from_a_plain_thread_wakes_the_waiter() -> Result<(), BoxError> {
    let promise: Promise<Vec<u8>> = Promise::new();
    let setter = promise.clone();
    let thread = std::thread::spawn(move || {
        while setter.statistics().tasks_waiting == 0 {
            std::thread::yield_now();
        }
        setter
            .set(vec![1, 2, 3])
            .map_err(AlreadyFinished::into_inner)
    });
    assert_eq!(*promise.wait().await?, [1, 2, 3]);
    thread.join().unwrap().unwrap();
    Ok(())
}

async fn dropping_a_wait_loses_nothing() -> Result<(), BoxError> {
    let promise: Promise<u32> = Promise::new();
    let results = Arc::new(Mutex::new(Vec::new()));
    let (p, r) = (promise.clone(), results.clone());
    task_group(|tg: TaskGroup| async move {
        start_waiters(&tg, &p, 1, &r).await?;
        let mut dropped = p.wait();
        assert!(poll_once(&mut dropped).await.is_none());
        assert_eq!(p.statistics().tasks_waiting, 2);
        drop(dropped);
        assert_eq!(p.statistics().tasks_waiting, 1);
        // Dropped after the promise ended, before it noticed.
        let mut late = p.wait();
        assert!(poll_once(&mut late).await.is_none());
        p.set(8)?;
        drop(late);
        Ok(())
    })
    .await?;
    assert_eq!(*results.lock().unwrap(), vec![Ok(8)]);
    assert_eq!(*promise.wait().await?, 8);
    Ok(())
}

on_every_flavour!(
    every_waiter_gets_the_value,
    every_waiter_gets_the_error,
    setting_twice_gives_the_value_back,
    cancelling_wakes_every_waiter_with_the_cancelled_error,
    cancelling_an_ended_promise_keeps_its_result,
    a_pending_promise_is_not_finished,
    a_waiter_cancelled_while_waiting_gets_cancelled,
    a_waiter_cancelled_before_waiting_gets_cancelled_though_the_value_is_ready,
    waiting_on_an_ended_promise_is_a_checkpoint,
    a_value_set_just_before_a_cancel_is_returned,
    a_value_set_after_the_cancel_is_not_returned,
    setting_from_a_plain_thread_wakes_the_waiter,
    dropping_a_wait_loses_nothing,
);

#[test]
fn a_promise_is_usable_outside_a_run() {
    let promise: Promise<u32> = Promise::new();
    let setter = promise.clone();
    std::thread::spawn(move || setter.set(6).map_err(AlreadyFinished::into_inner))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(promise.status(), PromiseStatus::Finished);
    assert_eq!(*promise.value().unwrap(), 6);
    let got = anyio::run(async move { promise.wait().await.copied() }).unwrap();
    assert_eq!(got.unwrap(), 6);
}

#[test]
fn promises_and_their_waits_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let promise: Promise<String> = Promise::new();
    send_sync(&promise);
    send(&promise.wait());
    send_sync(&PromiseError::<BoxError>::NotFinished);
    send_sync(&promise.set(String::new()).err());
}
