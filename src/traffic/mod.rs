//! Traffic: GPS pings become per-edge live speeds that the route search reads.
//!
//! [`matching`] places a ping on a directed edge and derives a speed from the device's previous
//! ping (pure work, done once where the ping arrives). [`live`] aggregates matched pings per edge
//! (deterministically, by ping time) and publishes immutable per-tile speed arrays that the search
//! reads without locks. [`observations`] keeps every applied observation as hourly Parquet files,
//! from which [`history`] builds per-edge time-of-week profiles. Weights use the freshest of: a
//! live speed while it is fresh, the profile speed for the departure time, free flow
//! ([`speeds::TrafficSpeeds`]).

pub mod export;
pub mod history;
pub mod live;
pub mod matching;
pub mod observations;
#[cfg(feature = "analytics")]
pub mod parquet;
pub mod speeds;

pub use history::HistoricalProfiles;
pub use live::{LiveTraffic, TrafficFeed, TrafficSnapshot};
pub use matching::{MatchedPing, Matcher};
pub use speeds::{FreeFlow, SpeedSource, TrafficSpeeds};

/// One GPS fix from a device.
#[derive(Clone, Debug, PartialEq)]
pub struct Ping {
    pub device: u64,
    /// Per-device sequence number; a retried ping keeps its number so it is applied once.
    pub seq: u64,
    /// Milliseconds since the Unix epoch, as measured by the device.
    pub ts_ms: i64,
    pub lat: f64,
    pub lon: f64,
    /// Ground speed reported by the receiver, m/s.
    pub speed_ms: Option<f32>,
    /// Course over ground, degrees clockwise from north.
    pub heading_deg: Option<f32>,
    /// Horizontal accuracy, metres.
    pub accuracy_m: Option<f32>,
}

impl Ping {
    #[inline]
    pub fn position(&self) -> spatial::LatLon {
        spatial::LatLon::new(self.lat, self.lon)
    }
}
