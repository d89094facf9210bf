//! [`AsyncFile`]: a `std::fs::File` whose blocking calls run on worker threads, with a read
//! buffer for line iteration.

use std::fmt;
use std::fs::File;
use std::future::{Future, IntoFuture, poll_fn};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use futures_core::Stream;

use super::options::IntoOpenOptions;
use super::{BUFFER_SIZE, blocking, retry};
use crate::cancel::current;
use crate::stream::buffered::search::find_byte;
use crate::{Cancelled, CapacityLimiter, ClosedResourceError, checkpoint, to_thread};

/// The most one read of [`AsyncFile::read`] or [`AsyncFile::read_exact`] asks the OS for.
const MAX_READ: usize = 16 * 1024 * 1024;

/// The most [`AsyncFile::read`] reads ahead in one thread call, when the file is read
/// sequentially.
const MAX_READ_AHEAD: usize = 1024 * 1024;

/// What a read on a worker thread gives back: the buffer it read into, where in it the read
/// started, and how many bytes it read.
type FillOutput = Result<(Vec<u8>, usize, io::Result<usize>), Cancelled>;

/// A read running on a worker thread. In a `Mutex` only so `AsyncFile` is `Sync` (the
/// future is `Send`, not `Sync`); it is reached through `get_mut`, never locked.
type FillFuture = Mutex<Pin<Box<dyn Future<Output = FillOutput> + Send>>>;

/// Opens the file at `path` on a worker thread, as `options` say: a
/// [`std::fs::OpenOptions`] or a Python mode string (`"r"`, `"w"`, `"a"`, `"x"`, with `+`,
/// `b`, `t`; see [`IntoOpenOptions`]). AnyIO's `open_file`.
///
/// ```
/// # anyio::run(async {
/// let path = std::env::temp_dir().join(format!("anyio-open-file-doc-{}", std::process::id()));
/// let mut f = anyio::open_file(&path, "w").await?;
/// f.write_all(b"data").await?;
/// f.close().await?;
///
/// let mut options = std::fs::OpenOptions::new();
/// options.read(true);
/// let mut f = anyio::open_file(&path, &options).await?;
/// assert_eq!(f.read_to_end_vec().await?, b"data");
/// # anyio::fs::Path::from(path).remove_file().await?;
/// # Ok::<_, std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Errors
///
/// The OS's error, unchanged (`NotFound`, `PermissionDenied`, `AlreadyExists`, ...);
/// `InvalidInput` for an invalid mode string; a cancellation (an `io::Error` carrying
/// [`Cancelled`]) if the calling code is cancelled before the file is opened.
///
/// # Cancel safety
///
/// Once the thread has started, the file is opened and returned even if the scope is
/// cancelled meanwhile. If the future is dropped instead, a file opened afterwards is
/// closed again (a file created stays created).
pub async fn open_file(
    path: impl AsRef<std::path::Path>,
    options: impl IntoOpenOptions,
) -> io::Result<AsyncFile> {
    let options = options.into_open_options()?;
    let path = path.as_ref().to_path_buf();
    let file = blocking(None, move || options.open(path)).await?;
    Ok(wrap_file(file))
}

/// Creates (or truncates) the file at `path` and opens it for writing, like
/// [`std::fs::File::create`]; `open_file(path, "w")`.
///
/// # Errors
///
/// As [`open_file`].
///
/// # Cancel safety
///
/// As [`open_file`].
pub async fn create_file(path: impl AsRef<std::path::Path>) -> io::Result<AsyncFile> {
    open_file(path, "w").await
}

/// Wraps an open [`std::fs::File`] (or anything that converts into one, such as an
/// `OwnedFd`'s file) in an [`AsyncFile`]. AnyIO's `wrap_file`; it does no I/O.
///
/// The file's current position is where the `AsyncFile` starts reading and writing.
pub fn wrap_file(file: File) -> AsyncFile {
    AsyncFile {
        file: Some(Arc::new(file)),
        limiter: None,
        buf: Vec::new(),
        pos: 0,
        end: 0,
        spare: Vec::new(),
        wbuf: Vec::new(),
        fill: None,
        read_ahead: BUFFER_SIZE,
    }
}

