//! UNIX domain stream sockets: [`connect_unix`], [`create_unix_listener`],
//! [`UnixSocketStream`] (with file-descriptor passing) and [`UnixSocketListener`], and the
//! addresses they take ([`UnixAddress`]: a path, or a Linux abstract name).
//!
//! AnyIO's rules, kept here:
//!
//! - Binding a path first removes a *socket* file already there (a stale one left by a
//!   previous run); any other kind of file stays, and binding fails with the OS's
//!   `EADDRINUSE`. The socket file is not removed when the socket closes.
//! - A `mode` is applied to the socket file after binding and before listening, so that
//!   nobody connects before the permissions are in place.
//! - Binding and changing the mode touch the filesystem, so they run on a worker thread.
//! - The streams keep the rules of every socket stream (rule 18): `EndOfStream`,
//!   `ClosedResourceError`, `BrokenResourceError`, `BusyResourceError`.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use super::addr::SocketAddress;
use super::adopt::{Family, State, adopt};
use super::core::{Direction, PendingRead, SocketCore, core_socket_traits};
use super::error::{clip, context};
use super::fd_passing::{check_fd_count, recv_with_fds, send_with_fds};
use super::stream_socket::{StreamSocket, send_some, stream_socket_traits};
use crate::resource::{ClosedResourceError, EndOfStream};
use crate::stream::{Listener, RECEIVE_CHUNK};
use crate::thread::to_thread;

/// The largest backlog asked of the OS (AnyIO's cap).
const MAX_BACKLOG: u32 = 65536;

/// The first and the longest pause between connection attempts while the listener's
/// backlog is full (the OS then refuses at once with `EAGAIN`, and says nothing when room
/// appears, so the attempt is repeated).
const CONNECT_RETRY_FIRST: Duration = Duration::from_millis(1);
const CONNECT_RETRY_MAX: Duration = Duration::from_millis(100);

/// The address of a UNIX domain socket: a filesystem path, or (on Linux and Android) a
/// name in the abstract namespace, which no file backs.
///
/// Every function of this module takes `impl Into<UnixAddress>`, so a `&str`, a `String`,
/// a `&Path`, a `PathBuf`, an `OsStr` or bytes can be passed as they are. As in AnyIO, one
/// that starts with a NUL byte (`"\0name"`) names the abstract address `name`;
/// [`UnixAddress::abstract_name`] says it explicitly.
///
/// ```
/// use anyio::net::UnixAddress;
/// use std::path::Path;
///
/// assert_eq!(UnixAddress::from("/run/app.sock").as_path(), Some(Path::new("/run/app.sock")));
/// assert_eq!(UnixAddress::from("\0app"), UnixAddress::abstract_name("app"));
/// assert_eq!(UnixAddress::abstract_name("app").to_string(), "@app");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixAddress {
    /// A socket file at this path.
    Path(PathBuf),
    /// A name in Linux's abstract namespace, without the leading NUL byte.
    Abstract(Vec<u8>),
}

impl UnixAddress {
    /// The abstract-namespace address `name` (Linux and Android; elsewhere, using it is an
    /// `Unsupported` error). `name` is given without the leading NUL byte.
    pub fn abstract_name(name: impl AsRef<[u8]>) -> UnixAddress {
        UnixAddress::Abstract(name.as_ref().to_vec())
    }

    /// The path, if this is a filesystem address.
    pub fn as_path(&self) -> Option<&Path> {
        match self {
            UnixAddress::Path(p) => Some(p),
            UnixAddress::Abstract(_) => None,
        }
    }

