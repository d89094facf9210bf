//! W5 and W6, the anchors' TCP workloads, on anyio's sockets: the same traffic as the
//! native versions (64 KiB chunks; 64-byte round trips), with reads into a reused buffer
//! (`receive_into`), as the native versions read into theirs.

use std::io;
use std::sync::Arc;

use anyio::TaskGroup;
use anyio::net::{SocketListener, SocketStream, TcpListenerOptions, connect_tcp};

/// W5: bytes echoed per run, and the chunk size.
pub(crate) const ECHO_BYTES: usize = 256 << 20;
const ECHO_CHUNK: usize = 64 << 10;
/// W6: connections, round trips per connection, message size.
pub(crate) const RR_CONNS: usize = 50;
pub(crate) const RR_TRIPS: usize = 2_000;
const RR_MSG: usize = 64;

async fn listener() -> io::Result<(SocketListener, u16)> {
    let mut listeners = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind()
        .await?
        .into_listeners();
    let listener = listeners.remove(0);
    let port = anyio::net::SocketAttributes::local_port(&listener)?;
    Ok((listener, port))
}

/// Reads exactly `buf.len()` bytes, or returns the error (the end of the stream included).
async fn receive_exact(s: &SocketStream, buf: &mut [u8]) -> io::Result<()> {
    let mut n = 0;
    while n < buf.len() {
        n += s.receive_into(&mut buf[n..]).await?;
    }
    Ok(())
}

/// W5: a server echoes what it receives; the client sends 256 MiB in 64 KiB chunks from one
/// task and receives the echo in another.
pub(crate) async fn echo() {
    let (listener, port) = listener().await.expect("W5: listen");
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let s = listener.accept().await?;
            let mut buf = vec![0u8; ECHO_CHUNK];
            loop {
                match s.receive_into(&mut buf).await {
                    Ok(n) => s.send(&buf[..n]).await?,
                    Err(e) if anyio::stream::IoErrorExt::is_end_of_stream(&e) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        })?;
        let client = Arc::new(connect_tcp("127.0.0.1", port).await?);
        let writer = client.clone();
        tg.start_soon(async move {
            let chunk = vec![7u8; ECHO_CHUNK];
            for _ in 0..ECHO_BYTES / ECHO_CHUNK {
                writer.send(&chunk).await?;
            }
            writer.send_eof().await?;
            Ok(())
        })?;
        let mut buf = vec![0u8; ECHO_CHUNK];
        let mut received = 0;
        while received < ECHO_BYTES {
            received += client.receive_into(&mut buf).await?;
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("W5 failed: {e}"));
}

/// W6: 50 clients each make 2 000 round trips of 64 bytes with a server task per connection.
pub(crate) async fn round_trips() {
    let (listener, port) = listener().await.expect("W6: listen");
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            anyio::task_group(|conns: TaskGroup| async move {
                for _ in 0..RR_CONNS {
                    let s = listener.accept().await?;
                    conns.start_soon(async move {
                        let mut buf = [0u8; RR_MSG];
                        while receive_exact(&s, &mut buf).await.is_ok() {
                            s.send(&buf).await?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            })
            .await?;
            Ok(())
        })?;
        for _ in 0..RR_CONNS {
            tg.start_soon(async move {
                let s = connect_tcp("127.0.0.1", port).await?;
                let mut buf = [1u8; RR_MSG];
                for _ in 0..RR_TRIPS {
                    s.send(&buf).await?;
                    receive_exact(&s, &mut buf).await?;
                }
                Ok(())
            })?;
        }
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("W6 failed: {e}"));
}
