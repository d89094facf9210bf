//! Memory object streams and the 1.x Queue: AnyIO's rules 12 and 13, on every backend.

#[macro_use]
#[path = "support/flavours.rs"]
mod flavours;

use std::collections::HashSet;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use anyio::{
    BoxError, BufferSize, CancelScope, Cancelled, MemoryObjectReceiveStream,
    MemoryObjectSendStream, MemoryObjectStreamStatistics, ReceiveError, SendErrorKind, TaskGroup,
    checkpoint, create_memory_object_stream, create_queue, create_unbounded_memory_object_stream,
    is_cancelled, wait_all_tasks_blocked,
};
use futures_lite::StreamExt;
use futures_lite::future::{or, poll_once};

fn stream<T>(
    size: usize,
) -> Result<(MemoryObjectSendStream<T>, MemoryObjectReceiveStream<T>), BoxError> {
    Ok(create_memory_object_stream::<T>(size)?)
}

// ---------------------------------------------------------------------------------------
// Creation and buffer sizes

#[test]
fn buffer_sizes_that_cannot_be_are_errors_not_panics() {
    for bad in [
        create_memory_object_stream::<u8>(-1).err(),
        create_memory_object_stream::<u8>(i64::MIN).err(),
        create_memory_object_stream::<u8>(f64::NAN).err(),
        create_memory_object_stream::<u8>(1.5).err(),
        create_memory_object_stream::<u8>(-0.5).err(),
        create_memory_object_stream::<u8>(f64::NEG_INFINITY).err(),
        create_memory_object_stream::<u8>(1e300).err(),
        create_memory_object_stream::<u8>(u128::MAX).err(),
    ] {
        let err = bad.expect("an invalid buffer size is refused");
        let msg = err.to_string();
        assert!(msg.contains("max_buffer_size must be"), "{msg}");
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::InvalidInput);
    }
    assert!(
        create_memory_object_stream::<u8>(-1)
            .unwrap_err()
            .to_string()
            .contains("got -1")
    );
}

#[test]
fn every_size_that_can_be_is_accepted() {
    let sizes = [
        (
            create_memory_object_stream::<u8>(0).unwrap().0,
            BufferSize::Bounded(0),
        ),
        (
            create_memory_object_stream::<u8>(7u8).unwrap().0,
            BufferSize::Bounded(7),
        ),
        (
            create_memory_object_stream::<u8>(3usize).unwrap().0,
            BufferSize::Bounded(3),
        ),
        (
            create_memory_object_stream::<u8>(2.0).unwrap().0,
            BufferSize::Bounded(2),
        ),
        (
            create_memory_object_stream::<u8>(usize::MAX).unwrap().0,
            BufferSize::Bounded(usize::MAX),
        ),
        (
            create_memory_object_stream::<u8>(f64::INFINITY).unwrap().0,
            BufferSize::Unbounded,
        ),
        (
            create_memory_object_stream::<u8>(BufferSize::Unbounded)
                .unwrap()
                .0,
            BufferSize::Unbounded,
        ),
        (
            create_unbounded_memory_object_stream::<u8>().0,
            BufferSize::Unbounded,
        ),
    ];
    for (tx, size) in sizes {
        assert_eq!(tx.statistics().max_buffer_size, size);
    }
    assert_eq!(BufferSize::default(), BufferSize::Bounded(0));
    assert_eq!(BufferSize::Unbounded.to_string(), "unbounded");
    assert_eq!(BufferSize::from(4).bound(), Some(4));
}

#[test]
fn streams_can_be_made_and_used_outside_any_runtime() {
    let (tx, rx) = create_memory_object_stream::<u8>(1).unwrap();
    tx.send_nowait(1).unwrap();
    assert_eq!(rx.receive_nowait(), Ok(1));
    drop(tx);
    assert_eq!(rx.receive_nowait(), Err(ReceiveError::EndOfStream));
}

// ---------------------------------------------------------------------------------------
// Delivery (rule 12)

#[anyio::test]
async fn a_rendezvous_send_completes_only_when_received() -> Result<(), BoxError> {
    let (tx, rx) = stream::<&str>(0)?;
    let sent = Arc::new(AtomicUsize::new(0));
    let s = sent.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            tx.send("hello").await?;
            s.fetch_add(1, SeqCst);
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(sent.load(SeqCst), 0);
        let stats = rx.statistics();
        assert_eq!(stats.tasks_waiting_send, 1);
        assert_eq!(stats.current_buffer_used, 0);
        assert_eq!(rx.receive().await?, "hello");
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn send_nowait_on_a_rendezvous_needs_a_waiting_receiver() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let err = tx.send_nowait(1).unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::WouldBlock);
    assert!(err.is_would_block());
    assert_eq!(err.into_inner(), 1);
    // With a receiver waiting, the item is handed straight to it.
    let mut receiving = pin!(rx.receive());
    assert!(poll_once(receiving.as_mut()).await.is_none());
    assert_eq!(rx.statistics().tasks_waiting_receive, 1);
    tx.send_nowait(2)?;
    assert_eq!(rx.statistics().tasks_waiting_receive, 0);
    assert_eq!(receiving.await, Ok(2));
    Ok(())
}