    /// The name (without its leading NUL byte), if this is an abstract address.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        match self {
            UnixAddress::Path(_) => None,
            UnixAddress::Abstract(name) => Some(name),
        }
    }

    fn from_bytes(bytes: Vec<u8>) -> UnixAddress {
        match bytes.split_first() {
            Some((0, name)) => UnixAddress::Abstract(name.to_vec()),
            _ => UnixAddress::Path(PathBuf::from(OsString::from_vec(bytes))),
        }
    }

    /// The address a received datagram came from, to send back to; `None` for an unnamed
    /// sender (which cannot be sent to).
    pub(crate) fn from_std(addr: &std::os::unix::net::SocketAddr) -> Option<UnixAddress> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use std::os::linux::net::SocketAddrExt;
            if let Some(name) = addr.as_abstract_name() {
                return Some(UnixAddress::abstract_name(name));
            }
        }
        addr.as_pathname()
            .map(|path| UnixAddress::Path(path.to_owned()))
    }

    /// The OS's form of the address; `InvalidInput` for a path that is empty, has a NUL
    /// byte or is too long.
    pub(crate) fn to_sockaddr(&self) -> io::Result<SockAddr> {
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
        let addr = match self {
            UnixAddress::Path(path) => {
                let bytes = path.as_os_str().as_bytes();
                if bytes.is_empty() {
                    return Err(invalid("a UNIX socket path cannot be empty".into()));
                }
                if bytes.contains(&0) {
                    return Err(invalid(format!(
                        "the UNIX socket path {:?} contains a NUL byte",
                        clip(&path.to_string_lossy())
                    )));
                }
                SockAddr::unix(path)
            }
            UnixAddress::Abstract(name) => {
                if !cfg!(any(target_os = "linux", target_os = "android")) {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        "abstract UNIX socket names exist on Linux and Android only",
                    ));
                }
                let mut bytes = Vec::with_capacity(name.len() + 1);
                bytes.push(0);
                bytes.extend_from_slice(name);
                SockAddr::unix(OsStr::from_bytes(&bytes))
            }
        };
        addr.map_err(|_| {
            invalid(format!(
                "the UNIX socket address {} is too long",
                clip(&self.to_string())
            ))
        })
    }
}

impl fmt::Display for UnixAddress {
    /// A path as it is; an abstract name as `@name`, as `ss` and `lsof` show them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixAddress::Path(path) => write!(f, "{}", path.display()),
            UnixAddress::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

impl From<&str> for UnixAddress {
    fn from(s: &str) -> Self {
        UnixAddress::from_bytes(s.as_bytes().to_vec())
    }
}

impl From<String> for UnixAddress {
    fn from(s: String) -> Self {
        UnixAddress::from_bytes(s.into_bytes())
    }
}

impl From<&Path> for UnixAddress {
    fn from(p: &Path) -> Self {
        UnixAddress::from_bytes(p.as_os_str().as_bytes().to_vec())
    }
}

impl From<&PathBuf> for UnixAddress {
    fn from(p: &PathBuf) -> Self {
        UnixAddress::from(p.as_path())
    }
}

impl From<PathBuf> for UnixAddress {
    fn from(p: PathBuf) -> Self {
        UnixAddress::from_bytes(p.into_os_string().into_vec())
    }
}

impl From<&OsStr> for UnixAddress {
    fn from(s: &OsStr) -> Self {
        UnixAddress::from_bytes(s.as_bytes().to_vec())
    }
}

impl From<OsString> for UnixAddress {
    fn from(s: OsString) -> Self {
        UnixAddress::from_bytes(s.into_vec())
    }
}

impl From<&[u8]> for UnixAddress {
    fn from(bytes: &[u8]) -> Self {
        UnixAddress::from_bytes(bytes.to_vec())
    }
}

impl From<Vec<u8>> for UnixAddress {
    fn from(bytes: Vec<u8>) -> Self {
        UnixAddress::from_bytes(bytes)
    }
}

impl From<&UnixAddress> for UnixAddress {
    fn from(addr: &UnixAddress) -> Self {
        addr.clone()
    }
}

/// The [`SocketAddress`] of an address the OS gave for a UNIX socket: a path, an abstract
/// name or unnamed (the address of a socket that never bound, such as most clients).
pub(crate) fn unix_socket_address(addr: &SockAddr) -> io::Result<SocketAddress> {
    use std::os::unix::net::SocketAddr as StdAddr;
    if let Some(std) = addr.as_unix() {
        return Ok(SocketAddress::Unix(std));
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(name) = addr.as_abstract_namespace() {
        use std::os::linux::net::SocketAddrExt;
        return StdAddr::from_abstract_name(name).map(SocketAddress::Unix);
    }
    // A datagram from an unbound socket comes with an empty address (no family even).
    if addr.is_unnamed() || addr.len() == 0 {
        // An empty path is how the standard library spells an unnamed address.
        return StdAddr::from_pathname("").map(SocketAddress::Unix);
    }
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "the socket address is not a UNIX address",
    ))
}

