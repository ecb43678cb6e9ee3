//! Exact per-device de-duplication for the state machine: which sequence numbers of each device
//! were applied, kept as compact ranges, so a ping is either applied, recognised as a true
//! duplicate, or refused with a reason; it is never mistaken for a duplicate (the old bounded
//! window gave up on a gap after 4,096 newer pings and then acked the late ping unapplied).
//!
//! Everything here depends only on the pings of the log (their device, seq and timestamp), never
//! on the wall clock, so every replica that applies the same log holds the same state.
//!
//! Memory is bounded two ways, both deterministic:
//! - **Eviction by ping time.** The *log clock* is the newest timestamp of any applied ping. A
//!   device whose newest applied ping is more than [`RETAIN_MS`] behind the log clock is
//!   forgotten. A ping older than that is refused ([`Refusal::TooOld`]) unless it is a known
//!   duplicate: every ping of a forgotten device is that old, so a late resend of one can never
//!   be applied twice, and it is not acked either.
//! - **At most [`MAX_RANGES`] ranges per device.** A ping that would open one more gap is refused
//!   ([`Refusal::TooManyGaps`]); pings that extend or join ranges (the normal in-order stream,
//!   and resends that fill gaps) are always taken.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// How far behind the log clock a device's newest ping may fall before its state is dropped.
/// Twice the ingest's age limit (24 h), so a device is never forgotten while the ingest would
/// still accept a resend of its pings from a client whose clock is right.
pub const RETAIN_MS: i64 = 48 * 60 * 60 * 1000;

/// Most disjoint ranges of applied seqs kept per device (16 bytes each).
pub const MAX_RANGES: usize = 1024;

/// One device's state in plain parts, as snapshots keep it: `(device, newest ping ts, applied
/// seq ranges)`.
pub type DeviceParts = (u64, i64, Vec<(u64, u64)>);

/// Why the state machine refused a ping: it is neither applied nor acked, and the client gets
/// an error frame with [`Refusal::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Older than [`RETAIN_MS`] behind the log clock and not known to be applied.
    TooOld,
    /// Would open gap number [`MAX_RANGES`] in the device's applied seqs.
    TooManyGaps,
}

impl Refusal {
    /// The websocket error code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::TooOld => "PingTooOld",
            Refusal::TooManyGaps => "TooManyGaps",
        }
    }

    /// A sentence for the client.
    pub fn message(self) -> String {
        match self {
            Refusal::TooOld => format!(
                "ping is more than {} h older than the newest pings of the cluster; not applied",
                RETAIN_MS / 3_600_000
            ),
            Refusal::TooManyGaps => format!(
                "this device already has {MAX_RANGES} gaps in its sequence numbers; resend the \
                 missing pings first"
            ),
        }
    }
}

/// What [`Dedup::record`] did with a ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Refused(Refusal),
}

/// The applied seqs of one device and the newest timestamp among them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceSeqs {
    /// Sorted, disjoint, non-adjacent inclusive ranges.
    ranges: Vec<(u64, u64)>,
    newest_ts: i64,
}

enum Insert {
    Done,
    Present,
    TooManyGaps,
}

impl DeviceSeqs {
    pub fn contains(&self, seq: u64) -> bool {
        // The first range starting after `seq`; the one before it may hold `seq`.
        let i = self.ranges.partition_point(|&(start, _)| start <= seq);
        i > 0 && self.ranges[i - 1].1 >= seq
    }

    fn insert(&mut self, seq: u64) -> Insert {
        let i = self.ranges.partition_point(|&(start, _)| start <= seq);
        if i > 0 && self.ranges[i - 1].1 >= seq {
            return Insert::Present;
        }
        let joins_left = i > 0 && self.ranges[i - 1].1 + 1 == seq;
        let joins_right = i < self.ranges.len() && Some(self.ranges[i].0) == seq.checked_add(1);
        match (joins_left, joins_right) {
            (true, true) => {
                self.ranges[i - 1].1 = self.ranges[i].1;
                self.ranges.remove(i);
            }
            (true, false) => self.ranges[i - 1].1 = seq,
            (false, true) => self.ranges[i].0 = seq,
            (false, false) => {
                if self.ranges.len() >= MAX_RANGES {
                    return Insert::TooManyGaps;
                }
                self.ranges.insert(i, (seq, seq));
            }
        }
        Insert::Done
    }

    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    pub fn newest_ts(&self) -> i64 {
        self.newest_ts
    }
}