#[anyio::test]
async fn a_buffer_of_n_holds_n_items_in_order() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(3)?;
    for i in 0..3 {
        tx.send_nowait(i)?;
    }
    let err = tx.send_nowait(3).unwrap_err();
    assert!(err.is_would_block());
    assert_eq!(err.into_inner(), 3);
    assert_eq!(tx.statistics().current_buffer_used, 3);
    // A blocked send completes when a receive makes room; the order is kept.
    let mut sending = pin!(tx.send(3));
    assert!(poll_once(sending.as_mut()).await.is_none());
    assert_eq!(rx.statistics().tasks_waiting_send, 1);
    assert_eq!(rx.receive_nowait(), Ok(0));
    // receive_nowait moved the blocked sender's item into the buffer.
    assert_eq!(rx.statistics().current_buffer_used, 3);
    assert_eq!(rx.statistics().tasks_waiting_send, 0);
    assert_eq!(sending.await.map_err(|e| e.kind()), Ok(()));
    for i in 1..4 {
        assert_eq!(rx.receive().await, Ok(i));
    }
    assert_eq!(rx.receive_nowait(), Err(ReceiveError::WouldBlock));
    Ok(())
}

#[anyio::test]
async fn an_unbounded_stream_never_blocks_a_sender() -> Result<(), BoxError> {
    let (tx, rx) = create_memory_object_stream::<usize>(f64::INFINITY)?;
    for i in 0..10_000 {
        tx.send_nowait(i)?;
    }
    for i in 10_000..10_100 {
        tx.send(i).await?;
    }
    assert_eq!(rx.statistics().current_buffer_used, 10_100);
    drop(tx);
    let got: Vec<usize> = rx.collect().await;
    assert_eq!(got, (0..10_100).collect::<Vec<_>>());
    Ok(())
}

#[anyio::test]
async fn receive_nowait_takes_a_blocked_senders_item() -> Result<(), BoxError> {
    let (tx, rx) = stream::<String>(0)?;
    anyio::task_group(|tg: TaskGroup| async move {
        for word in ["a", "b"] {
            let tx = tx.clone();
            tg.start_soon(async move {
                tx.send(word.to_owned()).await?;
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
        }
        assert_eq!(rx.statistics().tasks_waiting_send, 2);
        assert_eq!(rx.receive_nowait().as_deref(), Ok("a"));
        assert_eq!(rx.receive_nowait().as_deref(), Ok("b"));
        assert_eq!(rx.receive_nowait(), Err(ReceiveError::WouldBlock));
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn blocked_receivers_are_served_first_come_first_served() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let o = order.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        for who in 0..4 {
            let rx = rx.clone();
            let o = o.clone();
            tg.start_soon(async move {
                let item = rx.receive().await?;
                o.lock().unwrap().push((who, item));
                Ok(())
            })?;
            wait_all_tasks_blocked().await?;
        }
        for item in 10..14 {
            tx.send_nowait(item)?;
        }
        Ok(())
    })
    .await?;
    // Whatever order the tasks then ran in, the items went to them in the order they came.
    let mut order = order.lock().unwrap().clone();
    order.sort();
    assert_eq!(order, [(0, 10), (1, 11), (2, 12), (3, 13)]);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Closing and cloning (rule 13)

#[anyio::test]
async fn receivers_drain_the_buffer_then_get_end_of_stream() -> Result<(), BoxError> {
    let (tx, mut rx) = stream::<u32>(5)?;
    let tx2 = tx.clone();
    tx.send_nowait(1)?;
    tx2.send_nowait(2)?;
    tx.close();
    tx.close(); // idempotent
    assert_eq!(rx.statistics().open_send_streams, 1);
    tx2.send_nowait(3)?;
    drop(tx2);
    assert_eq!(rx.statistics().open_send_streams, 0);
    assert_eq!(rx.receive().await, Ok(1));
    assert_eq!(rx.next().await, Some(2));
    assert_eq!(rx.receive_nowait(), Ok(3));
    assert_eq!(rx.receive_nowait(), Err(ReceiveError::EndOfStream));
    assert_eq!(rx.receive().await, Err(ReceiveError::EndOfStream));
    assert_eq!(rx.next().await, None);
    Ok(())
}

#[anyio::test]
async fn blocked_receivers_are_woken_with_end_of_stream() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let ends = Arc::new(AtomicUsize::new(0));
    let e = ends.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        for _ in 0..3 {
            let rx = rx.clone();
            let e = e.clone();
            tg.start_soon(async move {
                assert_eq!(rx.receive().await, Err(ReceiveError::EndOfStream));
                e.fetch_add(1, SeqCst);
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        assert_eq!(rx.statistics().tasks_waiting_receive, 3);
        drop(tx);
        Ok(())
    })
    .await?;
    assert_eq!(ends.load(SeqCst), 3);
    Ok(())
}

#[anyio::test]
async fn senders_get_broken_resource_when_every_receiver_is_closed() -> Result<(), BoxError> {
    let (tx, rx) = stream::<String>(1)?;
    let rx2 = rx.try_clone()?;
    rx.close();
    // One receive handle is still open.
    tx.send_nowait("kept".to_owned())?;
    drop(rx2);
    let err = tx.send_nowait("x".to_owned()).unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Broken);
    assert!(err.is_broken());
    assert_eq!(err.item(), "x");
    let err = tx.send("y".to_owned()).await.unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Broken);
    assert_eq!(err.into_inner(), "y");
    // The buffered item can never be received: it was dropped.
    assert_eq!(tx.statistics().current_buffer_used, 0);
    Ok(())
}

#[anyio::test]
async fn blocked_senders_are_woken_with_broken_resource_and_get_their_item_back()
-> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let back = Arc::new(std::sync::Mutex::new(Vec::new()));
    let b = back.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        for i in 0..3 {
            let tx = tx.clone();
            let b = b.clone();
            tg.start_soon(async move {
                let err = tx.send(i).await.unwrap_err();
                assert_eq!(err.kind(), SendErrorKind::Broken);
                b.lock().unwrap().push(err.into_inner());
                Ok(())
            })?;
        }
        wait_all_tasks_blocked().await?;
        assert_eq!(tx.statistics().tasks_waiting_send, 3);
        rx.close();
        Ok(())
    })
    .await?;
    let mut back = back.lock().unwrap().clone();
    back.sort();
    assert_eq!(back, [0, 1, 2]);
    Ok(())
}

