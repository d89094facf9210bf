//! `RunVar`: one value per run, visible from every task of the run; `set` tokens that
//! `reset` uses once; AnyIO's errors and messages; on every backend and flavour.

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::sync::{Arc, Barrier, Mutex};

use anyio::{
    Backend, BoxError, EventLoopToken, IsCancelled, RunVar, RunVarError, Runner, TaskGroup,
    TaskStatus, current_token, from_thread, task_group, to_thread,
};

async fn a_default_is_the_value_until_set() -> Result<(), BoxError> {
    static RETRIES: RunVar<u32> = RunVar::with_default("retries", 3);
    assert_eq!(RETRIES.name(), "retries");
    assert_eq!(RETRIES.get()?, 3);
    let token = RETRIES.set(5)?;
    assert_eq!(RETRIES.get()?, 5);
    RETRIES.reset(&token)?;
    assert_eq!(RETRIES.get()?, 3);
    Ok(())
}

async fn a_default_fn_makes_one_value_per_run() -> Result<(), BoxError> {
    static CACHE: RunVar<Arc<Mutex<Vec<u32>>>> = RunVar::with_default_fn("cache", Arc::default);
    let first = CACHE.get()?;
    first.lock().unwrap().push(1);
    let again = CACHE.get()?;
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(*again.lock().unwrap(), [1]);
    // Setting replaces the made value, and resetting puts it back.
    let token = CACHE.set(Arc::default())?;
    assert!(CACHE.get()?.lock().unwrap().is_empty());
    CACHE.reset(&token)?;
    assert!(Arc::ptr_eq(&CACHE.get()?, &first));
    Ok(())
}

async fn reset_restores_the_value_each_set_replaced() -> Result<(), BoxError> {
    static LEVEL: RunVar<String> = RunVar::new("level");
    let outer = LEVEL.set("outer".to_string())?;
    let middle = LEVEL.set("middle".to_string())?;
    let inner = LEVEL.set("inner".to_string())?;
    assert_eq!(LEVEL.get()?, "inner");
    LEVEL.reset(&inner)?;
    assert_eq!(LEVEL.get()?, "middle");
    LEVEL.reset(&middle)?;
    assert_eq!(LEVEL.get()?, "outer");
    LEVEL.reset(&outer)?;
    // The first `set` found no value, so its reset removes the value.
    assert_eq!(LEVEL.get(), Err(RunVarError::NoValue { name: "level" }));
    Ok(())
}

async fn no_value_and_no_default_is_an_error() -> Result<(), BoxError> {
    static MISSING: RunVar<u8> = RunVar::new("x");
    let err = MISSING.get().unwrap_err();
    assert_eq!(err, RunVarError::NoValue { name: "x" });
    assert_eq!(
        err.to_string(),
        "Run variable \"x\" has no value and no default set"
    );
    assert!(!err.is_cancelled());
    Ok(())
}

async fn a_token_of_another_var_is_refused() -> Result<(), BoxError> {
    static A: RunVar<u8> = RunVar::new("a");
    static B: RunVar<u8> = RunVar::new("b");
    A.set(1)?;
    let b_token = B.set(2)?;
    let err = A.reset(&b_token).unwrap_err();
    assert_eq!(err, RunVarError::WrongVar);
    assert_eq!(err.to_string(), "This token does not belong to this RunVar");
    // Nothing changed, and the token still works with its own variable.
    assert_eq!((A.get()?, B.get()?), (1, 2));
    assert!(!b_token.is_used());
    B.reset(&b_token)?;
    assert!(B.get().is_err());
    Ok(())
}

async fn a_token_works_once() -> Result<(), BoxError> {
    static COUNT: RunVar<u8> = RunVar::new("count");
    let first = COUNT.set(1)?;
    let second = COUNT.set(2)?;
    COUNT.reset(&second)?;
    assert!(second.is_used());
    COUNT.set(3)?;
    let err = COUNT.reset(&second).unwrap_err();
    assert_eq!(err, RunVarError::TokenUsed);
    assert_eq!(err.to_string(), "This token has already been used");
    assert_eq!(COUNT.get()?, 3);
    assert!(!first.is_used());
    assert_eq!(
        format!("{first:?}"),
        "RunVarToken { var: \"count\", used: false }"
    );
    Ok(())
}

async fn two_vars_with_one_name_are_independent() -> Result<(), BoxError> {
    static FIRST: RunVar<u8> = RunVar::new("same");
    static SECOND: RunVar<u8> = RunVar::with_default("same", 0);
    FIRST.set(1)?;
    assert_eq!(SECOND.get()?, 0);
    let token = SECOND.set(2)?;
    assert_eq!((FIRST.get()?, SECOND.get()?), (1, 2));
    assert_eq!(FIRST.reset(&token), Err(RunVarError::WrongVar));
    Ok(())
}

async fn a_var_made_where_another_was_dropped_starts_empty() -> Result<(), BoxError> {
    // Each loop's variable lives at the same address as the last one's.
    for i in 0..3 {
        let local: RunVar<u32> = RunVar::new("local");
        assert_eq!(local.get(), Err(RunVarError::NoValue { name: "local" }));
        local.set(i)?;
        assert_eq!(local.get()?, i);
    }
    Ok(())
}

