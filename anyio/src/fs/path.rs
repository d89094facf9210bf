//! [`Path`]: an owned path whose file-system operations are async, and [`ReadDir`].

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{FileType, Metadata, Permissions};
use std::future::{Future, IntoFuture, poll_fn};
use std::io;
use std::ops::Deref;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use futures_core::Stream;

use super::blocking;
use super::file::{AsyncFile, open_file};
use super::options::IntoOpenOptions;
use crate::cancel::current;
use crate::{Cancelled, to_thread};

/// How many directory entries one thread call of [`ReadDir`] reads.
const READ_DIR_BATCH: usize = 64;

/// An owned file-system path whose I/O is async: AnyIO's `Path`, the async counterpart of
/// [`std::path::PathBuf`].
///
/// Pure operations (no I/O) are the standard ones: `Path` dereferences to
/// [`std::path::Path`], so `file_name`, `extension`, `components`, `is_absolute`,
/// `display` and the rest work as usual. The ones that make a new path ([`join`](Self::join),
/// [`parent`](Self::parent), [`with_file_name`](Self::with_file_name),
/// [`with_extension`](Self::with_extension)) return an `anyio::fs::Path`, so the result
/// keeps its async methods (AnyIO's "derived paths keep the subclass").
///
/// Methods that touch the file system are `async` and run their system call on a worker
/// thread through [`to_thread::run_sync`] and the run's thread limiter, so each is a
/// checkpoint: inside a cancelled scope it fails, before doing anything, with an
/// `io::Error` carrying [`Cancelled`]. Once its thread has started, an operation completes
/// and returns its result; the cancellation is delivered at the next checkpoint.
///
/// ```
/// # anyio::run(async {
/// use anyio::fs::Path;
///
/// let dir = Path::from(std::env::temp_dir()).join(format!("anyio-path-doc-{}", std::process::id()));
/// dir.join("sub").create_dir_all().await?;
/// let file = dir.join("sub").join("data.txt");
/// file.write(b"123").await?;
/// assert_eq!(file.read_to_string().await?, "123");
/// assert!(file.is_file().await?);
/// assert_eq!(file.parent().unwrap().file_name().unwrap(), "sub");
/// dir.remove_dir_all().await?;
/// assert!(!dir.exists().await?);
/// # Ok::<_, std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Errors
///
/// Every async method returns the OS's error unchanged (`NotFound` with `ENOENT`,
/// `PermissionDenied`, ...), or a cancellation.
///
/// # Cancel safety
///
/// Dropping an operation's future does not stop an operation that has reached its thread:
/// it completes there, and its result is dropped.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path {
    inner: PathBuf,
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl Deref for Path {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.inner
    }
}

impl AsRef<std::path::Path> for Path {
    fn as_ref(&self) -> &std::path::Path {
        &self.inner
    }
}

impl AsRef<OsStr> for Path {
    fn as_ref(&self) -> &OsStr {
        self.inner.as_os_str()
    }
}

impl std::borrow::Borrow<std::path::Path> for Path {
    fn borrow(&self) -> &std::path::Path {
        &self.inner
    }
}

impl From<PathBuf> for Path {
    fn from(inner: PathBuf) -> Self {
        Path { inner }
    }
}

impl From<&std::path::Path> for Path {
    fn from(p: &std::path::Path) -> Self {
        Path {
            inner: p.to_path_buf(),
        }
    }
}

impl From<&str> for Path {
    fn from(s: &str) -> Self {
        Path { inner: s.into() }
    }
}

impl From<String> for Path {
    fn from(s: String) -> Self {
        Path { inner: s.into() }
    }
}

impl From<OsString> for Path {
    fn from(s: OsString) -> Self {
        Path { inner: s.into() }
    }
}

impl From<&Path> for Path {
    fn from(p: &Path) -> Self {
        p.clone()
    }
}

impl From<Path> for PathBuf {
    fn from(p: Path) -> PathBuf {
        p.inner
    }
}

impl PartialEq<std::path::Path> for Path {
    fn eq(&self, other: &std::path::Path) -> bool {
        self.inner == other
    }
}

impl PartialEq<PathBuf> for Path {
    fn eq(&self, other: &PathBuf) -> bool {
        &self.inner == other
    }
}

