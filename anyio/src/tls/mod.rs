//! TLS over any anyio byte stream, on rustls (AnyIO's `anyio.streams.tls`).
//!
//! - [`TlsConnector`] and [`TlsAcceptor`] hold each side's settings: a rustls
//!   configuration (verification on, webpki roots by default) and the closing mode.
//! - [`TlsStream`] is the encrypted stream, over a socket stream or any other
//!   [`ByteStream`](crate::stream::ByteStream), with STARTTLS ([`TlsStream::start_tls`]),
//!   unwrapping back to the plain stream ([`TlsStream::unwrap`]), and what the connection
//!   negotiated.
//! - [`TlsListener`] serves TLS on any listener, with a handshake timeout.
//! - [`connect_tls`](crate::net::connect_tls) connects with Happy Eyeballs and TLS, and
//!   [`TcpListenerOptions::bind_tls`](crate::net::TcpListenerOptions::bind_tls) listens with
//!   TLS.
//!
//! rustls does all the cryptography and the record layer; this module moves bytes between
//! it and the transport and applies AnyIO's rules 18 and 19. The rustls version in use is
//! re-exported as [`rustls`], for building configurations by hand.
//!
//! TLS errors are `io::Error`s of kind `InvalidData` with the [`rustls::Error`] inside:
//! [`tls_error_of`] finds it, so a program can tell an expired certificate
//! (`CertificateError::ExpiredContext`) from an unknown issuer (`UnknownIssuer`) or a wrong
//! host name (`NotValidForNameContext`).

/// The guide's chapter, so `cargo test --doc` compiles and runs its examples.
#[cfg(all(doctest, unix))]
#[doc = include_str!("../../../docs/tls.md")]
struct TlsGuide;

mod config;
mod listener;
mod session;
mod stream;

use std::io;

pub use config::{TlsAcceptor, TlsConnector};
pub use listener::{DEFAULT_HANDSHAKE_TIMEOUT, TlsListener};
pub use rustls;
pub use stream::{ChannelBinding, TlsStream};

/// The rustls error inside an `io::Error` from this module (a failed handshake, a protocol
/// violation by the peer), if that is what it is.
///
/// ```
/// use anyio::tls::{rustls, tls_error_of};
///
/// let err = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
/// assert_eq!(tls_error_of(&err), Some(&rustls::Error::DecryptError));
/// ```
pub fn tls_error_of(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()?.downcast_ref::<rustls::Error>()
}
