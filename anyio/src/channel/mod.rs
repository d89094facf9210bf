//! Memory object streams (AnyIO's `create_memory_object_stream`, trio's channels) and the
//! 1.x [`Queue`] built on them.
//!
//! A memory object stream is a pair of handles, [`MemoryObjectSendStream`] and
//! [`MemoryObjectReceiveStream`], that pass values between tasks through a buffer of a
//! fixed size: 0 (rendezvous: a send completes only when a receiver takes the item; the
//! default in AnyIO), any `N`, or unbounded. Both ends can be cloned for several producers
//! and consumers; each item goes to exactly one receiver, in the order sent (AnyIO's rules
//! 12 and 13).
//!
//! Everything that waits is a checkpoint and cancel safe: a cancelled send delivers nothing
//! and gives its item back, a cancelled receive consumes nothing, and an item handed to a
//! receiver that then goes away is passed on, never lost. `EndOfStream` means that every
//! item sent has been received.

mod error;
mod queue;
mod receive;
mod send;
mod state;

#[cfg(all(test, anyio_loom))]
mod loom_tests;

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/channels.md")]
struct ChannelsGuide;

use std::fmt;

pub use error::{InvalidBufferSize, ReceiveError, SendError, SendErrorKind};
pub use queue::{Queue, create_queue};
pub use receive::{MemoryObjectReceiveStream, ReceiveFuture};
pub use send::{MemoryObjectSendStream, SendFuture};

use state::{Shared, State};

/// How many items a memory object stream buffers.
///
/// [`create_memory_object_stream`] takes anything that implements [`IntoBufferSize`]: an
/// integer (`0` for a rendezvous, AnyIO's default), a `BufferSize`, or `f64::INFINITY`
/// (AnyIO's `math.inf`) for no bound.
///
/// # Cancel safety
///
/// A value, not an operation: nothing to cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufferSize {
    /// At most this many items wait in the buffer; 0 makes every send wait for a receiver.
    Bounded(usize),
    /// No bound: a send never waits. Memory grows as long as the receivers fall behind, so
    /// prefer a bound.
    Unbounded,
}

impl BufferSize {
    /// The bound, or `None` when unbounded.
    pub fn bound(self) -> Option<usize> {
        match self {
            BufferSize::Bounded(n) => Some(n),
            BufferSize::Unbounded => None,
        }
    }
}

impl Default for BufferSize {
    /// AnyIO's default: 0, a rendezvous.
    fn default() -> Self {
        BufferSize::Bounded(0)
    }
}

impl From<usize> for BufferSize {
    fn from(n: usize) -> Self {
        BufferSize::Bounded(n)
    }
}

impl fmt::Display for BufferSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BufferSize::Bounded(n) => write!(f, "{n}"),
            BufferSize::Unbounded => f.write_str("unbounded"),
        }
    }
}

/// What [`create_memory_object_stream`] accepts as a buffer size: any integer type (a
/// plain literal such as `16` works), a [`BufferSize`], or an `f64` that is a whole number
/// or `f64::INFINITY`, like AnyIO's "an int or `math.inf`". A value that cannot be a size
/// (negative, fractional, NaN, beyond `usize`) is an [`InvalidBufferSize`] error.
///
/// # Cancel safety
///
/// A conversion, not an operation: nothing to cancel.
pub trait IntoBufferSize {
    /// The buffer size, or why this value cannot be one.
    fn into_buffer_size(self) -> Result<BufferSize, InvalidBufferSize>;
}

impl IntoBufferSize for BufferSize {
    fn into_buffer_size(self) -> Result<BufferSize, InvalidBufferSize> {
        Ok(self)
    }
}

macro_rules! integer_buffer_sizes {
    ($($t:ty),*) => {$(
        impl IntoBufferSize for $t {
            fn into_buffer_size(self) -> Result<BufferSize, InvalidBufferSize> {
                usize::try_from(self)
                    .map(BufferSize::Bounded)
                    .map_err(|_| InvalidBufferSize::new(self))
            }
        }
    )*};
}

integer_buffer_sizes!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

impl IntoBufferSize for f64 {
    fn into_buffer_size(self) -> Result<BufferSize, InvalidBufferSize> {
        if self == f64::INFINITY {
            return Ok(BufferSize::Unbounded);
        }
        // `usize::MAX as f64` rounds up to 2^64 (or 2^32), which is out of range.
        if self >= 0.0 && self.fract() == 0.0 && self < usize::MAX as f64 {
            return Ok(BufferSize::Bounded(self as usize));
        }
        Err(InvalidBufferSize::new(self))
    }
}

