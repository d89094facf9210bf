//! The two sides' settings: [`TlsConnector`] (client) and [`TlsAcceptor`] (server), each a
//! rustls configuration plus the closing mode, cheap to clone and shared by every
//! connection made with it.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::stream::TlsStream;
use crate::stream::ByteStream;

/// The crypto provider of every configuration this module builds: aws-lc-rs, rustls's own
/// default and the one it keeps current (its key exchange prefers the post-quantum hybrid
/// X25519MLKEM768; rustls 0.23.48 deprecated ring's provider for lacking it). Named
/// explicitly so that another provider compiled into the same program cannot change it.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn invalid(what: impl fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

/// Parses every certificate of a PEM document.
pub(crate) fn certificates_from_pem(pem: &[u8]) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("invalid PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("no certificate found in the PEM data"));
    }
    Ok(certs)
}

/// The client side of TLS: whom to trust, what to offer, and how to close.
///
/// [`TlsConnector::new`] verifies servers against the Mozilla root certificates of the
/// `webpki-roots` crate, compiled in: the same trust on every machine, with no dependency on
/// the system's store. To trust the system's store instead, load it (with the
/// `rustls-native-certs` crate, say) into a [`RootCertStore`] and use
/// [`with_root_certificates`](Self::with_root_certificates). Certificate and host-name
/// verification are always on unless you build a rustls configuration that turns them off
/// and pass it to [`from_config`](Self::from_config).
///
/// ```
/// use anyio::tls::TlsConnector;
///
/// let connector = TlsConnector::new()
///     .alpn_protocols([b"h2".as_slice(), b"http/1.1"])
///     .standard_compatible(false);
/// assert!(!connector.is_standard_compatible());
/// ```
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    standard_compatible: bool,
}

impl Default for TlsConnector {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsConnector {
    /// Verifies servers against the webpki (Mozilla) root certificates; TLS 1.2 and 1.3;
    /// standard-compatible closing.
    pub fn new() -> Self {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Self::with_root_certificates(roots)
    }

    /// Verifies servers against `roots` only.
    pub fn with_root_certificates(roots: RootCertStore) -> Self {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the aws-lc-rs provider supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self::from_config(Arc::new(config))
    }

    /// Verifies servers against the certificates of a PEM document only (a private CA, or a
    /// self-signed server certificate): the counterpart of Python's
    /// `context.load_verify_locations(cafile=...)`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the PEM data holds no certificate, or one that cannot be a trust
    /// anchor.
    pub fn with_root_pem(pem: &[u8]) -> io::Result<Self> {
        let mut roots = RootCertStore::empty();
        for cert in certificates_from_pem(pem)? {
            roots
                .add(cert)
                .map_err(|e| invalid(format!("unusable root certificate: {e}")))?;
        }
        Ok(Self::with_root_certificates(roots))
    }

    /// The TLS client side of `transport`, verifying the server as `server_name`, with the
    /// handshake not yet run: bytes pass through unencrypted until
    /// [`start_tls`](TlsStream::start_tls) (STARTTLS).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `server_name` is neither an IP address nor a valid DNS name.
    pub fn client<S: ByteStream>(
        &self,
        transport: S,
        server_name: &str,
    ) -> io::Result<TlsStream<S>> {
        let name = server_name_of(server_name)?;
        let dns_name = match &name {
            ServerName::DnsName(dns) => Some(dns.as_ref().to_owned()),
            _ => None,
        };
        let conn = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|e| invalid(format!("cannot start a TLS client: {e}")))?;
        Ok(TlsStream::new(
            transport,
            conn.into(),
            self.standard_compatible,
            dns_name,
        ))
    }

    /// Runs the TLS handshake as the client over `transport` and returns the encrypted
    /// stream (AnyIO's `TLSStream.wrap(transport, hostname=...)`).
    ///
    /// `server_name` is what the server's certificate must name: a DNS name (an
    /// internationalised one is verified in its IDNA 2008 form) or an IP address.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a bad `server_name`; `InvalidData` with the rustls error inside
    /// (see [`tls_error_of`](super::tls_error_of)) when the handshake fails: an expired,
    /// untrusted or wrong-host certificate, a protocol or alert error;
    /// [`BrokenResourceError`](crate::BrokenResourceError) when the transport fails or ends
    /// during the handshake; and the transport's own errors (cancellation among them).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a handshake cut short leaves the transport unusable.
    pub async fn connect<S: ByteStream>(
        &self,
        transport: S,
        server_name: &str,
    ) -> io::Result<TlsStream<S>> {
        let stream = self.client(transport, server_name)?;
        stream.start_tls().await?;
        Ok(stream)
    }
}

/// The rustls name of a host: an IP address as it is, a DNS name in its ASCII (IDNA 2008,
/// UTS 46) form.
fn server_name_of(host: &str) -> io::Result<ServerName<'static>> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    let ascii = if host.is_ascii() {
        host.to_owned()
    } else {
        crate::net::dns::domain_to_ascii(host).map_err(|why| {
            invalid(format!(
                "invalid TLS server name {:?}: {why}",
                crate::resource::clip(host)
            ))
        })?
    };
    ServerName::try_from(ascii).map_err(|e| {
        invalid(format!(
            "invalid TLS server name {:?}: {e}",
            crate::resource::clip(host)
        ))
    })
}