/// Removes a socket file left at `path` (AnyIO's rule: only a socket, and only when `stat`
/// says it is one; a missing path is fine).
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => fs::remove_file(path).map_err(|e| {
            context(e, || {
                format!("removing the stale socket {}", path.display())
            })
        }),
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENOTDIR | libc::EBADF | libc::ELOOP)
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(context(e, || format!("checking {}", path.display()))),
    }
}

/// The largest mode of a socket file: the permission bits with setuid, setgid and sticky.
const MAX_MODE: u32 = 0o7777;

/// A new UNIX socket of type `ty`, bound to `local` if given (a stale socket file removed
/// first), its file set to `mode`, then listening with `backlog` if given. On a failure
/// after binding, the socket file it created is removed. Blocking: filesystem calls.
fn bind_blocking(
    local: Option<&UnixAddress>,
    mode: Option<u32>,
    ty: Type,
    backlog: Option<u32>,
) -> io::Result<Socket> {
    if let Some(mode) = mode.filter(|&m| m > MAX_MODE) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a mode of a socket file is at most 0o7777 (permission bits); got 0o{mode:o}"),
        ));
    }
    if mode.is_some() && !matches!(local, Some(UnixAddress::Path(_))) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a mode applies to a socket file: give a filesystem path to bind to",
        ));
    }
    let Some(local) = local else {
        return Socket::new(Domain::UNIX, ty, None)
            .map_err(|e| context(e, || "creating a UNIX socket".to_owned()));
    };
    let addr = local.to_sockaddr()?;
    let socket = Socket::new(Domain::UNIX, ty, None)
        .map_err(|e| context(e, || format!("creating a UNIX socket for {local}")))?;
    if let UnixAddress::Path(path) = local {
        remove_stale_socket(path)?;
    }
    socket
        .bind(&addr)
        .map_err(|e| context(e, || format!("binding a UNIX socket to {local}")))?;
    let finish = || -> io::Result<()> {
        if let (Some(mode), UnixAddress::Path(path)) = (mode, local) {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| {
                context(e, || {
                    format!("setting the mode of {} to {mode:o}", path.display())
                })
            })?;
        }
        if let Some(backlog) = backlog {
            // At most 65536, which fits an i32.
            let backlog = backlog.min(MAX_BACKLOG) as i32;
            socket
                .listen(backlog)
                .map_err(|e| context(e, || format!("listening on {local}")))?;
        }
        Ok(())
    };
    if let Err(e) = finish() {
        if let UnixAddress::Path(path) = local {
            let _ = fs::remove_file(path);
        }
        return Err(e);
    }
    Ok(socket)
}

/// [`bind_blocking`] on a worker thread when it touches the filesystem.
pub(crate) async fn bind_local(
    local: Option<UnixAddress>,
    mode: Option<u32>,
    ty: Type,
    backlog: Option<u32>,
) -> io::Result<Socket> {
    match local {
        Some(local) => {
            to_thread::run_sync(move || bind_blocking(Some(&local), mode, ty, backlog)).await?
        }
        None => bind_blocking(None, mode, ty, backlog),
    }
}

/// A connected UNIX stream socket (AnyIO's `UNIXSocketStream`).
///
/// Like [`SocketStream`](super::SocketStream), every method takes `&self`: one task may
/// receive while another sends, and any task may close it, which ends the others' blocked
/// operations with [`ClosedResourceError`](crate::ClosedResourceError); two tasks receiving
/// (or sending) at once is a [`BusyResourceError`](crate::BusyResourceError). It also
/// passes file descriptors ([`send_fds`](Self::send_fds),
/// [`receive_fds`](Self::receive_fds)).
///
/// It implements the [stream traits](crate::stream), the socket
/// [attributes](super::SocketAttributes), and `futures_io::AsyncRead`/`AsyncWrite`.
/// Dropping it closes the connection.
#[derive(Debug)]
pub struct UnixSocketStream {
    pub(crate) inner: StreamSocket,
}

