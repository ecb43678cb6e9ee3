//! Token buckets for the websocket ingest, keyed by what is limited: pings per device (a
//! device's allowance is shared by all its connections to this node, so opening more
//! connections does not buy more pings), and failed authentications per source address (so a
//! client cannot try tokens as fast as it can connect).
//!
//! A bucket that has refilled to its burst is the same as no bucket, so buckets of devices idle
//! for `burst / rate` seconds are dropped in a sweep every [`SWEEP_EVERY`] takes: memory follows
//! the devices active in the last few seconds, not every device ever seen.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Sustained pings per second and burst, per device.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub per_s: f64,
    pub burst: f64,
}

impl Default for RateLimit {
    /// A phone sends about one ping a second; the burst covers an upload after a tunnel.
    fn default() -> Self {
        RateLimit {
            per_s: 50.0,
            burst: 200.0,
        }
    }
}

impl RateLimit {
    /// Failed authentications per source address: a burst of 10, then one a second.
    pub fn auth_failures() -> Self {
        RateLimit {
            per_s: 1.0,
            burst: 10.0,
        }
    }
}

/// Takes between two sweeps of full buckets.
const SWEEP_EVERY: u64 = 4096;

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

struct Inner<K> {
    buckets: HashMap<K, Bucket>,
    takes: u64,
}

/// One bucket per key, created full on first use.
pub struct KeyedRates<K> {
    limit: RateLimit,
    inner: Mutex<Inner<K>>,
}

/// Pings per device.
pub type DeviceRates = KeyedRates<u64>;
/// Failed authentications per source address.
pub type AddressRates = KeyedRates<IpAddr>;

impl<K: Hash + Eq + Copy> KeyedRates<K> {
    pub fn new(limit: RateLimit) -> Self {
        KeyedRates {
            limit,
            inner: Mutex::new(Inner {
                buckets: HashMap::new(),
                takes: 0,
            }),
        }
    }

    /// Takes one token of `key`'s bucket; false when it is empty (refuse).
    pub fn take(&self, key: K) -> bool {
        self.take_at(key, Instant::now())
    }

    /// Whether `key`'s bucket holds a token now, without taking it.
    pub fn has_token(&self, key: K) -> bool {
        let per_s = self.limit.per_s;
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .buckets
            .get(&key)
            .is_none_or(|b| b.tokens + b.refilled.elapsed().as_secs_f64() * per_s >= 1.0)
    }

    fn take_at(&self, key: K, now: Instant) -> bool {
        let RateLimit { per_s, burst } = self.limit;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.takes += 1;
        if inner.takes % SWEEP_EVERY == 0 {
            inner.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.refilled).as_secs_f64() * per_s < burst
            });
        }
        let b = inner.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            refilled: now,
        });
        b.tokens =
            (b.tokens + now.saturating_duration_since(b.refilled).as_secs_f64() * per_s).min(burst);
        b.refilled = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Keys holding a bucket now.
    pub fn tracked(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .buckets
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_device_shares_one_allowance_and_idle_buckets_are_dropped() {
        let rates = DeviceRates::new(RateLimit {
            per_s: 10.0,
            burst: 5.0,
        });
        let t0 = Instant::now();
        let taken = (0..8).filter(|_| rates.take_at(1, t0)).count();
        assert_eq!(taken, 5);
        // Another device is not affected; after 0.5 s device 1 has 5 tokens again.
        assert!(rates.take_at(2, t0));
        let later = t0 + Duration::from_millis(500);
        assert_eq!((0..8).filter(|_| rates.take_at(1, later)).count(), 5);
        assert_eq!(rates.tracked(), 2);
        // Long after, a sweep drops the full buckets of devices 1 and 2, not the one in use.
        let much_later = t0 + Duration::from_secs(60);
        for _ in 0..SWEEP_EVERY {
            rates.take_at(3, much_later);
        }
        assert_eq!(rates.tracked(), 1);
        assert!(rates.inner.lock().unwrap().buckets.contains_key(&3));
    }
}