/// An open file whose blocking calls run on worker threads: AnyIO's `AsyncFile`.
///
/// Get one from [`open_file`], [`create_file`], [`AsyncFile::open`], [`wrap_file`] or
/// [`Path::open`](super::Path::open). Every method that touches the file runs its system call
/// through [`to_thread::run_sync`] (so through the run's thread limiter, or the one given
/// to [`with_limiter`](Self::with_limiter)) and is a checkpoint: inside a cancelled scope it
/// fails with an `io::Error` carrying [`Cancelled`] before touching the file.
///
/// # Buffering
///
/// Reads go through an internal buffer of [`BUFFER_SIZE`] bytes (up to 1 MiB while the file
/// is read sequentially with [`read`](Self::read), and as much as a larger read asks), so
/// [`readline`](Self::readline), [`lines`](Self::lines) and small reads cost one thread hop
/// per buffer, not per call. Reads served from the buffer do not leave the task: they check
/// for cancellation, and yield only when the task's scheduling budget is spent. The buffer
/// is invisible otherwise: [`tell`](Self::tell) and [`seek`](Self::seek) count in the file's
/// logical position, and a write, [`set_len`](Self::set_len) or [`into_std`](Self::into_std)
/// first moves the OS position back over the bytes read ahead. Writes are not buffered: each
/// call writes on its thread before it returns, so [`flush`](Self::flush) has nothing to do.
///
/// # Lines and newlines
///
/// [`readline`](Self::readline) returns a line with its terminator exactly as in the file:
/// a line ends after `\n`, so `"a\r\n"` comes back as `"a\r\n"`; the last line of a file that
/// does not end in `\n` comes back without one, and the empty string means end of file.
/// [`lines`](Self::lines) strips the terminator like [`std::io::BufRead::lines`]: a trailing
/// `\n` and a `\r` just before it. No other newline translation is done (Python's
/// `newline=""`).
///
/// # Closing
///
/// [`close`](Self::close) closes the file; afterwards every method fails with an `io::Error`
/// of kind [`NotConnected`](io::ErrorKind::NotConnected) carrying [`ClosedResourceError`].
/// Dropping an `AsyncFile` closes it too (synchronously, as dropping a `std::fs::File` does).
///
/// Two tasks cannot use one `AsyncFile` at once: its I/O methods take `&mut self`.
pub struct AsyncFile {
    /// `None` once closed. An `Arc`, so a thread still running an operation whose future
    /// was dropped keeps the descriptor alive, and the file is never lost with a future.
    file: Option<Arc<File>>,
    limiter: Option<Arc<CapacityLimiter>>,
    /// Bytes read ahead: `buf[pos..end]`. `buf.len()` is its initialised size, not the data.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// The buffer the next read on a thread reads into (initialised up to its `len`).
    spare: Vec<u8>,
    /// The buffer writes copy their data into, reused.
    wbuf: Vec<u8>,
    /// A read running on a thread. It stays here when the future that started it is
    /// dropped, and the next operation waits for it and keeps what it read.
    fill: Option<FillFuture>,
    /// How much [`read`](Self::read) asks the OS for when the buffer is empty: grows while
    /// the file is read sequentially, back to [`BUFFER_SIZE`] after a seek.
    read_ahead: usize,
}

impl fmt::Debug for AsyncFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFile")
            .field("file", &self.file)
            .field("buffered", &(self.end - self.pos))
            .field("reading", &self.fill.is_some())
            .finish_non_exhaustive()
    }
}

fn closed() -> io::Error {
    ClosedResourceError.into()
}

/// Seeks `file` back over `unread` bytes read ahead; `true` if that worked (or there were
/// none). A file that cannot seek (a pipe, a terminal) keeps its read-ahead.
fn rewind(file: &File, unread: usize) -> bool {
    unread == 0
        || i64::try_from(unread)
            .ok()
            .is_some_and(|n| retry(|| (&*file).seek(SeekFrom::Current(-n))).is_ok())
}

