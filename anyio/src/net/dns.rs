//! Name resolution (AnyIO's `getaddrinfo` and `getnameinfo`), run off the event loop on a
//! worker thread through the default thread limiter.
//!
//! Neither runtime offers the full resolver (tokio's `lookup_host` and async-net's
//! `resolve` give bare socket addresses, with no hints, flags, canonical name or reverse
//! lookup), so this module calls the C library's `getaddrinfo`/`getnameinfo` itself, the
//! way Python's `socket` module does. That is the only `unsafe` of the module; every block
//! says why it holds, and the result list is freed by a guard on every path.

use std::ffi::{CStr, CString, c_char, c_int};
use std::fmt;
use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::{BitOr, BitOrAssign};
use std::ptr;

use super::addr::AddressFamily;
use super::error::{clip, context};
use crate::resource::is_out_of_resources;
use crate::thread::to_thread;

/// Defines a set of C flags as a small newtype with associated constants.
macro_rules! c_flags {
    (
        $(#[$doc:meta])*
        $name:ident {
            $( $(#[$cdoc:meta])* $flag:ident = $value:expr, )*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $name(c_int);

        impl $name {
            $( $(#[$cdoc])* pub const $flag: $name = $name($value); )*

            /// No flag.
            pub const fn empty() -> Self {
                $name(0)
            }

            /// The flags as the C library's bit mask.
            pub const fn bits(self) -> c_int {
                self.0
            }

            /// Whether every flag of `other` is set in `self`.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
        }

        impl BitOr for $name {
            type Output = Self;

            fn bitor(self, rhs: Self) -> Self {
                $name(self.0 | rhs.0)
            }
        }

        impl BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: Self) {
                self.0 |= rhs.0;
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut rest = self.0;
                let mut first = true;
                f.write_str(concat!(stringify!($name), "("))?;
                $(
                    if $value != 0 && rest & $value == $value {
                        if !first {
                            f.write_str(" | ")?;
                        }
                        f.write_str(stringify!($flag))?;
                        rest &= !$value;
                        first = false;
                    }
                )*
                if rest != 0 || first {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{rest:#x}")?;
                }
                f.write_str(")")
            }
        }
    };
}

c_flags! {
    /// The flags of a [`getaddrinfo`] call (the C `AI_*` flags), combined with `|`.
    ///
    /// ```
    /// use anyio::net::AddrInfoFlags;
    /// let flags = AddrInfoFlags::PASSIVE | AddrInfoFlags::ADDRCONFIG;
    /// assert!(flags.contains(AddrInfoFlags::PASSIVE));
    /// ```
    AddrInfoFlags {
        /// `AI_PASSIVE`: with no host, return the wildcard address (for binding) instead of
        /// the loopback address.
        PASSIVE = libc::AI_PASSIVE,
        /// `AI_CANONNAME`: fill in the canonical name of the host in the first result.
        CANONNAME = libc::AI_CANONNAME,
        /// `AI_NUMERICHOST`: the host must be a numeric address; no name is looked up.
        NUMERICHOST = libc::AI_NUMERICHOST,
        /// `AI_NUMERICSERV`: the service must be a port number; no service name is looked up.
        NUMERICSERV = libc::AI_NUMERICSERV,
        /// `AI_ADDRCONFIG`: return addresses of a family only if the system has an address
        /// of that family configured.
        ADDRCONFIG = libc::AI_ADDRCONFIG,
        /// `AI_V4MAPPED`: when IPv6 is asked for and none is found, return IPv4-mapped IPv6
        /// addresses.
        V4MAPPED = libc::AI_V4MAPPED,
        /// `AI_ALL`: with `V4MAPPED`, return both the IPv6 and the IPv4-mapped addresses.
        ALL = libc::AI_ALL,
    }
}

c_flags! {
    /// The flags of a [`getnameinfo`] call (the C `NI_*` flags), combined with `|`.
    NameInfoFlags {
        /// `NI_NUMERICHOST`: return the address in numeric form, without a reverse lookup.
        NUMERICHOST = libc::NI_NUMERICHOST,
        /// `NI_NUMERICSERV`: return the port as a number, without a service lookup.
        NUMERICSERV = libc::NI_NUMERICSERV,
        /// `NI_NAMEREQD`: fail if the address has no name (instead of returning it in
        /// numeric form).
        NAMEREQD = libc::NI_NAMEREQD,
        /// `NI_NOFQDN`: return only the host part of a local host's name.
        NOFQDN = libc::NI_NOFQDN,
        /// `NI_DGRAM`: the service is a datagram (UDP) one; matters for the few ports whose
        /// TCP and UDP services differ.
        DGRAM = libc::NI_DGRAM,
    }
}

/// The type of socket an address is for (the C `SOCK_*` constants): a hint of
/// [`getaddrinfo`], and a field of each [`AddrInfo`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketType(c_int);

impl SocketType {
    /// `SOCK_STREAM`: a byte stream (TCP).
    pub const STREAM: SocketType = SocketType(libc::SOCK_STREAM);
    /// `SOCK_DGRAM`: datagrams (UDP).
    pub const DATAGRAM: SocketType = SocketType(libc::SOCK_DGRAM);
    /// `SOCK_RAW`: raw packets.
    pub const RAW: SocketType = SocketType(libc::SOCK_RAW);
    /// `SOCK_SEQPACKET`: ordered, reliable datagrams.
    pub const SEQPACKET: SocketType = SocketType(libc::SOCK_SEQPACKET);

    /// The C library's value.
    pub const fn raw(self) -> c_int {
        self.0
    }
}

impl fmt::Debug for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SocketType::STREAM => f.write_str("STREAM"),
            SocketType::DATAGRAM => f.write_str("DATAGRAM"),
            SocketType::RAW => f.write_str("RAW"),
            SocketType::SEQPACKET => f.write_str("SEQPACKET"),
            SocketType(other) => write!(f, "SocketType({other})"),
        }
    }
}

/// The service of a [`getaddrinfo`] call: a port number, or a service name ("http") or
/// numeric string ("8080") for the C library to look up.
///
/// Every `u16`, `&str` and `String` converts into one, so calls read
/// `getaddrinfo("localhost", 80, ..)` or `getaddrinfo("localhost", "http", ..)`. Port 0
/// means "no particular port": the results carry port 0.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// A port number.
    Port(u16),
    /// A service name or a port number in text.
    Name(String),
}

impl From<u16> for Service {
    fn from(port: u16) -> Self {
        Service::Port(port)
    }
}

impl From<&str> for Service {
    fn from(name: &str) -> Self {
        Service::Name(name.to_owned())
    }
}

impl From<String> for Service {
    fn from(name: String) -> Self {
        Service::Name(name)
    }
}

/// The hints of a [`getaddrinfo`] call: address family, socket type, protocol and flags.
/// The default asks for everything: any family, any socket type, any protocol, no flags.
///
/// ```
/// use anyio::net::{AddrInfoFlags, AddrInfoOptions, AddressFamily, SocketType};
/// let options = AddrInfoOptions::new()
///     .family(AddressFamily::Ipv4)
///     .socket_type(SocketType::STREAM)
///     .flags(AddrInfoFlags::NUMERICHOST);
/// # let _ = options;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddrInfoOptions {
    family: Option<AddressFamily>,
    socket_type: Option<SocketType>,
    protocol: c_int,
    flags: AddrInfoFlags,
}

