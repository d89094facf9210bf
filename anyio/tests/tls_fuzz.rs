//! The server side of TLS fed hostile or broken input, on every backend: arbitrary bytes,
//! mutated and truncated ClientHellos, a real client's flight cut anywhere, and garbage
//! after a completed handshake. Each run must end, within a deadline, with the error the
//! input calls for: a TLS error (`InvalidData` with a rustls error inside), a broken
//! stream when the transport ends too early, or the plaintext the client sent and then
//! the end of the stream. Never a panic, never a hang.
//!
//! The `tls_server` fuzz target (`fuzz/`) explores the same ground with libFuzzer, over the
//! same in-memory transport; the inputs it found are the regression cases at the end.
#![cfg(all(unix, feature = "tls"))]

#[path = "support/certs.rs"]
mod certs;
#[path = "support/memory_transport.rs"]
mod memory_transport;

use std::future::Future;

use anyio::tls::{TlsAcceptor, rustls};
use anyio::{Backend, Runner};
use memory_transport::{
    ClientOp, ClientPeer, EndClass, Ending, MemoryTransport, Outcome, ReadStyle, check,
    client_connection, expectation, pki, serve,
};
use proptest::prelude::*;

fn acceptor(standard_compatible: bool) -> TlsAcceptor {
    pki()
        .acceptor
        .clone()
        .standard_compatible(standard_compatible)
}

/// Runs `body` on each selected backend (both by default), each on a current-thread
/// runner, and returns the first failure.
fn on_each_backend<F, Fut>(mut body: F) -> Result<(), TestCaseError>
where
    F: FnMut(Backend) -> Fut,
    Fut: Future<Output = Result<(), TestCaseError>>,
{
    for backend in anyio::testing::selected_backends() {
        Runner::new(backend)
            .current_thread()
            .run(body(backend))
            .unwrap_or_else(|e| panic!("cannot start the {backend} runtime: {e}"))?;
    }
    Ok(())
}

/// Serves a scripted transport of `script`; a timeout fails the case.
async fn serve_script(
    script: Vec<u8>,
    chunks: Vec<usize>,
    read: ReadStyle,
    standard_compatible: bool,
) -> Result<(Outcome, MemoryTransport), TestCaseError> {
    let transport = MemoryTransport::scripted(script, chunks);
    let outcome = serve(&acceptor(standard_compatible), transport.clone(), read)
        .await
        .map_err(|e| TestCaseError::fail(format!("the server did not finish: {e}")))?;
    prop_assert!(
        transport.eof_reports() <= 1,
        "the TLS stream read past the end of its transport {} times",
        transport.eof_reports()
    );
    Ok((outcome, transport))
}

/// What the first record header of `input` says: `Some(true)` if rustls must reject it as
/// it stands, `Some(false)` if the record is incomplete (the transport ends first), `None`
/// if it is a complete, well-formed record.
fn first_record(input: &[u8]) -> Option<bool> {
    let Some(header) = input.get(..5) else {
        return Some(false);
    };
    let (typ, major, len) = (
        header[0],
        header[1],
        u16::from_be_bytes([header[3], header[4]]),
    );
    let rejected = !(20..=24).contains(&typ)
        || major != 3
        || (typ != 23 && len == 0)
        || usize::from(len) >= 16384 + 2048;
    if rejected {
        return Some(true);
    }
    if input.len() < 5 + usize::from(len) {
        return Some(false);
    }
    None
}

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(prop_oneof![0usize..8, 0usize..600], 0..6)
}

fn read_style() -> impl Strategy<Value = ReadStyle> {
    prop_oneof![
        3 => (1usize..64).prop_map(ReadStyle::Receive),
        1 => (1000usize..70000).prop_map(ReadStyle::Receive),
        1 => (1usize..64).prop_map(ReadStyle::AsyncRead),
        1 => (1000usize..70000).prop_map(ReadStyle::AsyncRead),
    ]
}

/// Bytes that often start like a TLS record (a plausible header and length), so that
/// rustls gets past its first checks.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        (
            20u8..=24,
            0u8..=4,
            0u16..700,
            proptest::collection::vec(any::<u8>(), 0..700)
        )
            .prop_map(|(typ, minor, len, body)| {
                let mut bytes = vec![typ, 3, minor];
                bytes.extend_from_slice(&len.to_be_bytes());
                bytes.extend_from_slice(&body);
                bytes
            }),
    ]
}

