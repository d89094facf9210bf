//! Bad input gets a clear error and brings nothing down: every public function that takes
//! a size, a duration, a deadline, a name, a path, a mode or a number, called with extreme
//! values, on every backend. Each case asserts the error a user would match on (or, where
//! the input is valid, the exact result), never a panic.
//!
//! Deadlines at the end of the clock have their own file (`far_deadlines.rs`), and so do
//! receives of huge sizes (`huge_receives.rs`) and runs that end with calls pending
//! (`run_leak.rs`).

use std::io;
use std::time::Duration;

use anyio::net::{
    AddrInfoOptions, SocketAttributes, TcpListenerOptions, UnixListenerOptions, connect_tcp,
    getaddrinfo,
};
use anyio::{
    BoxError, CancelScope, Cancelled, CapacityLimiter, RunError, Runner, Semaphore, Signal,
    create_memory_object_stream, current_time, fail_after, move_on_after, open_file,
    open_signal_receiver, sleep,
};

/// A path far longer than any file system allows.
fn long_path() -> String {
    format!("/tmp/{}", "x".repeat(100_000))
}

// ---------------------------------------------------------------------------------------
// Durations

#[anyio::test]
async fn the_largest_durations_mean_no_deadline() -> Result<(), BoxError> {
    // Too long for the clock: no deadline, so a ready body completes...
    assert_eq!(
        move_on_after(Duration::MAX, async { Ok::<_, Cancelled>(7) }).await,
        Ok(Some(7))
    );
    assert_eq!(
        fail_after(Duration::MAX, async { Ok::<_, BoxError>(8) })
            .await
            .map_err(|e| e.to_string())?,
        8
    );
    assert_eq!(CancelScope::with_timeout(Duration::MAX).deadline(), None);
    // ...and a sleep that long only ends by cancellation.
    assert_eq!(
        move_on_after(Duration::from_millis(10), sleep(Duration::MAX)).await,
        Ok(None)
    );
    let near_max = Duration::MAX - Duration::from_millis(1);
    assert_eq!(
        move_on_after(Duration::from_millis(10), sleep(near_max)).await,
        Ok(None)
    );
    Ok(())
}

#[anyio::test]
async fn a_zero_duration_is_a_checkpoint() -> Result<(), BoxError> {
    sleep(Duration::ZERO).await?;
    let scope = CancelScope::with_deadline(current_time());
    assert_eq!(scope.run(sleep(Duration::ZERO)).await, Ok(None));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Sizes and counts

#[anyio::test]
async fn the_largest_buffer_size_is_a_bound_not_an_allocation() -> Result<(), BoxError> {
    let (tx, rx) = create_memory_object_stream::<u32>(usize::MAX)?;
    for i in 0..100 {
        tx.send_nowait(i)?;
    }
    for i in 0..100 {
        assert_eq!(rx.receive_nowait()?, i);
    }
    assert!(create_memory_object_stream::<u32>(-1).is_err());
    assert!(create_memory_object_stream::<u32>(f64::NAN).is_err());
    assert!(create_memory_object_stream::<u32>(-0.5).is_err());
    assert!(create_memory_object_stream::<u32>(f64::INFINITY).is_ok());
    Ok(())
}

#[anyio::test]
async fn counts_out_of_range_are_errors() -> Result<(), BoxError> {
    assert!(Semaphore::new(-1).is_err());
    assert!(Semaphore::with_max_value(5, 3).is_err());
    let huge = Semaphore::new(usize::MAX)?;
    assert_eq!(huge.value(), usize::MAX);
    assert!(
        huge.release().is_err(),
        "a release past the largest count is an error"
    );
    assert!(CapacityLimiter::new(-1).is_err());
    let limiter = CapacityLimiter::new(usize::MAX)?;
    assert!(limiter.set_total_tokens(-5).is_err());
    assert_eq!(limiter.total_tokens(), usize::MAX);
    Ok(())
}

#[test]
fn zero_worker_threads_is_an_error() {
    for backend in anyio::Backend::available() {
        let out = Runner::new(backend).worker_threads(0).run(async {});
        assert!(matches!(out, Err(RunError::InvalidOption(_))), "{out:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Signals

#[anyio::test]
async fn signal_numbers_out_of_range_are_errors() -> Result<(), BoxError> {
    for n in [0, -1, 65, 1000, i32::MAX, i32::MIN] {
        assert!(Signal::from_raw(n).is_err(), "signal {n}");
    }
    // SIGKILL and SIGSTOP cannot be caught: refused when named, not when waited for.
    for n in [libc::SIGKILL, libc::SIGSTOP] {
        let err = Signal::from_raw(n).expect_err("cannot be caught");
        assert!(err.to_string().contains("SIG"), "{err}");
    }
    // Nothing was delivered: the receive only ends by cancellation.
    let mut receiver = open_signal_receiver(&[Signal::from_raw(libc::SIGUSR2)?])?;
    let out = move_on_after(Duration::from_millis(5), async {
        receiver.recv().await?;
        Ok::<_, Cancelled>(())
    })
    .await;
    assert_eq!(out, Ok(None));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Paths and names

#[anyio::test]
async fn paths_with_nul_bytes_or_too_long_are_errors() -> Result<(), BoxError> {
    let err = open_file("/tmp/a\0b", "r").await.expect_err("a NUL byte");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = open_file(long_path(), "r").await.expect_err("too long");
    assert_eq!(err.raw_os_error(), Some(libc::ENAMETOOLONG));
    let err = anyio::Path::new("/tmp/a\0b")
        .read()
        .await
        .expect_err("a NUL byte");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    Ok(())
}

#[anyio::test]
async fn host_names_that_cannot_exist_are_errors() -> Result<(), BoxError> {
    assert!(connect_tcp("a\0b", 80).await.is_err());
    assert!(connect_tcp(&"a".repeat(100_000), 80).await.is_err());
    let long = "a.".repeat(200);
    assert!(
        getaddrinfo(long.as_str(), 80, AddrInfoOptions::default())
            .await
            .is_err()
    );
    Ok(())
}

#[anyio::test]
async fn a_closed_port_is_a_connection_error() -> Result<(), BoxError> {
    // Bind a port, then close it: nothing listens there any more.
    let port = {
        let mut listeners = TcpListenerOptions::new()
            .local_host("127.0.0.1")
            .bind()
            .await?
            .into_listeners();
        listeners.remove(0).local_port()?
    };
    let err = connect_tcp("127.0.0.1", port)
        .await
        .expect_err("closed port");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    Ok(())
}

#[anyio::test]
async fn unix_socket_paths_and_modes_out_of_range_are_errors() -> Result<(), BoxError> {
    let dir = std::env::temp_dir().join(format!("anyio-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let err = UnixListenerOptions::new()
        .bind(dir.join("x".repeat(200)))
        .await
        .expect_err("longer than sun_path");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = UnixListenerOptions::new()
        .mode(0o7777777)
        .bind(dir.join("mode.sock"))
        .await
        .expect_err("not a mode");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