impl AddrInfoOptions {
    /// No hints: every family, socket type and protocol, no flags.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only addresses of `family` (`AF_UNSPEC` when not called).
    pub fn family(mut self, family: AddressFamily) -> Self {
        self.family = Some(family);
        self
    }

    /// Only addresses for sockets of `socket_type` (any type when not called).
    pub fn socket_type(mut self, socket_type: SocketType) -> Self {
        self.socket_type = Some(socket_type);
        self
    }

    /// Only addresses for `protocol`, an `IPPROTO_*` number such as `libc::IPPROTO_TCP`
    /// (0, any protocol, when not called).
    pub fn protocol(mut self, protocol: c_int) -> Self {
        self.protocol = protocol;
        self
    }

    /// The `AI_*` flags of the call (none when not called).
    pub fn flags(mut self, flags: AddrInfoFlags) -> Self {
        self.flags = flags;
        self
    }
}

/// One result of [`getaddrinfo`]: an address with the kind of socket it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AddrInfo {
    /// The address family: [`Ipv4`](AddressFamily::Ipv4) or [`Ipv6`](AddressFamily::Ipv6).
    pub family: AddressFamily,
    /// The socket type this address is for.
    pub socket_type: SocketType,
    /// The protocol number (`IPPROTO_*`) this address is for; 0 when unspecified.
    pub protocol: c_int,
    /// The host's canonical name: set on the first result only, and only when
    /// [`AddrInfoFlags::CANONNAME`] was given.
    pub canonical_name: Option<String>,
    /// The address and port. An IPv6 address keeps its flow info and scope id (the
    /// interface of a link-local address such as `fe80::1%lo`).
    pub addr: SocketAddr,
}

