//! Property tests of the websocket ingest's decoding (a child module of `ingest`, so it calls
//! the same private decoder and validator the connection handler does):
//!
//! - any text frame, random or a mutation of a valid message (byte flips, cuts, splices of
//!   JSON pieces), is either refused by the JSON decoder with an error (the handler answers
//!   `InvalidMessage`) or decodes to a message; never a panic;
//! - every ping that decodes, from JSON or from a binary frame, is either refused by
//!   `validate` with one of the documented codes or has all its fields in the documented
//!   ranges (seq ≥ 1, finite coordinates in range, timestamp within the window, speed,
//!   heading and accuracy finite and in range).
//!
//! `MERIDIAN_FUZZ_SCALE=<k>` runs each with `k` times its CI cases, `PROPTEST_CASES=<n>` with
//! `n` (the long fuzz runs, see README).

use super::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// `ci` cases, times `MERIDIAN_FUZZ_SCALE` when set; `PROPTEST_CASES` overrides both (the
/// long fuzz runs).
fn config(ci: u32) -> Config {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
    let scale = env("MERIDIAN_FUZZ_SCALE").unwrap_or(1);
    let cases = env("PROPTEST_CASES").unwrap_or(ci.saturating_mul(scale));
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

const NOW: i64 = 1_800_000_000_000;

const CODES: &[&str] = &[
    "InvalidSeq",
    "InvalidCoordinate",
    "InvalidTimestamp",
    "TimestampBackwards",
    "InvalidSpeed",
    "InvalidHeading",
    "InvalidAccuracy",
];

/// Valid frames of every kind, the seeds of the mutations.
fn valid_frames() -> Vec<String> {
    vec![
        r#"{"type":"auth","device":42,"token":"00ff"}"#.into(),
        format!(
            r#"{{"type":"ping","seq":1,"ts":{NOW},"lat":41.15,"lon":-8.61,"speed":12.5,"heading":90,"accuracy":5}}"#
        ),
        format!(r#"{{"type":"ping","seq":7,"ts":{NOW},"lat":-33.87,"lon":151.2}}"#),
        format!(
            r#"{{"type":"pings","pings":[{{"seq":2,"ts":{NOW},"lat":0,"lon":0}},{{"seq":3,"ts":{},"lat":90,"lon":-180,"speed":0}}]}}"#,
            NOW + 1000
        ),
        r#"{"type":"navigate","destination":{"lat":41.16,"lon":-8.6}}"#.into(),
        r#"{"type":"end_navigation"}"#.into(),
    ]
}

const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "-",
    "e",
    "1e999",
    "-1",
    "0.0",
    "NaN",
    "Infinity",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775809",
    "\"type\":\"ping\"",
    "\"type\":\"pings\"",
    "\"seq\":0",
    "\"lat\":",
    "\"speed\":",
    "\"heading\":-0",
    "\"accuracy\":1e38",
    "\"ts\":",
    "\u{e9}",
    " ",
];

fn mutated_frame() -> impl Strategy<Value = Vec<u8>> {
    let splice = prop_oneof![
        prop::sample::select(PIECES).prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 1..6),
    ];
    let edit = prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, m)| (0u8, at, vec![m])),
        any::<usize>().prop_map(|at| (1u8, at, vec![])),
        (any::<usize>(), splice).prop_map(|(at, s)| (2u8, at, s)),
    ];
    (
        prop::sample::select(valid_frames()),
        prop::collection::vec(edit, 1..4),
    )
        .prop_map(|(frame, edits)| {
            let mut b = frame.into_bytes();
            for (kind, at, s) in edits {
                let n = b.len().max(1);
                match kind {
                    0 if !b.is_empty() => b[at % n] ^= s[0],
                    1 => b.truncate(at % n),
                    2 => {
                        let at = at % (b.len() + 1);
                        b.splice(at..at, s);
                    }
                    _ => {}
                }
            }
            b
        })
}

/// `validate`'s promise for one ping.
fn check_ping(p: &PingMessage) -> Result<(), TestCaseError> {
    for last in [None, Some(NOW)] {
        match validate(p, last, NOW) {
            Err(Refused { code, message }) => {
                prop_assert!(CODES.contains(&code), "unknown code {}", code);
                prop_assert!(!message.is_empty());
            }
            Ok(()) => {
                prop_assert!(p.seq >= 1);
                prop_assert!(p.lat.is_finite() && (-90.0..=90.0).contains(&p.lat));
                prop_assert!(p.lon.is_finite() && (-180.0..=180.0).contains(&p.lon));
                prop_assert!(p.ts >= NOW - MAX_AGE_MS && p.ts <= NOW + MAX_FUTURE_MS);
                prop_assert!(last.is_none_or(|l| p.ts >= l));
                prop_assert!(p.speed.is_none_or(|s| (0.0..=MAX_SPEED_MS).contains(&s)));
                prop_assert!(p.heading.is_none_or(|h| (0.0..=360.0).contains(&h)));
                prop_assert!(p.accuracy.is_none_or(|a| a.is_finite() && a >= 0.0));
            }
        }
    }
    Ok(())
}

/// Decodes a text frame as the handler does and checks every ping in it.
fn check_text(bytes: &[u8]) -> Result<bool, TestCaseError> {
    // A websocket text frame is UTF-8 (tungstenite refuses others before us).
    let text = String::from_utf8_lossy(bytes);
    match serde_json::from_str::<ClientMessage>(&text) {
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            Ok(false)
        }
        Ok(ClientMessage::Ping(p)) => check_ping(&p).map(|_| true),
        Ok(ClientMessage::Pings { pings }) => {
            for p in &pings {
                check_ping(p)?;
            }
            Ok(true)
        }
        Ok(_) => Ok(true),
    }
}

#[test]
fn properties_valid_text_frames_decode() {
    for f in valid_frames() {
        assert!(check_text(f.as_bytes()).unwrap(), "{f}");
    }
}

#[test]
fn properties_mutated_text_frames_decode_or_are_refused() {
    let decoded = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(config(2048));
    runner
        .run(&mutated_frame(), |bytes| {
            if check_text(&bytes)? {
                decoded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        })
        .unwrap();
    // The mutations must not all be refused at the first byte: some still decode.
    assert!(decoded.into_inner() > 0);
}

#[test]
fn properties_random_text_frames_decode_or_are_refused() {
    let mut runner = TestRunner::new(config(2048));
    let text = prop_oneof![
        any::<String>().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..64),
        r#"\{"type":"(ping|pings|auth)"[,:"a-z0-9.eE+\-\[\]{}]{0,60}"#.prop_map(String::into_bytes),
    ];
    runner
        .run(&text, |bytes| check_text(&bytes).map(|_| ()))
        .unwrap();
}

#[test]
fn properties_binary_frame_pings_are_validated() {
    let mut runner = TestRunner::new(config(2048));
    let frame =
        (1..4usize).prop_flat_map(|n| prop::collection::vec(any::<u8>(), n * BINARY_PING_BYTES));
    runner
        .run(&frame, |bytes| {
            let pings = decode_binary_pings(&bytes).expect("whole records decode");
            for p in &pings {
                check_ping(p)?;
            }
            Ok(())
        })
        .unwrap();
}
