//! Name resolution on every backend: `getaddrinfo` (hints, IDNA, errors, scope ids) and
//! `getnameinfo`. Nothing here needs a network: names resolve from /etc/hosts, numeric
//! hosts resolve locally, and the names that must fail end in `.invalid`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyio::net::{
    AddrInfoFlags, AddrInfoOptions, AddressFamily, GaiError, NameInfoFlags, SocketType,
    getaddrinfo, getnameinfo,
};
use anyio::{BoxError, is_cancelled};

fn gai_error(err: &io::Error) -> &GaiError {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<GaiError>())
        .unwrap_or_else(|| panic!("not a resolver error: {err:?}"))
}

/// Asserts that `err` is the resolver's answer for a name that does not exist: `NotFound`,
/// `EAI_NONAME` (or `EAI_NODATA`), its message naming `name`. A machine whose resolver
/// cannot be reached answers "temporary failure" (`EAI_AGAIN`) instead, which is accepted.
fn assert_unresolvable(err: &io::Error, name: &str) {
    let msg = err.to_string();
    assert!(msg.contains(&format!("{name:?}")), "{msg}");
    let code = gai_error(err).code();
    if code == libc::EAI_AGAIN {
        return;
    }
    assert!(
        code == libc::EAI_NONAME || code == libc::EAI_NODATA,
        "unexpected code {code}: {msg}"
    );
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{msg}");
}

#[anyio::test]
async fn localhost_resolves_to_loopback_addresses() -> Result<(), BoxError> {
    let options = AddrInfoOptions::new().socket_type(SocketType::STREAM);
    let found = getaddrinfo("localhost", 8080, options).await?;
    assert!(!found.is_empty());
    for info in &found {
        assert!(info.addr.ip().is_loopback(), "{info:?}");
        assert_eq!(info.addr.port(), 8080);
        assert_eq!(info.socket_type, SocketType::STREAM);
        let family = match info.addr {
            SocketAddr::V4(_) => AddressFamily::Ipv4,
            SocketAddr::V6(_) => AddressFamily::Ipv6,
        };
        assert_eq!(info.family, family);
    }
    Ok(())
}

#[anyio::test]
async fn a_numeric_host_resolves_to_itself() -> Result<(), BoxError> {
    let options = AddrInfoOptions::new()
        .socket_type(SocketType::DATAGRAM)
        .flags(AddrInfoFlags::NUMERICHOST);
    let found = getaddrinfo("127.0.0.1", 53, options).await?;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].addr, "127.0.0.1:53".parse::<SocketAddr>()?);
    assert_eq!(found[0].family, AddressFamily::Ipv4);
    assert_eq!(found[0].socket_type, SocketType::DATAGRAM);
    assert_eq!(found[0].protocol, libc::IPPROTO_UDP);
    assert_eq!(found[0].canonical_name, None);

    let found = getaddrinfo("::1", 80, options).await?;
    assert!(found.iter().all(|i| i.addr == "[::1]:80".parse().unwrap()));
    assert!(found.iter().all(|i| i.family == AddressFamily::Ipv6));
    Ok(())
}

#[anyio::test]
async fn numerichost_refuses_a_name() -> Result<(), BoxError> {
    let options = AddrInfoOptions::new().flags(AddrInfoFlags::NUMERICHOST);
    let err = getaddrinfo("localhost", 80, options).await.unwrap_err();
    assert_eq!(gai_error(&err).code(), libc::EAI_NONAME);
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    Ok(())
}

#[anyio::test]
async fn a_family_hint_filters_the_results() -> Result<(), BoxError> {
    let v4 = AddrInfoOptions::new().family(AddressFamily::Ipv4);
    let found = getaddrinfo("localhost", 80, v4).await?;
    assert!(!found.is_empty());
    assert!(
        found
            .iter()
            .all(|i| i.addr.is_ipv4() && i.family == AddressFamily::Ipv4)
    );

    // Without a socket type, each address may come once per type; with one, once.
    let any = getaddrinfo("127.0.0.1", 80, v4).await?;
    let stream = getaddrinfo("127.0.0.1", 80, v4.socket_type(SocketType::STREAM)).await?;
    assert!(any.len() >= stream.len());
    assert_eq!(stream.len(), 1);
    assert_eq!(stream[0].protocol, libc::IPPROTO_TCP);

    // An IPv6 literal cannot be an IPv4 address.
    let err = getaddrinfo("::1", 80, v4.flags(AddrInfoFlags::NUMERICHOST))
        .await
        .unwrap_err();
    gai_error(&err);
    Ok(())
}