/// A ClientHello (TLS 1.3 and 1.2, or TLS 1.2 only) recorded from a rustls client.
fn hello(tls12_only: bool) -> Vec<u8> {
    if tls12_only {
        pki().hello12.clone()
    } else {
        pki().hello13.clone()
    }
}

/// Deterministic filler, so large records cost nothing to describe.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed)
        .collect::<Vec<u8>>()
}

fn client_op() -> impl Strategy<Value = ClientOp> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(ClientOp::Data),
        1 => (16000usize..40000, any::<u8>()).prop_map(|(n, seed)| ClientOp::Data(pattern(n, seed))),
        1 => Just(ClientOp::CloseNotify),
        1 => Just(ClientOp::KeyUpdate),
    ]
}

/// Garbage to put on the wire after the handshake: anything, or something shaped like an
/// application data record (which rustls can only reject by failing to decrypt it).
fn raw_op() -> impl Strategy<Value = ClientOp> {
    prop_oneof![
        hostile_bytes(),
        (0u16..600, proptest::collection::vec(any::<u8>(), 0..620)).prop_map(|(len, body)| {
            let mut bytes = vec![23, 3, 3];
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&body);
            bytes
        }),
    ]
    .prop_map(ClientOp::Raw)
}

/// Serves a rustls client that runs `ops` after its handshake, the stream cut after `cut`
/// bytes, and checks the outcome against the model of `expectation`.
async fn serve_client(
    tls12_only: bool,
    ops: Vec<ClientOp>,
    chunks: Vec<usize>,
    cut: Option<usize>,
    read: ReadStyle,
    standard_compatible: bool,
) -> Result<(), TestCaseError> {
    let config = if tls12_only {
        &pki().tls12
    } else {
        &pki().tls13
    };
    let client = ClientPeer::new(client_connection(config, "localhost"), ops);
    let transport = MemoryTransport::with_client(client, chunks, cut);
    let outcome = serve(&acceptor(standard_compatible), transport.clone(), read)
        .await
        .map_err(|e| TestCaseError::fail(format!("the server did not finish: {e}")))?;
    let report = transport.client_report().unwrap();
    let expected = expectation(&report, cut, standard_compatible);
    // Only garbage makes the server send an alert.
    prop_assert!(
        report.error.is_none() || expected.garbage,
        "the client rejected what the server sent: {:?}",
        report.error
    );
    prop_assert!(
        transport.eof_reports() <= 1,
        "the TLS stream read past the end of its transport {} times",
        transport.eof_reports()
    );
    check(&outcome, &expected).map_err(|e| {
        TestCaseError::fail(format!("{e}\nreport: {report:?}\noutcome: {outcome:?}"))
    })?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes never complete a handshake: a header rustls must refuse is a TLS
    /// error, an incomplete first record a broken stream (the transport ended during the
    /// handshake), anything else one of the two.
    #[test]
    fn arbitrary_bytes_fail_the_handshake(
        input in hostile_bytes(),
        chunks in chunks(),
        read in read_style(),
        standard in any::<bool>(),
    ) {
        let first = first_record(&input);
        on_each_backend(|_| {
            let (input, chunks) = (input.clone(), chunks.clone());
            async move {
                let (outcome, _) = serve_script(input, chunks, read, standard).await?;
                prop_assert!(!outcome.accepted, "{outcome:?}");
                let class = outcome.end.class();
                match first {
                    Some(true) => prop_assert_eq!(class, EndClass::Tls, "{:?}", outcome),
                    Some(false) => prop_assert_eq!(class, EndClass::Broken, "{:?}", outcome),
                    None => prop_assert!(
                        matches!(class, EndClass::Tls | EndClass::Broken),
                        "{:?}", outcome
                    ),
                }
                Ok(())
            }
        })?;
    }

    /// A real ClientHello cut anywhere (or whole, with nothing after it) leaves the server
    /// waiting for the rest when the transport ends: a broken stream, never a TLS error.
    #[test]
    fn a_truncated_client_hello_is_a_broken_stream(
        tls12_only in any::<bool>(),
        cut in any::<proptest::sample::Index>(),
        chunks in chunks(),
        read in read_style(),
    ) {
        let hello = hello(tls12_only);
        let cut = cut.index(hello.len() + 1);
        let whole = cut == hello.len();
        on_each_backend(|_| {
            let (input, chunks) = (hello[..cut].to_vec(), chunks.clone());
            async move {
                let (outcome, transport) = serve_script(input, chunks, read, true).await?;
                prop_assert!(!outcome.accepted, "{outcome:?}");
                prop_assert_eq!(outcome.end.class(), EndClass::Broken, "{:?}", outcome);
                // A whole ClientHello is answered before the end is noticed.
                prop_assert_eq!(whole, !transport.sent().is_empty());
                Ok(())
            }
        })?;
    }

    /// A real ClientHello with some bytes changed, and maybe garbage after it, fails the
    /// handshake with a TLS error or (a change rustls accepts, or a longer length) a
    /// broken stream.
    #[test]
    fn a_mutated_client_hello_fails_the_handshake(
        tls12_only in any::<bool>(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), 1u8..=255), 1..5),
        suffix in prop_oneof![Just(Vec::new()), hostile_bytes()],
        chunks in chunks(),
        read in read_style(),
    ) {
        let mut input = hello(tls12_only);
        for (at, xor) in &flips {
            let at = at.index(input.len());
            input[at] ^= xor;
        }
        input.extend_from_slice(&suffix);
        on_each_backend(|_| {
            let (input, chunks) = (input.clone(), chunks.clone());
            async move {
                let (outcome, _) = serve_script(input, chunks, read, true).await?;
                prop_assert!(!outcome.accepted, "{outcome:?}");
                prop_assert!(
                    matches!(outcome.end.class(), EndClass::Tls | EndClass::Broken),
                    "{:?}", outcome
                );
                Ok(())
            }
        })?;
    }

    /// A real client's whole conversation (handshake, data, key updates, close_notify),
    /// cut anywhere: the handshake completes iff the client's handshake messages all
    /// arrived, then exactly the whole data records arrive, then the end the model says.
    #[test]
    fn a_real_client_flight_cut_anywhere_gives_what_the_model_says(
        tls12_only in any::<bool>(),
        ops in proptest::collection::vec(client_op(), 0..6),
        cut in prop_oneof![
            Just(None),
            (0usize..700).prop_map(Some),
            (0usize..3000).prop_map(Some),
            (0usize..50000).prop_map(Some),
        ],
        chunks in chunks(),
        read in read_style(),
        standard in any::<bool>(),
    ) {
        on_each_backend(|_| serve_client(tls12_only, ops.clone(), chunks.clone(), cut, read, standard))?;
    }

    /// Garbage after a completed handshake (between records of real data): the data before
    /// it arrives, then a TLS error, or the end of a cut stream.
    #[test]
    fn garbage_after_the_handshake_fails_the_stream(
        tls12_only in any::<bool>(),
        before in proptest::collection::vec(client_op(), 0..3),
        garbage in raw_op(),
        after in proptest::collection::vec(client_op(), 0..3),
        cut in prop_oneof![Just(None), (0usize..3000).prop_map(Some)],
        chunks in chunks(),
        read in read_style(),
        standard in any::<bool>(),
    ) {
        let mut ops = before;
        ops.push(garbage);
        ops.extend(after);
        on_each_backend(|_| serve_client(tls12_only, ops.clone(), chunks.clone(), cut, read, standard))?;
    }
}

