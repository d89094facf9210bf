//! The stream layer: buffered, text, stapled and multi-listener wrappers, the memory
//! object streams as object streams, and AnyIO 1.x's conveniences, on every backend.

use std::io;
use std::pin::pin;
use std::sync::{Arc, Mutex};

use anyio::stream::{
    AsyncResource, BufferedByteReceiveStream, BufferedByteStream, ByteReceiveStream,
    ByteSendStream, ByteStream, DecodeErrors, IoErrorExt, Listener, MultiListener,
    ObjectReceiveStream, ObjectSendStream, ObjectStream, StapledByteStream, StapledObjectStream,
    TextReceiveStream, TextSendStream, TextStream,
};
use anyio::{
    BoxError, DelimiterNotFound, MemoryObjectReceiveStream, MemoryObjectSendStream, TaskGroup,
    create_memory_object_stream, create_unbounded_memory_object_stream, wait_all_tasks_blocked,
};
use futures_lite::StreamExt;
use futures_lite::future::poll_once;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// A byte stream made of a memory object stream of chunks (test-only)

/// The sending end: each `send` is one chunk.
#[derive(Debug)]
struct ChunkSender(MemoryObjectSendStream<Vec<u8>>);

/// The receiving end: each receive returns one chunk (cut to `max_bytes`, the rest kept
/// for the next receive).
#[derive(Debug)]
struct ChunkReceiver {
    chunks: MemoryObjectReceiveStream<Vec<u8>>,
    rest: Mutex<Vec<u8>>,
}

impl AsyncResource for ChunkSender {
    async fn aclose(&self) -> io::Result<()> {
        self.0.close();
        Ok(())
    }
}

impl ByteSendStream for ChunkSender {
    async fn send(&self, data: &[u8]) -> io::Result<()> {
        Ok(self.0.send(data.to_vec()).await?)
    }
}

impl AsyncResource for ChunkReceiver {
    async fn aclose(&self) -> io::Result<()> {
        self.chunks.close();
        Ok(())
    }
}

impl ByteReceiveStream for ChunkReceiver {
    async fn receive(&self, max_bytes: usize) -> io::Result<Vec<u8>> {
        if max_bytes == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "max_bytes"));
        }
        let mut chunk = std::mem::take(&mut *self.rest.lock().unwrap());
        while chunk.is_empty() {
            chunk = self.chunks.receive().await?;
        }
        if chunk.len() > max_bytes {
            *self.rest.lock().unwrap() = chunk.split_off(max_bytes);
        }
        Ok(chunk)
    }
}

/// A byte pipe: what the sender sends, the receiver receives, in the same chunks.
fn pipe() -> (ChunkSender, ChunkReceiver) {
    let (tx, rx) = create_unbounded_memory_object_stream::<Vec<u8>>();
    let rx = ChunkReceiver {
        chunks: rx,
        rest: Mutex::new(Vec::new()),
    };
    (ChunkSender(tx), rx)
}

/// A byte stream that yields `chunks` and then ends.
fn finished(chunks: &[&[u8]]) -> ChunkReceiver {
    let (tx, rx) = pipe();
    for chunk in chunks {
        tx.0.send_nowait(chunk.to_vec()).unwrap();
    }
    rx
}

/// A byte stream that yields `chunks` and then stays open, with its sender.
fn open(chunks: &[&[u8]]) -> (ChunkSender, ChunkReceiver) {
    let (tx, rx) = pipe();
    for chunk in chunks {
        tx.0.send_nowait(chunk.to_vec()).unwrap();
    }
    (tx, rx)
}

fn delimiter_not_found(err: &io::Error) -> Option<DelimiterNotFound> {
    err.get_ref()?.downcast_ref::<DelimiterNotFound>().copied()
}

// ---------------------------------------------------------------------------------------
// Buffered byte streams

#[anyio::test]
async fn receive_returns_buffered_bytes_first_then_reads_the_stream() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"world"]));
    stream.feed_data(b"hello ");
    assert_eq!(stream.buffer(), b"hello ");
    assert_eq!(stream.receive(4).await?, b"hell");
    assert_eq!(stream.receive(100).await?, b"o ");
    assert_eq!(stream.receive(3).await?, b"wor");
    // The stream itself kept the rest of its chunk.
    assert_eq!(stream.buffer(), b"");
    assert_eq!(stream.receive(100).await?, b"ld");
    assert!(stream.receive(100).await.unwrap_err().is_end_of_stream());
    Ok(())
}