#[anyio::test]
async fn service_names_and_passive_lookups() -> Result<(), BoxError> {
    // A numeric service as text, and no host at all.
    let options = AddrInfoOptions::new()
        .family(AddressFamily::Ipv4)
        .socket_type(SocketType::STREAM);
    let found = getaddrinfo(None, "8080", options).await?;
    assert_eq!(found[0].addr, "127.0.0.1:8080".parse::<SocketAddr>()?);
    let found = getaddrinfo(None, 8080, options.flags(AddrInfoFlags::PASSIVE)).await?;
    assert_eq!(found[0].addr, "0.0.0.0:8080".parse::<SocketAddr>()?);

    let err = getaddrinfo("127.0.0.1", "no-such-service", options)
        .await
        .unwrap_err();
    assert_eq!(gai_error(&err).code(), libc::EAI_SERVICE);
    assert!(err.to_string().contains("\"127.0.0.1\""), "{err}");
    Ok(())
}

#[anyio::test]
async fn the_canonical_name_comes_with_the_first_result() -> Result<(), BoxError> {
    let options = AddrInfoOptions::new()
        .socket_type(SocketType::STREAM)
        .flags(AddrInfoFlags::CANONNAME);
    let found = getaddrinfo("localhost", 80, options).await?;
    assert!(
        found[0]
            .canonical_name
            .as_deref()
            .is_some_and(|n| !n.is_empty())
    );
    assert!(found[1..].iter().all(|i| i.canonical_name.is_none()));
    Ok(())
}

#[cfg(feature = "idna")]
#[anyio::test]
async fn an_internationalised_name_is_looked_up_in_idna_form() -> Result<(), BoxError> {
    let err = getaddrinfo("bücher.invalid", 80, AddrInfoOptions::new())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("xn--bcher-kva.invalid"), "{msg}");
    assert_unresolvable(&err, "bücher.invalid");
    assert_eq!(gai_error(&err).host(), Some("bücher.invalid"));

    // UTS 46 maps before encoding: upper case folds, as the IDNA 2008 rules want.
    let err = getaddrinfo("BÜCHER.invalid", 80, AddrInfoOptions::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("xn--bcher-kva.invalid"), "{err}");
    Ok(())
}

/// Built without the `idna` feature, an internationalised name is refused before the
/// resolver sees it, with the reason; ASCII names still resolve.
#[cfg(not(feature = "idna"))]
#[anyio::test]
async fn an_internationalised_name_needs_the_idna_feature() -> Result<(), BoxError> {
    let err = getaddrinfo("bücher.invalid", 80, AddrInfoOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "invalid host name \"bücher.invalid\": internationalised domain names need anyio's \
         `idna` feature"
    );
    let found = getaddrinfo("localhost", 80, AddrInfoOptions::new()).await?;
    assert!(!found.is_empty());
    Ok(())
}

