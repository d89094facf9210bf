//! Signals: `open_signal_receiver` (AnyIO's section 1.12) on every backend.
//!
//! The tests send signals to their own process, so every one that sends takes [`serial`]
//! first: tests run in parallel threads of one process, and a signal sent by one would reach
//! the receivers of another. Only `SIGUSR1`, `SIGUSR2` and `SIGWINCH` are sent, and only
//! while a receiver for them is open (so a handler is installed and the default action,
//! which for `SIGUSR1` is to terminate, never runs).
#![cfg(unix)]
// The serializing guard is a std mutex held across the test body on purpose: each test
// runs its own runtime on its own thread, so blocking that thread blocks no other test.
#![allow(clippy::await_holding_lock)]

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyio::{
    BoxError, CancelScope, Cancelled, Signal, SignalReceiver, fail_after, move_on_after,
    open_signal_receiver,
};
use futures_lite::StreamExt;

/// Long enough for any delivery on a loaded machine; only reached when a test fails.
const DEADLINE: Duration = Duration::from_secs(10);
/// How long a receiver must stay quiet to count as drained.
const QUIET: Duration = Duration::from_millis(200);

/// Serializes the tests that send signals.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends `signal` to this process.
fn send(signal: Signal) {
    // SAFETY: `kill` has no memory-safety preconditions.
    let rc = unsafe { libc::kill(libc::getpid(), signal.as_raw()) };
    assert_eq!(rc, 0, "kill failed: {}", io::Error::last_os_error());
}

/// The next signal, failing the test if none arrives within [`DEADLINE`].
async fn next(rx: &mut SignalReceiver) -> Result<Signal, BoxError> {
    let got = fail_after(DEADLINE, async { Ok::<_, BoxError>(rx.recv().await?) }).await?;
    Ok(got)
}

/// Receives until the receiver stays quiet for [`QUIET`]; returns how many arrived. Used
/// before sending, to take anything a previous test's signals left behind.
async fn drain(rx: &mut SignalReceiver) -> Result<Vec<Signal>, BoxError> {
    let mut got = Vec::new();
    while let Some(signal) = move_on_after(QUIET, rx.recv()).await? {
        got.push(signal);
    }
    Ok(got)
}

#[anyio::test]
async fn a_receiver_sees_a_signal() -> Result<(), BoxError> {
    let _serial = serial();
    let mut rx = open_signal_receiver(&[Signal::SIGUSR1])?;
    assert_eq!(rx.signals(), &[Signal::SIGUSR1]);
    drain(&mut rx).await?;
    send(Signal::SIGUSR1);
    assert_eq!(next(&mut rx).await?, Signal::SIGUSR1);
    // And again: a receiver goes on receiving.
    send(Signal::SIGUSR1);
    assert_eq!(next(&mut rx).await?, Signal::SIGUSR1);
    Ok(())
}

#[anyio::test]
async fn a_receiver_tells_its_signals_apart() -> Result<(), BoxError> {
    let _serial = serial();
    let mut rx = open_signal_receiver(&[Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGUSR1])?;
    assert_eq!(rx.signals(), &[Signal::SIGUSR1, Signal::SIGUSR2]);
    drain(&mut rx).await?;
    send(Signal::SIGUSR2);
    assert_eq!(next(&mut rx).await?, Signal::SIGUSR2);
    send(Signal::SIGUSR1);
    assert_eq!(next(&mut rx).await?, Signal::SIGUSR1);
    Ok(())
}

#[anyio::test]
async fn every_receiver_sees_every_signal() -> Result<(), BoxError> {
    let _serial = serial();
    let mut a = open_signal_receiver(&[Signal::SIGUSR2])?;
    let mut b = open_signal_receiver(&[Signal::SIGUSR2, Signal::SIGUSR1])?;
    let mut other = open_signal_receiver(&[Signal::SIGWINCH])?;
    let dropped = open_signal_receiver(&[Signal::SIGUSR2])?;
    drain(&mut a).await?;
    drain(&mut b).await?;
    drain(&mut other).await?;
    // Dropping one receiver leaves the others listening.
    drop(dropped);
    send(Signal::SIGUSR2);
    assert_eq!(next(&mut a).await?, Signal::SIGUSR2);
    assert_eq!(next(&mut b).await?, Signal::SIGUSR2);
    // A receiver for another signal sees nothing.
    assert_eq!(drain(&mut other).await?, []);
    // A receiver opened now sees the next delivery too.
    let mut c = open_signal_receiver(&[Signal::SIGUSR2])?;
    send(Signal::SIGUSR2);
    assert_eq!(next(&mut a).await?, Signal::SIGUSR2);
    assert_eq!(next(&mut b).await?, Signal::SIGUSR2);
    assert_eq!(next(&mut c).await?, Signal::SIGUSR2);
    Ok(())
}