#[anyio::test]
async fn a_handle_closed_by_its_owner_fails_with_closed_resource() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(1)?;
    let tx2 = tx.clone();
    let rx2 = rx.clone();
    tx.close();
    rx.close();
    assert!(tx.is_closed() && rx.is_closed());
    let err = tx.send_nowait(1).unwrap_err();
    assert_eq!((err.kind(), err.into_inner()), (SendErrorKind::Closed, 1));
    let err = tx.send(2).await.unwrap_err();
    assert!(err.is_closed());
    assert_eq!(rx.receive_nowait(), Err(ReceiveError::Closed));
    assert_eq!(rx.receive().await, Err(ReceiveError::Closed));
    // Clones are unaffected.
    tx2.send_nowait(3)?;
    assert_eq!(rx2.receive().await, Ok(3));
    Ok(())
}

#[anyio::test]
async fn cloning_a_closed_handle_is_an_error_or_a_closed_handle() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(1)?;
    let _keep_tx = tx.clone();
    let _keep_rx = rx.clone();
    tx.close();
    rx.close();
    assert_eq!(tx.try_clone().unwrap_err(), anyio::ClosedResourceError);
    assert_eq!(rx.try_clone().unwrap_err(), anyio::ClosedResourceError);
    let stats = tx.statistics();
    // `Clone` gives closed handles, which do not count as open.
    let (tx3, rx3) = (tx.clone(), rx.clone());
    assert!(tx3.is_closed() && rx3.is_closed());
    assert_eq!(tx.statistics(), stats);
    assert_eq!(
        tx3.send_nowait(1).unwrap_err().kind(),
        SendErrorKind::Closed
    );
    assert_eq!(rx3.receive_nowait(), Err(ReceiveError::Closed));
    drop((tx3, rx3));
    assert_eq!(tx.statistics(), stats);
    assert_eq!(
        (stats.open_send_streams, stats.open_receive_streams),
        (1, 1)
    );
    Ok(())
}

#[anyio::test]
async fn closing_a_handle_wakes_its_own_blocked_operations_only() -> Result<(), BoxError> {
    // A send blocks on one stream and a receive on another; each handle is shared by
    // reference with the task blocked on it, and closed from here.
    let (tx, tx_peer) = stream::<u32>(0)?;
    let (rx_peer, rx) = stream::<u32>(0)?;
    let tx = Arc::new(tx);
    let rx = Arc::new(rx);
    let (tx_other, rx_other) = (tx.try_clone()?, rx.try_clone()?);
    anyio::task_group(|tg: TaskGroup| async move {
        let t = tx.clone();
        tg.start_soon(async move {
            let err = t.send(1).await.unwrap_err();
            assert_eq!((err.kind(), err.into_inner()), (SendErrorKind::Closed, 1));
            Ok(())
        })?;
        let r = rx.clone();
        tg.start_soon(async move {
            assert_eq!(r.receive().await, Err(ReceiveError::Closed));
            Ok(())
        })?;
        // Blocked operations on the other clones, which closing must not disturb.
        let t2 = tx_other.try_clone()?;
        tg.start_soon(async move {
            t2.send(2).await?;
            Ok(())
        })?;
        let r2 = rx_other.try_clone()?;
        tg.start_soon(async move {
            assert_eq!(r2.receive().await, Ok(3));
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(tx_peer.statistics().tasks_waiting_send, 2);
        assert_eq!(rx_peer.statistics().tasks_waiting_receive, 2);
        tx.close();
        rx.close();
        // Their own blocked operations left the queues at once.
        assert_eq!(tx_peer.statistics().tasks_waiting_send, 1);
        assert_eq!(rx_peer.statistics().tasks_waiting_receive, 1);
        assert_eq!(tx_peer.receive().await, Ok(2));
        rx_peer.send(3).await?;
        // The other clones still work.
        tx_other.send_nowait(4).unwrap_err();
        assert_eq!(rx_other.receive_nowait(), Err(ReceiveError::WouldBlock));
        Ok(())
    })
    .await?;
    Ok(())
}

#[anyio::test]
async fn statistics_count_handles_buffer_and_waiters() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(2)?;
    let expect = |buffer, senders, receivers, ws, wr| MemoryObjectStreamStatistics {
        current_buffer_used: buffer,
        max_buffer_size: BufferSize::Bounded(2),
        open_send_streams: senders,
        open_receive_streams: receivers,
        tasks_waiting_send: ws,
        tasks_waiting_receive: wr,
    };
    assert_eq!(tx.statistics(), expect(0, 1, 1, 0, 0));
    let tx2 = tx.clone();
    let rx2 = rx.clone();
    let rx3 = rx.clone();
    assert_eq!(rx.statistics(), expect(0, 2, 3, 0, 0));
    {
        let mut r = pin!(rx2.receive());
        assert!(poll_once(r.as_mut()).await.is_none());
        assert_eq!(rx.statistics(), expect(0, 2, 3, 0, 1));
    }
    assert_eq!(rx.statistics(), expect(0, 2, 3, 0, 0));
    tx.send_nowait(1)?;
    tx.send_nowait(2)?;
    {
        let mut s = pin!(tx2.send(3));
        assert!(poll_once(s.as_mut()).await.is_none());
        assert_eq!(rx.statistics(), expect(2, 2, 3, 1, 0));
    }
    drop((rx2, rx3));
    tx2.close();
    assert_eq!(rx.statistics(), expect(2, 1, 1, 0, 0));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Iteration

#[anyio::test]
async fn the_receive_end_is_a_stream_that_ends_at_end_of_stream() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let got = anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            for i in 0..100 {
                tx.send(i).await?;
            }
            Ok(())
        })?;
        Ok(rx.collect::<Vec<_>>().await)
    })
    .await?
    .expect("nothing cancels the group");
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    Ok(())
}