#[anyio::test]
async fn bad_host_names_are_invalid_input() -> Result<(), BoxError> {
    let err = getaddrinfo("local\0host", 80, AddrInfoOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("\"local\\0host\""), "{err}");

    let err = getaddrinfo("bü\0cher", 80, AddrInfoOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);

    // Not a valid internationalised name: a label that is only a combining mark.
    let err = getaddrinfo("\u{0301}.example", 80, AddrInfoOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("invalid host name ") && msg.contains(".example"),
        "{msg}"
    );

    let err = getaddrinfo("localhost", "ht\0tp", AddrInfoOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    Ok(())
}

#[anyio::test]
async fn a_name_that_does_not_exist_is_not_found() -> Result<(), BoxError> {
    let err = getaddrinfo("nonexistent.invalid", 80, AddrInfoOptions::new())
        .await
        .unwrap_err();
    assert_unresolvable(&err, "nonexistent.invalid");
    assert!(
        err.to_string()
            .starts_with("failed to resolve \"nonexistent.invalid\": "),
        "{err}"
    );
    assert_eq!(gai_error(&err).host(), Some("nonexistent.invalid"));
    Ok(())
}

#[anyio::test]
async fn an_ipv6_scope_id_is_kept() -> Result<(), BoxError> {
    let options = AddrInfoOptions::new()
        .socket_type(SocketType::STREAM)
        .flags(AddrInfoFlags::NUMERICHOST);
    // Interface 1 is the loopback interface on Linux; elsewhere the literal may be
    // refused, which is the platform's choice, not ours.
    let mut accepted = 0;
    for literal in ["fe80::1%lo", "fe80::1%1"] {
        let Ok(found) = getaddrinfo(literal, 80, options).await else {
            continue;
        };
        accepted += 1;
        let SocketAddr::V6(addr) = found[0].addr else {
            panic!("not IPv6: {found:?}");
        };
        assert_eq!(addr.ip(), &"fe80::1".parse::<std::net::Ipv6Addr>()?);
        assert_ne!(addr.scope_id(), 0, "{literal}: {found:?}");
    }
    if cfg!(target_os = "linux") {
        assert_eq!(accepted, 2);
    }
    Ok(())
}

#[anyio::test]
async fn getnameinfo_numeric() -> Result<(), BoxError> {
    let flags = NameInfoFlags::NUMERICHOST | NameInfoFlags::NUMERICSERV;
    let addr: SocketAddr = "127.0.0.1:80".parse()?;
    assert_eq!(
        getnameinfo(addr, flags).await?,
        ("127.0.0.1".to_owned(), "80".to_owned())
    );
    let addr: SocketAddr = "[::1]:8080".parse()?;
    assert_eq!(
        getnameinfo(addr, flags).await?,
        ("::1".to_owned(), "8080".to_owned())
    );
    Ok(())
}

#[anyio::test]
async fn getnameinfo_looks_names_up() -> Result<(), BoxError> {
    // 127.0.0.1 is "localhost" (or another name of /etc/hosts); the service is a name or
    // the port.
    let addr = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), 80);
    let (host, service) = getnameinfo(addr, NameInfoFlags::empty()).await?;
    assert!(!host.is_empty());
    assert!(service == "http" || service == "80", "{service}");

    // TEST-NET-1 has no name: with NAMEREQD that is an error naming the address.
    let addr = SocketAddr::new(IpAddr::from([192, 0, 2, 1]), 80);
    let err = getnameinfo(addr, NameInfoFlags::NAMEREQD | NameInfoFlags::NUMERICSERV)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("192.0.2.1:80"), "{err}");
    assert_eq!(gai_error(&err).host(), Some("192.0.2.1:80"));
    Ok(())
}

#[anyio::test]
async fn lookups_go_through_the_thread_limiter() -> Result<(), BoxError> {
    // With the only worker token held, a lookup waits for it, and a cancellation ends the
    // wait.
    let limiter = anyio::to_thread::current_default_thread_limiter();
    limiter.set_total_tokens(1)?;
    let token = limiter.acquire().await?;
    let out = anyio::fail_after(
        Duration::from_millis(50),
        getaddrinfo("localhost", 80, AddrInfoOptions::new()),
    )
    .await;
    let err = out.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(!is_cancelled(&err));
    drop(token);
    assert!(
        !getaddrinfo("localhost", 80, AddrInfoOptions::new())
            .await?
            .is_empty()
    );
    Ok(())
}

#[test]
fn the_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    assert_send(getaddrinfo("localhost", 80, AddrInfoOptions::new()));
    assert_send(getaddrinfo(None, "http", AddrInfoOptions::new()));
    assert_send(getnameinfo(
        "127.0.0.1:80".parse().unwrap(),
        NameInfoFlags::empty(),
    ));
}

