//! Property tests of snapshots (a child module of `state_machine`): a real state machine
//! applies random ping batches and builds a snapshot; then
//!
//! - **round trip**: installing those bytes into a fresh machine, or reopening its directory,
//!   gives the same state hash;
//! - **damaged bytes** (flips, cuts, deletions, spliced garbage) given to `install_snapshot`,
//!   or left in `snapshot.bin` / `snapshot.json` for `open`, never panic: a refusal leaves the
//!   machine's state exactly as it was, and a snapshot that still decodes leaves a machine that
//!   hashes and applies further pings (its contents are structurally valid rkyv, so they are
//!   accepted as they are: snapshots come from peers of the same group over authenticated RPC).
//!
//! `MERIDIAN_FUZZ_SCALE=<k>` runs `k` times the CI cases, `PROPTEST_CASES=<n>` runs `n` (the
//! long fuzz runs, see README).

use super::*;
use crate::{LoggedPing, PingBatch};
use openraft::{CommittedLeaderId, Entry, RaftSnapshotBuilder};
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

const T0: i64 = 1_800_000_000_000;

fn batches() -> impl Strategy<Value = Vec<Vec<LoggedPing>>> {
    let ping = (
        0..6u64,
        1..300u64,
        0..600_000i64,
        prop::option::of((0..4u32, 0..50u32)),
        prop::option::of(0.0..130f32),
    )
        .prop_map(|(device, seq, dt, edge, speed_kmh)| LoggedPing {
            device,
            seq,
            ts_ms: T0 + dt,
            lat: 47.14,
            lon: 9.52,
            edge,
            speed_kmh,
        });
    prop::collection::vec(prop::collection::vec(ping, 1..20), 1..5)
}

#[derive(Clone, Debug)]
enum Damage {
    Flip(usize, u8),
    Cut(usize),
    Delete(usize, usize),
    Splice(usize, Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => (any::<usize>(), 1..=255u8).prop_map(|(a, m)| Damage::Flip(a, m)),
        1 => any::<usize>().prop_map(Damage::Cut),
        1 => (any::<usize>(), 1..32usize).prop_map(|(a, n)| Damage::Delete(a, n)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(a, b)| Damage::Splice(a, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, d: &Damage) {
    let n = bytes.len().max(1);
    match d {
        Damage::Flip(at, m) if !bytes.is_empty() => bytes[at % n] ^= m,
        Damage::Cut(at) => bytes.truncate(at % n),
        Damage::Delete(at, len) if !bytes.is_empty() => {
            let at = at % n;
            bytes.drain(at..(at + len).min(bytes.len()));
        }
        Damage::Splice(at, b) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        _ => {}
    }
}

fn machine(dir: &Path) -> StateMachine {
    StateMachine::open(dir, Arc::new(TrafficState::default())).unwrap()
}

fn entry(index: u64, pings: Vec<LoggedPing>) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(PingBatch { pings }),
    }
}

/// A machine that applies one more batch after a snapshot was installed must not panic.
async fn still_applies(sm: &mut StateMachine) {
    let next = sm.state.last_applied().map_or(1, |l| l.index + 1);
    let pings = (1..4).map(|s| LoggedPing {
        device: 3,
        seq: s,
        ts_ms: T0,
        lat: 47.14,
        lon: 9.52,
        edge: Some((0, 1)),
        speed_kmh: Some(40.0),
    });
    sm.apply([entry(next, pings.collect())]).await.unwrap();
    let _ = sm.state.state_hash();
}

#[test]
fn properties_snapshots_round_trip_and_damaged_ones_are_refused_cleanly() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (installed, refused) = (
        std::sync::atomic::AtomicU64::new(0),
        std::sync::atomic::AtomicU64::new(0),
    );
    let mut runner = TestRunner::new(config(64));
    let case = (
        batches(),
        prop::collection::vec(prop::collection::vec(damage(), 1..3), 1..6),
    );
    runner
        .run(&case, |(batches, damages)| {
            rt.block_on(async {
                let src = tempfile::tempdir().unwrap();
                let mut sm = machine(src.path());
                for (i, b) in batches.into_iter().enumerate() {
                    sm.apply([entry(i as u64 + 1, b)]).await.unwrap();
                }
                let hash = sm.state.state_hash();
                let snap = sm
                    .get_snapshot_builder()
                    .await
                    .build_snapshot()
                    .await
                    .unwrap();
                let (meta, bytes) = (snap.meta.clone(), snap.snapshot.into_inner());

                // Round trip, over the wire and from disk.
                let dir = tempfile::tempdir().unwrap();
                let mut fresh = machine(dir.path());
                fresh
                    .install_snapshot(&meta, Box::new(Cursor::new(bytes.clone())))
                    .await
                    .unwrap();
                prop_assert_eq!(&fresh.state.state_hash(), &hash);
                prop_assert_eq!(&machine(src.path()).state.state_hash(), &hash);

                let meta_json = std::fs::read(src.path().join(SNAPSHOT_META)).unwrap();
                for ds in &damages {
                    let mut bad = bytes.clone();
                    for d in ds {
                        apply(&mut bad, d);
                    }
                    // Installed into a machine with state of its own.
                    let dir = tempfile::tempdir().unwrap();
                    let mut target = machine(dir.path());
                    still_applies(&mut target).await;
                    let before = target.state.state_hash();
                    match target
                        .install_snapshot(&meta, Box::new(Cursor::new(bad.clone())))
                        .await
                    {
                        Err(_) => {
                            prop_assert_eq!(target.state.state_hash(), before, "{:?}", ds);
                            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Ok(()) => {
                            still_applies(&mut target).await;
                            installed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    // Left on disk: data or meta damaged.
                    for which in [SNAPSHOT_DATA, SNAPSHOT_META] {
                        let dir = tempfile::tempdir().unwrap();
                        let (data, meta) = if which == SNAPSHOT_DATA {
                            (bad.clone(), meta_json.clone())
                        } else {
                            let mut m = meta_json.clone();
                            for d in ds {
                                apply(&mut m, d);
                            }
                            (bytes.clone(), m)
                        };
                        std::fs::write(dir.path().join(SNAPSHOT_DATA), data).unwrap();
                        std::fs::write(dir.path().join(SNAPSHOT_META), meta).unwrap();
                        if let Ok(mut sm) =
                            StateMachine::open(dir.path(), Arc::new(TrafficState::default()))
                        {
                            still_applies(&mut sm).await;
                        }
                    }
                }
                Ok(())
            })
        })
        .unwrap();
    let (installed, refused) = (installed.into_inner(), refused.into_inner());
    eprintln!("damaged snapshots: {installed} installed, {refused} refused");
    assert!(refused > 0);
}
