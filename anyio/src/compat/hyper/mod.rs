//! hyper 1.x on anyio, on every backend (the `hyper` feature), with no glue:
//!
//! - hyper's `rt::Read` / `rt::Write` on [`SocketStream`](crate::net::SocketStream),
//!   [`UnixSocketStream`](crate::net::UnixSocketStream) and
//!   [`TlsStream`](crate::tls::TlsStream): give them to hyper's `serve_connection` or
//!   `handshake` as they are;
//! - `hyper::rt::Executor` for [`TaskGroup`](crate::TaskGroup): hyper's background tasks
//!   (HTTP/2 streams, the pooled client's connections) run in the group and end with it;
//! - [`AnyioTimer`], hyper's `rt::Timer` on anyio's clock (hyper's timeouts need one);
//! - [`HttpConnector`], the connector of hyper-util's pooled client, with Happy Eyeballs
//!   and, with the `tls` feature, TLS and ALPN.
//!
//! hyper-util's `TokioIo`, `TokioExecutor` and `TokioTimer` need a tokio runtime and panic
//! on smol; these do not.

mod connector;
mod executor;
mod io;
mod timer;

pub use connector::{HttpConnector, HttpStream};
pub use timer::AnyioTimer;