impl Path {
    /// A path made of `path` (anything a [`PathBuf`] is made from).
    pub fn new(path: impl Into<PathBuf>) -> Path {
        Path { inner: path.into() }
    }

    /// The standard path, for the pure operations and for `std` APIs.
    pub fn as_path(&self) -> &std::path::Path {
        &self.inner
    }

    /// The standard path buffer inside.
    pub fn into_path_buf(self) -> PathBuf {
        self.inner
    }

    /// `self` with `path` appended, like [`std::path::Path::join`].
    pub fn join(&self, path: impl AsRef<std::path::Path>) -> Path {
        self.inner.join(path).into()
    }

    /// The path without its last component, like [`std::path::Path::parent`]: `None` for a
    /// root or an empty path.
    pub fn parent(&self) -> Option<Path> {
        self.inner.parent().map(Path::from)
    }

    /// `self` with its file name replaced, like [`std::path::Path::with_file_name`].
    pub fn with_file_name(&self, file_name: impl AsRef<OsStr>) -> Path {
        self.inner.with_file_name(file_name).into()
    }

    /// `self` with its extension replaced, like [`std::path::Path::with_extension`].
    pub fn with_extension(&self, extension: impl AsRef<OsStr>) -> Path {
        self.inner.with_extension(extension).into()
    }

    /// Appends `path`, like [`PathBuf::push`].
    pub fn push(&mut self, path: impl AsRef<std::path::Path>) {
        self.inner.push(path);
    }

    /// Removes the last component, like [`PathBuf::pop`]; `false` if there was none.
    pub fn pop(&mut self) -> bool {
        self.inner.pop()
    }