/// The uncut conversation, read in one large receive per record: everything arrives, then
/// the end of the stream, and closing answers the client's close_notify.
#[test]
fn a_whole_conversation_arrives_and_ends_cleanly() {
    for tls12_only in [false, true] {
        let ops = vec![
            ClientOp::Data(b"hello".to_vec()),
            ClientOp::KeyUpdate,
            ClientOp::Data(pattern(40000, 7)),
            ClientOp::CloseNotify,
        ];
        on_each_backend(|_| {
            serve_client(
                tls12_only,
                ops.clone(),
                Vec::new(),
                None,
                ReadStyle::Receive(65536),
                true,
            )
        })
        .unwrap();
    }
}

/// Serves a TLS 1.3 rustls client that runs `ops` after its handshake, over a transport
/// delivering `chunks`, reading with `receive(100)`.
async fn run_client(
    ops: Vec<ClientOp>,
    chunks: Vec<usize>,
) -> (Outcome, memory_transport::ClientReport) {
    let client = ClientPeer::new(client_connection(&pki().tls13, "localhost"), ops);
    let transport = MemoryTransport::with_client(client, chunks, None);
    let outcome = serve(&acceptor(true), transport.clone(), ReadStyle::Receive(100))
        .await
        .expect("the server finishes");
    (outcome, transport.client_report().unwrap())
}