#[anyio::test]
async fn receivers_in_concurrent_tasks_all_wake() -> Result<(), BoxError> {
    let _serial = serial();
    let mut receivers = Vec::new();
    for _ in 0..3 {
        let mut rx = open_signal_receiver(&[Signal::SIGUSR1])?;
        drain(&mut rx).await?;
        receivers.push(rx);
    }
    anyio::task_group(|tg: anyio::TaskGroup| async move {
        for mut rx in receivers {
            tg.start_soon(async move {
                assert_eq!(next(&mut rx).await?, Signal::SIGUSR1);
                Ok(())
            })?;
        }
        // Send once every task waits.
        anyio::wait_all_tasks_blocked().await?;
        send(Signal::SIGUSR1);
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn the_stream_yields_signals() -> Result<(), BoxError> {
    let _serial = serial();
    let mut rx = open_signal_receiver(&[Signal::SIGUSR1])?;
    drain(&mut rx).await?;
    send(Signal::SIGUSR1);
    let item = fail_after(DEADLINE, async { Ok::<_, BoxError>(rx.next().await) }).await?;
    assert_eq!(item, Some(Ok(Signal::SIGUSR1)));
    Ok(())
}

#[anyio::test]
async fn cancellation_ends_the_wait_with_cancelled() -> Result<(), BoxError> {
    let _serial = serial();
    let mut rx = open_signal_receiver(&[Signal::SIGUSR1])?;
    drain(&mut rx).await?;

    // A deadline ends a pending wait.
    let out = move_on_after(Duration::from_millis(30), rx.recv()).await?;
    assert_eq!(out, None);

    // Iterating the stream in a scope cancelled from another task: the last item is the
    // cancellation, which `?` propagates out of the loop and the scope absorbs.
    let scope = Arc::new(CancelScope::new());
    let seen: Arc<Mutex<Vec<Result<Signal, Cancelled>>>> = Arc::default();
    let (scope2, seen2) = (scope.clone(), seen.clone());
    let group = anyio::task_group(|tg: anyio::TaskGroup| async move {
        tg.start_soon(async move {
            scope2
                .run(async {
                    while let Some(item) = rx.next().await {
                        seen2.lock().unwrap().push(item.clone());
                        item?;
                    }
                    Ok::<_, Cancelled>(())
                })
                .await?;
            Ok(())
        })?;
        anyio::wait_all_tasks_blocked().await?;
        scope.cancel();
        Ok(())
    });
    // A wait that the cancellation did not wake fails here instead of hanging.
    fail_after(DEADLINE, async { Ok::<_, BoxError>(group.await?) }).await?;
    assert_eq!(*seen.lock().unwrap(), [Err(Cancelled::new())]);

    // Inside an already cancelled scope it fails at once, even with a signal waiting, and
    // the signal is still there afterwards.
    let mut rx = open_signal_receiver(&[Signal::SIGUSR2])?;
    drain(&mut rx).await?;
    send(Signal::SIGUSR2);
    anyio::sleep(QUIET).await?;
    let scope = CancelScope::new();
    scope.cancel();
    let mut result = None;
    scope
        .run(async {
            result = Some(rx.recv().await);
            Ok::<_, Cancelled>(())
        })
        .await?;
    assert_eq!(result, Some(Err(Cancelled::new())));
    assert_eq!(next(&mut rx).await?, Signal::SIGUSR2);
    Ok(())
}

/// A burst of `N` sends of one signal yields at least one and at most `N` items (the OS
/// and the tokio backend coalesce repeats that were not received yet).
#[anyio::test]
async fn a_burst_yields_at_least_one() -> Result<(), BoxError> {
    const N: usize = 20;
    let _serial = serial();
    let mut a = open_signal_receiver(&[Signal::SIGWINCH])?;
    let mut b = open_signal_receiver(&[Signal::SIGWINCH])?;
    drain(&mut a).await?;
    drain(&mut b).await?;
    for _ in 0..N {
        send(Signal::SIGWINCH);
    }
    for rx in [&mut a, &mut b] {
        assert_eq!(next(rx).await?, Signal::SIGWINCH);
        let rest = drain(rx).await?;
        assert!(rest.iter().all(|&s| s == Signal::SIGWINCH), "{rest:?}");
        let total = 1 + rest.len();
        eprintln!("{N} sends of SIGWINCH yielded {total} items");
        assert!(total <= N, "{total} items for {N} sends");
    }
    Ok(())
}

/// A real-time signal: tokio listens for any number, async-signal only for named ones.
#[cfg(target_os = "linux")]
#[anyio::test]
async fn a_number_the_backend_does_not_know() -> Result<(), BoxError> {
    let rt = Signal::from_raw(libc::SIGRTMIN() + 3)?;
    assert_eq!(rt.name(), None);
    assert_eq!(rt.to_string(), format!("signal {}", libc::SIGRTMIN() + 3));
    match anyio::current_backend()? {
        anyio::Backend::Tokio => drop(open_signal_receiver(&[rt])?),
        anyio::Backend::Smol => {
            let err = open_signal_receiver(&[rt]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
        }
    }
    // glibc keeps the first real-time signals for itself.
    assert!(Signal::from_raw(libc::SIGRTMIN() - 1).is_err());
    Ok(())
}

#[test]
fn forbidden_signals_are_refused() {
    for (number, name) in [
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGSTOP, "SIGSTOP"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGBUS, "SIGBUS"),
    ] {
        let err = Signal::from_raw(number).unwrap_err();
        assert!(err.is_forbidden());
        assert_eq!(err.number(), Some(number));
        assert!(err.to_string().starts_with(name), "{err}");
        assert!(!anyio::is_cancelled(&err));
        let err = name.parse::<Signal>().unwrap_err();
        assert!(err.is_forbidden(), "{err}");
        assert!(Signal::try_from(number).is_err());
    }
    for number in [0, -1, 1000] {
        let err = Signal::from_raw(number).unwrap_err();
        assert!(!err.is_forbidden());
        assert!(err.to_string().contains("not a signal number"), "{err}");
    }
    let err = "SIGNOPE".parse::<Signal>().unwrap_err();
    assert_eq!(err.to_string(), "unknown signal name \"SIGNOPE\"");
    let err: io::Error = Signal::from_raw(libc::SIGKILL).unwrap_err().into();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn signals_have_names_and_numbers() {
    for (signal, number, name) in [
        (Signal::SIGINT, libc::SIGINT, "SIGINT"),
        (Signal::SIGTERM, libc::SIGTERM, "SIGTERM"),
        (Signal::SIGHUP, libc::SIGHUP, "SIGHUP"),
        (Signal::SIGUSR1, libc::SIGUSR1, "SIGUSR1"),
        (Signal::SIGUSR2, libc::SIGUSR2, "SIGUSR2"),
        (Signal::SIGQUIT, libc::SIGQUIT, "SIGQUIT"),
        (Signal::SIGCHLD, libc::SIGCHLD, "SIGCHLD"),
        (Signal::SIGWINCH, libc::SIGWINCH, "SIGWINCH"),
        (Signal::SIGALRM, libc::SIGALRM, "SIGALRM"),
        (Signal::SIGPIPE, libc::SIGPIPE, "SIGPIPE"),
    ] {
        assert_eq!(signal.as_raw(), number);
        assert_eq!(i32::from(signal), number);
        assert_eq!(signal.name(), Some(name));
        assert_eq!(signal.to_string(), name);
        assert_eq!(format!("{signal:?}"), name);
        assert_eq!(Signal::from_raw(number), Ok(signal));
        assert_eq!(name.parse::<Signal>(), Ok(signal));
        assert_eq!(name[3..].to_lowercase().parse::<Signal>(), Ok(signal));
        assert_eq!(number.to_string().parse::<Signal>(), Ok(signal));
    }
}

#[test]
fn receivers_can_move_between_tasks() {
    fn send_sync<T: Send + Sync + Unpin>() {}
    send_sync::<SignalReceiver>();
    send_sync::<anyio::SignalRecv<'static>>();
    send_sync::<Signal>();
    send_sync::<anyio::InvalidSignal>();
}
