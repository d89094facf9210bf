//! AnyIO's file byte streams: [`FileReadStream`] and [`FileWriteStream`].
//!
//! The stream traits (`ByteReceiveStream`, `ByteSendStream`) come with the stream layer;
//! until then these have the traits' methods as inherent methods, with AnyIO's names and
//! semantics.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use super::{blocking, retry};
use crate::stream::RECEIVE_CHUNK;
use crate::{ClosedResourceError, EndOfStream};

/// The `max_bytes` AnyIO's `receive()` uses when given none: 64 KiB.
pub const DEFAULT_MAX_BYTES: usize = 65536;

fn closed() -> io::Error {
    ClosedResourceError.into()
}

/// A byte stream that reads a file: AnyIO's `FileReadStream`.
///
/// Each [`receive`](Self::receive) reads on a worker thread through the run's thread
/// limiter, so it is a checkpoint: inside a cancelled scope it fails with an `io::Error`
/// carrying [`Cancelled`](crate::Cancelled) before reading.
///
/// ```
/// # anyio::run(async {
/// use anyio::fs::FileReadStream;
///
/// let path = std::env::temp_dir().join(format!("anyio-read-stream-doc-{}", std::process::id()));
/// std::fs::write(&path, b"hello")?;
/// let mut stream = FileReadStream::from_path(&path).await?;
/// assert_eq!(stream.receive(3).await?, b"hel");
/// assert_eq!(stream.receive(65536).await?, b"lo");
/// let eof = stream.receive(65536).await.unwrap_err();
/// assert!(eof.get_ref().unwrap().is::<anyio::EndOfStream>());
/// stream.aclose().await?;
/// # std::fs::remove_file(&path)?;
/// # Ok::<_, std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
#[derive(Debug)]
pub struct FileReadStream {
    file: Option<Arc<File>>,
}

impl FileReadStream {
    /// A stream reading `file` from its current position (AnyIO's `FileReadStream(file)`).
    pub fn new(file: File) -> Self {
        FileReadStream {
            file: Some(Arc::new(file)),
        }
    }

    /// Opens the file at `path` for reading, on a thread.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged (`NotFound`, `PermissionDenied`, ...), or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, a file opened afterwards is closed again.
    pub async fn from_path(path: impl AsRef<std::path::Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = blocking(None, move || File::open(path)).await?;
        Ok(Self::new(file))
    }

    fn file(&self) -> io::Result<Arc<File>> {
        self.file.clone().ok_or_else(closed)
    }

    /// Reads up to `max_bytes` bytes: exactly `max_bytes` unless the file ends first
    /// (AnyIO's `receive`, which reads as a buffered Python file does).
    ///
    /// # Errors
    ///
    /// - [`InvalidInput`](io::ErrorKind::InvalidInput) if `max_bytes` is 0 ("max_bytes must
    ///   be a positive integer");
    /// - [`EndOfStream`] (kind `UnexpectedEof`) at the end of the file, when nothing is
    ///   left;
    /// - [`ClosedResourceError`] after [`aclose`](Self::aclose);
    /// - the OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if the future is dropped while the read runs, what it reads is
    /// lost. A cancel scope never loses data (the read is shielded once started).
    pub async fn receive(&mut self, max_bytes: usize) -> io::Result<Vec<u8>> {
        if max_bytes == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "max_bytes must be a positive integer",
            ));
        }
        let file = self.file()?;
        let data = blocking(None, move || {
            // `max_bytes` is an upper bound, never an allocation (issue 12): the buffer
            // starts at one chunk and grows with what is read.
            let mut data = Vec::with_capacity(max_bytes.min(RECEIVE_CHUNK));
            retry(|| {
                (&*file)
                    .take((max_bytes - data.len()) as u64)
                    .read_to_end(&mut data)
            })?;
            Ok(data)
        })
        .await?;
        if data.is_empty() {
            return Err(EndOfStream.into());
        }
        Ok(data)
    }

    /// Moves the read position, like [`std::io::Seek::seek`] (AnyIO's `seek(position,
    /// whence)`), and returns the new position from the start.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged; [`ClosedResourceError`] after [`aclose`](Self::aclose);
    /// a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Once started, the seek happens even if the future is dropped.
    pub async fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        let file = self.file()?;
        blocking(None, move || retry(|| (&*file).seek(position))).await
    }

    /// The read position, from the start (AnyIO's `tell`).
    ///
    /// # Errors
    ///
    /// As [`seek`](Self::seek).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn tell(&mut self) -> io::Result<u64> {
        let file = self.file()?;
        blocking(None, move || retry(|| (&*file).stream_position())).await
    }

    /// Closes the file; later calls fail with [`ClosedResourceError`], and closing again
    /// does nothing. It closes even in a cancelled scope, then returns the cancellation.
    ///
    /// # Errors
    ///
    /// A cancellation if the calling code was cancelled (the file is closed anyway).
    ///
    /// # Cancel safety
    ///
    /// The file is closed as soon as this is first polled.
    pub async fn aclose(&mut self) -> io::Result<()> {
        close(self.file.take()).await
    }
}