/// A resolver error (Python's `socket.gaierror`): the C library's `EAI_*` code and its
/// message, with the name that was looked up.
///
/// It travels inside the [`io::Error`] that [`getaddrinfo`] and [`getnameinfo`] return, so
/// the message of that error names the host, and the code is one downcast away:
///
/// ```
/// # anyio::run(async {
/// use anyio::net::{AddrInfoFlags, AddrInfoOptions, GaiError, getaddrinfo};
/// // A name where only a numeric address is allowed: refused without any lookup.
/// let numeric_only = AddrInfoOptions::new().flags(AddrInfoFlags::NUMERICHOST);
/// let err = getaddrinfo("localhost", 80, numeric_only).await.unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// assert!(err.to_string().starts_with("failed to resolve \"localhost\": "));
/// let gai = err.get_ref().and_then(|e| e.downcast_ref::<GaiError>()).unwrap();
/// assert_eq!(gai.code(), libc::EAI_NONAME);
/// assert_eq!(gai.host(), Some("localhost"));
/// # }).unwrap();
/// ```
///
/// The `io::Error` has kind `NotFound` when the name does not resolve (`EAI_NONAME`, and
/// `EAI_NODATA` where the platform has it), `InvalidInput` for hints the resolver refuses
/// (`EAI_FAMILY`, `EAI_SOCKTYPE`, `EAI_BADFLAGS`, `EAI_SERVICE`), `OutOfMemory` for
/// `EAI_MEMORY`, and `Other` otherwise (a temporary failure, `EAI_AGAIN`, among them).
/// `EAI_SYSTEM` is not a `GaiError`: the OS error behind it is returned instead, and so is
/// the `EMFILE`, `ENFILE`, `ENOMEM` or `ENOBUFS` behind a lookup that failed for want of
/// descriptors or memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GaiError {
    code: c_int,
    host: Option<String>,
    text: String,
}

impl GaiError {
    /// The `EAI_*` code (compare with `libc::EAI_NONAME` and the like).
    pub fn code(&self) -> c_int {
        self.code
    }

    /// The host name as the caller gave it (before IDNA encoding), or for
    /// [`getnameinfo`] the address; `None` for a lookup without a host.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    fn kind(&self) -> io::ErrorKind {
        match self.code {
            libc::EAI_NONAME => io::ErrorKind::NotFound,
            #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
            libc::EAI_NODATA => io::ErrorKind::NotFound,
            libc::EAI_FAMILY | libc::EAI_SOCKTYPE | libc::EAI_BADFLAGS | libc::EAI_SERVICE => {
                io::ErrorKind::InvalidInput
            }
            libc::EAI_MEMORY => io::ErrorKind::OutOfMemory,
            _ => io::ErrorKind::Other,
        }
    }
}

impl fmt::Display for GaiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for GaiError {}