/// The de-duplication state of all devices.
#[derive(Clone, Debug, PartialEq)]
pub struct Dedup {
    devices: HashMap<u64, DeviceSeqs>,
    /// `(newest_ts, device)` of every device: the eviction order.
    by_age: BTreeSet<(i64, u64)>,
    /// Newest timestamp of any applied ping (`i64::MIN` before the first).
    clock_ms: i64,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup {
            devices: HashMap::new(),
            by_age: BTreeSet::new(),
            clock_ms: i64::MIN,
        }
    }
}

impl Dedup {
    /// Rebuilds the state from its parts (a snapshot); ranges are normalised, so a damaged or
    /// old snapshot cannot break the invariants.
    pub fn restore(clock_ms: i64, devices: impl IntoIterator<Item = DeviceParts>) -> Dedup {
        let mut out = Dedup {
            clock_ms,
            ..Dedup::default()
        };
        for (device, newest_ts, mut ranges) in devices {
            ranges.retain(|&(a, b)| a <= b);
            ranges.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
            for (a, b) in ranges {
                match merged.last_mut() {
                    Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                    _ => merged.push((a, b)),
                }
            }
            if merged.is_empty() {
                continue;
            }
            out.by_age.insert((newest_ts, device));
            let replaced = out.devices.insert(
                device,
                DeviceSeqs {
                    ranges: merged,
                    newest_ts,
                },
            );
            if let Some(old) = replaced.filter(|old| old.newest_ts != newest_ts) {
                out.by_age.remove(&(old.newest_ts, device));
            }
        }
        out.evict();
        out
    }

    /// Applies the rules of the module doc to one ping and records it if it is applied.
    pub fn record(&mut self, device: u64, seq: u64, ts_ms: i64) -> Outcome {
        let horizon = self.clock_ms.saturating_sub(RETAIN_MS);
        if let Some(d) = self.devices.get(&device) {
            if d.contains(seq) {
                return Outcome::Duplicate;
            }
        }
        if ts_ms < horizon {
            return Outcome::Refused(Refusal::TooOld);
        }
        let d = self.devices.entry(device).or_default();
        let fresh = d.ranges.is_empty();
        match d.insert(seq) {
            Insert::Present => return Outcome::Duplicate,
            Insert::TooManyGaps => return Outcome::Refused(Refusal::TooManyGaps),
            Insert::Done => {}
        }
        if fresh || ts_ms > d.newest_ts {
            if !fresh {
                self.by_age.remove(&(d.newest_ts, device));
            }
            d.newest_ts = ts_ms;
            self.by_age.insert((ts_ms, device));
        }
        if ts_ms > self.clock_ms {
            self.clock_ms = ts_ms;
            self.evict();
        }
        Outcome::Applied
    }

    /// Drops every device whose newest ping is more than [`RETAIN_MS`] behind the log clock.
    fn evict(&mut self) {
        let horizon = self.clock_ms.saturating_sub(RETAIN_MS);
        while let Some(&(ts, device)) = self.by_age.first() {
            if ts >= horizon {
                break;
            }
            self.by_age.pop_first();
            self.devices.remove(&device);
        }
    }

    pub fn contains(&self, device: u64, seq: u64) -> bool {
        self.devices.get(&device).is_some_and(|d| d.contains(seq))
    }