impl AsyncFile {
    /// Opens the file at `path` for reading, like [`std::fs::File::open`];
    /// `open_file(path, "r")`.
    ///
    /// # Errors
    ///
    /// As [`open_file`].
    ///
    /// # Cancel safety
    ///
    /// As [`open_file`].
    pub async fn open(path: impl AsRef<std::path::Path>) -> io::Result<AsyncFile> {
        open_file(path, "r").await
    }

    /// Creates (or truncates) the file at `path` for writing, like
    /// [`std::fs::File::create`]; `open_file(path, "w")`.
    ///
    /// # Errors
    ///
    /// As [`open_file`].
    ///
    /// # Cancel safety
    ///
    /// As [`open_file`].
    pub async fn create(path: impl AsRef<std::path::Path>) -> io::Result<AsyncFile> {
        open_file(path, "w").await
    }

    /// Runs this file's operations through `limiter` instead of the run's default thread
    /// limiter (AnyIO's `limiter=` argument).
    pub fn with_limiter(mut self, limiter: Arc<CapacityLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The limiter given to [`with_limiter`](Self::with_limiter), if any.
    pub fn limiter(&self) -> Option<&Arc<CapacityLimiter>> {
        self.limiter.as_ref()
    }

    /// Whether [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        self.file.is_none()
    }

    fn file(&self) -> io::Result<Arc<File>> {
        self.file.clone().ok_or_else(closed)
    }

    fn unread(&self) -> usize {
        self.end - self.pos
    }

    fn clear_buffer(&mut self) {
        self.pos = 0;
        self.end = 0;
    }

    /// Empties the read buffer for an operation that gives the read-ahead back to the OS
    /// position, and returns what [`restore_buffer_state`](Self::restore_buffer_state)
    /// needs if the operation turns out not to have done so. Emptied first, so the buffer
    /// is right also when the future is dropped while the operation runs.
    fn take_buffer_state(&mut self) -> (usize, usize) {
        let saved = (self.pos, self.end);
        self.clear_buffer();
        saved
    }

    /// Undoes [`take_buffer_state`](Self::take_buffer_state): the read-ahead is still
    /// there (nothing ran, or the file cannot seek).
    fn restore_buffer_state(&mut self, (pos, end): (usize, usize)) {
        self.pos = pos;
        self.end = end;
    }

