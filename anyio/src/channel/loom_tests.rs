//! loom models of memory object streams. Run with
//! `RUSTFLAGS="--cfg anyio_loom" CARGO_TARGET_DIR=target/loom cargo test -p anyio --lib
//! --release --no-default-features --features smol loom`.
//!
//! Each model checks, over every interleaving, that an item is delivered exactly once or
//! given back, and that no blocked operation misses the wake-up that ends its wait (loom
//! reports a deadlock if `block_on` is never woken).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::future::block_on;
use loom::thread;

use super::{ReceiveError, SendErrorKind, create_memory_object_stream};

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn loom_a_send_racing_a_dropped_receive_loses_nothing() {
    loom::model(|| {
        let (tx, rx) = create_memory_object_stream::<u32>(0).unwrap();
        let mut receiving = Box::pin(rx.receive());
        assert!(poll_once(&mut receiving).is_pending());
        let sender = thread::spawn(move || tx.send_nowait(1).err().map(|e| e.into_inner()));
        // Dropped before, during or after the send hands it the item.
        drop(receiving);
        let given_back = sender.join().unwrap();
        match given_back {
            // The receive had left: the send found nobody and kept its item.
            Some(item) => {
                assert_eq!(item, 1);
                assert_eq!(rx.receive_nowait(), Err(ReceiveError::EndOfStream));
            }
            // It was handed to the receive, which put it back when dropped.
            None => {
                assert_eq!(rx.receive_nowait(), Ok(1));
                assert_eq!(rx.receive_nowait(), Err(ReceiveError::EndOfStream));
            }
        }
    });
}

#[test]
fn loom_closing_the_receiver_wakes_a_blocked_sender_with_its_item() {
    loom::model(|| {
        let (tx, rx) = create_memory_object_stream::<u32>(0).unwrap();
        let sender = thread::spawn(move || block_on(tx.send(7)));
        rx.close();
        let err = sender.join().unwrap().unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::Broken);
        assert_eq!(err.into_inner(), 7);
    });
}

#[test]
fn loom_closing_the_sender_wakes_a_blocked_receiver_after_the_buffer_drains() {
    loom::model(|| {
        let (tx, rx) = create_memory_object_stream::<u32>(1).unwrap();
        let receiver = thread::spawn(move || {
            let first = block_on(rx.receive());
            let second = block_on(rx.receive());
            (first, second)
        });
        tx.send_nowait(1).unwrap();
        drop(tx);
        let (first, second) = receiver.join().unwrap();
        assert_eq!(first, Ok(1));
        assert_eq!(second, Err(ReceiveError::EndOfStream));
    });
}

#[test]
fn loom_a_send_polled_once_then_dropped_delivers_at_most_once() {
    loom::model(|| {
        let (tx, rx) = create_memory_object_stream::<u32>(0).unwrap();
        let mut sending = Box::pin(tx.send(3));
        assert!(poll_once(&mut sending).is_pending());
        let receiver = thread::spawn(move || {
            let got = rx.receive_nowait();
            (got, rx)
        });
        drop(sending);
        let (got, rx) = receiver.join().unwrap();
        match got {
            Ok(item) => assert_eq!(item, 3),
            Err(e) => assert_eq!(e, ReceiveError::WouldBlock),
        }
        // Either way the item is no longer in the stream.
        assert_eq!(rx.receive_nowait(), Err(ReceiveError::WouldBlock));
        drop(tx);
    });
}

#[test]
fn loom_a_granted_receive_dropped_passes_its_item_on() {
    loom::model(|| {
        let (tx, rx) = create_memory_object_stream::<u32>(1).unwrap();
        let rx2 = rx.try_clone().unwrap();
        // The first receive queues before anything else happens.
        let mut first = Box::pin(rx.receive());
        assert!(poll_once(&mut first).is_pending());
        let second = thread::spawn(move || block_on(rx2.receive()));
        tx.send_nowait(5).unwrap();
        // Handed to `first` (or to `second`, if `first` is gone by then): dropping `first`
        // must pass the item on, so `second` always gets it.
        drop(first);
        assert_eq!(second.join().unwrap(), Ok(5));
        drop(rx);
    });
}

#[test]
fn loom_closing_a_handle_wakes_its_own_blocked_send() {
    loom::model(|| {
        let (tx, rx) = create_memory_object_stream::<u32>(0).unwrap();
        let tx = std::sync::Arc::new(tx);
        let t = tx.clone();
        let sender = thread::spawn(move || block_on(t.send(2)));
        tx.close();
        let err = sender.join().unwrap().unwrap_err();
        assert_eq!((err.kind(), err.into_inner()), (SendErrorKind::Closed, 2));
        assert_eq!(rx.receive_nowait(), Err(ReceiveError::EndOfStream));
    });
}

#[test]
fn loom_end_of_stream_waits_for_an_item_handed_out_and_given_back() {
    loom::model(|| {
        let (tx, rx) = create_memory_object_stream::<u32>(0).unwrap();
        let rx2 = rx.try_clone().unwrap();
        let mut first = Box::pin(rx.receive());
        assert!(poll_once(&mut first).is_pending());
        // Queues before or after the send and the close, or finds the item given back.
        let second = thread::spawn(move || block_on(rx2.receive()));
        tx.send_nowait(5).unwrap(); // handed to `first`, the oldest
        drop(tx);
        // `first` gives the item back: the stream had not ended.
        drop(first);
        assert_eq!(second.join().unwrap(), Ok(5));
        assert_eq!(rx.receive_nowait(), Err(ReceiveError::EndOfStream));
    });
}