impl UnixSocketStream {
    /// Adopts a connected UNIX stream socket made elsewhere (AnyIO's
    /// `UNIXSocketStream.from_socket`): it is made non-blocking and registered with the
    /// current run's backend.
    ///
    /// # Errors
    ///
    /// As [`from_fd`](Self::from_fd).
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixSocketStream> {
        UnixSocketStream::from_fd(OwnedFd::from(stream))
    }

    /// Adopts the socket descriptor `fd` as [`from_std`](Self::from_std) does, after
    /// checking that it is a connected UNIX stream socket. A socket that fails a check is
    /// closed.
    ///
    /// # Errors
    ///
    /// `InvalidInput` with AnyIO's message: "the file descriptor does not refer to a
    /// socket", "socket type mismatch: expected SOCK_STREAM, got SOCK_DGRAM", "address
    /// family mismatch: expected AF_UNIX, got AF_INET", "the socket must be connected".
    /// The OS's error if it cannot be registered. Like every socket of this crate, it
    /// needs a runtime (see [`current_backend`](crate::current_backend)): without one, an
    /// error caused by [`NoRuntime`](crate::NoRuntime).
    pub fn from_fd(fd: OwnedFd) -> io::Result<UnixSocketStream> {
        let socket = adopt(fd, Type::STREAM, Family::Unix, State::Connected)?;
        let peer = describe_unix_peer(&socket)?;
        UnixSocketStream::from_socket(socket, peer)
    }

    fn from_socket(socket: Socket, peer: String) -> io::Result<UnixSocketStream> {
        Ok(UnixSocketStream {
            inner: StreamSocket::new(SocketCore::new(socket, peer)?),
        })
    }