/// Creates a memory object stream: a send handle and a receive handle sharing a buffer of
/// `max_buffer_size` items.
///
/// `max_buffer_size` is `0` for a rendezvous (every send waits until a receiver takes its
/// item: AnyIO's default), any `N`, or [`BufferSize::Unbounded`] / `f64::INFINITY`; see
/// [`IntoBufferSize`]. A size that cannot be (negative, fractional, NaN, beyond `usize`)
/// is an [`InvalidBufferSize`] error, never a panic.
///
/// ```
/// use anyio::{MemoryObjectReceiveStream, TaskGroup};
///
/// async fn process_items(mut items: MemoryObjectReceiveStream<String>) {
///     use futures_lite::StreamExt;
///     while let Some(item) = items.next().await {
///         println!("received {item}");
///     }
/// }
///
/// # anyio::run(async {
/// let (tx, rx) = anyio::create_memory_object_stream::<String>(0)?;
/// anyio::task_group(|tg| async move {
///     tg.start_soon(async move {
///         process_items(rx).await;
///         Ok(())
///     })?;
///     for num in 0..10 {
///         tx.send(format!("number {num}")).await?;
///     }
///     // Dropping (or closing) the last send handle ends the receiver's loop.
///     drop(tx);
///     Ok(())
/// })
/// .await?;
/// # Ok::<_, anyio::BoxError>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Cancel safety
///
/// It does not wait, so there is nothing to cancel. See
/// [`send`](MemoryObjectSendStream::send) and [`receive`](MemoryObjectReceiveStream::receive)
/// for the operations that do.
pub fn create_memory_object_stream<T>(
    max_buffer_size: impl IntoBufferSize,
) -> Result<(MemoryObjectSendStream<T>, MemoryObjectReceiveStream<T>), InvalidBufferSize> {
    let size = max_buffer_size.into_buffer_size()?;
    Ok(stream_with(size))
}

/// Creates a memory object stream with no bound on its buffer: sends never wait. The same
/// as `create_memory_object_stream(BufferSize::Unbounded)`, without the `Result`.
///
/// # Cancel safety
///
/// It does not wait, so there is nothing to cancel.
pub fn create_unbounded_memory_object_stream<T>()
-> (MemoryObjectSendStream<T>, MemoryObjectReceiveStream<T>) {
    stream_with(BufferSize::Unbounded)
}

fn stream_with<T>(size: BufferSize) -> (MemoryObjectSendStream<T>, MemoryObjectReceiveStream<T>) {
    let shared = Shared::new(size);
    (
        MemoryObjectSendStream::new(shared.clone(), 0),
        MemoryObjectReceiveStream::new(shared, 1),
    )
}

/// A snapshot of a memory object stream's state, from `statistics()` on either end.
///
/// # Cancel safety
///
/// A value, not an operation: nothing to cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryObjectStreamStatistics {
    /// Items in the buffer. It can exceed `max_buffer_size` by the items that receivers,
    /// dropped after an item was handed to them, put back at the front.
    pub current_buffer_used: usize,
    /// The buffer size the stream was created with.
    pub max_buffer_size: BufferSize,
    /// Send handles not closed yet.
    pub open_send_streams: usize,
    /// Receive handles not closed yet.
    pub open_receive_streams: usize,
    /// Sends blocked waiting for room or a receiver. A send whose scope was cancelled is
    /// counted until its task runs and leaves, or a receiver passes it over.
    pub tasks_waiting_send: usize,
    /// Receives blocked waiting for an item. A receive whose scope was cancelled is counted
    /// until its task runs and leaves, or a sender passes it over.
    pub tasks_waiting_receive: usize,
}

impl MemoryObjectStreamStatistics {
    fn of<T>(state: &State<T>) -> Self {
        MemoryObjectStreamStatistics {
            current_buffer_used: state.buffer.len(),
            max_buffer_size: state.max_buffer_size(),
            open_send_streams: state.open_senders,
            open_receive_streams: state.open_receivers,
            tasks_waiting_send: state.send_waiters.len(),
            tasks_waiting_receive: state.recv_waiters.len(),
        }
    }
}