impl From<GaiError> for io::Error {
    fn from(e: GaiError) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

/// The C library's message for an `EAI_*` code.
fn gai_message(code: c_int) -> String {
    // SAFETY: `gai_strerror` accepts any code and returns a pointer to a static,
    // NUL-terminated string (never freed or changed).
    let msg = unsafe { libc::gai_strerror(code) };
    if msg.is_null() {
        return format!("resolver error {code}");
    }
    // SAFETY: non-null, NUL-terminated and static, as said above.
    unsafe { CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned()
}

/// `errno` right after a resolver call returned `code`, if `code` says it holds the cause
/// (`EAI_SYSTEM`). Read before anything else runs that could change it.
fn system_error(code: c_int) -> Option<io::Error> {
    let os = (code == libc::EAI_SYSTEM).then(io::Error::last_os_error)?;
    os.raw_os_error().is_some_and(|e| e != 0).then_some(os)
}

/// Sets `errno` to 0, so that what it holds after a resolver call was set by that call.
fn clear_errno() {
    // SAFETY: the location of the calling thread's `errno`, always valid to write.
    #[cfg(target_os = "linux")]
    unsafe {
        *libc::__errno_location() = 0;
    }
    // SAFETY: as above.
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    unsafe {
        *libc::__error() = 0;
    }
}

/// The OS error behind a resolver failure that the C library reports as a lookup failure
/// (`EAI_NONAME`, `EAI_AGAIN`, `EAI_FAIL`) when the real cause is that the process or the
/// system is out of descriptors or memory: glibc cannot open `/etc/hosts` or a socket to
/// the name server, and says "Name or service not known". `errno` was cleared before the
/// call; read it before anything else runs.
fn exhaustion_error(code: c_int) -> Option<io::Error> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let lookup_failed = code == libc::EAI_NODATA;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let lookup_failed = false;
    if !(lookup_failed || matches!(code, libc::EAI_NONAME | libc::EAI_AGAIN | libc::EAI_FAIL)) {
        return None;
    }
    let os = io::Error::last_os_error();
    os.raw_os_error()
        .is_some_and(is_out_of_resources)
        .then_some(os)
}

/// The error for a failed resolver call about `subject` (for example `failed to resolve
/// "example.com"`): the OS error behind `EAI_SYSTEM`, from [`system_error`], if there is
/// one; a [`GaiError`] otherwise.
fn resolver_error(
    code: c_int,
    os_error: Option<io::Error>,
    host: Option<&str>,
    subject: String,
) -> io::Error {
    if let Some(os) = os_error {
        return context(os, || subject);
    }
    GaiError {
        code,
        host: host.map(str::to_owned),
        text: format!("{subject}: {}", gai_message(code)),
    }
    .into()
}

/// An `InvalidInput` error about `host`.
fn invalid_host(host: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid host name {:?}: {why}", clip(host)),
    )
}

/// An IPv6 literal with an interface name as its scope id (`::1%lo`), with the interface's
/// index instead (`::1%1`): glibc takes a name only on link-local and multicast addresses,
/// an index on any, so this makes every IPv6 literal resolve the same way. `None` for
/// anything else, and for an interface that does not exist (the resolver then refuses it).
fn numeric_scope(host: &str) -> Option<String> {
    let (ip, scope) = host.split_once('%')?;
    if ip.parse::<std::net::Ipv6Addr>().is_err()
        || scope.is_empty()
        || scope.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let name = CString::new(scope).ok()?;
    // SAFETY: a NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then(|| format!("{ip}%{index}"))
}

/// The host name as the resolver gets it: ASCII names (IP literals among them) unchanged,
/// internationalised ones encoded with IDNA (UTS 46 processing, IDNA 2008 rules).
fn encode_host(host: &str) -> io::Result<CString> {
    if host.contains('\0') {
        return Err(invalid_host(host, "it contains a NUL byte"));
    }
    let encoded = if let Some(numeric) = numeric_scope(host) {
        numeric
    } else if host.is_ascii() {
        host.to_owned()
    } else {
        domain_to_ascii(host).map_err(|why| invalid_host(host, why))?
    };
    CString::new(encoded).map_err(|_| invalid_host(host, "it contains a NUL byte"))
}

/// The ASCII (IDNA, UTS 46) form of an internationalised domain name, or why there is none:
/// not a valid name, or the crate built without its `idna` feature.
pub(crate) fn domain_to_ascii(host: &str) -> Result<String, &'static str> {
    #[cfg(feature = "idna")]
    {
        idna::domain_to_ascii(host).map_err(|_| "not a valid internationalised domain name")
    }
    #[cfg(not(feature = "idna"))]
    {
        let _ = host;
        Err("internationalised domain names need anyio's `idna` feature")
    }
}

