//! rstest's cases with `#[anyio::test]`: with `#[rstest]` above or below it, each case runs
//! on every backend, as with `#[tokio::test]`; `#[ignore]`d parameters are anyio fixtures.

use anyio::{Backend, BoxError};
use rstest::rstest;

#[rstest]
#[case(1, 2)]
#[case(20, 40)]
#[anyio::test]
async fn rstest_above(#[case] input: u32, #[case] doubled: u32) -> Result<(), BoxError> {
    anyio::checkpoint().await?;
    assert_eq!(input * 2, doubled);
    Ok(())
}

#[anyio::test(tokio(current_thread), smol)]
#[rstest]
#[case::small(3, 6)]
#[case::large(30, 60)]
async fn rstest_below(#[case] input: u32, #[case] doubled: u32) {
    anyio::checkpoint().await.unwrap();
    assert_eq!(input * 2, doubled);
}

#[rstest]
#[anyio::test]
async fn rstest_values(#[values(5, 6)] input: u32) {
    assert!((5..=6).contains(&input));
}

#[rstest]
#[case(7)]
#[anyio::test]
#[should_panic(expected = "odd")]
async fn rstest_keeps_should_panic(#[case] input: u32) {
    anyio::checkpoint().await.unwrap();
    assert!(input % 2 == 0, "odd");
}

/// Runs the cases above in a child process, so that every one of them has run, on each
/// backend, before the record is read.
#[test]
fn every_case_runs_on_every_backend() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["rstest_", "--test-threads=1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for name in [
        "rstest_above::case_1::tokio",
        "rstest_above::case_2::smol",
        "rstest_below::case_1_small::tokio",
        "rstest_below::case_2_large::smol",
        "rstest_values::input_1_5::tokio",
        "rstest_values::input_2_6::smol",
        "rstest_keeps_should_panic::case_1::smol - should panic",
        "rstest_with_anyio_fixtures::case_1::tokio",
        "rstest_with_anyio_fixtures::case_2::smol",
    ] {
        assert!(
            stdout.contains(&format!("test {name} ... ok")),
            "{name}: {stdout}"
        );
    }
    assert!(stdout.contains("test result: ok. 18 passed"), "{stdout}");
}

/// A fixture of anyio's, for the cases below.
#[anyio::fixture]
async fn answer() -> u32 {
    42
}

/// rstest leaves the parameters it is told to `#[ignore]` on each case's function, where
/// `#[anyio::test]` sets them up as fixtures (and `backend` as the backend).
#[rstest]
#[case(1)]
#[case(2)]
#[anyio::test]
async fn rstest_with_anyio_fixtures(
    #[case] input: u32,
    #[ignore] answer: u32,
    #[ignore] backend: Backend,
) {
    assert_eq!(answer, 42);
    assert!(matches!(input, 1 | 2));
    assert_eq!(anyio::current_backend(), Ok(backend));
}
