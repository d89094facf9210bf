//! The certificate of the TLS examples, made when they start: self-signed, for `localhost`,
//! with rcgen, so the examples need no files. A TLS example includes this file with
//! `#[path = "common/tls_cert.rs"] mod tls_cert;`.
//!
//! The server presents the certificate with its key (`TlsAcceptor::from_pem`), and the
//! client trusts that one certificate and nothing else (`TlsConnector::with_root_pem`), as
//! the manual's examples do with the `cert.pem` and `key.pem` that `openssl req` makes.

use anyio::BoxError;

/// A certificate and its private key, both in PEM.
pub(crate) struct SelfSigned {
    /// The certificate (`cert.pem`): the server presents it, the client trusts it.
    pub(crate) cert_pem: String,
    /// The private key (`key.pem`): only the server has it.
    pub(crate) key_pem: String,
}

/// A fresh self-signed certificate for the name `localhost`, with a new ECDSA P-256 key.
pub(crate) fn localhost() -> Result<SelfSigned, BoxError> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    Ok(SelfSigned {
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
    })
}