#[anyio::test]
async fn the_stream_ends_when_its_scope_is_cancelled_and_consumes_nothing() -> Result<(), BoxError>
{
    let (tx, mut rx) = stream::<u32>(1)?;
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(async {
            let mut next = pin!(rx.next());
            assert!(poll_once(next.as_mut()).await.is_none());
            handle.cancel();
            assert_eq!(next.await, None);
            checkpoint().await?;
            Ok::<_, Cancelled>(())
        })
        .await?;
    assert_eq!(out, None);
    assert_eq!(rx.statistics().tasks_waiting_receive, 0);
    tx.send_nowait(9)?;
    assert_eq!(rx.next().await, Some(9));
    Ok(())
}

#[anyio::test]
async fn an_item_handed_to_an_abandoned_poll_next_is_not_lost() -> Result<(), BoxError> {
    let (tx, mut rx) = stream::<u32>(0)?;
    let rx_other = rx.clone();
    assert!(poll_once(rx.next()).await.is_none());
    tx.send_nowait(1)?; // handed to `rx`'s pending poll_next
    assert_eq!(rx_other.receive_nowait(), Err(ReceiveError::WouldBlock));
    // Polling the stream again returns it.
    assert_eq!(rx.next().await, Some(1));
    // Dropping the handle instead puts it back.
    assert!(poll_once(rx.next()).await.is_none());
    tx.send_nowait(2)?;
    drop(rx);
    assert_eq!(rx_other.receive_nowait(), Ok(2));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Cancellation by a scope

#[anyio::test]
async fn send_and_receive_are_checkpoints() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(5)?;
    let scope = CancelScope::new();
    scope.cancel();
    scope
        .run(async {
            // Even with room in the buffer, a cancelled send does nothing.
            let err = tx.send(1).await.unwrap_err();
            assert_eq!(err.kind(), SendErrorKind::Cancelled);
            assert!(is_cancelled(&err));
            assert_eq!(err.into_inner(), 1);
            tx.send_nowait(2).unwrap();
            // Even with an item buffered, a cancelled receive consumes nothing.
            assert_eq!(
                rx.receive().await,
                Err(ReceiveError::Cancelled(Cancelled::new()))
            );
            Ok::<_, Cancelled>(())
        })
        .await?;
    assert_eq!(rx.receive_nowait(), Ok(2));
    assert_eq!(rx.receive_nowait(), Err(ReceiveError::WouldBlock));
    Ok(())
}

#[anyio::test]
async fn a_blocked_send_cancelled_by_its_scope_delivers_nothing() -> Result<(), BoxError> {
    let (tx, rx) = stream::<String>(0)?;
    let out = anyio::move_on_after(Duration::from_millis(20), async {
        tx.send("lost?".to_owned()).await.inspect_err(|e| {
            assert_eq!(e.kind(), SendErrorKind::Cancelled);
            assert_eq!(e.item(), "lost?");
        })
    })
    .await?;
    assert_eq!(out, None);
    assert_eq!(rx.receive_nowait(), Err(ReceiveError::WouldBlock));
    assert_eq!(rx.statistics().tasks_waiting_send, 0);
    Ok(())
}

#[anyio::test]
async fn a_blocked_receive_cancelled_by_its_scope_consumes_nothing() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(1)?;
    let out = anyio::move_on_after(Duration::from_millis(20), rx.receive()).await?;
    assert_eq!(out, None);
    assert_eq!(rx.statistics().tasks_waiting_receive, 0);
    tx.send_nowait(3)?;
    assert_eq!(rx.receive().await, Ok(3));
    Ok(())
}

#[anyio::test]
async fn a_receiver_granted_an_item_returns_it_even_if_cancelled_since() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let scope = CancelScope::new();
    let handle = scope.clone();
    let out = scope
        .run(async {
            let mut receiving = pin!(rx.receive());
            assert!(poll_once(receiving.as_mut()).await.is_none());
            tx.send_nowait(42).unwrap();
            handle.cancel();
            // Rule 2: the operation completed, so it returns normally...
            assert_eq!(receiving.await, Ok(42));
            // ...and the next checkpoint reports the cancellation.
            checkpoint().await?;
            Ok::<_, Cancelled>(())
        })
        .await?;
    assert_eq!(out, None);
    Ok(())
}

#[anyio::test]
async fn a_sender_whose_item_was_taken_succeeds_even_if_cancelled_since() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let scope = CancelScope::new();
    let handle = scope.clone();
    scope
        .run(async {
            let mut sending = pin!(tx.send(7));
            assert!(poll_once(sending.as_mut()).await.is_none());
            assert_eq!(rx.receive_nowait(), Ok(7));
            handle.cancel();
            assert!(sending.await.is_ok());
            Ok::<_, Cancelled>(())
        })
        .await?;
    Ok(())
}