#[anyio::test]
async fn receive_of_zero_bytes_is_invalid_input() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[]));
    stream.feed_data(b"x");
    let err = stream.receive(0).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), "max_bytes must be a positive integer");
    assert_eq!(stream.buffer(), b"x");
    Ok(())
}

#[anyio::test]
async fn receive_exactly_joins_chunks_and_asks_only_for_what_is_missing() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"ab", b"cd", b"efgh"]));
    assert_eq!(stream.receive_exactly(0).await?, b"");
    assert_eq!(stream.receive_exactly(5).await?, b"abcde");
    // Only what was missing was asked for: the rest is still in the wrapped stream.
    assert_eq!(stream.buffer(), b"");
    stream.feed_data(b"12");
    assert_eq!(stream.receive_exactly(1).await?, b"1");
    assert_eq!(stream.buffer(), b"2");
    assert_eq!(stream.receive_exactly(4).await?, b"2fgh");
    Ok(())
}

#[anyio::test]
async fn receive_exactly_at_the_end_is_incomplete_and_keeps_the_bytes() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"ab", b"c"]));
    let err = stream.receive_exactly(5).await.unwrap_err();
    assert!(err.is_incomplete_read());
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(stream.buffer(), b"abc");
    assert_eq!(stream.receive(10).await?, b"abc");
    assert!(stream.receive(10).await.unwrap_err().is_end_of_stream());
    Ok(())
}

#[anyio::test]
async fn receive_until_finds_a_delimiter_split_across_chunks() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"hello\r", b"\nwor", b"ld\r", b"\n"]));
    assert_eq!(stream.receive_until(b"\r\n", 100).await?, b"hello");
    assert_eq!(stream.receive_until(b"\r\n", 100).await?, b"world");
    assert_eq!(stream.buffer(), b"");
    Ok(())
}

#[anyio::test]
async fn receive_until_accepts_a_message_of_exactly_max_bytes() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"abcde\n\n"]));
    assert_eq!(stream.receive_until(b"\n", 5).await?, b"abcde");
    // max_bytes 0 accepts only an empty message.
    assert_eq!(stream.receive_until(b"\n", 0).await?, b"");
    Ok(())
}

#[anyio::test]
async fn receive_until_fails_as_soon_as_the_limit_is_passed() -> Result<(), BoxError> {
    // The sender stays open: the error must not wait for more data.
    let (_tx, rx) = open(&[b"abc", b"def"]);
    let stream = BufferedByteReceiveStream::new(rx);
    let err = stream.receive_until(b"\n", 5).await.unwrap_err();
    assert_eq!(delimiter_not_found(&err), Some(DelimiterNotFound::new(5)));
    assert!(err.is_delimiter_not_found());
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(
        err.to_string(),
        "The delimiter was not found among the first 5 bytes"
    );
    assert_eq!(stream.buffer(), b"abcdef");
    Ok(())
}

#[anyio::test]
async fn a_delimiter_beyond_the_limit_is_not_found_whatever_the_chunking() -> Result<(), BoxError> {
    // In one chunk (AnyIO itself would return the 6-byte message here) and in two.
    for chunks in [&[&b"abcdef\nxy"[..]][..], &[b"abc", b"def\nxy"]] {
        let stream = BufferedByteReceiveStream::new(finished(chunks));
        let err = stream.receive_until(b"\n", 5).await.unwrap_err();
        assert_eq!(delimiter_not_found(&err), Some(DelimiterNotFound::new(5)));
        assert_eq!(stream.buffer(), b"abcdef\nxy");
        // Nothing was lost: a larger limit finds the message.
        assert_eq!(stream.receive_until(b"\n", 6).await?, b"abcdef");
        assert_eq!(stream.buffer(), b"xy");
    }
    Ok(())
}

#[anyio::test]
async fn receive_until_at_the_end_is_incomplete_and_keeps_the_bytes() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"abc", b"\r"]));
    let err = stream.receive_until(b"\r\n", 10).await.unwrap_err();
    assert!(err.is_incomplete_read());
    assert_eq!(
        err.to_string(),
        "The stream was closed before the read operation could be completed"
    );
    assert_eq!(stream.buffer(), b"abc\r");
    // At a clean end too (AnyIO's behaviour): nothing buffered, still IncompleteRead.
    assert_eq!(stream.receive(10).await?, b"abc\r");
    let err = stream.receive_until(b"\n", 10).await.unwrap_err();
    assert!(err.is_incomplete_read());
    Ok(())
}