    /// Runs `f` with a copy of this path on a worker thread.
    async fn run<T, F>(&self, f: F) -> io::Result<T>
    where
        F: FnOnce(PathBuf) -> io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let path = self.inner.clone();
        blocking(None, move || f(path)).await
    }

    /// The current working directory, like [`std::env::current_dir`]; AnyIO's `Path.cwd()`.
    ///
    /// # Errors
    ///
    /// The OS's error (the directory was removed, ...), or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn cwd() -> io::Result<Path> {
        blocking(None, || std::env::current_dir().map(Path::from)).await
    }

    /// Whether the path exists, following symbolic links, like
    /// [`std::path::Path::try_exists`]: `Ok(false)` for a path that does not exist (or a
    /// broken link).
    ///
    /// # Errors
    ///
    /// An error that leaves the answer unknown (`PermissionDenied` on a parent directory),
    /// or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn exists(&self) -> io::Result<bool> {
        self.run(|p| p.try_exists()).await
    }

    /// Whether the path is a regular file, following symbolic links: `Ok(false)` if it is
    /// something else or does not exist.
    ///
    /// # Errors
    ///
    /// An error other than `NotFound` and `NotADirectory` (`PermissionDenied` on a parent
    /// directory), or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn is_file(&self) -> io::Result<bool> {
        self.run(|p| absent_is_false(std::fs::metadata(p).map(|m| m.is_file())))
            .await
    }

    /// Whether the path is a directory, following symbolic links: `Ok(false)` if it is
    /// something else or does not exist.
    ///
    /// # Errors
    ///
    /// As [`is_file`](Self::is_file).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn is_dir(&self) -> io::Result<bool> {
        self.run(|p| absent_is_false(std::fs::metadata(p).map(|m| m.is_dir())))
            .await
    }

    /// Whether the path is a symbolic link (not followed): `Ok(false)` if it is something
    /// else or does not exist.
    ///
    /// # Errors
    ///
    /// As [`is_file`](Self::is_file).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn is_symlink(&self) -> io::Result<bool> {
        self.run(|p| absent_is_false(std::fs::symlink_metadata(p).map(|m| m.is_symlink())))
            .await
    }

    /// The metadata of the file, following symbolic links, like [`std::fs::metadata`];
    /// AnyIO's `stat()`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        self.run(std::fs::metadata).await
    }

    /// The metadata of the path itself, not following a symbolic link, like
    /// [`std::fs::symlink_metadata`]; AnyIO's `lstat()`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn symlink_metadata(&self) -> io::Result<Metadata> {
        self.run(std::fs::symlink_metadata).await
    }

    /// The whole contents of the file, like [`std::fs::read`]; AnyIO's `read_bytes()`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn read(&self) -> io::Result<Vec<u8>> {
        self.run(std::fs::read).await
    }

    /// The whole contents of the file, which must be UTF-8, like
    /// [`std::fs::read_to_string`]; AnyIO's `read_text()`.
    ///
    /// # Errors
    ///
    /// `InvalidData` if it is not UTF-8; otherwise the OS's error, unchanged, or a
    /// cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn read_to_string(&self) -> io::Result<String> {
        self.run(std::fs::read_to_string).await
    }

    /// Writes `contents` to the file, creating it or replacing its contents, like
    /// [`std::fs::write`]; AnyIO's `write_bytes()` and `write_text()`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation (then nothing is written).
    ///
    /// # Cancel safety
    ///
    /// Once started, the write completes even if the future is dropped.
    pub async fn write(&self, contents: impl AsRef<[u8]>) -> io::Result<()> {
        let contents = contents.as_ref().to_vec();
        self.run(move |p| std::fs::write(p, contents)).await
    }

    /// Creates the directory, like [`std::fs::create_dir`]; AnyIO's `mkdir()`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged (`AlreadyExists`, `NotFound` for a missing parent), or a
    /// cancellation.
    ///
    /// # Cancel safety
    ///
    /// Once started, it completes even if the future is dropped.
    pub async fn create_dir(&self) -> io::Result<()> {
        self.run(std::fs::create_dir).await
    }

    /// Creates the directory and its missing parents, like [`std::fs::create_dir_all`];
    /// AnyIO's `mkdir(parents=True, exist_ok=True)`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Once started, it completes even if the future is dropped.
    pub async fn create_dir_all(&self) -> io::Result<()> {
        self.run(std::fs::create_dir_all).await
    }

    /// Removes the file (or symbolic link), like [`std::fs::remove_file`]; AnyIO's
    /// `unlink()`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Once started, it completes even if the future is dropped.
    pub async fn remove_file(&self) -> io::Result<()> {
        self.run(std::fs::remove_file).await
    }

    /// Removes the empty directory, like [`std::fs::remove_dir`]; AnyIO's `rmdir()`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged (`DirectoryNotEmpty`, ...), or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Once started, it completes even if the future is dropped.
    pub async fn remove_dir(&self) -> io::Result<()> {
        self.run(std::fs::remove_dir).await
    }

    /// Removes the directory and everything in it, like [`std::fs::remove_dir_all`], in one
    /// thread call (a cancellation meanwhile is delivered after it).
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Once started, it completes even if the future is dropped.
    pub async fn remove_dir_all(&self) -> io::Result<()> {
        self.run(std::fs::remove_dir_all).await
    }

    /// Renames the file or directory to `to`, replacing `to` if it is a file, like
    /// [`std::fs::rename`]; returns the new path (AnyIO's `rename`).
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Once started, it completes even if the future is dropped.
    pub async fn rename(&self, to: impl AsRef<std::path::Path>) -> io::Result<Path> {
        let to = to.as_ref().to_path_buf();
        self.run(move |p| std::fs::rename(p, &to).map(|()| Path::from(to)))
            .await
    }

    /// Copies the file's contents and permissions to `to`, like [`std::fs::copy`]; returns
    /// the number of bytes copied.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Once started, it completes even if the future is dropped.
    pub async fn copy(&self, to: impl AsRef<std::path::Path>) -> io::Result<u64> {
        let to = to.as_ref().to_path_buf();
        self.run(move |p| std::fs::copy(p, to)).await
    }

    /// The absolute path with every symbolic link and `.`/`..` resolved, like
    /// [`std::fs::canonicalize`]; AnyIO's `resolve(strict=True)`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged (`NotFound` if the path does not exist), or a
    /// cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn canonicalize(&self) -> io::Result<Path> {
        self.run(|p| std::fs::canonicalize(p).map(Path::from)).await
    }

    /// Where the symbolic link points, like [`std::fs::read_link`]; AnyIO's `readlink()`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged (`InvalidInput` if it is not a link), or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn read_link(&self) -> io::Result<Path> {
        self.run(|p| std::fs::read_link(p).map(Path::from)).await
    }

    /// Makes this path a symbolic link to `target`, like [`symlink`]`(target, self)`;
    /// AnyIO's `symlink_to`. Unix only (Windows tells file links from directory links).
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged (`AlreadyExists`, ...), or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Once started, it completes even if the future is dropped.
    #[cfg(unix)]
    pub async fn symlink_to(&self, target: impl AsRef<std::path::Path>) -> io::Result<()> {
        let target = target.as_ref().to_path_buf();
        self.run(move |p| std::os::unix::fs::symlink(target, p))
            .await
    }

    /// Makes this path a hard link to the existing file `target`, like
    /// [`hard_link`]`(target, self)`; AnyIO's `hardlink_to`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Once started, it completes even if the future is dropped.
    pub async fn hard_link_to(&self, target: impl AsRef<std::path::Path>) -> io::Result<()> {
        let target = target.as_ref().to_path_buf();
        self.run(move |p| std::fs::hard_link(target, p)).await
    }

    /// Changes the permissions, like [`std::fs::set_permissions`]; AnyIO's `chmod`.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Once started, it completes even if the future is dropped.
    pub async fn set_permissions(&self, permissions: Permissions) -> io::Result<()> {
        self.run(move |p| std::fs::set_permissions(p, permissions))
            .await
    }

    /// The entries of the directory, as a [`Stream`] of [`DirEntry`] ([`ReadDir`]);
    /// AnyIO's `iterdir()`. Opening the directory is a thread call; the entries are then
    /// read [64 at a time](ReadDir) per thread call, in the order the OS gives (sort them
    /// yourself), without `.` and `..`.
    ///
    /// # Errors
    ///
    /// The OS's error for opening the directory, unchanged (`NotFound`, `NotADirectory`,
    /// `PermissionDenied`), or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped, the directory handle is closed.
    pub async fn read_dir(&self) -> io::Result<ReadDir> {
        let inner = self.run(std::fs::read_dir).await?;
        Ok(ReadDir {
            inner: Arc::new(Mutex::new(inner)),
            batch: VecDeque::new(),
            pending: None,
            done: false,
            first: true,
        })
    }

    /// Opens the file, like [`open_file`]`(self, options)`; AnyIO's `Path.open`.
    ///
    /// # Errors
    ///
    /// As [`open_file`].
    ///
    /// # Cancel safety
    ///
    /// As [`open_file`].
    pub async fn open(&self, options: impl IntoOpenOptions) -> io::Result<AsyncFile> {
        open_file(&self.inner, options).await
    }
}