#[anyio::test]
async fn send_nowait_skips_receivers_whose_scope_is_cancelled() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let scope = CancelScope::new();
    let handle = scope.clone();
    // The first receiver waits inside `scope`, the second outside it.
    let mut first = pin!(scope.run(rx.receive()));
    assert!(poll_once(first.as_mut()).await.is_none());
    let mut second = pin!(rx.receive());
    assert!(poll_once(second.as_mut()).await.is_none());
    assert_eq!(rx.statistics().tasks_waiting_receive, 2);
    handle.cancel();
    tx.send_nowait(5)?;
    assert_eq!(second.await, Ok(5));
    // The first one consumed nothing; its scope absorbed the cancellation.
    assert_eq!(first.await, Ok(None));
    // With no eligible receiver left, a rendezvous send would block.
    assert!(tx.send_nowait(6).unwrap_err().is_would_block());
    Ok(())
}

#[anyio::test]
async fn a_skipped_receiver_whose_scope_is_uncancelled_takes_what_it_missed() -> Result<(), BoxError>
{
    let (tx, rx) = stream::<u32>(1)?;
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    let (outer_handle, inner_handle) = (outer.clone(), inner.clone());
    let mut receiving = pin!(outer.run(inner.run(rx.receive())));
    assert!(poll_once(receiving.as_mut()).await.is_none());
    // The outer cancellation reaches the receiver: the send skips it and buffers the item.
    outer_handle.cancel();
    tx.send_nowait(1)?;
    assert_eq!(rx.statistics().current_buffer_used, 1);
    // A shield keeps the outer cancellation out again: the receiver takes the item.
    inner_handle.set_shield(true);
    assert_eq!(receiving.await, Ok(Some(Some(1))));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Cancellation by dropping the future

#[anyio::test]
async fn a_receive_dropped_before_being_served_consumes_nothing() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    assert!(poll_once(rx.receive()).await.is_none());
    assert_eq!(rx.statistics().tasks_waiting_receive, 0);
    assert!(tx.send_nowait(1).unwrap_err().is_would_block());
    Ok(())
}

#[anyio::test]
async fn a_dropped_receive_that_was_handed_an_item_puts_it_back_first_in_line()
-> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(1)?;
    let mut receiving = Box::pin(rx.receive());
    assert!(poll_once(receiving.as_mut()).await.is_none());
    tx.send_nowait(1)?; // handed to `receiving`
    tx.send_nowait(2)?; // buffered
    drop(receiving);
    // 1 went back in front of 2, one over the buffer size for a moment.
    assert_eq!(rx.statistics().current_buffer_used, 2);
    assert_eq!(rx.receive_nowait(), Ok(1));
    assert_eq!(rx.receive_nowait(), Ok(2));
    Ok(())
}

#[anyio::test]
async fn a_dropped_receive_passes_its_item_to_the_next_waiting_receiver() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let mut first = Box::pin(rx.receive());
    assert!(poll_once(first.as_mut()).await.is_none());
    let mut second = pin!(rx.receive());
    assert!(poll_once(second.as_mut()).await.is_none());
    tx.send_nowait(1)?; // handed to `first`
    drop(first);
    assert_eq!(second.await, Ok(1));
    assert_eq!(rx.statistics().current_buffer_used, 0);
    Ok(())
}

#[anyio::test]
async fn a_dropped_send_delivers_nothing() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    assert!(poll_once(tx.send(1)).await.is_none());
    assert_eq!(tx.statistics().tasks_waiting_send, 0);
    assert_eq!(rx.receive_nowait(), Err(ReceiveError::WouldBlock));
    // A send dropped after its item was taken did deliver it, once.
    let mut sending = Box::pin(tx.send(2));
    assert!(poll_once(sending.as_mut()).await.is_none());
    assert_eq!(rx.receive_nowait(), Ok(2));
    drop(sending);
    assert_eq!(rx.receive_nowait(), Err(ReceiveError::WouldBlock));
    Ok(())
}

#[anyio::test]
async fn receives_raced_against_timeouts_lose_and_duplicate_nothing() -> Result<(), BoxError> {
    const N: u32 = 300;
    let (tx, rx) = stream::<u32>(0)?;
    let got = anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            for i in 0..N {
                tx.send(i).await?;
                if i % 7 == 0 {
                    anyio::sleep(Duration::from_micros(50)).await?;
                }
            }
            Ok(())
        })?;
        let mut got = Vec::new();
        loop {
            // Half the time by dropping the future, half by a cancel scope.
            let timeout = Duration::from_micros(30);
            let out = if got.len() % 2 == 0 {
                or(async { Some(rx.receive().await) }, async {
                    anyio::sleep(timeout).await.ok();
                    None
                })
                .await
            } else {
                anyio::move_on_after(timeout, async { Ok::<_, Cancelled>(rx.receive().await) })
                    .await?
            };
            match out {
                Some(Ok(item)) => got.push(item),
                Some(Err(ReceiveError::EndOfStream)) => break,
                Some(Err(ReceiveError::Cancelled(_))) | None => {}
                Some(Err(e)) => panic!("unexpected {e}"),
            }
        }
        Ok(got)
    })
    .await?
    .expect("nothing cancels the group");
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    Ok(())
}