#[anyio::test]
async fn an_empty_delimiter_is_invalid_input() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"abc"]));
    let err = stream.receive_until(b"", 10).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), "the delimiter must not be empty");
    let mut chunks = stream.receive_delimited_chunks(b"", 10);
    let err = chunks.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(chunks.next().await.is_none());
    assert_eq!(stream.receive(10).await?, b"abc");
    Ok(())
}

#[anyio::test]
async fn feed_data_goes_after_the_buffer_and_before_the_stream() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"C\n"]));
    stream.feed_data(b"A\n");
    stream.feed_data(b"B");
    assert_eq!(stream.receive_until(b"\n", 10).await?, b"A");
    assert_eq!(stream.buffer(), b"B");
    assert_eq!(stream.receive_until(b"\n", 10).await?, b"BC");
    Ok(())
}

#[anyio::test]
async fn a_dropped_receive_until_loses_nothing() -> Result<(), BoxError> {
    let (tx, rx) = open(&[b"hel"]);
    let stream = BufferedByteReceiveStream::new(rx);
    {
        let mut reading = pin!(stream.receive_until(b"\n", 100));
        assert!(poll_once(reading.as_mut()).await.is_none());
    }
    assert_eq!(stream.buffer(), b"hel");
    tx.send(b"lo\nrest").await?;
    assert_eq!(stream.receive_until(b"\n", 100).await?, b"hello");
    assert_eq!(stream.buffer(), b"rest");
    Ok(())
}

#[anyio::test]
async fn a_dropped_receive_exactly_loses_nothing() -> Result<(), BoxError> {
    let (tx, rx) = open(&[b"ab"]);
    let stream = BufferedByteReceiveStream::new(rx);
    {
        let mut reading = pin!(stream.receive_exactly(4));
        assert!(poll_once(reading.as_mut()).await.is_none());
    }
    assert_eq!(stream.buffer(), b"ab");
    tx.send(b"cd").await?;
    assert_eq!(stream.receive_exactly(4).await?, b"abcd");
    Ok(())
}

#[anyio::test]
async fn two_readers_at_once_are_busy() -> Result<(), BoxError> {
    let (_tx, rx) = open(&[]);
    let stream = BufferedByteReceiveStream::new(rx);
    let mut first = pin!(stream.receive_until(b"\n", 10));
    assert!(poll_once(first.as_mut()).await.is_none());
    for err in [
        stream.receive(10).await.unwrap_err(),
        stream.receive_exactly(1).await.unwrap_err(),
        stream.receive_until(b"\n", 10).await.unwrap_err(),
        stream.receive_chunks(10).next().await.unwrap().unwrap_err(),
    ] {
        assert!(err.is_busy_resource());
        assert_eq!(
            err.to_string(),
            "Another task is already reading from this resource"
        );
    }
    Ok(())
}

#[anyio::test]
async fn after_aclose_reads_are_closed_and_the_buffer_is_kept() -> Result<(), BoxError> {
    let (_tx, rx) = open(&[b"tail"]);
    let stream = BufferedByteReceiveStream::new(rx);
    stream.feed_data(b"head");
    stream.aclose().await?;
    assert!(stream.receive(10).await.unwrap_err().is_closed_resource());
    assert!(
        stream
            .receive_exactly(1)
            .await
            .unwrap_err()
            .is_closed_resource()
    );
    assert!(
        stream
            .receive_until(b"\n", 9)
            .await
            .unwrap_err()
            .is_closed_resource()
    );
    assert_eq!(stream.buffer(), b"head");
    let (inner, rest) = stream.into_parts();
    assert_eq!(rest, b"head");
    assert!(inner.receive(10).await.unwrap_err().is_closed_resource());
    Ok(())
}