    /// Runs `f` with the file on a worker thread.
    async fn run<T, F>(&self, f: F) -> io::Result<T>
    where
        F: FnOnce(&File) -> io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let file = self.file()?;
        blocking(self.limiter.clone(), move || f(&file)).await
    }

    /// Polls the read on a thread, first starting one of up to `want` bytes if none runs;
    /// with `want == 0`, only finishes a read already running (`Ready(Ok(0))` if none).
    /// What it read is appended to the buffer; returns how many bytes (0 at end of file).
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        if self.fill.is_none() {
            if want == 0 {
                return Poll::Ready(Ok(0));
            }
            let file = self.file()?;
            // The thread reads into the spare buffer after room for what is still buffered
            // (the start of a line, say), which is copied in front when the read is done:
            // only those bytes are copied, never what was read.
            let offset = self.unread();
            let mut spare = mem::take(&mut self.spare);
            if spare.len() < offset + want {
                // In whole buffers, so the two buffers settle at one size and are not
                // reallocated at every read that finds a few more bytes buffered.
                spare.resize((offset + want).next_multiple_of(BUFFER_SIZE), 0);
            }
            let mut call = to_thread::run_sync(move || {
                let n = retry(|| (&*file).read(&mut spare[offset..offset + want]));
                (spare, offset, n)
            });
            if let Some(limiter) = &self.limiter {
                call = call.limiter(limiter.clone());
            }
            self.fill = Some(Mutex::new(call.into_future()));
        }
        let fut = self
            .fill
            .as_mut()
            .expect("a read is running")
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let out = ready!(fut.as_mut().poll(cx));
        self.fill = None;
        Poll::Ready(self.absorb(out))
    }

    /// Makes what a read on a thread returned the buffer, behind what is still buffered.
    fn absorb(&mut self, out: FillOutput) -> io::Result<usize> {
        // Cancelled before the thread started: nothing was read, and the spare buffer went
        // with the closure; the next read allocates another.
        let (mut spare, offset, result) = out?;
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                self.spare = spare;
                return Err(e);
            }
        };
        // Bytes may have been consumed from the buffer since the read started (when the
        // future that started it was dropped), never added: `unread <= offset`.
        let unread = self.unread();
        let start = offset - unread;
        spare[start..offset].copy_from_slice(&self.buf[self.pos..self.end]);
        self.spare = mem::replace(&mut self.buf, spare);
        self.pos = start;
        self.end = offset + n;
        Ok(n)
    }

    /// Waits for a read left running by a dropped future, keeping what it read.
    async fn settle(&mut self) -> io::Result<()> {
        if self.fill.is_some() {
            poll_fn(|cx| self.poll_fill(cx, 0)).await?;
        }
        Ok(())
    }

    /// The cancellation check and budget spend at the start of an operation that may be
    /// served from the buffer.
    fn poll_enter(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.file.is_none() {
            return Poll::Ready(Err(closed()));
        }
        if self.fill.is_none() {
            ready!(current::poll_checkpoint(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Polls for the next line: its bytes with the `\n` (if any) in `buf[pos..pos + len]`,
    /// consumed by the caller; `0` at end of file.
    fn poll_line(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut searched = 0;
        loop {
            if let Some(i) = find_byte(b'\n', &self.buf[self.pos + searched..self.end]) {
                return Poll::Ready(Ok(searched + i + 1));
            }
            searched = self.unread();
            if ready!(self.poll_fill(cx, BUFFER_SIZE))? == 0 {
                return Poll::Ready(Ok(self.unread()));
            }
        }
    }

    /// Takes the next `len` buffered bytes.
    fn take_buffered(&mut self, len: usize) -> &[u8] {
        let start = self.pos;
        self.pos += len;
        &self.buf[start..start + len]
    }

    /// Polls for the next line as bytes (see [`poll_line`](Self::poll_line)).
    fn poll_line_bytes(
        &mut self,
        cx: &mut Context<'_>,
        first: &mut bool,
    ) -> Poll<io::Result<Vec<u8>>> {
        if *first {
            ready!(self.poll_enter(cx))?;
            *first = false;
        }
        let len = ready!(self.poll_line(cx))?;
        Poll::Ready(Ok(self.take_buffered(len).to_vec()))
    }

    /// Reads some bytes into `out` and returns how many, like [`std::io::Read::read`]: `0`
    /// means end of file (or an empty `out`). Serves them from the read buffer if it holds
    /// any, else reads once on a thread, keeping what does not fit in `out` for the next
    /// read: at least [`BUFFER_SIZE`] bytes, and twice as much after each read that got all
    /// it asked for, up to 1 MiB (back to [`BUFFER_SIZE`] after a [`seek`](Self::seek)), so
    /// a file read sequentially in small chunks costs few thread hops.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged; [`ClosedResourceError`] after [`close`](Self::close); a
    /// cancellation if the calling code is cancelled before the read starts.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped while the read runs on its thread, what it reads
    /// is kept in the buffer for the next operation.
    pub async fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut first = true;
        poll_fn(|cx| {
            if first {
                ready!(self.poll_enter(cx))?;
                first = false;
            }
            if out.is_empty() {
                return Poll::Ready(Ok(0));
            }
            while self.pos == self.end {
                let want = out.len().max(self.read_ahead).min(MAX_READ);
                let n = ready!(self.poll_fill(cx, want))?;
                // Sequential reads that fill what they ask for double the read size, up
                // to MAX_READ_AHEAD, so a file read in small chunks costs few thread hops.
                if n == want {
                    self.read_ahead = (self.read_ahead * 2).min(MAX_READ_AHEAD);
                }
                if n == 0 && self.pos == self.end {
                    return Poll::Ready(Ok(0));
                }
            }
            let n = out.len().min(self.unread());
            out[..n].copy_from_slice(self.take_buffered(n));
            Poll::Ready(Ok(n))
        })
        .await
    }

    /// Reads exactly `out.len()` bytes, like [`std::io::Read::read_exact`].
    ///
    /// # Errors
    ///
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) if the file ends first (the bytes
    /// before the end are consumed); otherwise as [`read`](Self::read).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if the future is dropped, the bytes already copied into `out` are
    /// consumed (nothing is lost by a cancel scope, which only ends it before a read starts).
    pub async fn read_exact(&mut self, mut out: &mut [u8]) -> io::Result<()> {
        while !out.is_empty() {
            let n = self.read(out).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "failed to fill whole buffer",
                ));
            }
            out = &mut out[n..];
        }
        Ok(())
    }

    /// Reads everything up to the end of the file and appends it to `out`, in one trip to a
    /// thread; returns how many bytes it appended. Like [`std::io::Read::read_to_end`].
    ///
    /// The whole read runs on one thread call, so a cancellation arriving meanwhile is only
    /// delivered after it.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read). On an error, `out` is unchanged and what was buffered is
    /// consumed.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if the future is dropped during the read, what it read is lost.
    pub async fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        self.settle().await?;
        let mut data = self.take_buffered(self.unread()).to_vec();
        let rest = self
            .run(move |file| {
                let mut rest = Vec::new();
                retry(|| (&*file).read_to_end(&mut rest))?;
                Ok(rest)
            })
            .await?;
        let n = data.len() + rest.len();
        if out.is_empty() && data.is_empty() {
            *out = rest;
        } else {
            data.extend_from_slice(&rest);
            out.extend_from_slice(&data);
        }
        Ok(n)
    }

    /// Reads everything up to the end of the file into a new `Vec` (AnyIO's `read()` of a
    /// binary file).
    ///
    /// # Errors
    ///
    /// As [`read_to_end`](Self::read_to_end).
    ///
    /// # Cancel safety
    ///
    /// As [`read_to_end`](Self::read_to_end).
    pub async fn read_to_end_vec(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_to_end(&mut out).await?;
        Ok(out)
    }

    /// Reads everything up to the end of the file, which must be UTF-8, and appends it to
    /// `out`; returns how many bytes it appended. Like [`std::io::Read::read_to_string`].
    ///
    /// # Errors
    ///
    /// [`InvalidData`](io::ErrorKind::InvalidData) if the data is not UTF-8 (then `out` is
    /// unchanged and the data consumed); otherwise as [`read_to_end`](Self::read_to_end).
    ///
    /// # Cancel safety
    ///
    /// As [`read_to_end`](Self::read_to_end).
    pub async fn read_to_string(&mut self, out: &mut String) -> io::Result<usize> {
        let bytes = self.read_to_end_vec().await?;
        let text =
            String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        out.push_str(&text);
        Ok(text.len())
    }

    /// Reads one line, with its `\n` (and a `\r` before it, if any) as in the file. The last
    /// line of a file that does not end in `\n` comes back without one; at end of file the
    /// result is empty. AnyIO's `readline`.
    ///
    /// Lines come from the read buffer: one thread call reads [`BUFFER_SIZE`] bytes, however
    /// many lines they hold. A line is a checkpoint for cancellation either way.
    ///
    /// # Errors
    ///
    /// [`InvalidData`](io::ErrorKind::InvalidData) if the line is not UTF-8 (the line is
    /// consumed; [`readline_bytes`](Self::readline_bytes) reads any bytes); otherwise as
    /// [`read`](Self::read).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped, the line is not consumed, and what a read on a
    /// thread brings in is kept for the next operation.
    pub async fn readline(&mut self) -> io::Result<String> {
        let line = self.readline_bytes().await?;
        String::from_utf8(line).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Reads one line as bytes: [`readline`](Self::readline) without the UTF-8 check.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    ///
    /// # Cancel safety
    ///
    /// As [`readline`](Self::readline).
    pub async fn readline_bytes(&mut self) -> io::Result<Vec<u8>> {
        let mut first = true;
        poll_fn(|cx| self.poll_line_bytes(cx, &mut first)).await
    }

    /// The lines of the rest of the file, as a [`Stream`] of `io::Result<String>`, without
    /// their terminators (a trailing `\n`, and a `\r` before it); AnyIO's `async for line in
    /// file` (which keeps the terminators; [`readline`](Self::readline) does too).
    ///
    /// Iterate with `StreamExt::next` (futures-lite, futures) or
    /// [`Lines::next_line`]:
    ///
    /// ```
    /// # anyio::run(async {
    /// let path = std::env::temp_dir().join(format!("anyio-lines-doc-{}", std::process::id()));
    /// anyio::fs::Path::from(path.clone()).write("one\r\ntwo\nthree").await?;
    /// let mut file = anyio::open_file(&path, "r").await?;
    /// let mut lines = file.lines();
    /// let mut all = Vec::new();
    /// while let Some(line) = lines.next_line().await? {
    ///     all.push(line);
    /// }
    /// assert_eq!(all, ["one", "two", "three"]);
    /// # anyio::fs::Path::from(path).remove_file().await?;
    /// # Ok::<_, std::io::Error>(())
    /// # }).unwrap().unwrap();
    /// ```
    ///
    /// A line that is not UTF-8 is an `Err` of kind `InvalidData`, and the iteration can go
    /// on after it. So can it after a cancellation, which is an `Err` too: stop at the first
    /// error unless you know better.
    pub fn lines(&mut self) -> Lines<'_> {
        Lines {
            file: self,
            first: true,
        }
    }

    /// Writes some of `data` on a thread and returns how many bytes were written, like
    /// [`std::io::Write::write`].
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged; [`ClosedResourceError`] after [`close`](Self::close); a
    /// cancellation if the calling code is cancelled before the write starts (then nothing
    /// is written).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped after the write started, the write still happens on its
    /// thread, and the number of bytes written is lost.
    pub async fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.write_inner(data, false).await
    }

    /// Writes all of `data` on a thread (one call), like [`std::io::Write::write_all`].
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write); a part of `data` may have been written before an error.
    ///
    /// # Cancel safety
    ///
    /// As [`write`](Self::write).
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.write_inner(data, true).await.map(drop)
    }

    async fn write_inner(&mut self, data: &[u8], all: bool) -> io::Result<usize> {
        self.settle().await?;
        let file = self.file()?;
        let mut wbuf = mem::take(&mut self.wbuf);
        wbuf.clear();
        wbuf.extend_from_slice(data);
        let unread = self.unread();
        let saved = self.take_buffer_state();
        let out = blocking(self.limiter.clone(), move || {
            let rewound = rewind(&file, unread);
            let result = if all {
                (&*file).write_all(&wbuf).map(|()| wbuf.len())
            } else {
                retry(|| (&*file).write(&wbuf))
            };
            Ok((wbuf, rewound, result))
        })
        .await;
        let (wbuf, rewound, result) = match out {
            Ok(out) => out,
            Err(e) => {
                self.restore_buffer_state(saved);
                return Err(e);
            }
        };
        if !rewound {
            self.restore_buffer_state(saved);
        }
        if wbuf.capacity() <= 4 * BUFFER_SIZE {
            self.wbuf = wbuf;
        }
        result
    }

    /// Flushes the file. Writes are not buffered (each one has reached the OS when it
    /// returns), so this is only a checkpoint; use [`sync_all`](Self::sync_all) to reach
    /// the disk. AnyIO's `flush`.
    ///
    /// # Errors
    ///
    /// [`ClosedResourceError`] after [`close`](Self::close); a cancellation inside a
    /// cancelled scope.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.file()?;
        checkpoint().await?;
        Ok(())
    }

    /// Moves the file's position, like [`std::io::Seek::seek`], and returns the new one,
    /// counted from the start. [`SeekFrom::Current`] counts from the logical position (what
    /// has been read, not what was read ahead). Discards the read buffer.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged (`InvalidInput` for a position before the start, `ESPIPE`
    /// on a pipe); [`ClosedResourceError`] after [`close`](Self::close); a cancellation if
    /// the calling code is cancelled before the call starts.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped after the call started, the position is unspecified.
    pub async fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.settle().await?;
        let unread = self.unread();
        let target = match pos {
            SeekFrom::Current(offset) => {
                let unread = i64::try_from(unread).map_err(io::Error::other)?;
                SeekFrom::Current(offset.checked_sub(unread).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "seek offset overflow")
                })?)
            }
            other => other,
        };
        // The buffer is dropped before the call, so it is right also if the future is
        // dropped while the call runs; a failed seek moves the OS position back over the
        // bytes read ahead, to the logical position.
        let saved = self.take_buffer_state();
        self.read_ahead = BUFFER_SIZE;
        let result = self
            .run(move |file| {
                retry(|| (&*file).seek(target)).inspect_err(|_| {
                    rewind(file, unread);
                })
            })
            .await;
        if matches!(&result, Err(e) if crate::is_cancelled(e)) {
            // Cancelled before the call started: nothing moved.
            self.restore_buffer_state(saved);
        }
        result
    }

    /// The current (logical) position in the file, counted from the start; AnyIO's `tell`,
    /// [`std::io::Seek::stream_position`].
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged (`ESPIPE` on a pipe); [`ClosedResourceError`] after
    /// [`close`](Self::close); a cancellation if the calling code is cancelled before the
    /// call starts.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn tell(&mut self) -> io::Result<u64> {
        self.settle().await?;
        let unread = self.unread() as u64;
        self.run(move |file| {
            let pos = retry(|| (&*file).stream_position())?;
            pos.checked_sub(unread)
                .ok_or_else(|| io::Error::other("the file position moved behind the read buffer"))
        })
        .await
    }

    /// Another name for [`tell`](Self::tell), as in [`std::io::Seek`].
    ///
    /// # Errors
    ///
    /// As [`tell`](Self::tell).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn stream_position(&mut self) -> io::Result<u64> {
        self.tell().await
    }

    /// Truncates or extends the file to `size` bytes, like [`std::fs::File::set_len`]. The
    /// position does not move.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged (`InvalidInput` or `EBADF` for a file not open for
    /// writing); [`ClosedResourceError`] after [`close`](Self::close); a cancellation if the
    /// calling code is cancelled before the call starts.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped after the call started, it still happens.
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.settle().await?;
        let unread = self.unread();
        let saved = self.take_buffer_state();
        let out = self
            .run(move |file| {
                let rewound = rewind(file, unread);
                Ok((rewound, file.set_len(size)))
            })
            .await;
        match out {
            Ok((rewound, result)) => {
                if !rewound {
                    self.restore_buffer_state(saved);
                }
                result
            }
            Err(e) => {
                self.restore_buffer_state(saved);
                Err(e)
            }
        }
    }

    /// Truncates the file to `size` bytes, or at the current position if `None`, and
    /// returns the new size; AnyIO's `truncate(size=None)`. The position does not move.
    ///
    /// # Errors
    ///
    /// As [`set_len`](Self::set_len) and [`tell`](Self::tell).
    ///
    /// # Cancel safety
    ///
    /// As [`set_len`](Self::set_len).
    pub async fn truncate(&mut self, size: Option<u64>) -> io::Result<u64> {
        let size = match size {
            Some(size) => size,
            None => self.tell().await?,
        };
        self.set_len(size).await?;
        Ok(size)
    }

    /// Writes the file's data and metadata to the disk, like [`std::fs::File::sync_all`].
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged; [`ClosedResourceError`] after [`close`](Self::close); a
    /// cancellation if the calling code is cancelled before the call starts.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped after the call started, it still happens.
    pub async fn sync_all(&self) -> io::Result<()> {
        self.run(|file| retry(|| file.sync_all())).await
    }

    /// Writes the file's data (and the metadata needed to read it) to the disk, like
    /// [`std::fs::File::sync_data`].
    ///
    /// # Errors
    ///
    /// As [`sync_all`](Self::sync_all).
    ///
    /// # Cancel safety
    ///
    /// As [`sync_all`](Self::sync_all).
    pub async fn sync_data(&self) -> io::Result<()> {
        self.run(|file| retry(|| file.sync_data())).await
    }

    /// The file's metadata, like [`std::fs::File::metadata`].
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged; [`ClosedResourceError`] after [`close`](Self::close); a
    /// cancellation if the calling code is cancelled before the call starts.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.run(|file| file.metadata()).await
    }

    /// Changes the file's permissions, like [`std::fs::File::set_permissions`].
    ///
    /// # Errors
    ///
    /// As [`sync_all`](Self::sync_all).
    ///
    /// # Cancel safety
    ///
    /// As [`sync_all`](Self::sync_all).
    pub async fn set_permissions(&self, permissions: std::fs::Permissions) -> io::Result<()> {
        self.run(move |file| file.set_permissions(permissions))
            .await
    }

    /// Closes the file, on a thread (closing can block, on network file systems); AnyIO's
    /// `aclose`. Afterwards every operation fails with [`ClosedResourceError`]; closing
    /// again does nothing.
    ///
    /// It closes even inside a cancelled scope (then on the calling thread) and then returns
    /// the cancellation, as trio's `aclose`. A read or write left running by a dropped future
    /// keeps the descriptor open until it finishes.
    ///
    /// # Errors
    ///
    /// A cancellation if the calling code was cancelled (the file is closed anyway). Errors
    /// of the OS's `close` are not reported (as when a `std::fs::File` is dropped); call
    /// [`sync_all`](Self::sync_all) first to see write errors.
    ///
    /// # Cancel safety
    ///
    /// The file is closed as soon as this is first polled, whatever happens to the future.
    pub async fn close(&mut self) -> io::Result<()> {
        let Some(file) = self.file.take() else {
            return Ok(());
        };
        self.fill = None;
        self.clear_buffer();
        self.buf = Vec::new();
        self.spare = Vec::new();
        self.wbuf = Vec::new();
        blocking(self.limiter.clone(), move || {
            drop(file);
            Ok(())
        })
        .await
    }

    /// The [`std::fs::File`] inside, its position set to the logical position (the bytes
    /// read ahead are given back to the OS position first). If a thread started by a dropped
    /// future still uses the file, the result is a duplicate of the descriptor
    /// ([`File::try_clone`]), which shares the position.
    ///
    /// # Errors
    ///
    /// [`ClosedResourceError`] after [`close`](Self::close); the OS's error if the read-ahead
    /// cannot be given back (a pipe with buffered bytes) or the descriptor cannot be
    /// duplicated; a cancellation if the calling code is cancelled before the call starts.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the file is closed.
    pub async fn into_std(mut self) -> io::Result<File> {
        self.settle().await?;
        let file = self.file.take().ok_or_else(closed)?;
        let unread = self.unread();
        if unread > 0 {
            let f = file.clone();
            blocking(self.limiter.clone(), move || {
                if rewind(&f, unread) {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "the bytes read ahead cannot be given back: the file cannot seek",
                    ))
                }
            })
            .await?;
        }
        match Arc::try_unwrap(file) {
            Ok(file) => Ok(file),
            Err(shared) => shared.try_clone(),
        }
    }
}