#[anyio::test]
async fn sends_raced_against_timeouts_lose_and_duplicate_nothing() -> Result<(), BoxError> {
    const N: u32 = 300;
    let (tx, rx) = stream::<u32>(0)?;
    let got = anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            let mut next = 0;
            while next < N {
                let timeout = Duration::from_micros(30);
                let out = if next % 2 == 0 {
                    or(async { Some(tx.send(next).await) }, async {
                        anyio::sleep(timeout).await.ok();
                        None
                    })
                    .await
                } else {
                    anyio::move_on_after(timeout, async { Ok::<_, Cancelled>(tx.send(next).await) })
                        .await?
                };
                match out {
                    Some(Ok(())) => next += 1,
                    Some(Err(e)) => {
                        assert_eq!(e.kind(), SendErrorKind::Cancelled);
                        assert_eq!(e.into_inner(), next);
                    }
                    None => {}
                }
            }
            Ok(())
        })?;
        let mut got = Vec::new();
        loop {
            match rx.receive().await {
                Ok(item) => got.push(item),
                Err(ReceiveError::EndOfStream) => break,
                Err(e) => return Err(e.into()),
            }
            if got.len() % 5 == 0 {
                anyio::sleep(Duration::from_micros(40)).await?;
            }
        }
        Ok::<_, BoxError>(got)
    })
    .await?
    .expect("nothing cancels the group");
    // A send whose future was dropped after its item was taken still delivered it, so the
    // sender may have sent some numbers twice (it could not know); a cancelled send that
    // reported `Cancelled` never delivered.
    let mut dedup = got.clone();
    dedup.dedup();
    assert_eq!(dedup, (0..N).collect::<Vec<_>>());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Cancelled waiters are passed over; `EndOfStream` means everything sent was received
//
// Each of these runs on every backend, on one thread and on two worker threads.

on_every_flavour!(
    receive_nowait_skips_senders_whose_scope_is_cancelled,
    a_skipped_sender_whose_scope_is_uncancelled_sends_after_all,
    blocked_operations_of_a_cancelled_group_are_passed_over,
    receive_nowait_is_not_end_of_stream_while_a_handed_item_is_uncollected,
    a_blocked_receiver_gets_the_item_a_dropped_receive_gives_back_after_the_close,
    blocked_receivers_get_end_of_stream_once_the_handed_item_is_collected,
);

async fn receive_nowait_skips_senders_whose_scope_is_cancelled() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let scope = CancelScope::new();
    let handle = scope.clone();
    // The first sender waits inside `scope`, the second outside it.
    let mut first = pin!(scope.run(async {
        tx.send(1).await.map_err(|e| {
            assert_eq!(e.into_parts(), (SendErrorKind::Cancelled, 1));
            Cancelled::new()
        })
    }));
    assert!(poll_once(first.as_mut()).await.is_none());
    let mut second = pin!(tx.send(2));
    assert!(poll_once(second.as_mut()).await.is_none());
    assert_eq!(rx.statistics().tasks_waiting_send, 2);
    handle.cancel();
    assert_eq!(rx.receive_nowait(), Ok(2));
    assert_eq!(rx.statistics().tasks_waiting_send, 0);
    assert!(second.await.is_ok());
    // The first one delivered nothing and got its item back; its scope absorbed the
    // cancellation.
    assert_eq!(first.await, Ok(None));
    assert_eq!(rx.receive_nowait(), Err(ReceiveError::WouldBlock));
    Ok(())
}

async fn a_skipped_sender_whose_scope_is_uncancelled_sends_after_all() -> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let (outer, inner) = (CancelScope::new(), CancelScope::new());
    let (outer_handle, inner_handle) = (outer.clone(), inner.clone());
    let mut sending = pin!(outer.run(inner.run(tx.send(1))));
    assert!(poll_once(sending.as_mut()).await.is_none());
    outer_handle.cancel();
    // Passed over while cancelled: nothing to receive.
    assert_eq!(rx.receive_nowait(), Err(ReceiveError::WouldBlock));
    assert_eq!(rx.statistics().tasks_waiting_send, 0);
    // A shield lifts the cancellation before the sender ran: it waits in line again.
    inner_handle.set_shield(true);
    assert!(poll_once(sending.as_mut()).await.is_none());
    assert_eq!(rx.statistics().tasks_waiting_send, 1);
    assert_eq!(rx.receive_nowait(), Ok(1));
    assert!(matches!(sending.await, Ok(Some(Some(())))));
    Ok(())
}

async fn blocked_operations_of_a_cancelled_group_are_passed_over() -> Result<(), BoxError> {
    // A receive blocks on one rendezvous stream and a send on another, in a task group
    // that the host then cancels.
    let (to_receiver, receiving_end) = stream::<u32>(0)?;
    let (sending_end, from_sender) = stream::<u32>(0)?;
    // Kept open, whenever the tasks end.
    let _ends = (receiving_end.clone(), sending_end.clone());
    let outcomes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let o = outcomes.clone();
    anyio::task_group(|tg: TaskGroup| async move {
        let o1 = o.clone();
        tg.start_soon(async move {
            let got = match receiving_end.receive().await {
                // Without its cause, which names the group's scope.
                Err(ReceiveError::Cancelled(_)) => "Err(Cancelled)".to_owned(),
                other => format!("{other:?}"),
            };
            o1.lock().unwrap().push(format!("receive: {got}"));
            Ok(())
        })?;
        let o2 = o.clone();
        tg.start_soon(async move {
            let sent = sending_end.send(7).await.map_err(|e| e.into_parts());
            o2.lock().unwrap().push(format!("send: {sent:?}"));
            Ok(())
        })?;
        wait_all_tasks_blocked().await?;
        assert_eq!(to_receiver.statistics().tasks_waiting_receive, 1);
        assert_eq!(from_sender.statistics().tasks_waiting_send, 1);
        tg.cancel();
        CancelScope::new()
            .shielded(true)
            .run(async {
                let refused = to_receiver.send_nowait(1).unwrap_err();
                assert_eq!(refused.into_parts(), (SendErrorKind::WouldBlock, 1));
                assert_eq!(from_sender.receive_nowait(), Err(ReceiveError::WouldBlock));
                Ok::<_, Cancelled>(())
            })
            .await?;
        Ok(())
    })
    .await?;
    let mut outcomes = outcomes.lock().unwrap().clone();
    outcomes.sort();
    assert_eq!(
        outcomes,
        ["receive: Err(Cancelled)", "send: Err((Cancelled, 7))"]
    );
    Ok(())
}