#[test]
fn flags_combine_and_print() {
    let flags = AddrInfoFlags::PASSIVE | AddrInfoFlags::ADDRCONFIG;
    assert!(flags.contains(AddrInfoFlags::PASSIVE));
    assert!(!flags.contains(AddrInfoFlags::CANONNAME));
    assert_eq!(flags.bits(), libc::AI_PASSIVE | libc::AI_ADDRCONFIG);
    assert_eq!(format!("{flags:?}"), "AddrInfoFlags(PASSIVE | ADDRCONFIG)");
    assert_eq!(
        format!("{:?}", NameInfoFlags::empty()),
        "NameInfoFlags(0x0)"
    );
    let mut ni = NameInfoFlags::NUMERICHOST;
    ni |= NameInfoFlags::DGRAM;
    assert_eq!(ni.bits(), libc::NI_NUMERICHOST | libc::NI_DGRAM);
    assert_eq!(format!("{:?}", SocketType::STREAM), "STREAM");
}

/// Set in the child process of
/// [`out_of_descriptors_is_reported_as_such_not_as_an_unknown_name`].
#[cfg(target_os = "linux")]
const EMFILE_CHILD_ENV: &str = "ANYIO_DNS_EMFILE_CHILD";

/// In the child process only: uses up the descriptors, then resolves "localhost" and
/// prints what the error says.
#[cfg(target_os = "linux")]
#[anyio::test]
async fn probe_getaddrinfo_out_of_descriptors() -> Result<(), BoxError> {
    if std::env::var_os(EMFILE_CHILD_ENV).is_none() {
        return Ok(());
    }
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => held.push(file),
            Err(err) => {
                assert_eq!(err.raw_os_error(), Some(libc::EMFILE));
                break;
            }
        }
    }
    let err = getaddrinfo("localhost", 80, AddrInfoOptions::new())
        .await
        .unwrap_err();
    drop(held);
    use anyio::stream::IoErrorExt;
    let raw = err.os_error().and_then(io::Error::raw_os_error);
    println!("RESULT raw={raw:?} kind={:?} msg={err}", err.kind());
    Ok(())
}

#[cfg(target_os = "linux")]
#[test]
fn out_of_descriptors_is_reported_as_such_not_as_an_unknown_name() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "probe_getaddrinfo_out_of_descriptors::tokio",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(EMFILE_CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find("RESULT").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no result: {stdout}"));
    assert!(
        line.contains(&format!("raw=Some({})", libc::EMFILE)),
        "{line}"
    );
    assert!(line.contains("failed to resolve \"localhost\""), "{line}");
    assert!(!line.contains("Name or service not known"), "{line}");
}

#[anyio::test]
async fn a_long_host_name_is_cut_in_error_messages() -> Result<(), BoxError> {
    let host = format!("start{}\0{}end", "h".repeat(50_000), "h".repeat(50_000));
    let err = getaddrinfo(host.as_str(), 80, AddrInfoOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let msg = err.to_string();
    assert!(msg.len() < 400, "{} bytes", msg.len());
    assert!(msg.starts_with("invalid host name \"starthhh"), "{msg}");
    assert!(msg.contains("hhhend\": it contains a NUL byte"), "{msg}");
    Ok(())
}

#[cfg(target_os = "linux")]
#[anyio::test]
async fn scope_ids_resolve_alike_on_every_ipv6_literal() -> Result<(), BoxError> {
    let options = AddrInfoOptions::new().socket_type(SocketType::STREAM);
    for (literal, ip) in [
        ("::1%lo", "::1"),
        ("::1%1", "::1"),
        ("fe80::1%lo", "fe80::1"),
        ("fe80::1%1", "fe80::1"),
        ("2001:db8::1%lo", "2001:db8::1"),
    ] {
        for options in [options, options.flags(AddrInfoFlags::NUMERICHOST)] {
            let found = getaddrinfo(literal, 80, options).await?;
            let SocketAddr::V6(addr) = found[0].addr else {
                panic!("not IPv6: {found:?}");
            };
            assert_eq!(addr.ip(), &ip.parse::<std::net::Ipv6Addr>()?, "{literal}");
            assert_eq!(addr.scope_id(), 1, "{literal}: the loopback interface");
        }
    }
    // An interface that does not exist is the resolver's error, as before.
    let err = getaddrinfo("::1%nosuchif0", 80, options).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("\"::1%nosuchif0\""), "{err}");
    Ok(())
}