#[anyio::test]
async fn aclose_interrupts_a_blocked_read() -> Result<(), BoxError> {
    let (_tx, rx) = open(&[]);
    let stream = Arc::new(BufferedByteReceiveStream::new(rx));
    let reader = stream.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let err = reader.receive_exactly(3).await.unwrap_err();
            assert!(err.is_closed_resource());
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        stream.aclose().await?;
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn a_buffered_byte_stream_sends_through_and_reads_buffered() -> Result<(), BoxError> {
    let (tx, rx) = pipe();
    let stream = BufferedByteStream::new(StapledByteStream::new(tx, rx));
    stream.send_all(b"one\ntwo").await?;
    stream.send(b"\nthree").await?;
    assert_eq!(stream.receive_until(b"\n", 10).await?, b"one");
    assert_eq!(stream.receive_exactly(3).await?, b"two");
    assert_eq!(stream.receive_some(1).await?, b"\n");
    stream.feed_data(b"!");
    assert_eq!(stream.buffer(), b"!");
    // send_eof finishes the send stream: what was sent is still received, then the end.
    stream.send_eof().await?;
    assert_eq!(stream.receive(100).await?, b"!");
    assert_eq!(stream.receive(100).await?, b"three");
    assert!(stream.receive(100).await.unwrap_err().is_end_of_stream());
    let (stapled, rest) = stream.into_parts();
    assert!(rest.is_empty());
    assert!(stapled.send(b"x").await.unwrap_err().is_closed_resource());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// AnyIO 1.x conveniences

#[anyio::test]
async fn receive_chunks_yields_each_chunk_and_ends_at_the_end() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"abcde", b"f"]));
    stream.feed_data(b"0");
    let chunks: Vec<Vec<u8>> = stream.receive_chunks(3).map(Result::unwrap).collect().await;
    assert_eq!(chunks, [&b"0"[..], b"abc", b"de", b"f"]);
    assert_eq!(
        stream.receive_some(1).await.unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
    Ok(())
}

#[anyio::test]
async fn receive_chunks_yields_an_error_once_then_ends() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"abc"]));
    let mut zero = stream.receive_chunks(0);
    let err = zero.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(zero.next().await.is_none());
    stream.aclose().await?;
    let mut closed = stream.receive_chunks(10);
    assert!(
        closed
            .next()
            .await
            .unwrap()
            .unwrap_err()
            .is_closed_resource()
    );
    assert!(closed.next().await.is_none());
    Ok(())
}

#[anyio::test]
async fn receive_delimited_chunks_ends_cleanly_between_messages() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"GET /\r", b"\nHost: x\r\n\r\n"]));
    let messages: Vec<Vec<u8>> = stream
        .receive_delimited_chunks(b"\r\n", 100)
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(messages, [&b"GET /"[..], b"Host: x", b""]);
    Ok(())
}

#[anyio::test]
async fn receive_delimited_chunks_reports_a_partial_last_message() -> Result<(), BoxError> {
    let stream = BufferedByteReceiveStream::new(finished(&[b"a;b", b";partial"]));
    let mut messages = stream.receive_delimited_chunks(b";", 100);
    assert_eq!(messages.next().await.unwrap()?, b"a");
    assert_eq!(messages.next().await.unwrap()?, b"b");
    assert!(
        messages
            .next()
            .await
            .unwrap()
            .unwrap_err()
            .is_incomplete_read()
    );
    assert!(messages.next().await.is_none());
    drop(messages);
    assert_eq!(stream.buffer(), b"partial");
    Ok(())
}

#[anyio::test]
async fn receive_delimited_chunks_reports_a_long_message() -> Result<(), BoxError> {
    let (_tx, rx) = open(&[b"ok;", b"toolong"]);
    let stream = BufferedByteReceiveStream::new(rx);
    let mut messages = stream.receive_delimited_chunks(b";", 3);
    assert_eq!(messages.next().await.unwrap()?, b"ok");
    let err = messages.next().await.unwrap().unwrap_err();
    assert_eq!(delimiter_not_found(&err), Some(DelimiterNotFound::new(3)));
    assert!(messages.next().await.is_none());
    drop(messages);
    assert_eq!(stream.buffer(), b"toolong");
    Ok(())
}