async fn receive_nowait_is_not_end_of_stream_while_a_handed_item_is_uncollected()
-> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let other = rx.clone();
    let mut receiving = Box::pin(rx.receive());
    assert!(poll_once(receiving.as_mut()).await.is_none());
    tx.send_nowait(1)?; // handed to `receiving`
    drop(tx); // the last sender
    // The item is not received yet, and may come back: the stream has not ended.
    assert_eq!(other.receive_nowait(), Err(ReceiveError::WouldBlock));
    drop(receiving);
    assert_eq!(other.receive_nowait(), Ok(1));
    assert_eq!(other.receive_nowait(), Err(ReceiveError::EndOfStream));
    Ok(())
}

async fn a_blocked_receiver_gets_the_item_a_dropped_receive_gives_back_after_the_close()
-> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let mut first = Box::pin(rx.receive());
    assert!(poll_once(first.as_mut()).await.is_none());
    let mut second = pin!(rx.receive());
    assert!(poll_once(second.as_mut()).await.is_none());
    tx.send_nowait(1)?; // handed to `first`
    drop(tx);
    // `second` is not told that the stream ended while `first` may give its item back.
    assert_eq!(rx.statistics().tasks_waiting_receive, 1);
    drop(first);
    assert_eq!(second.await, Ok(1));
    assert_eq!(rx.receive().await, Err(ReceiveError::EndOfStream));
    Ok(())
}

