//! A stream read that gets fewer bytes than it has room for leaves the socket taken as
//! drained, so the next read waits for the reactor instead of trying first. The rule this
//! must keep: bytes that arrive after such a read, while nobody is waiting, are still read,
//! by every read API, on every backend and flavour; and the end of the stream after a short
//! read is still seen.

use std::time::Duration;

use anyio::BoxError;
use anyio::net::SocketStream;
use anyio::stream::IoErrorExt;
use futures_lite::AsyncReadExt;

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

const ROUNDS: usize = 50;

#[path = "support/tcp_pair.rs"]
mod tcp_pair;
use tcp_pair::pair;

/// Which read API a round uses.
#[derive(Clone, Copy, Debug)]
enum Api {
    Receive,
    ReceiveInto,
    FuturesIo,
}

async fn read_some(api: Api, s: &mut SocketStream) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    match api {
        Api::Receive => s.receive(65536).await,
        Api::ReceiveInto => {
            let n = s.receive_into(&mut buf).await?;
            buf.truncate(n);
            Ok(buf)
        }
        Api::FuturesIo => {
            let n = s.read(&mut buf).await?;
            buf.truncate(n);
            Ok(buf)
        }
    }
}

/// Each round: the peer sends a message, we read it (a short read), then the peer sends
/// the next one *before* we wait again; every byte arrives, in order.
async fn later_bytes_after_a_short_read() -> Result<(), BoxError> {
    for api in [Api::Receive, Api::ReceiveInto, Api::FuturesIo] {
        let (client, mut server) = pair().await?;
        client.send(b"first").await?;
        for round in 0..ROUNDS {
            let got = read_some(api, &mut server).await?;
            let want = if round == 0 {
                b"first".to_vec()
            } else {
                format!("round {round}").into_bytes()
            };
            assert_eq!(got, want, "{api:?}, round {round}");
            if round + 1 < ROUNDS {
                client
                    .send(format!("round {}", round + 1).as_bytes())
                    .await?;
                // Give the bytes time to arrive while nobody reads or waits.
                anyio::sleep(Duration::from_millis(1)).await?;
            }
        }
        client.send_eof().await?;
        let end = read_some(api, &mut server).await;
        match (api, end) {
            (Api::FuturesIo, Ok(bytes)) => assert!(bytes.is_empty(), "{api:?}: {bytes:?}"),
            (_, Err(e)) => assert!(e.is_end_of_stream(), "{api:?}: {e}"),
            (_, Ok(bytes)) => panic!("{api:?}: bytes after the end: {bytes:?}"),
        }
    }
    Ok(())
}

/// A full read (as many bytes as there was room for) says nothing of what is left: the
/// rest is read with no new bytes arriving, by each API.
async fn full_reads_leave_the_rest_readable() -> Result<(), BoxError> {
    let (client, mut server) = pair().await?;
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    client.send(&data).await?;
    anyio::sleep(Duration::from_millis(5)).await?;
    let mut got = Vec::new();
    while got.len() < 600 {
        got.extend(server.receive(10).await?);
    }
    while got.len() < 800 {
        let mut buf = [0u8; 10];
        let n = server.receive_into(&mut buf).await?;
        got.extend_from_slice(&buf[..n]);
    }
    while got.len() < 1000 {
        let mut buf = [0u8; 10];
        let n = server.read(&mut buf).await?;
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, data);
    Ok(())
}

on_every_flavour!(
    later_bytes_after_a_short_read,
    full_reads_leave_the_rest_readable
);