    /// Sends `message` with copies of the file descriptors `fds` attached (`SCM_RIGHTS`):
    /// the peer receives them with [`receive_fds`](Self::receive_fds) as new descriptors
    /// of the same open files. The descriptors here stay open and owned by the caller.
    ///
    /// ```no_run
    /// # async fn demo(stream: &anyio::net::UnixSocketStream) -> std::io::Result<()> {
    /// let file = std::fs::File::open("/etc/hostname")?;
    /// stream.send_fds(b"here is a file", &[&file]).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `message` or `fds` is empty (a descriptor travels with at least one
    /// byte); otherwise as [`send`](Self::send), the OS's `EINVAL` for more descriptors than
    /// it passes at once (253 on Linux) and `ETOOMANYREFS` for descriptors of descriptors
    /// nested too deep.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a send cancelled while waiting for room may have sent the
    /// descriptors with a prefix of `message`.
    pub async fn send_fds(&self, message: &[u8], fds: &[impl AsFd + Sync]) -> io::Result<()> {
        if message.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "message must not be empty",
            ));
        }
        if fds.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "fds must not be empty",
            ));
        }
        check_fd_count(fds.len(), "the number of fds")?;
        let raw: Vec<_> = fds.iter().map(|fd| fd.as_fd().as_raw_fd()).collect();
        let core = &self.inner.core;
        let mut sent = 0;
        core.run(Direction::Write, |s| {
            while sent < message.len() {
                sent += if sent == 0 {
                    send_with_fds(s, message, &raw)?
                } else {
                    // The descriptors went with the first part.
                    send_some(s, &message[sent..])?
                };
            }
            Ok(())
        })
        .await
        .map_err(|e| core.broken("sending to", e))
    }

    /// Receives at most `msglen` bytes and at most `maxfds` file descriptors sent with
    /// [`send_fds`](Self::send_fds) (or any `SCM_RIGHTS` message): the bytes that arrived
    /// (never empty) and the descriptors that came with them, which are the caller's to
    /// close (dropping them does), and close-on-exec. `msglen` is an upper bound, never an
    /// allocation: one call returns at most 128 KiB.
    ///
    /// # Errors
    ///
    /// - `InvalidInput` if `msglen` or `maxfds` is 0 (a message with descriptors carries at
    ///   least one byte, and with no room for bytes a message could not be told from the
    ///   end of the stream), or `maxfds` is over 65536;
    /// - `InvalidData` when more descriptors arrived than `maxfds`, or control data other
    ///   than descriptors: the message and every descriptor that came with it are then
    ///   discarded, none leaked (the OS closes those that did not fit, this call the rest);
    /// - otherwise as [`receive`](Self::receive): [`EndOfStream`](crate::EndOfStream) at the
    ///   peer's end of the stream, and so on.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a receive that returns a closed-resource, busy or cancellation error,
    /// or is dropped, consumed nothing.
    pub async fn receive_fds(
        &self,
        msglen: usize,
        maxfds: usize,
    ) -> io::Result<(Vec<u8>, Vec<OwnedFd>)> {
        if msglen == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "msglen must be a positive integer",
            ));
        }
        if maxfds == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "maxfds must be a positive integer",
            ));
        }
        // Checked before the wait: on some backends the wait comes first.
        check_fd_count(maxfds, "maxfds")?;
        let core = &self.inner.core;
        // `msglen` is an upper bound, never an allocation: the buffer is allocated once
        // the socket is readable, at most `RECEIVE_CHUNK` bytes (issue 12).
        let (buf, fds) = core
            .run(Direction::Read, |s| {
                let mut buf = Vec::with_capacity(msglen.min(RECEIVE_CHUNK));
                let fds = recv_with_fds(s, &mut buf, maxfds)?;
                if buf.len() < buf.capacity() / 4 {
                    buf.shrink_to_fit();
                }
                Ok((buf, fds))
            })
            .await
            .map_err(|e| core.broken("receiving from", e))?;
        if buf.is_empty() {
            return Err(if core.is_closed() {
                ClosedResourceError.into()
            } else {
                EndOfStream.into()
            });
        }
        Ok((buf, fds))
    }
}

stream_socket_traits!(UnixSocketStream);

/// Connects to the UNIX stream socket at `path`: a filesystem path or an abstract name
/// (see [`UnixAddress`]; `"\0name"` is the abstract `name`). AnyIO's `connect_unix`.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let stream = anyio::net::connect_unix("/tmp/app.sock").await?;
/// stream.send(b"hello").await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The OS's error with the path (`NotFound` when nothing is there, `ConnectionRefused`
/// when nobody listens); `InvalidInput` for a path that cannot be a socket address (empty,
/// with a NUL byte, longer than the OS allows); [`Cancelled`](crate::Cancelled).
///
/// # Cancel safety
///
/// Cancel safe: a cancelled connect leaves no socket open. While the listener's backlog
/// is full it retries (the OS gives no signal when room appears), as a blocking connect
/// would wait.
pub async fn connect_unix(path: impl Into<UnixAddress>) -> io::Result<UnixSocketStream> {
    let address = path.into();
    let what = || format!("connecting to {address}");
    crate::checkpoint().await?;
    let addr = address.to_sockaddr()?;
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(|e| context(e, what))?;
    socket.set_nonblocking(true).map_err(|e| context(e, what))?;
    // Connected before it is registered: a stream socket that is not connected reports a
    // hang-up, which a reactor may take for a final state of the descriptor.
    let mut pause = CONNECT_RETRY_FIRST;
    let in_progress = loop {
        match socket.connect(&addr) {
            Ok(()) => break false,
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => break true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                crate::time::sleep(pause).await?;
                pause = (pause * 2).min(CONNECT_RETRY_MAX);
            }
            Err(e) => return Err(context(e, what)),
        }
    };
    let stream =
        UnixSocketStream::from_socket(socket, address.to_string()).map_err(|e| context(e, what))?;
    if in_progress {
        stream
            .inner
            .core
            .run(Direction::Write, |s| match s.take_error()? {
                Some(err) => Err(err),
                None => match s.peer_addr() {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(e) => Err(e),
                },
            })
            .await
            .map_err(|e| context(e, what))?;
    }
    Ok(stream)
}

