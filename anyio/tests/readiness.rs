//! `wait_readable`, `wait_writable` and `notify_closing` on every backend, on descriptors
//! anyio does not own (a UNIX socket pair) and on one that an anyio socket has registered.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use anyio::net::{connect_tcp, notify_closing, wait_readable, wait_writable};
use anyio::{BoxError, ClosedResourceError, TaskGroup, is_cancelled, wait_all_tasks_blocked};

fn is_closed(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<ClosedResourceError>())
}

#[test]
fn the_futures_are_send() -> io::Result<()> {
    fn assert_send<T: Send>(_: T) {}
    let (a, _b) = UnixStream::pair()?;
    assert_send(wait_readable(&a));
    assert_send(wait_writable(std::os::fd::AsFd::as_fd(&a)));
    Ok(())
}

#[anyio::test]
async fn wait_readable_pends_until_the_peer_writes() -> Result<(), BoxError> {
    let (a, b) = UnixStream::pair()?;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let woken = Arc::new(AtomicBool::new(false));
    anyio::task_group(|tg: TaskGroup| {
        let (a, b, woken) = (a.clone(), b.clone(), woken.clone());
        async move {
            let (wa, w) = (a.clone(), woken.clone());
            tg.start_soon(async move {
                wait_readable(&*wa).await?;
                w.store(true, SeqCst);
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
            anyio::sleep(Duration::from_millis(20)).await?;
            assert!(!woken.load(SeqCst), "readable with nothing to read");
            (&*b).write_all(b"ping")?;
            Ok(())
        }
    })
    .await?;
    assert!(woken.load(SeqCst));
    // The wait read nothing.
    let mut buf = [0; 8];
    assert_eq!((&*a).read(&mut buf)?, 4);
    assert_eq!(&buf[..4], b"ping");
    Ok(())
}

#[anyio::test]
async fn wait_writable_is_immediate_with_room_to_write() -> Result<(), BoxError> {
    let (a, _b) = UnixStream::pair()?;
    anyio::fail_after(Duration::from_secs(5), wait_writable(&a)).await?;
    // And again: waits do not consume readiness.
    anyio::fail_after(Duration::from_secs(5), wait_writable(&a)).await?;
    Ok(())
}

#[anyio::test]
async fn notify_closing_wakes_a_pending_wait_with_closed_resource_error() -> Result<(), BoxError> {
    let (a, _b) = UnixStream::pair()?;
    let a = Arc::new(a);
    let seen = Arc::new(std::sync::Mutex::new(None));
    anyio::task_group(|tg: TaskGroup| {
        let (a, seen) = (a.clone(), seen.clone());
        async move {
            for _ in 0..2 {
                let (wa, seen) = (a.clone(), seen.clone());
                tg.start_soon(async move {
                    let err = wait_readable(&*wa).await.unwrap_err();
                    assert!(is_closed(&err), "{err:?}");
                    assert!(!is_cancelled(&err));
                    *seen.lock().unwrap() = Some(err.kind());
                    Ok(())
                })?;
            }
            wait_all_tasks_blocked().await?;
            notify_closing(&*a);
            Ok(())
        }
    })
    .await?;
    assert_eq!(*seen.lock().unwrap(), Some(io::ErrorKind::NotConnected));

    // A wait started after the notification is not affected.
    let out = anyio::move_on_after(Duration::from_millis(20), wait_readable(&*a)).await?;
    assert_eq!(out, None, "a later wait still pends");
    Ok(())
}

#[anyio::test]
async fn notify_closing_without_waiters_does_nothing() -> Result<(), BoxError> {
    let (a, mut b) = UnixStream::pair()?;
    notify_closing(&a);
    b.write_all(b"x")?;
    anyio::fail_after(Duration::from_secs(5), wait_readable(&a)).await?;
    Ok(())
}

#[anyio::test]
async fn a_cancelled_wait_ends_and_a_new_one_works() -> Result<(), BoxError> {
    let (a, mut b) = UnixStream::pair()?;
    let out = anyio::move_on_after(Duration::from_millis(20), wait_readable(&a)).await?;
    assert_eq!(out, None);

    // A scope cancelled before the wait: it is a checkpoint and fails at once, even though
    // the descriptor is ready.
    b.write_all(b"x")?;
    let scope = anyio::CancelScope::new();
    scope.cancel();
    let res = scope.run(wait_writable(&a)).await?;
    assert_eq!(res, None, "the wait ends with the scope's cancellation");

    // The cancelled waits left nothing that stops the next from working.
    anyio::fail_after(Duration::from_secs(5), wait_readable(&a)).await?;
    Ok(())
}

#[anyio::test]
async fn a_descriptor_an_anyio_socket_registered_can_be_waited_on() -> Result<(), BoxError> {
    let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = server.local_addr()?.port();
    let client = connect_tcp("127.0.0.1", port).await?;
    let (mut peer, _) = server.accept()?;

    let out = anyio::move_on_after(Duration::from_millis(20), wait_readable(&client)).await?;
    assert_eq!(out, None, "nothing to read yet");
    peer.write_all(b"hello")?;
    anyio::fail_after(Duration::from_secs(5), wait_readable(&client)).await?;
    anyio::fail_after(Duration::from_secs(5), wait_writable(&client)).await?;

    // The socket's own registration still works after the duplicate's.
    assert_eq!(client.receive(16).await?, b"hello");
    client.send(b"back").await?;
    let mut buf = [0; 4];
    peer.read_exact(&mut buf)?;
    assert_eq!(&buf, b"back");
    Ok(())
}