/// The result list of one `getaddrinfo` call, freed when dropped.
struct AddrInfoList(*mut libc::addrinfo);

impl Drop for AddrInfoList {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from a successful `getaddrinfo` and is freed only
            // here, once.
            unsafe { libc::freeaddrinfo(self.0) };
        }
    }
}

impl AddrInfoList {
    /// The IPv4 and IPv6 entries of the list, in its order; others are dropped.
    fn entries(&self) -> Vec<AddrInfo> {
        let mut out = Vec::new();
        let mut cur = self.0.cast_const();
        while !cur.is_null() {
            // SAFETY: `cur` is the head of the list or an `ai_next` of one of its nodes, all
            // valid until the list is freed when `self` drops.
            let ai = unsafe { &*cur };
            if let Some(addr) = Self::socket_addr(ai) {
                let canonical_name = if ai.ai_canonname.is_null() {
                    None
                } else {
                    // SAFETY: a non-null `ai_canonname` is a NUL-terminated string owned by
                    // the list.
                    let name = unsafe { CStr::from_ptr(ai.ai_canonname) };
                    Some(name.to_string_lossy().into_owned())
                };
                out.push(AddrInfo {
                    family: AddressFamily::of(&addr),
                    socket_type: SocketType(ai.ai_socktype),
                    protocol: ai.ai_protocol,
                    canonical_name,
                    addr,
                });
            }
            cur = ai.ai_next;
        }
        out
    }

    /// The IP socket address of a node, if it has one of a known family and full length.
    fn socket_addr(ai: &libc::addrinfo) -> Option<SocketAddr> {
        let sa = ai.ai_addr.cast_const();
        let len = ai.ai_addrlen as usize;
        if sa.is_null() {
            return None;
        }
        match ai.ai_family {
            libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the node says its address is an `AF_INET` one of at least this
                // size; an unaligned read copies it whatever its alignment.
                let sin = unsafe { ptr::read_unaligned(sa.cast::<libc::sockaddr_in>()) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)).into())
            }
            libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: as above, for an `AF_INET6` address.
                let sin6 = unsafe { ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>()) };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                let port = u16::from_be(sin6.sin6_port);
                Some(SocketAddrV6::new(ip, port, sin6.sin6_flowinfo, sin6.sin6_scope_id).into())
            }
            _ => None,
        }
    }
}

/// The C hints of `options`.
fn hints(options: &AddrInfoOptions, numeric_service: bool) -> libc::addrinfo {
    // SAFETY: `addrinfo` is a plain C struct for which all zeroes (null pointers, zero
    // numbers) is the documented "no hint" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = match options.family {
        None => libc::AF_UNSPEC,
        Some(AddressFamily::Ipv4) => libc::AF_INET,
        Some(AddressFamily::Ipv6) => libc::AF_INET6,
        Some(AddressFamily::Unix) => libc::AF_UNIX,
    };
    hints.ai_socktype = options.socket_type.map_or(0, SocketType::raw);
    hints.ai_protocol = options.protocol;
    hints.ai_flags = options.flags.bits();
    if numeric_service {
        hints.ai_flags |= libc::AI_NUMERICSERV;
    }
    hints
}

