//! W2 and its variants: one producer and one consumer task in a task group, passing
//! `CHANNEL_MESSAGES` `u64`s through a memory object stream; the consumer sums them and
//! checks the total, like the anchors' `channel()`.
//!
//! - W2: buffer `CHANNEL_BUFFER` (1024), the anchors' size.
//! - buffer 0: a rendezvous, AnyIO's default (neither tokio nor smol has one).
//! - unbounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use anyio::{BufferSize, ReceiveError};

/// Messages per run (the anchors' `CHAN_MSGS`).
pub(crate) const CHANNEL_MESSAGES: u64 = 1_000_000;
/// W2's buffer size (the anchors' `CHAN_CAP`).
pub(crate) const CHANNEL_BUFFER: usize = 1024;

/// W2: buffer of 1024.
pub(crate) async fn channel() {
    channel_with(BufferSize::Bounded(CHANNEL_BUFFER)).await;
}

/// W2 with a rendezvous stream (buffer 0): every send waits for the receive.
pub(crate) async fn channel_rendezvous() {
    channel_with(BufferSize::Bounded(0)).await;
}

/// W2 with an unbounded buffer: sends never wait.
pub(crate) async fn channel_unbounded() {
    channel_with(BufferSize::Unbounded).await;
}

async fn channel_with(size: BufferSize) {
    let (tx, rx) =
        anyio::create_memory_object_stream::<u64>(size).unwrap_or_else(|e| panic!("W2: {e}"));
    let sum = Arc::new(AtomicU64::new(0));
    let total = sum.clone();
    anyio::task_group(|tg| async move {
        tg.start_soon(async move {
            for i in 0..CHANNEL_MESSAGES {
                tx.send(i).await?;
            }
            // Dropping `tx` closes the stream: the consumer ends at EndOfStream.
            Ok(())
        })?;
        tg.start_soon(async move {
            let mut sum = 0;
            loop {
                match rx.receive().await {
                    Ok(v) => sum += v,
                    Err(ReceiveError::EndOfStream) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            total.store(sum, Relaxed);
            Ok(())
        })?;
        Ok(())
    })
    .await
    .unwrap_or_else(|e| panic!("W2 task group failed: {e}"));
    assert_eq!(
        sum.load(Relaxed),
        CHANNEL_MESSAGES * (CHANNEL_MESSAGES - 1) / 2,
        "W2: the consumer's sum"
    );
}
