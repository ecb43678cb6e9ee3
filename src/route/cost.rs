//! The cost model: how long an edge takes and what a turn costs. Both searches (the tiled A* and
//! the reference Dijkstra in the tests) go through [`CostModel`], so they agree by construction on
//! what a route costs and differ only in how they explore.
//!
//! Speeds come from one place, a [`SpeedSource`]; today that is the free-flow speed stored with
//! each edge, and live traffic plugs in here later. Turn durations follow the shape common car
//! profiles use: a logistic curve of the turn angle, where crossing oncoming traffic (left in
//! right-hand traffic) costs more than turning right, plus a fixed U-turn penalty.

use graph::tile::{ArchivedEdge, ArchivedTile};
use graph::{EdgeId, Exclude, GlobalId};
pub use traffic::speeds::{FreeFlow, SpeedSource};

/// Turn cost parameters (seconds).
#[derive(Clone, Copy, Debug)]
pub struct TurnParams {
    /// Upper limit of the angle-dependent turn duration.
    pub turn_penalty_s: f64,
    /// > 1 makes turns across traffic (left, in right-hand traffic) dearer than right turns.
    pub turn_bias: f64,
    pub u_turn_penalty_s: f64,
    /// Average delay of passing a traffic signal.
    pub traffic_signal_s: f64,
}

impl TurnParams {
    /// The turn costs of a graph's traveller: a car's default, or a walker's, who turns at no
    /// cost (only a U-turn and a traffic signal cost a couple of seconds).
    pub fn for_profile(profile: graph::Profile) -> Self {
        match profile {
            graph::Profile::Car => TurnParams::default(),
            graph::Profile::Foot => TurnParams {
                turn_penalty_s: 0.0,
                turn_bias: 1.0,
                u_turn_penalty_s: 2.0,
                traffic_signal_s: 2.0,
            },
        }
    }
}

impl Default for TurnParams {
    fn default() -> Self {
        TurnParams {
            turn_penalty_s: 7.5,
            turn_bias: 1.075,
            u_turn_penalty_s: 20.0,
            traffic_signal_s: 2.0,
        }
    }
}

pub struct CostModel<S: SpeedSource> {
    pub speeds: S,
    /// Turn duration by turn angle in whole degrees, index `(angle + 360) % 360`, where positive
    /// angles turn right.
    turn_by_angle: [f32; 360],
    u_turn_penalty_s: f64,
    traffic_signal_s: f64,
    /// Edges a route may not enter (`exclude=`): the turn onto one is refused.
    exclude: Exclude,
}

impl<S: SpeedSource> CostModel<S> {
    pub fn new(speeds: S, params: TurnParams) -> Self {
        let mut turn_by_angle = [0f32; 360];
        for (i, slot) in turn_by_angle.iter_mut().enumerate() {
            let angle = if i > 180 { i as f64 - 360.0 } else { i as f64 };
            *slot = turn_duration(angle, &params) as f32;
        }
        CostModel {
            speeds,
            turn_by_angle,
            u_turn_penalty_s: params.u_turn_penalty_s,
            traffic_signal_s: params.traffic_signal_s,
            exclude: Exclude::NONE,
        }
    }

    /// The same costs, with the turn onto any edge of `exclude` refused (and such edges
    /// costing infinity in [`CostModel::edge_cost_or_excluded_s`]).
    pub fn excluding(mut self, exclude: Exclude) -> Self {
        self.exclude = exclude;
        self
    }

    /// The classes this model refuses.
    pub fn exclude(&self) -> Exclude {
        self.exclude
    }

    /// [`CostModel::edge_cost_s`], or infinity for an excluded edge (for searches that read
    /// edge costs from a table rather than through [`CostModel::turn_cost_s`]).
    #[inline]
    pub fn edge_cost_or_excluded_s(&self, id: EdgeId, edge: &ArchivedEdge) -> f64 {
        if self.exclude.excludes(edge) {
            f64::INFINITY
        } else {
            self.edge_cost_s(id, edge)
        }
    }

    /// The same turn costs with another speed source (e.g. this second's traffic snapshot).
    pub fn with_speeds<T: SpeedSource>(&self, speeds: T) -> CostModel<T> {
        CostModel {
            speeds,
            turn_by_angle: self.turn_by_angle,
            u_turn_penalty_s: self.u_turn_penalty_s,
            traffic_signal_s: self.traffic_signal_s,
            exclude: self.exclude,
        }
    }

    /// Seconds to drive the whole edge, traffic signals on it included.
    #[inline]
    pub fn edge_cost_s(&self, id: EdgeId, edge: &ArchivedEdge) -> f64 {
        let speed_ms = self.speeds.speed_kmh(id, edge) as f64 / 3.6;
        edge.length_m() as f64 / speed_ms + edge.signals as f64 * self.traffic_signal_s
    }

    /// Cost of turning from `from` (arriving at node `via` of `via_tile`) onto `to`, which leaves
    /// `via`; `None` when the turn is not allowed (turn restriction, a U-turn anywhere but at a
    /// dead end, or `to` is excluded).
    #[inline]
    pub fn turn_cost_s(
        &self,
        via_tile: &ArchivedTile,
        via: u32,
        from_id: EdgeId,
        from: &ArchivedEdge,
        to_local: u32,
        to: &ArchivedEdge,
    ) -> Option<f64> {
        if self.exclude.excludes(to) {
            return None;
        }
        let roads = via_tile.roads_at(via);
        let is_u_turn = from.twin() == Some(GlobalId::new(via_tile.index(), to_local));
        if is_u_turn && roads > 1 {
            return None;
        }
        for t in via_tile.forbidden_turns_at(via) {
            if t.to_local() == to_local && t.from() == from_id {
                return None;
            }
        }
        if is_u_turn {
            return Some(self.u_turn_penalty_s);
        }
        if roads <= 2 {
            // No choice here: a way split, or a bend where two roads join.
            return Some(0.0);
        }
        let angle = to.bearing_start() as i32 - from.bearing_end() as i32 + 720;
        Some(self.turn_by_angle[(angle % 360) as usize] as f64)
    }

    pub fn max_speed_ms(&self) -> f64 {
        self.speeds.max_speed_kmh() as f64 / 3.6
    }
}

/// Logistic turn duration: near zero going straight, rising steeply around a right angle, with
/// the bias shifting the curve so left turns cost more than right turns.
fn turn_duration(angle_deg: f64, p: &TurnParams) -> f64 {
    let x = angle_deg.abs() / 180.0;
    let (steepness, midpoint) = if angle_deg >= 0.0 {
        (13.0 / p.turn_bias, 6.5 * p.turn_bias)
    } else {
        (13.0 * p.turn_bias, 6.5 / p.turn_bias)
    };
    p.turn_penalty_s / (1.0 + (-(steepness * x - midpoint)).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_turns_cost_more_than_right_turns_and_straight_is_nearly_free() {
        let p = TurnParams::default();
        let straight = turn_duration(0.0, &p);
        let right = turn_duration(90.0, &p);
        let left = turn_duration(-90.0, &p);
        assert!(straight < 0.01, "{straight}");
        assert!(right > 1.0 && right < left, "{right} {left}");
        assert!(left < p.turn_penalty_s);
    }

    #[test]
    fn walkers_turn_for_free() {
        let p = TurnParams::for_profile(graph::Profile::Foot);
        for angle in [-180.0, -90.0, 0.0, 45.0, 90.0, 179.0] {
            assert_eq!(turn_duration(angle, &p), 0.0);
        }
        assert!(p.u_turn_penalty_s < TurnParams::default().u_turn_penalty_s);
    }
}