/// The blocking `getaddrinfo` call, on a worker thread. `host` is the name as given, for
/// error messages; `c_host` is what the resolver gets.
fn blocking_getaddrinfo(
    host: Option<&str>,
    c_host: Option<&CStr>,
    service: &CStr,
    numeric_service: bool,
    options: &AddrInfoOptions,
) -> io::Result<Vec<AddrInfo>> {
    let hints = hints(options, numeric_service);
    let mut res: *mut libc::addrinfo = ptr::null_mut();
    clear_errno();
    // SAFETY: the strings are NUL-terminated and outlive the call, `hints` is a valid
    // `addrinfo` with null pointers, and `res` is a valid place for the result.
    let code = unsafe {
        libc::getaddrinfo(
            c_host.map_or(ptr::null(), CStr::as_ptr),
            service.as_ptr(),
            &raw const hints,
            &raw mut res,
        )
    };
    if code != 0 {
        let os_error = system_error(code).or_else(|| exhaustion_error(code));
        let ascii = c_host.map(CStr::to_string_lossy);
        let subject = match (host, ascii) {
            (Some(h), Some(a)) if a != h => {
                format!(
                    "failed to resolve {:?} (looked up as {:?})",
                    clip(h),
                    clip(&a)
                )
            }
            (Some(h), _) => format!("failed to resolve {:?}", clip(h)),
            (None, _) => format!(
                "failed to resolve service {:?}",
                clip(&service.to_string_lossy())
            ),
        };
        // On failure `res` is not a list (POSIX leaves it unspecified): nothing to free.
        return Err(resolver_error(code, os_error, host, subject));
    }
    // Freed when `list` drops, whatever happens from here on.
    let list = AddrInfoList(res);
    Ok(list.entries())
}

/// Looks up the addresses of `host` for `service` (AnyIO's `getaddrinfo`), on a worker
/// thread through the default thread limiter.
///
/// - `host` is a host name or an IP literal, or `None` for the local host (with
///   [`AddrInfoFlags::PASSIVE`], the wildcard address to bind to). An IP literal, and any
///   ASCII name, is passed on unchanged; an internationalised name is encoded with IDNA
///   (UTS 46 processing, IDNA 2008 rules), so `"bücher.example"` is looked up as
///   `"xn--bcher-kva.example"`.
/// - `service` is a port number or a service name ([`Service`]); port 0 means none in
///   particular.
/// - `options` are the hints: family, socket type, protocol, flags.
///
/// The results come in the resolver's order. Only IPv4 and IPv6 addresses are returned;
/// IPv6 ones keep their scope id. A scope id on an IPv6 literal may be an interface name or
/// index on any address (`::1%lo` as `fe80::1%lo`): a name is turned into its index before
/// the lookup, since glibc takes names only on link-local and multicast addresses. With no socket type given, the resolver may return one
/// entry per socket type for each address.
///
/// ```
/// # anyio::run(async {
/// use anyio::net::{AddrInfoFlags, AddrInfoOptions, getaddrinfo};
/// let found = getaddrinfo("127.0.0.1", 80, AddrInfoOptions::new().flags(AddrInfoFlags::NUMERICHOST))
///     .await?;
/// assert!(found.iter().all(|info| info.addr == "127.0.0.1:80".parse().unwrap()));
/// # Ok::<_, std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Errors
///
/// - `InvalidInput`, naming the host, for a host or service with a NUL byte, or a host that
///   is not a valid internationalised domain name. Nothing is looked up then.
/// - A [`GaiError`] inside the `io::Error` when the resolver fails: `NotFound` with the
///   message `failed to resolve "name": Name or service not known` for a name that does not
///   resolve (the text after the colon is the C library's).
/// - The OS error when the resolver reports `EAI_SYSTEM`, and when it reports a failed
///   lookup because the process or the system ran out of descriptors or memory (`EMFILE`,
///   `ENFILE`, `ENOMEM`, `ENOBUFS`: glibc then says "Name or service not known").
/// - A cancellation (see [`is_cancelled`](crate::is_cancelled)) if the caller is cancelled.
///
/// # Cancel safety
///
/// Cancel safe. A cancelled lookup returns at once; the worker thread finishes the C call
/// on its own and frees its result.
pub async fn getaddrinfo<'a>(
    host: impl Into<Option<&'a str>>,
    service: impl Into<Service>,
    options: AddrInfoOptions,
) -> io::Result<Vec<AddrInfo>> {
    let host: Option<String> = host.into().map(str::to_owned);
    let c_host = host.as_deref().map(encode_host).transpose()?;
    let (service, numeric_service) = match service.into() {
        Service::Port(port) => (port.to_string(), true),
        Service::Name(name) => (name, false),
    };
    let c_service = CString::new(service.as_str()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid service name {:?}: it contains a NUL byte",
                clip(&service)
            ),
        )
    })?;
    to_thread::run_sync(move || {
        blocking_getaddrinfo(
            host.as_deref(),
            c_host.as_deref(),
            &c_service,
            numeric_service,
            &options,
        )
    })
    .abandon_on_cancel()
    .await?
}