    pub fn clock_ms(&self) -> i64 {
        self.clock_ms
    }

    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Every device with its state, by device id (a deterministic order for hashes and
    /// snapshots).
    pub fn sorted(&self) -> Vec<(u64, &DeviceSeqs)> {
        let mut v: Vec<_> = self.devices.iter().map(|(k, d)| (*k, d)).collect();
        v.sort_unstable_by_key(|(k, _)| *k);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn a_late_ping_after_thousands_of_newer_ones_is_applied_not_taken_for_a_duplicate() {
        let mut d = Dedup::default();
        for seq in 2..=4098 {
            assert_eq!(d.record(7, seq, T0 + seq as i64), Outcome::Applied);
        }
        assert!(!d.contains(7, 1));
        assert_eq!(d.record(7, 1, T0), Outcome::Applied);
        assert_eq!(d.record(7, 1, T0), Outcome::Duplicate);
        assert_eq!(d.devices[&7].ranges(), &[(1, 4098)]);
    }

    #[test]
    fn ranges_split_extend_and_join_exactly() {
        let mut d = DeviceSeqs::default();
        for seq in [5, 1, 3, 2, 10, 4, 9, u64::MAX, u64::MAX - 1] {
            assert!(matches!(d.insert(seq), Insert::Done), "{seq}");
        }
        assert_eq!(d.ranges, vec![(1, 5), (9, 10), (u64::MAX - 1, u64::MAX)]);
        for seq in [1, 3, 5, 9, 10, u64::MAX] {
            assert!(d.contains(seq) && matches!(d.insert(seq), Insert::Present));
        }
        for seq in [0, 6, 8, 11, u64::MAX - 2] {
            assert!(!d.contains(seq), "{seq}");
        }
    }

    #[test]
    fn a_device_with_too_many_gaps_is_refused_new_gaps_but_not_its_stream() {
        let mut d = Dedup::default();
        for k in 0..MAX_RANGES as u64 {
            assert_eq!(d.record(1, 2 * k + 1, T0), Outcome::Applied);
        }
        let top = 2 * MAX_RANGES as u64 - 1;
        assert_eq!(
            d.record(1, top + 2, T0),
            Outcome::Refused(Refusal::TooManyGaps)
        );
        assert!(!d.contains(1, top + 2));
        // The next seq in order and a resend filling a gap are taken.
        assert_eq!(d.record(1, top + 1, T0), Outcome::Applied);
        assert_eq!(d.record(1, 2, T0), Outcome::Applied);
        assert_eq!(d.record(1, top + 3, T0), Outcome::Applied);
    }

    #[test]
    fn devices_are_evicted_by_ping_time_and_their_late_resends_refused() {
        let mut d = Dedup::default();
        d.record(1, 1, T0);
        d.record(2, 1, T0 + 1000);
        // Exactly RETAIN_MS behind the clock is still kept.
        d.record(3, 1, T0 + RETAIN_MS);
        assert_eq!(d.device_count(), 3);
        d.record(3, 2, T0 + RETAIN_MS + 1);
        assert_eq!(d.device_count(), 2);
        assert!(!d.contains(1, 1));
        // A resend of device 1's applied ping is not applied again, and not acked either.
        assert_eq!(d.record(1, 1, T0), Outcome::Refused(Refusal::TooOld));
        // Device 2 is still known: its resend is a duplicate even though it is old.
        assert_eq!(d.record(2, 1, T0 + 1000), Outcome::Duplicate);
        // A new ping of device 1 starts it afresh.
        assert_eq!(d.record(1, 2, T0 + RETAIN_MS), Outcome::Applied);
        assert_eq!(d.device_count(), 3);
    }

    /// Random seqs of a few devices against a plain set per device: same answers, same
    /// membership, and ranges always sorted, disjoint and non-adjacent.
    #[test]
    fn ranges_agree_with_a_plain_set_on_random_streams() {
        use rand::{Rng, SeedableRng};
        use std::collections::BTreeMap;
        for seed in 0..40u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut d = Dedup::default();
            let mut model: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
            let top = rng.random_range(5..400u64);
            for _ in 0..600 {
                let device = rng.random_range(0..3u64);
                let seq = rng.random_range(1..=top);
                let fresh = model.entry(device).or_default().insert(seq);
                let expected = if fresh {
                    Outcome::Applied
                } else {
                    Outcome::Duplicate
                };
                assert_eq!(d.record(device, seq, T0), expected, "seed {seed}");
            }
            for (device, seqs) in &model {
                let r = d.devices[device].ranges();
                assert!(
                    r.windows(2).all(|w| w[0].1 + 1 < w[1].0),
                    "seed {seed}: {r:?}"
                );
                let held: BTreeSet<u64> =
                    (0..=top + 1).filter(|&q| d.contains(*device, q)).collect();
                assert_eq!(&held, seqs, "seed {seed}");
            }
        }
    }

    #[test]
    fn restore_normalises_and_round_trips() {
        let mut d = Dedup::default();
        for (dev, seq) in [(1, 1), (1, 2), (1, 7), (2, 5), (3, 9)] {
            d.record(dev, seq, T0 + seq as i64);
        }
        let parts: Vec<DeviceParts> = d
            .sorted()
            .into_iter()
            .map(|(k, s)| (k, s.newest_ts(), s.ranges().to_vec()))
            .collect();
        assert_eq!(Dedup::restore(d.clock_ms(), parts), d);
        let messy = Dedup::restore(T0, vec![(1, T0, vec![(7, 7), (1, 3), (2, 5), (9, 8)])]);
        assert_eq!(messy.devices[&1].ranges(), &[(1, 5), (7, 7)]);
    }
}