/// `NotFound` and `NotADirectory` mean "no such file", so `Ok(false)`.
fn absent_is_false(result: io::Result<bool>) -> io::Result<bool> {
    match result {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(false)
        }
        other => other,
    }
}

/// Makes `link` a symbolic link to `original`, like [`std::os::unix::fs::symlink`], on a
/// worker thread. Unix only.
///
/// # Errors
///
/// The OS's error, unchanged, or a cancellation.
///
/// # Cancel safety
///
/// Once started, it completes even if the future is dropped.
#[cfg(unix)]
pub async fn symlink(
    original: impl AsRef<std::path::Path>,
    link: impl AsRef<std::path::Path>,
) -> io::Result<()> {
    Path::from(link.as_ref()).symlink_to(original).await
}

/// Makes `link` a hard link to the existing file `original`, like [`std::fs::hard_link`],
/// on a worker thread.
///
/// # Errors
///
/// The OS's error, unchanged, or a cancellation.
///
/// # Cancel safety
///
/// Once started, it completes even if the future is dropped.
pub async fn hard_link(
    original: impl AsRef<std::path::Path>,
    link: impl AsRef<std::path::Path>,
) -> io::Result<()> {
    Path::from(link.as_ref()).hard_link_to(original).await
}

/// An entry of a directory, from [`ReadDir`].
#[derive(Debug)]
pub struct DirEntry {
    path: Path,
    file_name: OsString,
    file_type: Option<FileType>,
}

impl DirEntry {
    /// The entry's full path: the directory's path joined with the file name.
    pub fn path(&self) -> Path {
        self.path.clone()
    }

    /// The entry's file name, without the directory.
    pub fn file_name(&self) -> OsString {
        self.file_name.clone()
    }