#[anyio::test]
async fn a_dropped_next_of_delimited_chunks_loses_nothing() -> Result<(), BoxError> {
    let (tx, rx) = open(&[b"par"]);
    let stream = BufferedByteReceiveStream::new(rx);
    {
        let mut messages = stream.receive_delimited_chunks(b"\n", 100);
        assert!(poll_once(messages.next()).await.is_none());
    }
    assert_eq!(stream.buffer(), b"par");
    tx.send(b"t\n").await?;
    let mut messages = stream.receive_delimited_chunks(b"\n", 100);
    assert_eq!(messages.next().await.unwrap()?, b"part");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Text streams

async fn receive_all<S: ByteReceiveStream>(
    text: &TextReceiveStream<S>,
) -> Vec<Result<String, io::ErrorKind>> {
    let mut out = Vec::new();
    loop {
        match text.receive().await {
            Ok(s) => out.push(Ok(s)),
            Err(err) if err.is_end_of_stream() => return out,
            Err(err) => out.push(Err(err.kind())),
        }
    }
}

#[anyio::test]
async fn multi_byte_characters_split_across_chunks_decode() -> Result<(), BoxError> {
    // "é" is 2 bytes, "€" 3 and "😀" 4; every split point of each.
    for whole in ["é", "€", "😀"] {
        let bytes = whole.as_bytes();
        for cut in 1..bytes.len() {
            let text =
                TextReceiveStream::new(finished(&[b"<", &bytes[..cut], &bytes[cut..], b">"]));
            let got: String = receive_all(&text)
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(got, format!("<{whole}>"));
        }
    }
    let text = TextReceiveStream::new(finished(&[b"a\xF0", b"\x9F", b"\x98", b"\x80b"]));
    assert_eq!(text.receive().await?, "a");
    assert_eq!(text.receive().await?, "😀b");
    Ok(())
}

#[anyio::test]
async fn invalid_bytes_are_errors_in_strict_mode() -> Result<(), BoxError> {
    let text = TextReceiveStream::new(finished(&[b"ab\xFFcd", b"\xC3(ok"]));
    assert_eq!(text.errors(), DecodeErrors::Strict);
    assert_eq!(text.receive().await?, "ab");
    let err = text.receive().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(err.to_string(), "invalid UTF-8 sequence [ff]");
    // Decoding goes on after the invalid sequence.
    assert_eq!(text.receive().await?, "cd");
    assert_eq!(
        text.receive().await.unwrap_err().to_string(),
        "invalid UTF-8 sequence [c3]"
    );
    assert_eq!(text.receive().await?, "(ok");
    assert!(text.receive().await.unwrap_err().is_end_of_stream());
    Ok(())
}

#[anyio::test]
async fn invalid_bytes_are_replaced_in_replace_mode() -> Result<(), BoxError> {
    let text = TextReceiveStream::with_errors(
        finished(&[b"ab\xFFcd", b"\xC3(ok\xE2\x82"]),
        DecodeErrors::Replace,
    );
    assert_eq!(text.errors(), DecodeErrors::Replace);
    assert_eq!(
        receive_all(&text).await,
        [
            Ok("ab\u{FFFD}cd".to_string()),
            Ok("\u{FFFD}(ok".to_string()),
            Ok("\u{FFFD}".to_string())
        ]
    );
    Ok(())
}

#[anyio::test]
async fn a_character_cut_by_the_end_is_invalid_in_strict_mode() -> Result<(), BoxError> {
    let text = TextReceiveStream::new(finished(&[b"ab\xE2\x82"]));
    assert_eq!(text.receive().await?, "ab");
    let err = text.receive().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert_eq!(
        err.to_string(),
        "the stream ended inside a UTF-8 character (bytes [e2, 82])"
    );
    assert!(text.receive().await.unwrap_err().is_end_of_stream());
    Ok(())
}

#[anyio::test]
async fn text_streams_send_utf8_and_are_object_streams() -> Result<(), BoxError> {
    let (tx, rx) = pipe();
    let sender = TextSendStream::new(tx);
    let receiver = TextReceiveStream::new(rx);
    sender.send("héllo").await?;
    ObjectSendStream::send(&sender, " wörld".to_string()).await?;
    assert_eq!(receiver.receive().await?, "héllo");
    assert_eq!(ObjectReceiveStream::receive(&receiver).await?, " wörld");
    sender.aclose().await?;
    assert!(receiver.receive().await.unwrap_err().is_end_of_stream());
    receiver.aclose().await?;
    assert!(receiver.receive().await.unwrap_err().is_closed_resource());
    Ok(())
}

#[anyio::test]
async fn a_text_stream_sends_receives_and_finishes() -> Result<(), BoxError> {
    let (tx, rx) = pipe();
    let text = TextStream::new(StapledByteStream::new(tx, rx));
    text.send("ça").await?;
    ObjectSendStream::send(&text, " va".to_string()).await?;
    assert_eq!(text.receive().await?, "ça");
    assert_eq!(ObjectReceiveStream::receive(&text).await?, " va");
    ObjectStream::send_eof(&text).await?;
    assert!(text.receive().await.unwrap_err().is_end_of_stream());
    assert!(text.send("late").await.unwrap_err().is_closed_resource());
    Ok(())
}

#[anyio::test]
async fn two_text_readers_at_once_are_busy() -> Result<(), BoxError> {
    let (_tx, rx) = open(&[]);
    let text = TextReceiveStream::new(rx);
    let mut first = pin!(text.receive());
    assert!(poll_once(first.as_mut()).await.is_none());
    let err = text.receive().await.unwrap_err();
    assert!(err.is_busy_resource());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Stapled streams and memory object streams as object streams

#[anyio::test]
async fn a_stapled_byte_stream_sends_eof_by_closing_the_send_half() -> Result<(), BoxError> {
    let (peer_tx, our_rx) = pipe();
    let (our_tx, peer_rx) = pipe();
    let stream = StapledByteStream::new(our_tx, our_rx);
    stream.send(b"ping").await?;
    assert_eq!(peer_rx.receive(10).await?, b"ping");
    stream.send_eof().await?;
    assert!(peer_rx.receive(10).await.unwrap_err().is_end_of_stream());
    assert!(stream.send(b"x").await.unwrap_err().is_closed_resource());
    // Receiving goes on.
    peer_tx.send(b"pong").await?;
    assert_eq!(stream.receive(10).await?, b"pong");
    assert!(!stream.receive_stream().chunks.is_closed());
    assert!(stream.send_stream().0.is_closed());
    stream.aclose().await?;
    assert!(stream.receive(10).await.unwrap_err().is_closed_resource());
    let (send, receive) = stream.into_parts();
    assert!(send.0.is_closed() && receive.chunks.is_closed());
    Ok(())
}

#[anyio::test]
async fn a_stapled_object_stream_over_memory_streams() -> Result<(), BoxError> {
    let (tx, rx) = create_memory_object_stream::<u32>(2)?;
    let stream = StapledObjectStream::new(tx, rx);
    ObjectSendStream::send(&stream, 1).await?;
    ObjectSendStream::send(&stream, 2).await?;
    assert_eq!(ObjectReceiveStream::receive(&stream).await?, 1);
    stream.send_eof().await?;
    assert!(stream.send_stream().is_closed());
    assert!(!stream.receive_stream().is_closed());
    assert_eq!(ObjectReceiveStream::receive(&stream).await?, 2);
    let err = ObjectReceiveStream::receive(&stream).await.unwrap_err();
    assert!(err.is_end_of_stream());
    stream.aclose().await?;
    assert!(stream.receive_stream().is_closed());
    let err = ObjectReceiveStream::receive(&stream).await.unwrap_err();
    assert!(err.is_closed_resource());
    Ok(())
}

#[anyio::test]
async fn memory_object_streams_report_stream_conditions_as_io_errors() -> Result<(), BoxError> {
    let (tx, rx) = create_memory_object_stream::<&str>(1)?;
    ObjectSendStream::send(&tx, "a").await?;
    assert_eq!(ObjectReceiveStream::receive(&rx).await?, "a");
    AsyncResource::aclose(&rx).await?;
    assert!(rx.is_closed());
    let err = ObjectSendStream::send(&tx, "b").await.unwrap_err();
    assert!(err.is_broken_resource());
    let err = ObjectReceiveStream::receive(&rx).await.unwrap_err();
    assert!(err.is_closed_resource());
    AsyncResource::aclose(&tx).await?;
    assert!(
        ObjectSendStream::send(&tx, "c")
            .await
            .unwrap_err()
            .is_closed_resource()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Multi-listeners

/// A listener whose connections are numbers sent on a memory object stream.
#[derive(Debug)]
struct TestListener(MemoryObjectReceiveStream<u32>);

impl AsyncResource for TestListener {
    async fn aclose(&self) -> io::Result<()> {
        self.0.close();
        Ok(())
    }
}

impl Listener for TestListener {
    type Stream = u32;

    async fn accept(&self) -> io::Result<u32> {
        Ok(self.0.receive().await?)
    }
}

fn listeners(
    n: usize,
) -> (
    Vec<MemoryObjectSendStream<u32>>,
    MultiListener<TestListener>,
) {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n)
        .map(|_| create_unbounded_memory_object_stream::<u32>())
        .unzip();
    let multi = receivers.into_iter().map(TestListener).collect();
    (senders, multi)
}

#[anyio::test]
async fn serve_serves_every_listener_until_closed() -> Result<(), BoxError> {
    let (senders, multi) = listeners(3);
    assert_eq!(multi.listeners().len(), 3);
    let multi = Arc::new(multi);
    let (seen_tx, seen_rx) = create_unbounded_memory_object_stream::<u32>();
    let served = anyio::task_group(|tg: TaskGroup| {
        let multi = multi.clone();
        async move {
            tg.start_soon(async move {
                let mut seen: Vec<u32> = Vec::new();
                for (i, tx) in senders.iter().enumerate() {
                    tx.send(10 * i as u32).await?;
                    tx.send(10 * i as u32 + 1).await?;
                }
                for _ in 0..6 {
                    seen.push(seen_rx.receive().await?);
                }
                seen.sort();
                assert_eq!(seen, [0, 1, 10, 11, 20, 21]);
                multi.aclose().await?;
                Ok(())
            })?;
            Ok(())
        }
    });
    let serving = multi.serve(move |conn| {
        let seen_tx = seen_tx.clone();
        async move {
            seen_tx.send(conn).await.unwrap();
        }
    });
    let (served, serving) = futures_lite::future::zip(served, serving).await;
    served?;
    let err = serving.unwrap_err();
    assert!(err.is_closed_resource(), "{err}");
    assert!(multi.listeners().iter().all(|l| l.0.is_closed()));
    Ok(())
}

#[anyio::test]
async fn the_first_failing_listener_ends_serve() -> Result<(), BoxError> {
    let (senders, multi) = listeners(2);
    // Every sender of the second listener gone: its accept sees the end of the stream.
    let mut senders = senders.into_iter();
    let _first = senders.next();
    drop(senders);
    let err = multi.serve(|_conn| async {}).await.unwrap_err();
    assert!(err.is_end_of_stream(), "{err}");
    Ok(())
}

#[anyio::test]
async fn accept_takes_from_whichever_listener_is_ready() -> Result<(), BoxError> {
    let (senders, mut multi) = listeners(2);
    let (extra_tx, extra_rx) = create_unbounded_memory_object_stream::<u32>();
    multi.extend([TestListener(extra_rx)]);
    assert_eq!(multi.listeners().len(), 3);
    senders[1].send(7).await?;
    assert_eq!(multi.accept().await?, 7);
    extra_tx.send(8).await?;
    assert_eq!(multi.accept().await?, 8);
    // A dropped accept loses no connection.
    {
        let mut accepting = pin!(multi.accept());
        assert!(poll_once(accepting.as_mut()).await.is_none());
    }
    senders[0].send(9).await?;
    assert_eq!(multi.accept().await?, 9);
    multi.aclose().await?;
    assert!(multi.accept().await.unwrap_err().is_closed_resource());
    let listeners = multi.into_listeners();
    assert_eq!(listeners.len(), 3);
    Ok(())
}

#[anyio::test]
async fn a_multi_listener_without_listeners_is_invalid_input() -> Result<(), BoxError> {
    let multi = MultiListener::<TestListener>::from(Vec::new());
    let err = multi.accept().await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = multi.serve(|_conn| async {}).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(err.to_string(), "the MultiListener has no listeners");
    multi.aclose().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Properties: the outcome of a delimited read depends only on the bytes

/// What reading messages one after another gives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Read {
    Message(Vec<u8>),
    NotFound,
    Incomplete,
    Other(String),
}

/// The rule of `receive_until`, applied to the whole input at once; also what is left.
fn split_once_whole(input: &[u8], delimiter: &[u8], max_bytes: usize) -> (Read, usize) {
    let found = input
        .windows(delimiter.len())
        .position(|window| window == delimiter);
    match found {
        Some(i) if i <= max_bytes => (Read::Message(input[..i].to_vec()), i + delimiter.len()),
        _ if input.len() >= max_bytes + delimiter.len() => (Read::NotFound, 0),
        _ => (Read::Incomplete, 0),
    }
}

/// The messages of the whole input, then the error or clean end, and the unread rest.
fn expected_messages(
    input: &[u8],
    delimiter: &[u8],
    max_bytes: usize,
    clean_end: bool,
) -> (Vec<Read>, Vec<u8>) {
    let mut rest = input;
    let mut reads = Vec::new();
    loop {
        if clean_end && rest.is_empty() {
            return (reads, Vec::new());
        }
        let (read, used) = split_once_whole(rest, delimiter, max_bytes);
        let failed = !matches!(read, Read::Message(_));
        reads.push(read);
        rest = &rest[used..];
        if failed {
            return (reads, rest.to_vec());
        }
    }
}

fn classify(result: io::Result<Vec<u8>>) -> Read {
    match result {
        Ok(message) => Read::Message(message),
        Err(err) if err.is_delimiter_not_found() => Read::NotFound,
        Err(err) if err.is_incomplete_read() => Read::Incomplete,
        Err(err) => Read::Other(err.to_string()),
    }
}

/// Cuts `input` into chunks at the given points.
fn chunked(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.extend([0, input.len()]);
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| input[w[0]..w[1]].to_vec())
        .collect()
}

fn source_of(chunks: &[Vec<u8>]) -> ChunkReceiver {
    let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
    finished(&refs)
}

/// What remains to be read after an error: the buffer, then the stream.
async fn remaining<S: ByteReceiveStream>(stream: &BufferedByteReceiveStream<S>) -> Vec<u8> {
    let mut rest = Vec::new();
    while let Ok(chunk) = stream.receive(7).await {
        rest.extend(chunk);
    }
    rest
}

fn input_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n')], 0..40)
}

fn delimiter_strategy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n')], 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// `receive_until` called until it fails gives the messages of a one-shot split of the
    /// whole input, then the error the rule says, and loses no byte; whatever the chunks.
    #[test]
    fn receive_until_does_not_depend_on_chunking(
        input in input_strategy(),
        delimiter in delimiter_strategy(),
        max_bytes in 0usize..12,
        cuts in proptest::collection::vec(0usize..64, 0..12),
    ) {
        let chunks = chunked(&input, &cuts);
        anyio::testing::on_each_backend(|_backend| {
            let (input, delimiter, chunks) = (input.clone(), delimiter.clone(), chunks.clone());
            async move {
                let (expected, rest) = expected_messages(&input, &delimiter, max_bytes, false);
                let stream = BufferedByteReceiveStream::new(source_of(&chunks));
                let mut reads = Vec::new();
                loop {
                    let read = classify(stream.receive_until(&delimiter, max_bytes).await);
                    let failed = !matches!(read, Read::Message(_));
                    reads.push(read);
                    if failed {
                        break;
                    }
                }
                prop_assert_eq!(reads, expected);
                prop_assert_eq!(remaining(&stream).await, rest);
                Ok(())
            }
        })?;
    }

    /// `receive_delimited_chunks` gives the messages of a one-shot split, ending cleanly
    /// when the input ends between messages; whatever the chunks.
    #[test]
    fn delimited_chunks_do_not_depend_on_chunking(
        input in input_strategy(),
        delimiter in delimiter_strategy(),
        max_bytes in 0usize..12,
        cuts in proptest::collection::vec(0usize..64, 0..12),
    ) {
        let chunks = chunked(&input, &cuts);
        anyio::testing::on_each_backend(|_backend| {
            let (input, delimiter, chunks) = (input.clone(), delimiter.clone(), chunks.clone());
            async move {
                let (expected, rest) = expected_messages(&input, &delimiter, max_bytes, true);
                let stream = BufferedByteReceiveStream::new(source_of(&chunks));
                let reads: Vec<Read> = stream
                    .receive_delimited_chunks(&delimiter, max_bytes)
                    .map(classify)
                    .collect()
                    .await;
                prop_assert_eq!(reads, expected);
                prop_assert_eq!(remaining(&stream).await, rest);
                Ok(())
            }
        })?;
    }

    /// Text decoded from arbitrary bytes in arbitrary chunks: in replace mode it is the
    /// lossy decoding of the whole input; in strict mode the same, with each error where
    /// a replacement character would be.
    #[test]
    fn text_decoding_does_not_depend_on_chunking(
        input in proptest::collection::vec(
            prop_oneof![Just(0x41u8), Just(0xC3), Just(0xA9), Just(0xE2), Just(0x82), Just(0xAC), Just(0xF0), Just(0x9F), Just(0xFF)],
            0..24,
        ),
        cuts in proptest::collection::vec(0usize..32, 0..10),
    ) {
        let chunks = chunked(&input, &cuts);
        let expected = String::from_utf8_lossy(&input).into_owned();
        anyio::testing::on_each_backend(|_backend| {
            let (chunks, expected) = (chunks.clone(), expected.clone());
            async move {
                for errors in [DecodeErrors::Strict, DecodeErrors::Replace] {
                    let text = TextReceiveStream::with_errors(source_of(&chunks), errors);
                    let mut got = String::new();
                    for piece in receive_all(&text).await {
                        match piece {
                            Ok(s) => {
                                prop_assert!(!s.is_empty());
                                got.push_str(&s);
                            }
                            Err(kind) => {
                                prop_assert_eq!(errors, DecodeErrors::Strict);
                                prop_assert_eq!(kind, io::ErrorKind::InvalidData);
                                got.push(char::REPLACEMENT_CHARACTER);
                            }
                        }
                    }
                    prop_assert_eq!(&got, &expected);
                }
                Ok(())
            }
        })?;
    }
}
