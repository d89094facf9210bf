//! Test certificates, made with rcgen at run time: a CA, server certificates it signs (for
//! any names, valid, expired), and a self-signed one nobody trusts.
#![allow(dead_code)] // Each test file uses its own subset.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A certificate and its key, in PEM.
pub(crate) struct Pem {
    pub(crate) cert: String,
    pub(crate) key: String,
}

/// A test certificate authority.
pub(crate) struct Ca {
    pub(crate) pem: Pem,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub(crate) fn new() -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "anyio test CA");
        let cert = params.self_signed(&key).expect("CA certificate");
        let pem = Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed by this CA.
    pub(crate) fn server(&self, names: &[&str]) -> Pem {
        self.server_with(names, |_| {})
    }

    /// A server certificate that expired in 2020.
    pub(crate) fn expired_server(&self, names: &[&str]) -> Pem {
        self.server_with(names, |params| {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        })
    }

    fn server_with(&self, names: &[&str], adjust: impl FnOnce(&mut CertificateParams)) -> Pem {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "anyio test server");
        adjust(&mut params);
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A self-signed certificate for `names`, trusted by nobody but who loads it.
pub(crate) fn self_signed(names: &[&str]) -> Pem {
    let key = KeyPair::generate().expect("key");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}