/// Room for a host name and a service name, as the C library's `NI_MAXHOST` and
/// `NI_MAXSERV` (glibc's values, the largest in use).
const NAME_MAX_HOST: usize = 1025;
const NAME_MAX_SERV: usize = 32;

/// The text a C library wrote into `buf`, up to its NUL.
fn c_buffer_text(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The blocking `getnameinfo` call, on a worker thread.
fn blocking_getnameinfo(addr: SocketAddr, flags: NameInfoFlags) -> io::Result<(String, String)> {
    let sockaddr = socket2::SockAddr::from(addr);
    let mut host = [0 as c_char; NAME_MAX_HOST];
    let mut serv = [0 as c_char; NAME_MAX_SERV];
    // SAFETY: `sockaddr` is a valid socket address of the given length, and each buffer is
    // writable for the length passed with it; the C library NUL-terminates what it writes.
    let code = unsafe {
        libc::getnameinfo(
            sockaddr.as_ptr().cast::<libc::sockaddr>(),
            sockaddr.len(),
            host.as_mut_ptr(),
            host.len() as _,
            serv.as_mut_ptr(),
            serv.len() as _,
            flags.bits(),
        )
    };
    if code != 0 {
        let os_error = system_error(code);
        let subject = format!("failed to look up the name of {addr}");
        return Err(resolver_error(
            code,
            os_error,
            Some(&addr.to_string()),
            subject,
        ));
    }
    Ok((c_buffer_text(&host), c_buffer_text(&serv)))
}

/// The host and service names of a socket address (AnyIO's `getnameinfo`), on a worker
/// thread through the default thread limiter.
///
/// Without flags the host name comes from a reverse lookup (falling back to the numeric
/// address when there is none) and the service from the services database (falling back
/// to the port number). [`NameInfoFlags`] change that: `NUMERICHOST | NUMERICSERV` looks
/// nothing up.
///
/// ```
/// # anyio::run(async {
/// use anyio::net::{NameInfoFlags, getnameinfo};
/// let addr = "127.0.0.1:80".parse().unwrap();
/// let flags = NameInfoFlags::NUMERICHOST | NameInfoFlags::NUMERICSERV;
/// assert_eq!(getnameinfo(addr, flags).await?, ("127.0.0.1".to_owned(), "80".to_owned()));
/// # Ok::<_, std::io::Error>(())
/// # }).unwrap().unwrap();
/// ```
///
/// # Errors
///
/// A [`GaiError`] inside the `io::Error` when the resolver fails (with `NAMEREQD`, an
/// address without a name is `NotFound`); the OS error for `EAI_SYSTEM`; a cancellation if
/// the caller is cancelled.
///
/// # Cancel safety
///
/// Cancel safe. A cancelled lookup returns at once; the worker thread finishes the C call
/// on its own.
pub async fn getnameinfo(addr: SocketAddr, flags: NameInfoFlags) -> io::Result<(String, String)> {
    to_thread::run_sync(move || blocking_getnameinfo(addr, flags))
        .abandon_on_cancel()
        .await?
}

/// The stream-socket addresses of `host`, in the resolver's order without repeats, only of
/// `family` when one is given. The resolver's error comes out as it is (a [`GaiError`]
/// naming the host); an empty answer is a `NotFound` error naming the host.
pub(crate) async fn resolve_stream(
    host: &str,
    port: u16,
    family: Option<AddressFamily>,
) -> io::Result<Vec<SocketAddr>> {
    let mut options = AddrInfoOptions::new().socket_type(SocketType::STREAM);
    if let Some(family) = family {
        options = options.family(family);
    }
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for info in getaddrinfo(host, port, options).await? {
        if family.is_none_or(|f| f == info.family) && !addrs.contains(&info.addr) {
            addrs.push(info.addr);
        }
    }
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "resolving {:?}: no address of the requested family",
                clip(host)
            ),
        ));
    }
    Ok(addrs)
}