    /// The entry's type, not following a symbolic link. Usually known from the directory
    /// listing itself; otherwise read from the file system on a thread.
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged (the entry was removed meanwhile), or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn file_type(&self) -> io::Result<FileType> {
        match self.file_type {
            Some(t) => Ok(t),
            None => self.path.symlink_metadata().await.map(|m| m.file_type()),
        }
    }

    /// The entry's metadata, not following a symbolic link, like
    /// [`std::fs::DirEntry::metadata`].
    ///
    /// # Errors
    ///
    /// The OS's error, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it changes nothing.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        self.path.symlink_metadata().await
    }
}

type Batch = (VecDeque<io::Result<DirEntry>>, bool);
/// A batch being read on a thread. In a `Mutex` only so `ReadDir` is `Sync`.
type BatchFuture = Mutex<Pin<Box<dyn Future<Output = Result<Batch, Cancelled>> + Send>>>;

/// The entries of a directory, from [`Path::read_dir`]: a [`Stream`] of
/// `io::Result<`[`DirEntry`]`>`, AnyIO's `iterdir()`.
///
/// Entries are read on worker threads, 64 per thread call. Each entry is a checkpoint for
/// cancellation (an `Err` carrying [`Cancelled`] inside a cancelled scope; the iteration can
/// be resumed after it, nothing is lost). An `Err` from the OS for one entry does not end
/// the iteration.
///
/// ```
/// # anyio::run(async {
/// use futures_lite::StreamExt;
/// use anyio::fs::Path;
///
/// let dir = Path::from(std::env::temp_dir()).join(format!("anyio-read-dir-doc-{}", std::process::id()));
/// dir.create_dir_all().await?;
/// dir.join("b").write("").await?;
/// dir.join("a").write("").await?;
/// let mut names = Vec::new();
/// let mut entries = dir.read_dir().await?;
/// while let Some(entry) = entries.next().await {
///     names.push(entry?.file_name());
/// }
/// names.sort();
/// assert_eq!(names, ["a", "b"]);
/// dir.remove_dir_all().await?;
/// # Ok::<_, std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Cancel safety
///
/// Cancel safe: a batch whose `next` future was dropped is kept for the next call.
pub struct ReadDir {
    inner: Arc<Mutex<std::fs::ReadDir>>,
    batch: VecDeque<io::Result<DirEntry>>,
    pending: Option<BatchFuture>,
    done: bool,
    first: bool,
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir")
            .field("buffered", &self.batch.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl ReadDir {
    /// The next entry, or `None` when there are no more.
    ///
    /// # Errors
    ///
    /// The OS's error for this entry, unchanged, or a cancellation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as the stream.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }
}

/// Reads up to [`READ_DIR_BATCH`] entries; `true` if the directory has no more.
fn read_batch(dir: &Mutex<std::fs::ReadDir>) -> Batch {
    let mut dir = dir.lock().unwrap_or_else(PoisonError::into_inner);
    let mut batch = VecDeque::with_capacity(READ_DIR_BATCH);
    for _ in 0..READ_DIR_BATCH {
        match dir.next() {
            Some(entry) => batch.push_back(entry.map(|e| DirEntry {
                path: e.path().into(),
                file_name: e.file_name(),
                file_type: e.file_type().ok(),
            })),
            None => return (batch, true),
        }
    }
    (batch, false)
}

impl Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.first && this.pending.is_none() {
            if let Err(cancelled) = ready!(current::poll_checkpoint(cx)) {
                return Poll::Ready(Some(Err(cancelled.into())));
            }
            this.first = false;
        }
        loop {
            if let Some(entry) = this.batch.pop_front() {
                this.first = true;
                return Poll::Ready(Some(entry));
            }
            if this.done {
                this.first = true;
                return Poll::Ready(None);
            }
            if this.pending.is_none() {
                let dir = this.inner.clone();
                let fut = to_thread::run_sync(move || read_batch(&dir)).into_future();
                this.pending = Some(Mutex::new(fut));
            }
            let fut = this
                .pending
                .as_mut()
                .expect("a batch is being read")
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            let out = ready!(fut.as_mut().poll(cx));
            this.pending = None;
            match out {
                Ok((batch, done)) => {
                    this.batch = batch;
                    this.done = done;
                }
                Err(c) => {
                    this.first = true;
                    return Poll::Ready(Some(Err(c.into())));
                }
            }
        }
    }
}