/// The server side of TLS: the certificate to present, and how to close.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// # let key = rcgen::KeyPair::generate().unwrap();
/// # let cert = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap()
/// #     .self_signed(&key).unwrap();
/// # let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
/// use anyio::tls::TlsAcceptor;
///
/// let acceptor = TlsAcceptor::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?
///     .alpn_protocols([b"http/1.1"]);
/// assert!(acceptor.is_standard_compatible());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
    standard_compatible: bool,
}

impl TlsAcceptor {
    /// Presents the certificate chain of `cert_chain_pem` (the server's certificate first)
    /// with the private key of `key_pem` (PKCS #8, PKCS #1 or SEC1); no client
    /// certificates; TLS 1.2 and 1.3. The counterpart of Python's
    /// `context.load_cert_chain(certfile, keyfile)`; both may be the same file.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if either is missing or unreadable, or the key does not match the
    /// certificate.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<Self> {
        let certs = certificates_from_pem(cert_chain_pem)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| invalid(format!("invalid PEM private key: {e}")))?;
        Self::from_der(certs, key)
    }

    /// Like [`from_pem`](Self::from_pem), from DER.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the key does not match the certificate or cannot be used.
    pub fn from_der(
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> io::Result<Self> {
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the aws-lc-rs provider supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(cert_chain, key)
            .map_err(|e| invalid(format!("unusable certificate or key: {e}")))?;
        Ok(Self::from_config(Arc::new(config)))
    }

    /// The TLS server side of `transport`, with the handshake not yet run: bytes pass
    /// through unencrypted until [`start_tls`](TlsStream::start_tls) (STARTTLS).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if rustls cannot start a server with this configuration.
    pub fn server<S: ByteStream>(&self, transport: S) -> io::Result<TlsStream<S>> {
        let conn = rustls::ServerConnection::new(self.config.clone())
            .map_err(|e| invalid(format!("cannot start a TLS server: {e}")))?;
        Ok(TlsStream::new(
            transport,
            conn.into(),
            self.standard_compatible,
            None,
        ))
    }

    /// Runs the TLS handshake as the server over `transport` and returns the encrypted
    /// stream (AnyIO's `TLSStream.wrap(transport, server_side=True)`).
    ///
    /// # Errors
    ///
    /// As [`TlsConnector::connect`]: `InvalidData` with the rustls error inside when the
    /// handshake fails, [`BrokenResourceError`](crate::BrokenResourceError) when the
    /// transport fails or ends during it.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a handshake cut short leaves the transport unusable.
    pub async fn accept<S: ByteStream>(&self, transport: S) -> io::Result<TlsStream<S>> {
        let stream = self.server(transport)?;
        stream.start_tls().await?;
        Ok(stream)
    }
}

/// The settings both sides share, for `$side` over the rustls configuration `$config`:
/// taking a configuration as it is, ALPN, the closing mode, and the configuration itself.
macro_rules! shared_settings {
    ($side:ident, $config:ty, $uses:literal, $alpn:literal) => {
        impl $side {
            #[doc = concat!("Uses a rustls configuration as it is (", $uses, ").")]
            pub fn from_config(config: Arc<$config>) -> Self {
                $side {
                    config,
                    standard_compatible: true,
                }
            }

            #[doc = concat!("The protocols to ", $alpn, " with ALPN, most preferred first.")]
            pub fn alpn_protocols<P: AsRef<[u8]>>(
                mut self,
                protocols: impl IntoIterator<Item = P>,
            ) -> Self {
                Arc::make_mut(&mut self.config).alpn_protocols =
                    protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
                self
            }

            /// Whether streams close in the standard-compatible way (rule 19, on by
            /// default): closing sends `close_notify` and waits for the peer's, and an end
            /// of the connection without the peer's `close_notify` is a
            /// [`BrokenResourceError`](crate::BrokenResourceError), because the data may have
            /// been truncated. Off, closing just closes, and such an end is an ordinary
            /// [`EndOfStream`](crate::EndOfStream), as HTTPS clients need with the many
            /// servers that never send `close_notify`.
            pub fn standard_compatible(mut self, on: bool) -> Self {
                self.standard_compatible = on;
                self
            }

            /// Whether [`standard_compatible`](Self::standard_compatible) closing is on.
            pub fn is_standard_compatible(&self) -> bool {
                self.standard_compatible
            }

            /// The rustls configuration.
            pub fn config(&self) -> &Arc<$config> {
                &self.config
            }
        }

        impl fmt::Debug for $side {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($side))
                    .field("alpn_protocols", &self.config.alpn_protocols)
                    .field("standard_compatible", &self.standard_compatible)
                    .finish_non_exhaustive()
            }
        }
    };
}

shared_settings!(
    TlsConnector,
    ClientConfig,
    "client certificates, a custom verifier, session resumption settings, another crypto provider",
    "offer"
);
shared_settings!(
    TlsAcceptor,
    ServerConfig,
    "client authentication, SNI-based certificate selection, another crypto provider",
    "accept"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_ip_addresses_or_ascii_dns_names() {
        assert_eq!(
            server_name_of("127.0.0.1").unwrap(),
            ServerName::IpAddress(IpAddr::from([127, 0, 0, 1]).into())
        );
        assert!(matches!(
            server_name_of("[::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        let name = server_name_of("bücher.example").unwrap();
        assert_eq!(name.to_str(), "xn--bcher-kva.example");
        let err = server_name_of("not a host").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("\"not a host\""), "{err}");
    }

    #[test]
    fn pem_without_a_certificate_is_refused() {
        let err = TlsConnector::with_root_pem(b"nothing here").unwrap_err();
        assert_eq!(err.to_string(), "no certificate found in the PEM data");
        let err = TlsAcceptor::from_pem(b"", b"").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
