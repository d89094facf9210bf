//! Feeds arbitrary bytes to the server side of an anyio TLS stream, over an in-memory
//! transport: it must end with an error (or, with a real client, with exactly what the
//! model of `memory_transport::expectation` says), never panic, never hang.
//!
//! Input layout (`fuzz/README.md` has the details):
//!
//! - byte 0, flags: bits 0-1 the mode (0: the bytes as they are; 1: a recorded TLS 1.3
//!   ClientHello, then the bytes; 2: a recorded TLS 1.2 ClientHello, then the bytes; 3: a
//!   live rustls client, whose records after the handshake the bytes choose); bit 2:
//!   standard-compatible closing off; bit 3: read with `AsyncRead` instead of `receive`;
//!   bit 4: the live client offers TLS 1.2 only; bit 5: run on smol instead of tokio.
//! - byte 1: the read size (0: 65536).
//! - byte 2: how many chunk sizes follow (mod 8), then one byte each (0: all there is).
//! - mode 3: two bytes (little-endian) where the stream is cut (0xFFFF: nowhere), then
//!   operations until the input ends.
//! - the rest: the bytes the transport delivers, after the ClientHello in modes 1 and 2.
#![no_main]

#[path = "../../anyio/tests/support/certs.rs"]
mod certs;
#[path = "../../anyio/tests/support/memory_transport.rs"]
mod memory_transport;

use anyio::tls::{TlsAcceptor, rustls};
use anyio::{Backend, Runner};
use libfuzzer_sys::fuzz_target;
use memory_transport::{
    ClientOp, ClientPeer, EndClass, MemoryTransport, ReadStyle, check, client_config,
    client_connection, expectation, pki, serve,
};

/// A cursor over the fuzz input; past its end every read is 0 / empty.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken.to_vec()
    }

    fn rest(&mut self) -> Vec<u8> {
        self.bytes(usize::MAX)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The client's operations after its handshake, from the rest of the input.
fn ops(input: &mut Input<'_>) -> Vec<ClientOp> {
    let mut ops = Vec::new();
    while !input.is_empty() {
        let op = match input.byte() % 5 {
            0 => {
                let n = input.byte();
                ClientOp::Data(input.bytes(n.into()))
            }
            1 => {
                let n = usize::from(input.u16()) % 40000;
                let seed = input.byte();
                ClientOp::Data((0..n).map(|i| (i % 251) as u8 ^ seed).collect())
            }
            2 => ClientOp::CloseNotify,
            3 => ClientOp::KeyUpdate,
            _ => {
                let n = input.byte();
                ClientOp::Raw(input.bytes(n.into()))
            }
        };
        ops.push(op);
    }
    ops
}

fuzz_target!(|data: &[u8]| {
    let pki = pki();
    let mut input = Input(data);
    let flags = input.byte();
    let mode = flags & 3;
    let standard_compatible = flags & 4 == 0;
    let read_size = match input.byte() {
        0 => 65536,
        n => usize::from(n),
    };
    let read = if flags & 8 == 0 {
        ReadStyle::Receive(read_size)
    } else {
        ReadStyle::AsyncRead(read_size)
    };
    let tls12_only = flags & 16 != 0;
    let backend = if flags & 32 == 0 {
        Backend::Tokio
    } else {
        Backend::Smol
    };
    let chunk_count = input.byte() % 8;
    let chunks: Vec<usize> = (0..chunk_count).map(|_| input.byte().into()).collect();
    let acceptor = pki
        .acceptor
        .clone()
        .standard_compatible(standard_compatible);

    match mode {
        0..=2 => {
            let mut script = match mode {
                1 => pki.hello13.clone(),
                2 => pki.hello12.clone(),
                _ => Vec::new(),
            };
            script.extend_from_slice(&input.rest());
            let transport = MemoryTransport::scripted(script, chunks);
            let outcome = Runner::new(backend)
                .current_thread()
                .run(serve(&acceptor, transport.clone(), read))
                .expect("the runtime starts")
                .unwrap_or_else(|e| panic!("the server did not finish in time: {e}"));
            // Without the client's keys the handshake cannot complete.
            assert!(!outcome.accepted, "a handshake completed: {outcome:?}");
            assert!(
                matches!(outcome.end.class(), EndClass::Tls | EndClass::Broken),
                "unexpected end of a failed handshake: {outcome:?}"
            );
            assert!(
                transport.eof_reports() <= 1,
                "read past the end {} times",
                transport.eof_reports()
            );
        }
        _ => {
            let cut = match input.u16() {
                u16::MAX => None,
                n => Some(usize::from(n)),
            };
            let ops = ops(&mut input);
            let config = if tls12_only { &pki.tls12 } else { &pki.tls13 };
            let client = ClientPeer::new(client_connection(config, "localhost"), ops);
            let transport = MemoryTransport::with_client(client, chunks, cut);
            let outcome = Runner::new(backend)
                .current_thread()
                .run(serve(&acceptor, transport.clone(), read))
                .expect("the runtime starts")
                .unwrap_or_else(|e| panic!("the server did not finish in time: {e}"));
            let report = transport.client_report().expect("a client transport");
            let expected = expectation(&report, cut, standard_compatible);
            assert!(
                report.error.is_none() || expected.garbage,
                "the client rejected what the server sent: {:?}",
                report.error
            );
            assert!(
                transport.eof_reports() <= 1,
                "read past the end {} times",
                transport.eof_reports()
            );
            if let Err(mismatch) = check(&outcome, &expected) {
                panic!("{mismatch}\nreport: {report:?}\noutcome: {outcome:?}");
            }
        }
    }
});
