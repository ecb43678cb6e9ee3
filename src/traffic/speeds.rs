//! Where edge speeds come from: the one interface the route cost model reads speeds through.
//! Free flow (class and maxspeed, stored in the tiles) is the fallback; the live traffic
//! snapshot ([`super::TrafficSnapshot`]) overrides it where it has fresh data.

use crate::graph::tile::ArchivedEdge;
use crate::graph::EdgeId;
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
        edge.speed_kmh.to_native()
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