/// How to listen on a UNIX socket: a builder of [`create_unix_listener`] calls with
/// AnyIO's options.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use anyio::net::UnixListenerOptions;
/// let listener = UnixListenerOptions::new()
///     .mode(0o600)
///     .backlog(128)
///     .bind("/tmp/app.sock")
///     .await?;
/// # drop(listener); Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct UnixListenerOptions {
    mode: Option<u32>,
    backlog: u32,
}

impl Default for UnixListenerOptions {
    fn default() -> Self {
        UnixListenerOptions {
            mode: None,
            backlog: MAX_BACKLOG,
        }
    }
}

impl UnixListenerOptions {
    /// The default mode (what the process's umask gives) and the largest backlog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the socket file's permission bits (`0o600`: only this user may connect) after
    /// binding and before listening. Only for a filesystem path: binding an abstract name
    /// with a mode is an `InvalidInput` error, and so is a mode above `0o7777`.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = Some(mode);
        self
    }

    /// The listen backlog (capped at 65536, the default).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Listens on `path`; see [`create_unix_listener`].
    ///
    /// # Errors
    ///
    /// As [`create_unix_listener`], and the OS's error with the path when the mode cannot
    /// be set.
    ///
    /// # Cancel safety
    ///
    /// Binding runs on a worker thread, which a cancellation does not stop: the call then
    /// completes and the cancellation comes at the caller's next checkpoint. Dropped while
    /// the thread binds, the socket is closed when the thread is done, and its socket file
    /// may stay on disk.
    pub async fn bind(&self, path: impl Into<UnixAddress>) -> io::Result<UnixSocketListener> {
        let address = path.into();
        let socket = bind_local(
            Some(address.clone()),
            self.mode,
            Type::STREAM,
            Some(self.backlog),
        )
        .await?;
        Ok(UnixSocketListener {
            core: SocketCore::new(socket, address.to_string())
                .map_err(|e| context(e, || format!("listening on {address}")))?,
        })
    }
}

/// Listens for UNIX stream connections at `path` (a filesystem path or an abstract name,
/// see [`UnixAddress`]), with the largest backlog. AnyIO's `create_unix_listener`; for a
/// mode or a backlog, use [`UnixListenerOptions`].
///
/// A socket file already at `path` is removed first (a stale one from an earlier run, or
/// a live one: the new listener takes the path over); the file stays after the listener
/// closes.
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use anyio::stream::Listener;
/// let listener = anyio::net::create_unix_listener("/tmp/app.sock").await?;
/// let client = listener.accept().await?;
/// # drop(client); Ok(()) }
/// ```
///
/// # Errors
///
/// The OS's error with the path: `AddrInUse` when something other than a socket (a
/// regular file, a directory) is at the path, or a live abstract name is taken;
/// `NotFound` when the directory does not exist; `PermissionDenied`. `InvalidInput` for a
/// path that cannot be a socket address.
///
/// # Cancel safety
///
/// As [`UnixListenerOptions::bind`].
pub async fn create_unix_listener(path: impl Into<UnixAddress>) -> io::Result<UnixSocketListener> {
    UnixListenerOptions::new().bind(path).await
}

/// A UNIX stream listening socket: accepted connections are [`UnixSocketStream`]s.
///
/// Accept with [`accept`](UnixSocketListener::accept), as a stream with
/// [`incoming`](UnixSocketListener::incoming), or hand each connection to a task with
/// [`serve`](crate::stream::Listener::serve).
#[derive(Debug)]
pub struct UnixSocketListener {
    core: SocketCore,
}

impl UnixSocketListener {
    /// Adopts a listening UNIX socket made elsewhere (AnyIO's
    /// `UNIXSocketListener.from_socket`): it is made non-blocking and registered with the
    /// current run's backend.
    ///
    /// # Errors
    ///
    /// As [`from_fd`](Self::from_fd).
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixSocketListener> {
        UnixSocketListener::from_fd(OwnedFd::from(listener))
    }

