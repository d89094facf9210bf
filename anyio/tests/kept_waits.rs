//! A socket keeps the cancellation registration of its last wait from one operation to the
//! next (so a task reading again and again in one scope registers once). The rule this
//! must keep: every wait is ended by a cancellation of the scopes it runs in *now*, never
//! by those of an earlier operation, whichever task or scope did that operation, whether
//! it completed, was cancelled or was dropped; and nothing received is lost.

use std::sync::Arc;
use std::time::Duration;

use anyio::net::{SocketAttributes, create_udp_socket};
use anyio::stream::{AsyncResource, IoErrorExt};
use anyio::{BoxError, CancelScope, Event, TaskGroup};

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

#[path = "support/tcp_pair.rs"]
mod tcp_pair;
use tcp_pair::pair;

/// Reads in one scope that waited, then in another that is cancelled while the read
/// waits: the second read ends with the cancellation, and the bytes sent afterwards are
/// read whole by a third read outside both scopes.
async fn a_later_scope_cancels_its_own_wait() -> Result<(), BoxError> {
    let (client, server) = pair().await?;
    let client = Arc::new(client);
    let mut buf = [0u8; 16];
    let first = CancelScope::new();
    let n = first
        .run(anyio::task_group(|tg: TaskGroup| {
            let client = client.clone();
            let (server, buf) = (&server, &mut buf);
            async move {
                tg.start_soon(async move {
                    anyio::wait_all_tasks_blocked().await?;
                    client.send(b"one").await.map_err(BoxError::from)
                })?;
                // Waits inside the first scope until the bytes come.
                Ok::<_, BoxError>(server.receive_into(buf).await?)
            }
        }))
        .await?;
    assert_eq!(n, Some(Some(3)));
    assert_eq!(&buf[..3], b"one");

    let second = Arc::new(CancelScope::new());
    let out = anyio::task_group(|tg: TaskGroup| {
        let second = second.clone();
        let server = &server;
        let buf = &mut buf;
        async move {
            tg.start_soon({
                let second = second.clone();
                async move {
                    anyio::wait_all_tasks_blocked().await?;
                    second.cancel();
                    Ok::<_, BoxError>(())
                }
            })?;
            second
                .run(async { server.receive_into(buf).await })
                .await
                .map_err(BoxError::from)
        }
    })
    .await?;
    assert_eq!(
        out,
        Some(None),
        "the waiting read ended with its scope's cancellation"
    );
    assert!(second.cancelled_caught());

    client.send(b"two").await?;
    let n = server.receive_into(&mut buf).await?;
    assert_eq!(&buf[..n], b"two");
    Ok(())
}

/// A scope whose read completed is cancelled afterwards: a later read outside it is not
/// cancelled, and waits until its bytes come.
async fn an_earlier_scope_does_not_cancel_a_later_wait() -> Result<(), BoxError> {
    let (client, server) = pair().await?;
    let client = Arc::new(client);
    let mut buf = [0u8; 16];
    let earlier = Arc::new(CancelScope::new());
    client.send(b"one").await?;
    let n = earlier
        .run(async { server.receive_into(&mut buf).await })
        .await?
        .expect("nothing cancels the earlier scope yet");
    assert_eq!(&buf[..n], b"one");

    let server = &server;
    let buf = &mut buf;
    anyio::task_group(|tg: TaskGroup| {
        let earlier = earlier.clone();
        let client = client.clone();
        async move {
            tg.start_soon(async move {
                anyio::wait_all_tasks_blocked().await?;
                // The earlier scope is over; cancelling it now must reach nobody.
                earlier.cancel();
                anyio::sleep(Duration::from_millis(20)).await?;
                client.send(b"two").await?;
                Ok::<_, BoxError>(())
            })?;
            let n = server.receive_into(buf).await?;
            assert_eq!(&buf[..n], b"two");
            Ok(())
        }
    })
    .await?;
    Ok(())
}

/// Two tasks read the same socket in turn, each inside its own scope; the second task's
/// scope is cancelled while it waits: its read ends cancelled, and the first task reads
/// the next bytes, sent after that.
async fn another_task_takes_the_registration_over() -> Result<(), BoxError> {
    let (client, server) = pair().await?;
    let server = Arc::new(server);
    let mut buf = [0u8; 16];
    client.send(b"one").await?;
    let n = server.receive_into(&mut buf).await?;
    assert_eq!(&buf[..n], b"one");

    let scope = Arc::new(CancelScope::new());
    let reader = anyio::task_group(|tg: TaskGroup| {
        let (server, scope) = (server.clone(), scope.clone());
        async move {
            let handle = tg.create_task({
                let scope = scope.clone();
                async move {
                    let mut buf = [0u8; 16];
                    let out = scope
                        .run(async { server.receive_into(&mut buf).await })
                        .await?;
                    Ok::<_, BoxError>(out.map(|n| buf[..n].to_vec()))
                }
            })?;
            anyio::wait_all_tasks_blocked().await?;
            scope.cancel();
            Ok::<_, BoxError>(handle.await?)
        }
    })
    .await?;
    assert_eq!(
        reader,
        Some(None),
        "the other task's read ended with its scope"
    );

    client.send(b"two").await?;
    let n = server.receive_into(&mut buf).await?;
    assert_eq!(&buf[..n], b"two");
    Ok(())
}