/// The lines of an [`AsyncFile`], from [`AsyncFile::lines`]: a [`Stream`] of
/// `io::Result<String>`, each line without its `\n` or `\r\n`.
///
/// Each line is a checkpoint for cancellation (an `Err` carrying [`Cancelled`] inside a
/// cancelled scope); lines already in the read buffer come without a thread hop and yield
/// only when the task's budget is spent.
///
/// # Cancel safety
///
/// Cancel safe: a line is consumed only when it is returned, and a read on a thread whose
/// `next` future was dropped keeps its bytes for the next call.
pub struct Lines<'a> {
    file: &'a mut AsyncFile,
    first: bool,
}

impl fmt::Debug for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines").field("file", &self.file).finish()
    }
}

impl Lines<'_> {
    /// The next line, or `None` at end of file.
    ///
    /// # Errors
    ///
    /// As [`AsyncFile::readline`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as the stream.
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }
}

impl Stream for Lines<'_> {
    type Item = io::Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let file = &mut *this.file;
        if this.first {
            if let Err(e) = ready!(file.poll_enter(cx)) {
                return Poll::Ready(Some(Err(e)));
            }
            this.first = false;
        }
        let result = ready!(file.poll_line(cx));
        this.first = true;
        let len = match result {
            Ok(0) => return Poll::Ready(None),
            Ok(len) => len,
            Err(e) => return Poll::Ready(Some(Err(e))),
        };
        let mut line = file.take_buffered(len);
        if let Some(rest) = line.strip_suffix(b"\n") {
            line = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        Poll::Ready(Some(match std::str::from_utf8(line) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }))
    }
}