async fn every_task_sees_the_runs_value() -> Result<(), BoxError> {
    static SHARED: RunVar<u32> = RunVar::new("shared");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    task_group(|tg: TaskGroup| async move {
        // Set by a child, seen by the parent and every sibling: the run's, not the task's.
        tg.start(|status: TaskStatus<()>| async move {
            SHARED.set(7)?;
            status.started(());
            Ok(())
        })
        .await?;
        assert_eq!(SHARED.get()?, 7);
        for _ in 0..8 {
            let s = s.clone();
            tg.start_soon(async move {
                anyio::checkpoint().await?;
                s.lock().unwrap().push(SHARED.get()?);
                Ok(())
            })?;
        }
        Ok(())
    })
    .await?;
    assert_eq!(*seen.lock().unwrap(), [7; 8]);
    Ok(())
}

async fn calls_from_other_threads_see_the_runs_value() -> Result<(), BoxError> {
    static USER: RunVar<&'static str> = RunVar::new("user");
    USER.set("alice")?;
    // From a worker thread: not in the run itself, but through a call back into it.
    let (direct, through_call) = to_thread::run_sync(|| {
        let direct = USER.get();
        let through_call = from_thread::run_sync(|| USER.get());
        (direct, through_call)
    })
    .await?;
    assert_eq!(direct, Err(RunVarError::NoRun { name: "user" }));
    assert_eq!(through_call?, Ok("alice"));
    // From a plain thread, with the run's token (joined from a worker thread, so the
    // loop runs meanwhile).
    let token = current_token();
    let from_plain = to_thread::run_sync(move || {
        std::thread::spawn(move || token.run_sync(|| USER.get()))
            .join()
            .unwrap()
    })
    .await?;
    assert_eq!(from_plain?, Ok("alice"));
    Ok(())
}

on_every_flavour!(
    a_default_is_the_value_until_set,
    a_default_fn_makes_one_value_per_run,
    reset_restores_the_value_each_set_replaced,
    no_value_and_no_default_is_an_error,
    a_token_of_another_var_is_refused,
    a_token_works_once,
    two_vars_with_one_name_are_independent,
    a_var_made_where_another_was_dropped_starts_empty,
    every_task_sees_the_runs_value,
    calls_from_other_threads_see_the_runs_value,
);

/// Every backend this build has.
fn backends() -> Vec<Backend> {
    [Backend::Tokio, Backend::Smol]
        .into_iter()
        .filter(|b| b.is_enabled())
        .collect()
}

#[test]
fn runs_one_after_the_other_do_not_share_values() {
    static SESSION: RunVar<u32> = RunVar::with_default("session", 0);
    static TOKEN: Mutex<Option<anyio::RunVarToken<u32>>> = Mutex::new(None);
    for backend in backends() {
        Runner::new(backend)
            .run(async {
                assert_eq!(SESSION.get(), Ok(0));
                *TOKEN.lock().unwrap() = Some(SESSION.set(1).unwrap());
            })
            .unwrap();
        Runner::new(backend)
            .run(async {
                assert_eq!(SESSION.get(), Ok(0));
                // A token from the first run does not reach into this one.
                let token = TOKEN.lock().unwrap().take().unwrap();
                assert_eq!(SESSION.reset(&token), Err(RunVarError::WrongRun));
                assert_eq!(
                    RunVarError::WrongRun.to_string(),
                    "This token was returned in another run"
                );
                assert!(!token.is_used());
            })
            .unwrap();
    }
}

#[test]
fn concurrent_runs_on_two_threads_do_not_share_values() {
    static WORKER: RunVar<usize> = RunVar::new("worker");
    for backend in backends() {
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|n| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    Runner::new(backend)
                        .run(async move {
                            assert!(WORKER.get().is_err());
                            WORKER.set(n).unwrap();
                            // Both runs have set their value before either reads it.
                            barrier.wait();
                            WORKER.get().unwrap()
                        })
                        .unwrap()
                })
            })
            .collect();
        let seen: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(seen, [0, 1]);
    }
}

#[test]
fn outside_a_run_every_operation_fails() {
    static OUTSIDE: RunVar<u8> = RunVar::with_default("outside", 1);
    let no_run = RunVarError::NoRun { name: "outside" };
    assert_eq!(OUTSIDE.get(), Err(no_run));
    assert_eq!(OUTSIDE.set(2).map(drop), Err(no_run));
    assert_eq!(
        no_run.to_string(),
        "Run variable \"outside\" can only be used inside a task of an anyio run"
    );
    let token = anyio::run(async { OUTSIDE.set(3).unwrap() }).unwrap();
    assert_eq!(OUTSIDE.reset(&token), Err(no_run));
}

#[test]
fn values_are_dropped_when_the_run_ends() {
    // A value that refers to its own run does not keep the run alive.
    static LOOP: RunVar<Arc<EventLoopToken>> = RunVar::new("loop");
    for backend in backends() {
        let run = Runner::new(backend)
            .run(async {
                let token = Arc::new(current_token());
                LOOP.set(token.clone()).unwrap();
                anyio::__private::run_context(&token)
            })
            .unwrap();
        assert!(run.upgrade().is_none());
    }
}

#[test]
fn vars_and_tokens_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    static SHARED: RunVar<String> = RunVar::new("shared");
    send_sync(&SHARED);
    let token = anyio::run(async { SHARED.set(String::new()).unwrap() }).unwrap();
    send_sync(&token);
    send_sync(&RunVarError::WrongVar);
}