/// A read dropped mid-wait by a timeout, then a read without one: the bytes come whole.
async fn a_dropped_wait_leaves_nothing_behind() -> Result<(), BoxError> {
    let (client, server) = pair().await?;
    let mut buf = [0u8; 16];
    for round in 0..3u8 {
        let out = anyio::move_on_after(Duration::from_millis(5), async {
            server.receive_into(&mut buf).await
        })
        .await?;
        assert!(out.is_none(), "round {round}: nothing was sent yet");
        client.send(&[round; 4]).await?;
        let n = server.receive_into(&mut buf).await?;
        assert_eq!(&buf[..n], &[round; 4]);
    }
    Ok(())
}

/// A read in a scope cancelled before it starts ends with the cancellation at once, even
/// with bytes waiting and a registration kept from an earlier read in another scope; it
/// takes nothing, and the next read outside the scope gets the bytes whole.
async fn a_cancelled_scope_is_seen_before_the_first_wait() -> Result<(), BoxError> {
    let (client, server) = pair().await?;
    let mut buf = [0u8; 16];
    client.send(b"one").await?;
    let n = server.receive_into(&mut buf).await?;
    assert_eq!(&buf[..n], b"one");

    client.send(b"two").await?;
    let scope = CancelScope::new();
    scope.cancel();
    let out = scope
        .run(async { server.receive_into(&mut buf).await })
        .await?;
    assert_eq!(out, None, "the read ended with its scope's cancellation");
    assert!(scope.cancelled_caught());

    let n = server.receive_into(&mut buf).await?;
    assert_eq!(&buf[..n], b"two");
    Ok(())
}

/// A task waits to receive, gets a datagram, then waits again (its waker is registered
/// already, with the scope and for a close): closing the socket from another task ends the
/// second wait with `ClosedResourceError`. UDP, an unconnected socket: on systems where
/// shutting it down raises no readiness event, only the close's own wake-up ends the wait
/// (Linux raises one, so there this checks the rule, not which wake-up came first).
async fn a_close_ends_a_wait_whose_waker_was_kept() -> Result<(), BoxError> {
    let socket = Arc::new(create_udp_socket(None, Some("127.0.0.1"), 0).await?);
    let to = socket.local_address()?.as_ip().expect("an IP socket");
    let sender = create_udp_socket(None, Some("127.0.0.1"), 0).await?;
    let out = anyio::fail_after(Duration::from_secs(10), async {
        let group = anyio::task_group(|tg: TaskGroup| {
            let reader = socket.clone();
            let first_read = Arc::new(Event::new());
            let (socket, sender) = (&socket, &sender);
            async move {
                let read = first_read.clone();
                tg.start_soon(async move {
                    let (data, _) = reader.receive().await?;
                    assert_eq!(data, b"one");
                    read.set();
                    let err = reader.receive().await.unwrap_err();
                    assert!(err.is_closed_resource(), "the kept wait: {err}");
                    Ok::<_, BoxError>(())
                })?;
                anyio::wait_all_tasks_blocked().await?;
                sender.send_to(b"one", to).await?;
                // The reader waits a second time once every task is blocked again.
                first_read.wait().await?;
                anyio::wait_all_tasks_blocked().await?;
                socket.aclose().await?;
                Ok::<_, BoxError>(())
            }
        })
        .await;
        group.map_err(BoxError::from)
    })
    .await?;
    assert_eq!(out, Some(()), "the group ran to its end");
    Ok(())
}

/// A task waits to read in a scope, gets its bytes, then waits again in the same scope
/// (registered already): cancelling the scope from another task ends the second wait, and
/// the bytes sent afterwards are read whole.
async fn a_cancellation_ends_a_wait_whose_registration_was_kept() -> Result<(), BoxError> {
    let (client, server) = pair().await?;
    let server = Arc::new(server);
    let scope = Arc::new(CancelScope::new());
    let out = anyio::fail_after(Duration::from_secs(10), async {
        let group = anyio::task_group(|tg: TaskGroup| {
            let (reader, scope) = (server.clone(), scope.clone());
            let client = &client;
            let first_read = Arc::new(Event::new());
            async move {
                let (in_task, read) = (scope.clone(), first_read.clone());
                tg.start_soon(async move {
                    let mut buf = [0u8; 16];
                    let out = in_task
                        .run(async {
                            let n = reader.receive_into(&mut buf).await?;
                            assert_eq!(&buf[..n], b"one");
                            read.set();
                            reader.receive_into(&mut buf).await
                        })
                        .await?;
                    assert_eq!(out, None, "the second wait ended with the cancellation");
                    Ok::<_, BoxError>(())
                })?;
                anyio::wait_all_tasks_blocked().await?;
                client.send(b"one").await?;
                first_read.wait().await?;
                anyio::wait_all_tasks_blocked().await?;
                scope.cancel();
                Ok::<_, BoxError>(())
            }
        })
        .await;
        group.map_err(BoxError::from)
    })
    .await?;
    assert_eq!(out, Some(()), "the group ran to its end");
    assert!(scope.cancelled_caught());
    client.send(b"two").await?;
    let mut buf = [0u8; 16];
    let n = server.receive_into(&mut buf).await?;
    assert_eq!(&buf[..n], b"two");
    Ok(())
}

on_every_flavour!(
    a_later_scope_cancels_its_own_wait,
    an_earlier_scope_does_not_cancel_a_later_wait,
    another_task_takes_the_registration_over,
    a_dropped_wait_leaves_nothing_behind,
    a_cancelled_scope_is_seen_before_the_first_wait,
    a_close_ends_a_wait_whose_waker_was_kept,
    a_cancellation_ends_a_wait_whose_registration_was_kept,
);
