//! Property test of log recovery (a child module of `log_store`, so it can name the files):
//! a real store writes a random history (appends, truncations, purges, votes, committed ids)
//! to a temp dir and is closed; then the log and its synced mark are damaged (byte flips, cuts,
//! deleted runs, spliced garbage, a lost mark) and the store is opened again. The promise:
//!
//! - `open` never panics: it refuses with an error, or opens;
//! - when it opens, its state (entries, vote, committed id, last purged id) is exactly the
//!   state after some prefix of the records written: nothing that was not written, nothing
//!   out of order, no gap;
//! - when the synced mark is intact (it covers the whole file after the clean close), the
//!   state is the full history: a damaged synced log is refused, never cut.
//!
//! `MERIDIAN_FUZZ_SCALE=<k>` runs `k` times the CI cases, `PROPTEST_CASES=<n>` runs `n` (the
//! long fuzz runs, see README).

use super::*;
use openraft::storage::RaftLogStorageExt;
use openraft::{CommittedLeaderId, Entry, EntryPayload};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::io::Cursor;

openraft::declare_raft_types!(
    pub TC: D = String, R = ()
);

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

/// An operation, as indexes into the model's live state (interpreted by [`run`]).
#[derive(Clone, Debug)]
enum Op {
    Append(usize, u8),
    Truncate(usize),
    Purge(usize),
    Vote,
    Committed(usize),
}

/// A store's state as a test reads it back.
#[derive(Clone, Debug, Default, PartialEq)]
struct State {
    entries: Vec<(u64, u64, String)>,
    vote: Option<Vote<u64>>,
    committed: Option<LogId<u64>>,
    last_purged: Option<LogId<u64>>,
}

