//! `pair()`: a connected TCP pair over 127.0.0.1, for the tests of stream behaviour.

use anyio::BoxError;
use anyio::net::{SocketStream, TcpListenerOptions, connect_tcp};

/// A connected pair over 127.0.0.1: (client, server).
pub(crate) async fn pair() -> Result<(SocketStream, SocketStream), BoxError> {
    let listener = TcpListenerOptions::new()
        .local_host("127.0.0.1")
        .bind()
        .await?
        .into_listeners()
        .remove(0);
    let port = anyio::net::SocketAttributes::local_port(&listener)?;
    let client = connect_tcp("127.0.0.1", port).await?;
    let server = listener.accept().await?;
    Ok((client, server))
}
