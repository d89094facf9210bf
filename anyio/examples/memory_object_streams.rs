//! Memory object streams: the manual's producer and consumer. The host task sends ten
//! strings through a rendezvous stream (buffer size 0, AnyIO's default, so each send waits
//! for the consumer to take the item); the consumer iterates over the receive end, and its
//! loop ends when the send end is closed.
//!
//! ```text
//! cargo run --example memory_object_streams
//! cargo run --example memory_object_streams -- --backend smol
//! ```

use std::process::ExitCode;

use anyio::{BoxError, MemoryObjectReceiveStream, Runner};
use futures_lite::StreamExt;

mod common;

/// Prints every item until the stream ends (every send handle closed).
async fn process_items(mut receive_stream: MemoryObjectReceiveStream<String>) {
    while let Some(item) = receive_stream.next().await {
        println!("received {item}");
    }
    // Dropping `receive_stream` here closes it (AnyIO's `async with receive_stream`).
}

/// Sends ten strings to a consumer task through a memory object stream.
pub(crate) async fn run() -> Result<(), BoxError> {
    let (send_stream, receive_stream) = anyio::create_memory_object_stream::<String>(0)?;
    anyio::task_group(|tg| async move {
        tg.start_soon(async move {
            process_items(receive_stream).await;
            Ok(())
        })?;
        for num in 0..10 {
            send_stream.send(format!("number {num}")).await?;
        }
        // Closing the send end ends the consumer's loop once it has everything.
        send_stream.close();
        Ok(())
    })
    .await?;
    Ok(())
}

fn main() -> ExitCode {
    let backend = common::backend_from_args();
    common::exit_status(Runner::new(backend).run(run()))
}