fn lid(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// Runs `ops` on a fresh store in `dir` and returns the model state after each record.
async fn run(dir: &Path, ops: &[Op]) -> Vec<State> {
    let mut store = FileLogStore::<TC>::open(dir).await.unwrap();
    let mut s = State::default();
    let mut states = vec![s.clone()];
    let mut term = 1;
    for op in ops {
        match *op {
            Op::Append(n, tag) => {
                let next = s
                    .entries
                    .last()
                    .map(|e| e.1)
                    .or(s.last_purged.map(|l| l.index));
                let first = next.map_or(0, |i| i + 1);
                let mut batch = Vec::new();
                for index in first..first + n as u64 {
                    let data = format!("ping-{tag}-{index}-{}", "x".repeat(usize::from(tag % 9)));
                    batch.push(Entry {
                        log_id: lid(term, index),
                        payload: EntryPayload::Normal(data.clone()),
                    });
                    s.entries.push((term, index, data));
                    states.push(s.clone());
                }
                store.blocking_append(batch).await.unwrap();
            }
            Op::Truncate(pick) if !s.entries.is_empty() => {
                let (t, index, _) = s.entries[pick % s.entries.len()].clone();
                store.truncate(lid(t, index)).await.unwrap();
                s.entries.retain(|e| e.1 < index);
                states.push(s.clone());
                // A new leader's entries after a truncation.
                term += 1;
            }
            Op::Purge(pick) if !s.entries.is_empty() => {
                let (t, index, _) = s.entries[pick % s.entries.len()].clone();
                store.purge(lid(t, index)).await.unwrap();
                s.entries.retain(|e| e.1 > index);
                s.last_purged = Some(lid(t, index));
                states.push(s.clone());
            }
            Op::Vote => {
                term += 1;
                let v = Vote::new(term, 1);
                store.save_vote(&v).await.unwrap();
                s.vote = Some(v);
                states.push(s.clone());
            }
            Op::Committed(pick) if !s.entries.is_empty() => {
                let (t, index, _) = s.entries[pick % s.entries.len()].clone();
                store.save_committed(Some(lid(t, index))).await.unwrap();
                s.committed = Some(lid(t, index));
                states.push(s.clone());
            }
            _ => {}
        }
    }
    store.flush().await.unwrap();
    states
}

async fn read_state(store: &mut FileLogStore<TC>) -> State {
    let entries = store
        .try_get_log_entries(..)
        .await
        .unwrap()
        .iter()
        .map(|e| match &e.payload {
            EntryPayload::Normal(d) => (e.log_id.leader_id.term, e.log_id.index, d.clone()),
            other => panic!("an entry that was never written: {other:?}"),
        })
        .collect();
    State {
        entries,
        vote: store.read_vote().await.unwrap(),
        committed: store.read_committed().await.unwrap(),
        last_purged: store.get_log_state().await.unwrap().last_purged_log_id,
    }
}

/// A change to the log file.
#[derive(Clone, Debug)]
enum Damage {
    Flip(usize, u8),
    Cut(usize),
    Delete(usize, usize),
    Splice(usize, Vec<u8>),
    /// Garbage after the end (a torn write).
    Tail(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => (any::<usize>(), 1..=255u8).prop_map(|(a, m)| Damage::Flip(a, m)),
        2 => any::<usize>().prop_map(Damage::Cut),
        1 => (any::<usize>(), 1..64usize).prop_map(|(a, n)| Damage::Delete(a, n)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(a, b)| Damage::Splice(a, b)),
        1 => prop::collection::vec(any::<u8>(), 1..200).prop_map(Damage::Tail),
    ]
}

fn apply(bytes: &mut Vec<u8>, d: &Damage) {
    let n = bytes.len();
    match d {
        Damage::Flip(at, m) => bytes[at % n] ^= m,
        Damage::Cut(at) => bytes.truncate(at % n),
        Damage::Delete(at, len) => {
            let at = at % n;
            bytes.drain(at..(at + len).min(n));
        }
        Damage::Splice(at, b) => {
            let at = at % (n + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Damage::Tail(b) => bytes.extend_from_slice(b),
    }
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        5 => (1..4usize, any::<u8>()).prop_map(|(n, t)| Op::Append(n, t)),
        1 => any::<usize>().prop_map(Op::Truncate),
        1 => any::<usize>().prop_map(Op::Purge),
        1 => Just(Op::Vote),
        2 => any::<usize>().prop_map(Op::Committed),
    ];
    prop::collection::vec(op, 1..12)
}

#[test]
fn properties_damaged_logs_recover_a_written_prefix_or_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (opened, refused) = (AtomicU64::new(0), AtomicU64::new(0));
    let mut runner = TestRunner::new(config(256));
    // Several damages of one history per case: a history costs a few fsyncs, a damage none.
    let case = (
        ops(),
        prop::collection::vec((prop::collection::vec(damage(), 1..3), 0..3u8), 1..6),
    );
    runner
        .run(&case, |(ops, damages)| {
            rt.block_on(async {
                let src = tempfile::tempdir().unwrap();
                let states = run(src.path(), &ops).await;
                let clean = fs::read(src.path().join(LOG_FILE)).unwrap();
                let mark = fs::read(src.path().join(SYNCED_FILE)).unwrap();
                for (ds, mark_kind) in &damages {
                    let mut bytes = clean.clone();
                    for d in ds {
                        apply(&mut bytes, d);
                        if bytes.is_empty() {
                            break;
                        }
                    }
                    let dir = tempfile::tempdir().unwrap();
                    fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
                    // 0: the mark as written; 1: lost (a power loss before its write reached
                    // the disk); 2: a damaged mark (its own checksum makes it count as lost).
                    match mark_kind {
                        0 => fs::write(dir.path().join(SYNCED_FILE), &mark).unwrap(),
                        1 => {}
                        _ => {
                            // (Empty when nothing was ever synced: no history written.)
                            let mut m = mark.clone();
                            if let Some(b) = m.get_mut(12) {
                                *b ^= 0x5a;
                            }
                            fs::write(dir.path().join(SYNCED_FILE), &m).unwrap()
                        }
                    }
                    match FileLogStore::<TC>::open(dir.path()).await {
                        Err(e) => {
                            prop_assert!(
                                matches!(e, LogStoreError::Corrupt { .. }),
                                "unexpected error {}",
                                e
                            );
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(mut store) => {
                            let got = read_state(&mut store).await;
                            prop_assert!(
                                states.contains(&got),
                                "recovered a state never written: {:?} after {:?}",
                                got,
                                ds
                            );
                            if *mark_kind == 0 {
                                prop_assert_eq!(&got, states.last().unwrap(), "{:?}", ds);
                            }
                            opened.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Ok(())
            })
        })
        .unwrap();
    let (opened, refused) = (opened.into_inner(), refused.into_inner());
    eprintln!("damaged logs: {opened} opened, {refused} refused");
    assert!(opened > 0 && refused > 0);
}

/// The case the property found (2026-12-06): a run deleted from the middle of the log took the
/// truncation record with it, and with the synced mark lost the store replayed a newer term's
/// entries over the older ones, keeping the older term's later entries behind them: a log
/// never written. Now a missing record between two entries makes the store refuse to open.
#[test]
fn a_lost_truncation_record_is_not_replayed_past() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ops = [
            Op::Append(2, 114),
            Op::Append(1, 18),
            Op::Append(1, 43),
            Op::Truncate(1_378_309_281_923_910_912),
            Op::Append(1, 114),
            Op::Committed(0),
            Op::Committed(0),
            Op::Append(1, 8),
        ];
        let src = tempfile::tempdir().unwrap();
        let states = run(src.path(), &ops).await;
        let mut bytes = fs::read(src.path().join(LOG_FILE)).unwrap();
        apply(&mut bytes, &Damage::Delete(8_037_459_107_650_448_128, 32));
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
        // The synced mark lost: recovery has only the file to go by.
        match FileLogStore::<TC>::open(dir.path()).await {
            Err(e) => assert!(matches!(e, LogStoreError::Corrupt { .. }), "{e}"),
            Ok(mut store) => {
                let got = read_state(&mut store).await;
                assert!(
                    states.contains(&got),
                    "recovered a state never written: {got:?}"
                );
            }
        }
    });
}
