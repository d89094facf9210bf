//! AnyIO 1.x's `Queue`: one handle that both puts and gets, as a thin layer over a memory
//! object stream.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::error::{ReceiveError, SendError};
use super::{BufferSize, MemoryObjectReceiveStream, MemoryObjectSendStream, stream_with};
use crate::cancel::error::Cancelled;
use crate::resource::WouldBlock;

/// Creates a [`Queue`] holding at most `capacity` items; `0` means no limit, as in AnyIO
/// 1.x's `create_queue(capacity)` ("0 = infinite").
///
/// For new code prefer [`create_memory_object_stream`](super::create_memory_object_stream),
/// whose separate ends can be closed to end the stream.
///
/// ```
/// use std::time::Duration;
/// use anyio::TaskGroup;
///
/// # anyio::run(async {
/// let queue = anyio::create_queue::<u32>(100);
/// let producer = queue.clone();
/// anyio::task_group(|tg| async move {
///     tg.start_soon(async move {
///         for number in 0..10 {
///             producer.put(number).await?;
///             anyio::sleep(Duration::from_millis(1)).await?;
///         }
///         Ok(())
///     })?;
///     loop {
///         let number = queue.get().await?;
///         println!("{number}");
///         if number == 9 {
///             break;
///         }
///     }
///     Ok(())
/// })
/// .await?;
/// # Ok::<_, anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Cancel safety
///
/// It does not wait, so there is nothing to cancel.
pub fn create_queue<T>(capacity: usize) -> Queue<T> {
    let size = match capacity {
        0 => BufferSize::Unbounded,
        n => BufferSize::Bounded(n),
    };
    let (tx, rx) = stream_with(size);
    Queue { tx, rx }
}

/// A FIFO queue of items between tasks: AnyIO 1.x's `Queue`, made by [`create_queue`].
///
/// Producers [`put`](Self::put) items in, consumers [`get`](Self::get) them out; each item
/// goes to exactly one consumer, in the order put. When the queue is full, `put` waits for
/// a consumer to take an item. Clones are handles to the same queue. Since every handle
/// can both put and get, the queue never ends: iterating over it (it is a
/// [`Stream`](futures_core::Stream)) waits for items forever, unless cancelled.
///
/// Built on a memory object stream: it has the same fairness, and the same cancel safety.
///
/// # Cancel safety
///
/// A handle is not an operation; see [`put`](Self::put) and [`get`](Self::get).
pub struct Queue<T> {
    tx: MemoryObjectSendStream<T>,
    rx: MemoryObjectReceiveStream<T>,
}

impl<T> Queue<T> {
    /// Puts `item` at the back of the queue, waiting while the queue is full.
    ///
    /// It is a checkpoint. The only way it can fail is a cancellation
    /// ([`SendErrorKind::Cancelled`](super::SendErrorKind::Cancelled)), which gives the
    /// item back.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`MemoryObjectSendStream::send`]: a cancelled put does not add the
    /// item (unless a consumer had already taken it, in which case it succeeds).
    pub async fn put(&self, item: T) -> Result<(), SendError<T>> {
        self.tx.send(item).await
    }

    /// Puts `item` at the back of the queue if there is room; fails with
    /// [`SendErrorKind::WouldBlock`](super::SendErrorKind::WouldBlock), giving the item
    /// back, if the queue is full.
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel. It is not a checkpoint.
    pub fn put_nowait(&self, item: T) -> Result<(), SendError<T>> {
        self.tx.send_nowait(item)
    }

    /// Takes the item at the front of the queue, waiting while it is empty.
    ///
    /// It is a checkpoint; the only way it can fail is a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`MemoryObjectReceiveStream::receive`]: a cancelled get takes
    /// nothing, and an item handed to it just before is returned (or, if the future is
    /// dropped, goes back to the front of the queue).
    pub async fn get(&self) -> Result<T, Cancelled> {
        match self.rx.receive().await {
            Ok(item) => Ok(item),
            Err(ReceiveError::Cancelled(c)) => Err(c),
            Err(e) => unreachable!("a queue holds open handles to both ends, so never {e:?}"),
        }
    }

    /// Takes the item at the front of the queue if there is one.
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel. It is not a checkpoint.
    pub fn get_nowait(&self) -> Result<T, WouldBlock> {
        self.rx.receive_nowait().map_err(|_| WouldBlock)
    }

    /// How many items are in the queue (AnyIO's `qsize()`).
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel.
    pub fn qsize(&self) -> usize {
        self.tx.statistics().current_buffer_used
    }

    /// Whether the queue holds no item.
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue is full, so a `put` would wait. Never for an unlimited queue.
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel.
    pub fn full(&self) -> bool {
        let stats = self.tx.statistics();
        match stats.max_buffer_size {
            BufferSize::Bounded(n) => stats.current_buffer_used >= n,
            BufferSize::Unbounded => false,
        }
    }

    /// The most items the queue holds, or `None` if unlimited (AnyIO's `maxsize`).
    ///
    /// # Cancel safety
    ///
    /// It does not wait, so there is nothing to cancel.
    pub fn capacity(&self) -> Option<usize> {
        self.tx.statistics().max_buffer_size.bound()
    }
}

impl<T> Clone for Queue<T> {
    /// Another handle to the same queue.
    fn clone(&self) -> Self {
        Queue {
            tx: self.tx.clone(),
            rx: self.rx.clone(),
        }
    }
}

/// Iterates over the items as they are put; it never ends by itself, but does end (`None`)
/// when the enclosing cancel scope is cancelled (the next checkpoint reports it).
///
/// # Cancel safety
///
/// As for [`MemoryObjectReceiveStream`'s `Stream`](MemoryObjectReceiveStream#impl-Stream-for-MemoryObjectReceiveStream%3CT%3E):
/// an item handed to a pending `poll_next` that is not polled again stays with this handle
/// until it is polled again or dropped, then goes back to the queue.
impl<T> Stream for Queue<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        Pin::new(&mut self.get_mut().rx).poll_next(cx)
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.qsize())
            .field("capacity", &self.capacity())
            .finish()
    }
}