async fn blocked_receivers_get_end_of_stream_once_the_handed_item_is_collected()
-> Result<(), BoxError> {
    let (tx, rx) = stream::<u32>(0)?;
    let mut first = pin!(rx.receive());
    assert!(poll_once(first.as_mut()).await.is_none());
    let mut second = pin!(rx.receive());
    assert!(poll_once(second.as_mut()).await.is_none());
    tx.send_nowait(1)?; // handed to `first`
    drop(tx);
    assert_eq!(rx.statistics().tasks_waiting_receive, 1);
    assert_eq!(first.await, Ok(1));
    // Every item sent has been received now.
    assert_eq!(rx.statistics().tasks_waiting_receive, 0);
    assert_eq!(second.await, Err(ReceiveError::EndOfStream));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Several producers and consumers

#[anyio::test]
async fn many_producers_and_consumers_deliver_every_item_once() -> Result<(), BoxError> {
    const PRODUCERS: u32 = 4;
    const PER_PRODUCER: u32 = 500;
    for size in [0, 1, 16] {
        let (tx, rx) = stream::<(u32, u32)>(size)?;
        let results = Arc::new(std::sync::Mutex::new(Vec::new()));
        let r = results.clone();
        anyio::task_group(|tg: TaskGroup| async move {
            for p in 0..PRODUCERS {
                let tx = tx.clone();
                tg.start_soon(async move {
                    for i in 0..PER_PRODUCER {
                        tx.send((p, i)).await?;
                    }
                    Ok(())
                })?;
            }
            drop(tx);
            for _ in 0..3 {
                let rx = rx.clone();
                let r = r.clone();
                tg.start_soon(async move {
                    let mut mine = Vec::new();
                    let mut rx = rx;
                    while let Some(item) = rx.next().await {
                        mine.push(item);
                    }
                    r.lock().unwrap().push(mine);
                    Ok(())
                })?;
            }
            Ok(())
        })
        .await?;
        let results = results.lock().unwrap();
        let mut all = HashSet::new();
        for mine in results.iter() {
            // Each consumer sees each producer's items in the order sent.
            for p in 0..PRODUCERS {
                let seq: Vec<u32> = mine.iter().filter(|(q, _)| *q == p).map(|x| x.1).collect();
                assert!(seq.windows(2).all(|w| w[0] < w[1]), "FIFO broken: {seq:?}");
            }
            for item in mine {
                assert!(all.insert(*item), "{item:?} delivered twice");
            }
        }
        assert_eq!(all.len(), (PRODUCERS * PER_PRODUCER) as usize);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Errors

#[test]
fn errors_convert_to_io_errors_and_tell_cancellations_apart() {
    let (tx, rx) = create_memory_object_stream::<Vec<u8>>(0).unwrap();
    let would_block = tx.send_nowait(vec![1]).unwrap_err();
    assert_eq!(
        format!("{would_block:?}"),
        "SendError { kind: WouldBlock, .. }"
    );
    assert!(would_block.to_string().contains("would block"));
    assert_eq!(
        io::Error::from(would_block).kind(),
        io::ErrorKind::WouldBlock
    );
    drop(rx);
    let broken = tx.send_nowait(vec![2]).unwrap_err();
    assert!(!is_cancelled(&broken));
    let boxed: BoxError = broken.into();
    assert!(!is_cancelled(&boxed));
    let (kind, item) = tx.send_nowait(vec![3]).unwrap_err().into_parts();
    assert_eq!((kind, item), (SendErrorKind::Broken, vec![3]));
    assert_eq!(io::Error::from(kind).kind(), io::ErrorKind::BrokenPipe);
    for (e, kind) in [
        (ReceiveError::WouldBlock, io::ErrorKind::WouldBlock),
        (ReceiveError::Closed, io::ErrorKind::NotConnected),
        (ReceiveError::EndOfStream, io::ErrorKind::UnexpectedEof),
        (
            ReceiveError::Cancelled(Cancelled::new()),
            io::ErrorKind::Other,
        ),
    ] {
        let cancelled = e == ReceiveError::Cancelled(Cancelled::new());
        let io_err = io::Error::from(e.clone());
        assert_eq!(io_err.kind(), kind);
        assert_eq!(is_cancelled(&io_err), cancelled);
        let boxed: BoxError = e.into();
        assert_eq!(is_cancelled(&boxed), cancelled);
    }
    assert_eq!(
        ReceiveError::from(Cancelled::new()),
        ReceiveError::Cancelled(Cancelled::new())
    );
    assert_eq!(
        ReceiveError::from(anyio::EndOfStream),
        ReceiveError::EndOfStream
    );
}

#[anyio::test]
async fn a_cancelled_send_is_recognised_as_a_cancellation_once_boxed() -> Result<(), BoxError> {
    let (tx, _rx) = stream::<u32>(0)?;
    let scope = CancelScope::new();
    scope.cancel();
    // `?` boxes the error; the scope recognises it as its own cancellation and absorbs it.
    let out = scope
        .run(async {
            tx.send(1).await?;
            Ok::<_, BoxError>(())
        })
        .await?;
    assert_eq!(out, None);
    Ok(())
}

#[test]
fn handles_and_futures_are_send_and_sync() {
    fn send<T: Send>(_: &T) {}
    fn send_sync<T: Send + Sync>(_: &T) {}
    let (tx, rx) = create_memory_object_stream::<String>(0).unwrap();
    send_sync(&tx);
    send_sync(&rx);
    send(&tx.send(String::new()));
    send(&rx.receive());
    let queue = create_queue::<String>(1);
    send_sync(&queue);
    send(&queue.put(String::new()));
    send(&queue.get());
}

// ---------------------------------------------------------------------------------------
// The 1.x Queue

#[anyio::test]
async fn a_queue_puts_and_gets_in_order() -> Result<(), BoxError> {
    let queue = create_queue::<u32>(2);
    assert_eq!(queue.capacity(), Some(2));
    assert!(queue.empty() && !queue.full());
    queue.put(1).await?;
    queue.put_nowait(2)?;
    assert_eq!(queue.qsize(), 2);
    assert!(queue.full() && !queue.empty());
    assert!(queue.put_nowait(3).unwrap_err().is_would_block());
    assert_eq!(queue.get().await?, 1);
    assert_eq!(queue.get_nowait()?, 2);
    assert_eq!(queue.get_nowait(), Err(anyio::WouldBlock));
    Ok(())
}

#[anyio::test]
async fn a_queue_of_capacity_zero_is_unlimited() -> Result<(), BoxError> {
    let queue = create_queue::<u32>(0);
    assert_eq!(queue.capacity(), None);
    for i in 0..1000 {
        queue.put_nowait(i)?;
    }
    assert!(!queue.full());
    assert_eq!(queue.qsize(), 1000);
    Ok(())
}

#[anyio::test]
async fn the_manuals_queue_example_works() -> Result<(), BoxError> {
    let queue = create_queue::<u32>(100);
    let producer = queue.clone();
    let got = anyio::task_group(|tg: TaskGroup| async move {
        tg.start_soon(async move {
            for number in 0..10 {
                producer.put(number).await?;
                anyio::sleep(Duration::from_millis(1)).await?;
            }
            Ok(())
        })?;
        let mut got = Vec::new();
        loop {
            let number = queue.get().await?;
            got.push(number);
            if number == 9 {
                break;
            }
        }
        Ok(got)
    })
    .await?
    .expect("nothing cancels the group");
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    Ok(())
}

#[anyio::test]
async fn a_queue_is_a_stream_and_its_waits_are_cancellable() -> Result<(), BoxError> {
    let queue = create_queue::<u32>(1);
    let mut consumer = queue.clone();
    queue.put(1).await?;
    let mut sending = pin!(queue.put(2));
    assert!(poll_once(sending.as_mut()).await.is_none());
    assert_eq!(consumer.next().await, Some(1));
    sending.await?;
    assert_eq!(consumer.next().await, Some(2));
    // A get cancelled by a scope takes nothing.
    let out = anyio::move_on_after(Duration::from_millis(10), queue.get()).await?;
    assert_eq!(out, None);
    // A put cancelled while the queue is full gives the item back.
    queue.put(3).await?;
    let out = anyio::move_on_after(Duration::from_millis(10), async {
        let err = queue.put(4).await.unwrap_err();
        assert_eq!(
            (err.kind(), err.into_inner()),
            (SendErrorKind::Cancelled, 4)
        );
        Err::<(), _>(Cancelled::new())
    })
    .await?;
    assert_eq!(out, None);
    assert_eq!(queue.qsize(), 1);
    assert_eq!(queue.get().await?, 3);
    Ok(())
}

/// The cooperative budget: a task that only sends into an unbounded stream (every send
/// completes at once) still lets other tasks run on a single-threaded runtime.
#[anyio::test(tokio(current_thread), smol(current_thread))]
async fn a_producer_that_never_blocks_still_lets_others_run() -> Result<(), anyio::BoxError> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    let (tx, rx) = anyio::create_unbounded_memory_object_stream::<u32>();
    let ticks = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (t, d) = (ticks.clone(), done.clone());
    let seen_while_sending = anyio::task_group(|tg: anyio::TaskGroup| async move {
        tg.start_soon(async move {
            while !d.load(SeqCst) {
                t.fetch_add(1, SeqCst);
                anyio::checkpoint().await?;
            }
            Ok(())
        })?;
        for i in 0..10_000 {
            tx.send(i).await?;
        }
        let seen = ticks.load(SeqCst);
        done.store(true, SeqCst);
        Ok(seen)
    })
    .await?;
    assert!(seen_while_sending.unwrap() > 0, "the other task never ran");
    drop(rx);
    Ok(())
}
