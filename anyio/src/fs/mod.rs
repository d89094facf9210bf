//! Async file I/O: AnyIO's `open_file`, `wrap_file`, `AsyncFile`, `Path` and the file byte
//! streams, on every backend.
//!
//! Operating systems have no portable non-blocking file I/O, so, like AnyIO (and like
//! tokio's `fs` module and `async-fs`), every blocking call runs on a worker thread through
//! [`to_thread::run_sync`]. That gives each operation three
//! properties:
//!
//! - **The run's thread limiter bounds it.** At most
//!   [`current_default_thread_limiter`](crate::to_thread::current_default_thread_limiter)
//!   tokens' worth of file operations (40 by default) run at once; an [`AsyncFile`] can use
//!   a limiter of its own ([`AsyncFile::with_limiter`]).
//! - **It is a checkpoint.** Inside a cancelled scope it returns, without touching the file,
//!   an [`io::Error`] that carries [`Cancelled`](crate::Cancelled)
//!   ([`is_cancelled`](crate::is_cancelled) is `true`; its kind is
//!   [`Other`](io::ErrorKind::Other), never `Interrupted`).
//! - **It is shielded once started.** A thread cannot be interrupted: an operation that has
//!   reached its thread finishes, its result is returned, and the cancellation is delivered
//!   at the next checkpoint. Nothing read or written is lost to a cancel scope.
//!
//! The errors of the operating system come back unchanged: a missing path is the
//! `io::Error` of kind [`NotFound`](io::ErrorKind::NotFound) with the OS's
//! [`raw_os_error`](io::Error::raw_os_error), a permission error is
//! [`PermissionDenied`](io::ErrorKind::PermissionDenied), and so on. An operation on a file
//! closed with [`AsyncFile::close`] fails with an `io::Error` carrying
//! [`ClosedResourceError`](crate::ClosedResourceError) (the descriptor is gone, so there is
//! no OS error to give).
//!
//! Dropping an operation's future (in a `select!`, a native timeout) does not stop its thread:
//! what it was doing still happens. Each item's `# Cancel safety` section says what is kept.
//!
//! ```
//! # anyio::run(async {
//! use anyio::fs::Path;
//!
//! let dir = Path::from(std::env::temp_dir()).join(format!("anyio-fs-doc-{}", std::process::id()));
//! dir.create_dir_all().await?;
//! let file = dir.join("hello.txt");
//! file.write("Hello\nworld\n").await?;
//!
//! let mut f = anyio::open_file(&file, "r").await?;
//! assert_eq!(f.readline().await?, "Hello\n");
//! assert_eq!(f.readline().await?, "world\n");
//! assert_eq!(f.readline().await?, ""); // end of file
//! f.close().await?;
//!
//! dir.remove_dir_all().await?;
//! # Ok::<_, std::io::Error>(())
//! # }).unwrap().unwrap();
//! ```

mod file;
mod options;
mod path;
mod stream;

use std::io;
use std::sync::Arc;

pub use file::{AsyncFile, Lines, create_file, open_file, wrap_file};
pub use options::IntoOpenOptions;
#[cfg(unix)]
pub use path::symlink;
pub use path::{DirEntry, Path, ReadDir, hard_link};
pub use stream::{DEFAULT_MAX_BYTES, FileReadStream, FileWriteStream};

use crate::CapacityLimiter;
use crate::to_thread;

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/files.md")]
struct FilesGuide;

/// The size of [`AsyncFile`]'s read buffer, and the read size of its line iteration.
pub const BUFFER_SIZE: usize = 64 * 1024;

/// Runs `f` on a worker thread through `limiter` (or the run's default one) and flattens
/// the cancellation into the `io::Error`.
pub(crate) async fn blocking<T, F>(limiter: Option<Arc<CapacityLimiter>>, f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let mut call = to_thread::run_sync(f);
    if let Some(limiter) = limiter {
        call = call.limiter(limiter);
    }
    call.await?
}

/// Retries `f` while it fails with `Interrupted` (a signal arrived during the system call):
/// the callers of this module never see `Interrupted`, which retry loops would mistake for
/// "try again" anyway.
pub(crate) fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}