    /// Adopts the socket descriptor `fd` as [`from_std`](Self::from_std) does, after
    /// checking that it is a bound, listening UNIX stream socket. A socket that fails a
    /// check is closed.
    ///
    /// # Errors
    ///
    /// `InvalidInput` with AnyIO's message: "the file descriptor does not refer to a
    /// socket", "socket type mismatch: expected SOCK_STREAM, got SOCK_DGRAM", "address
    /// family mismatch: expected AF_UNIX, got AF_INET", "the socket must be bound to a
    /// local address", and "the socket must be listening" for one bound but not
    /// listening. The OS's error if it cannot be registered. Like every socket of this crate, it
    /// needs a runtime (see [`current_backend`](crate::current_backend)): without one, an
    /// error caused by [`NoRuntime`](crate::NoRuntime).
    pub fn from_fd(fd: OwnedFd) -> io::Result<UnixSocketListener> {
        let socket = adopt(fd, Type::STREAM, Family::Unix, State::Listening)?;
        let local = unix_socket_address(&socket.local_addr()?)?.to_string();
        Ok(UnixSocketListener {
            core: SocketCore::new(socket, local)?,
        })
    }

    /// Waits for the next connection; see [`Listener::accept`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a connection is either returned or left for the next accept.
    pub async fn accept(&self) -> io::Result<UnixSocketStream> {
        let (socket, _) = self
            .core
            .run(Direction::Read, |s| s.accept())
            .await
            .map_err(|e| context(e, || format!("accepting on {}", self.core.peer())))?;
        accepted(&self.core, socket)
    }

    /// The incoming connections as a [`Stream`](futures_core::Stream) that never ends by
    /// itself: each item is what [`accept`](Self::accept) would return.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming {
            accept: PendingRead::new(&self.core),
        }
    }

    /// Stops listening; see [`AsyncResource::aclose`](crate::stream::AsyncResource). The
    /// socket file stays.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it completes at once.
    pub async fn aclose(&self) -> io::Result<()> {
        self.core.close();
        Ok(())
    }
}

/// An accepted connection, named in error messages after the listener's address (its
/// peer is unnamed as a rule).
/// How errors name the peer of an adopted UNIX socket: its path, or "an unnamed peer".
pub(crate) fn describe_unix_peer(socket: &Socket) -> io::Result<String> {
    let peer = socket.peer_addr()?;
    if peer.is_unnamed() {
        return Ok("an unnamed peer".to_owned());
    }
    Ok(unix_socket_address(&peer)?.to_string())
}

fn accepted(listener: &SocketCore, socket: Socket) -> io::Result<UnixSocketStream> {
    let on = listener.peer();
    UnixSocketStream::from_socket(socket, format!("a connection accepted on {on}"))
        .map_err(|e| context(e, || format!("setting up a connection accepted on {on}")))
}

core_socket_traits!(UnixSocketListener);

impl Listener for UnixSocketListener {
    type Stream = UnixSocketStream;

    fn accept(&self) -> impl std::future::Future<Output = io::Result<UnixSocketStream>> + Send {
        UnixSocketListener::accept(self)
    }
}

/// The connections a [`UnixSocketListener`] accepts, as a stream; see
/// [`UnixSocketListener::incoming`].
///
/// # Cancel safety
///
/// Cancel safe: dropping a pending `next()` loses no connection.
#[derive(Debug)]
pub struct UnixIncoming<'a> {
    accept: PendingRead<'a>,
}

impl futures_core::Stream for UnixIncoming<'_> {
    type Item = io::Result<UnixSocketStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let res = std::task::ready!(this.accept.poll(cx, |s: &Socket| s.accept()));
        let core = this.accept.core();
        let item = res
            .map_err(|e| context(e, || format!("accepting on {}", core.peer())))
            .and_then(|(socket, _)| accepted(core, socket));
        Poll::Ready(Some(item))
    }
}