/// Closes `file` on a thread (on the calling one if cancelled first).
async fn close(file: Option<Arc<File>>) -> io::Result<()> {
    match file {
        None => Ok(()),
        Some(file) => {
            blocking(None, move || {
                drop(file);
                Ok(())
            })
            .await
        }
    }
}

/// A byte stream that writes a file: AnyIO's `FileWriteStream`.
///
/// Each [`send`](Self::send) writes all its bytes on a worker thread through the run's
/// thread limiter, so it is a checkpoint: inside a cancelled scope it fails with an
/// `io::Error` carrying [`Cancelled`](crate::Cancelled) before writing.
///
/// ```
/// # anyio::run(async {
/// use anyio::fs::FileWriteStream;
///
/// let path = std::env::temp_dir().join(format!("anyio-write-stream-doc-{}", std::process::id()));
/// let mut stream = FileWriteStream::from_path(&path, false).await?;
/// stream.send(b"hello ").await?;
/// stream.send(b"world").await?;
/// stream.aclose().await?;
/// assert_eq!(std::fs::read(&path)?, b"hello world");
/// # std::fs::remove_file(&path)?;
/// # Ok::<_, std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
#[derive(Debug)]
pub struct FileWriteStream {
    file: Option<Arc<File>>,
}

impl FileWriteStream {
    /// A stream writing `file` at its current position (AnyIO's `FileWriteStream(file)`).
    pub fn new(file: File) -> Self {
        FileWriteStream {
            file: Some(Arc::new(file)),
        }
    }

    /// Opens the file at `path` for writing, on a thread, creating it if needed: appending
    /// to it if `append`, else truncating it (AnyIO's modes `"ab"` and `"wb"`).
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, a file opened afterwards is closed again (a file created
    /// or truncated stays so).
    pub async fn from_path(path: impl AsRef<std::path::Path>, append: bool) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut options = OpenOptions::new();
        if append {
            options.append(true).create(true);
        } else {
            options.write(true).create(true).truncate(true);
        }
        let file = blocking(None, move || options.open(path)).await?;
        Ok(Self::new(file))
    }

    /// Writes all of `item` (AnyIO's `send`).
    ///
    /// # Errors
    ///
    /// [`ClosedResourceError`] after [`aclose`](Self::aclose); the OS's error, unchanged
    /// (part of `item` may have been written); a cancellation if the calling code is
    /// cancelled before the write starts (then nothing is written).
    ///
    /// # Cancel safety
    ///
    /// Once started, the write completes even if the future is dropped.
    pub async fn send(&mut self, item: &[u8]) -> io::Result<()> {
        let file = self.file()?;
        let data = item.to_vec();
        blocking(None, move || (&*file).write_all(&data)).await
    }

    fn file(&self) -> io::Result<Arc<File>> {
        self.file.clone().ok_or_else(closed)
    }

    /// Closes the file; later calls fail with [`ClosedResourceError`], and closing again
    /// does nothing. It closes even in a cancelled scope, then returns the cancellation.
    ///
    /// # Errors
    ///
    /// A cancellation if the calling code was cancelled (the file is closed anyway).
    ///
    /// # Cancel safety
    ///
    /// The file is closed as soon as this is first polled.
    pub async fn aclose(&mut self) -> io::Result<()> {
        close(self.file.take()).await
    }
}
