//! Passing file descriptors over a UNIX stream socket: `sendmsg`/`recvmsg` with an
//! `SCM_RIGHTS` control message.
//!
//! Written on libc because no dependency of the crate does all of it: socket2 has
//! `sendmsg`/`recvmsg` but neither builds `SCM_RIGHTS` messages nor reports a truncated
//! control buffer (`MSG_CTRUNC`), which is how descriptors beyond `maxfds` show. The
//! `unsafe` here is the C interface itself (the `msghdr`, the `CMSG_*` macros, the
//! descriptors the kernel installs), each block with what makes it sound.
//!
//! No descriptor leaks: every descriptor received is owned as an [`OwnedFd`] at once, so an
//! error after that (truncated control data, unexpected control data) closes them; the
//! ones that did not fit the buffer the kernel closes itself.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use socket2::Socket;

/// The most descriptors one call sends or receives: far beyond what any OS passes in one
/// message (253 on Linux), small enough that the control buffer's size cannot overflow.
const MAX_FDS: usize = 65536;

/// The flags of a send: no `SIGPIPE` when the peer has gone (the error is returned).
#[cfg(any(target_os = "linux", target_os = "android"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const SEND_FLAGS: libc::c_int = 0;

/// The flags of a receive: received descriptors are close-on-exec from the start where
/// the OS can do that atomically.
#[cfg(any(target_os = "linux", target_os = "android"))]
const RECV_FLAGS: libc::c_int = libc::MSG_CMSG_CLOEXEC;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const RECV_FLAGS: libc::c_int = 0;

/// `InvalidInput` when `fds` (the value of `what`) is more descriptors than one call passes.
pub(crate) fn check_fd_count(fds: usize, what: &str) -> io::Result<()> {
    if fds > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} must be at most {MAX_FDS}"),
        ));
    }
    Ok(())
}

/// A control-message buffer with room for `fds` descriptors, aligned for `cmsghdr` (whose
/// alignment is that of its `size_t`/`socklen_t` fields, never more than `u64`'s), and its
/// length in bytes.
fn control_buffer(fds: usize, what: &str) -> io::Result<(Vec<u64>, usize)> {
    check_fd_count(fds, what)?;
    // At most 65536 * 4 bytes: fits a c_uint.
    let payload = (fds * mem::size_of::<RawFd>()) as libc::c_uint;
    // SAFETY: CMSG_SPACE only computes a size from its argument.
    let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    Ok((vec![0u64; space.div_ceil(8)], space))
}

/// Sends what the socket takes now of `data`, with the descriptors `fds` attached to its
/// first byte. `data` and `fds` are not empty.
pub(crate) fn send_with_fds(socket: &Socket, data: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    let (mut control, space) = control_buffer(fds.len(), "the number of fds")?;
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    // SAFETY: an all-zero msghdr is valid: null pointers with zero lengths (and zero
    // padding fields where the platform has them).
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg_control` points to `space` writable bytes, aligned for `cmsghdr`, which
    // CMSG_SPACE sized for one header and `fds.len()` descriptors: the header CMSG_FIRSTHDR
    // returns (checked non-null) and the CMSG_LEN bytes from it lie inside the buffer.
    // Descriptors are written unaligned, as CMSG_DATA's alignment is the platform's choice.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return Err(io::Error::other("no room for the control message"));
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN((mem::size_of_val(fds)) as libc::c_uint) as _;
        let out = libc::CMSG_DATA(cmsg).cast::<RawFd>();
        for (i, fd) in fds.iter().enumerate() {
            out.add(i).write_unaligned(*fd);
        }
    }
    // SAFETY: `msg` describes one buffer (`data`) and the control buffer, both alive and
    // unmoved for the call; sendmsg only reads them. The descriptors are the caller's
    // borrowed, open descriptors.
    let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &msg, SEND_FLAGS) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

/// Receives into the spare capacity of the empty `buf` (setting its length to what
/// arrived) and up to `max_fds` descriptors.
///
/// # Errors
///
/// The OS's error (`WouldBlock` when nothing has arrived); `InvalidData` when the control
/// data was truncated (more descriptors than `max_fds`) or was not `SCM_RIGHTS`: `buf` is
/// then cleared and the descriptors closed.
pub(crate) fn recv_with_fds(
    socket: &Socket,
    buf: &mut Vec<u8>,
    max_fds: usize,
) -> io::Result<Vec<OwnedFd>> {
    let (mut control, space) = control_buffer(max_fds, "maxfds")?;
    let spare = buf.spare_capacity_mut();
    let mut iov = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: spare.len(),
    };
    // SAFETY: as in `send_with_fds`, an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` describes the spare capacity of `buf` and the control buffer, both
    // writable, alive and unmoved for the call; recvmsg writes at most their lengths.
    let received = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, RECV_FLAGS) };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: recvmsg initialised the first `received` bytes of the spare capacity, and
    // `received <= capacity` because it wrote into a slice of that length.
    unsafe { buf.set_len(received as usize) };
    let mut fds = Vec::new();
    let mut foreign = None;
    // SAFETY: the kernel filled `msg_controllen` bytes of the control buffer with whole
    // control messages; CMSG_FIRSTHDR/CMSG_NXTHDR walk them and return null past the end,
    // and each message's data (its `cmsg_len` less the header) lies inside the buffer. The
    // descriptors of an SCM_RIGHTS message were installed in this process for the caller,
    // who owns each exactly once: `OwnedFd` closes it whatever happens next.
    unsafe {
        let header = libc::CMSG_LEN(0) as usize;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let (level, kind) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
            if level == libc::SOL_SOCKET && kind == libc::SCM_RIGHTS {
                let payload = ((*cmsg).cmsg_len as usize).saturating_sub(header);
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..payload / mem::size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            } else {
                foreign = Some((level, kind));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    for fd in &fds {
        // SAFETY: `fd` is an open descriptor this function owns; F_SETFD changes only its
        // close-on-exec flag.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        buf.clear();
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "more file descriptors arrived than maxfds ({max_fds}): the message and its \
                 descriptors were discarded"
            ),
        ));
    }
    if let Some((level, kind)) = foreign {
        buf.clear();
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "received unexpected ancillary data (cmsg_level {level}, cmsg_type {kind}): \
                 the message and its descriptors were discarded"
            ),
        ));
    }
    Ok(fds)
}