/// A record that looks like application data and cannot be decrypted.
fn bad_record() -> ClientOp {
    let mut bytes = vec![23, 3, 3, 0, 30];
    bytes.extend_from_slice(&[0x5a; 30]);
    ClientOp::Raw(bytes)
}

/// Chunk sizes that deliver the client's ClientHello, then the rest of its handshake
/// messages, then everything after them, each in one piece.
async fn handshake_apart() -> Vec<usize> {
    let hello_len = pki().hello13.len();
    let (_, report) = run_client(vec![], vec![]).await;
    let handshake_end = report.handshake_end.expect("the handshake completes");
    vec![hello_len, handshake_end - hello_len, 0]
}

/// Data and a bad record behind it, in one chunk: the data is received first, then the
/// TLS error (whatever the chunking).
#[test]
fn data_before_a_bad_record_is_received_first() {
    on_each_backend(|_| async {
        let ops = vec![ClientOp::Data(b"hello".to_vec()), bad_record()];
        let (outcome, report) = run_client(ops, handshake_apart().await).await;
        prop_assert!(outcome.accepted, "{outcome:?}");
        prop_assert_eq!(&outcome.plaintext, b"hello");
        prop_assert!(
            matches!(outcome.end, Ending::Tls(rustls::Error::DecryptError)),
            "{:?}",
            outcome
        );
        prop_assert!(report.error.is_none());
        Ok(())
    })
    .unwrap();
}

/// Fuzz regression (the first crash of the `tls_server` target, a gap in the model, not
/// in anyio): rustls refuses a 33rd TLS 1.3 key update request in a row, after the data
/// before it was received; 32, then data, are fine.
#[test]
fn a_33rd_key_update_in_a_row_is_refused() {
    on_each_backend(|_| async {
        let mut ops = vec![ClientOp::Data(b"before".to_vec())];
        ops.extend(std::iter::repeat_n(ClientOp::KeyUpdate, 32));
        ops.push(ClientOp::Data(b" after".to_vec()));
        ops.extend(std::iter::repeat_n(ClientOp::KeyUpdate, 33));
        ops.push(ClientOp::Data(b" never".to_vec()));
        let (outcome, _) = run_client(ops, handshake_apart().await).await;
        prop_assert!(outcome.accepted, "{outcome:?}");
        prop_assert_eq!(&outcome.plaintext, b"before after");
        prop_assert!(
            matches!(
                outcome.end,
                Ending::Tls(rustls::Error::PeerMisbehaved(
                    rustls::PeerMisbehaved::TooManyKeyUpdateRequests
                ))
            ),
            "{:?}",
            outcome
        );
        Ok(())
    })
    .unwrap();
}

/// Regression (found by this file's model): records that arrive in the same chunk as the
/// client's last handshake message belong to `receive`, so a bad one there fails the
/// stream after the data before it, not `accept`, however the bytes were chunked.
#[test]
fn garbage_after_the_handshake_fails_the_stream_not_the_handshake() {
    on_each_backend(|_| async {
        let ops = vec![ClientOp::Data(b"hello".to_vec()), bad_record()];
        let (outcome, _) = run_client(ops, vec![pki().hello13.len(), 0]).await;
        prop_assert!(outcome.accepted, "{outcome:?}");
        prop_assert_eq!(&outcome.plaintext, b"hello");
        prop_assert!(matches!(outcome.end, Ending::Tls(_)), "{:?}", outcome);
        Ok(())
    })
    .unwrap();
}
