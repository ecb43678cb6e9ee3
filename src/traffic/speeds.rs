//! Where edge speeds come from: the one interface the route cost model reads speeds through.
//! Free flow (class and maxspeed, stored in the tiles) is the fallback; the live traffic
//! snapshot ([`super::TrafficSnapshot`]) overrides it where it has fresh data, and historical
//! profiles ([`super::HistoricalProfiles`]) fill in for the departure time where it has none.

use super::history::{time_of_week_bin, HistoricalProfiles};
use super::TrafficSnapshot;
use graph::tile::ArchivedEdge;
use graph::EdgeId;
use std::sync::Arc;

/// Where edge speeds come from. Implementations must never return more than
/// [`SpeedSource::max_speed_kmh`], which bounds the A* heuristic.
pub trait SpeedSource: Send + Sync {
    fn speed_kmh(&self, id: EdgeId, edge: &ArchivedEdge) -> f32;
    fn max_speed_kmh(&self) -> f32;
    /// Largest ratio of this source's speed to an edge's free-flow speed. The landmark bounds
    /// were computed at free-flow speeds, so the heuristic divides them by this to stay a lower
    /// bound when a source reports roads faster than free flow.
    fn max_speedup(&self) -> f64 {
        1.0
    }
}

/// Free-flow speeds as imported (road class and maxspeed).
pub struct FreeFlow {
    pub max_speed_kmh: f32,
}

impl SpeedSource for FreeFlow {
    #[inline]
    fn speed_kmh(&self, _id: EdgeId, edge: &ArchivedEdge) -> f32 {
        edge.speed_kmh()
    }
    fn max_speed_kmh(&self) -> f32 {
        self.max_speed_kmh
    }
}

impl<T: SpeedSource> SpeedSource for Arc<T> {
    #[inline]
    fn speed_kmh(&self, id: EdgeId, edge: &ArchivedEdge) -> f32 {
        (**self).speed_kmh(id, edge)
    }
    fn max_speed_kmh(&self) -> f32 {
        (**self).max_speed_kmh()
    }
    fn max_speedup(&self) -> f64 {
        (**self).max_speedup()
    }
}

/// Where an edge's speed came from (OSRM's `annotations=datasources`, indexes into
/// [`DATASOURCE_NAMES`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpeedOrigin {
    /// The import's speed (road class, `maxspeed`).
    Profile = 0,
    /// The historical profile of the departure time's bin.
    Historical = 1,
    /// Live traffic from matched pings.
    Live = 2,
}

/// The names OSRM's `metadata.datasource_names` lists, by [`SpeedOrigin`].
pub const DATASOURCE_NAMES: [&str; 3] = ["profile", "historical", "live"];

/// What routes use: per edge the live speed while fresh, else the historical profile speed of the
/// departure time's bin, else free flow. The whole route uses the departure bin (no
/// time-dependent search), which keeps edge costs static and the A* exact.
#[derive(Clone)]
pub struct TrafficSpeeds {
    live: Arc<TrafficSnapshot>,
    history: Option<Arc<HistoricalProfiles>>,
    bin: u16,
    speedup: f64,
}

impl TrafficSpeeds {
    pub fn new(
        live: Arc<TrafficSnapshot>,
        history: Option<Arc<HistoricalProfiles>>,
        depart_ms: i64,
    ) -> Self {
        let bin = time_of_week_bin(depart_ms);
        // Both layers are capped at the graph's top speed; the bound covers either one winning.
        let speedup = history
            .as_ref()
            .map_or(1.0, |h| h.max_speedup(bin))
            .max(live.max_speedup());
        TrafficSpeeds {
            live,
            history,
            bin,
            speedup,
        }
    }

    /// The time-of-week bin the profile speeds are read at.
    pub fn bin(&self) -> u16 {
        self.bin
    }

    /// Which layer gives `id` its speed (the same order as [`SpeedSource::speed_kmh`]).
    pub fn origin(&self, id: EdgeId) -> SpeedOrigin {
        if self.live.live_speed_kmh(id).is_some() {
            SpeedOrigin::Live
        } else if self
            .history
            .as_ref()
            .is_some_and(|h| h.speed_kmh(id, self.bin).is_some())
        {
            SpeedOrigin::Historical
        } else {
            SpeedOrigin::Profile
        }
    }
}

impl SpeedSource for TrafficSpeeds {
    #[inline]
    fn speed_kmh(&self, id: EdgeId, edge: &ArchivedEdge) -> f32 {
        if let Some(s) = self.live.live_speed_kmh(id) {
            return s;
        }
        if let Some(s) = self
            .history
            .as_ref()
            .and_then(|h| h.speed_kmh(id, self.bin))
        {
            return s;
        }
        edge.speed_kmh()
    }
    fn max_speed_kmh(&self) -> f32 {
        self.live.max_speed_kmh()
    }
    fn max_speedup(&self) -> f64 {
        self.speedup
    }
}
