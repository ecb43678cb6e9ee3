//! Alternative routes by the via-node method (as OSRM's multi-level Dijkstra finds them, with
//! its limits): one bidirectional search from both ends that runs on past the middle, until
//! the two queues' smallest keys sum to [`OVERLAP`] times the best route's cost. Every
//! vertex both searches settled is a candidate via: the route source → via → target made of
//! the forward tree's path into it and the backward tree's path out of it is the exact fastest
//! route through it. Candidates are taken cheapest first and kept when
//!
//! * **stretch**: the route costs at most [`Limits::stretch`] times the best route;
//! * **sharing**: at most [`Limits::sharing`] of its seconds are on roads the best route or an
//!   alternative already kept drives;
//! * **local optimality** (the "T-test" by plateaus): the two search trees run together around
//!   the via for at least [`Limits::optimal_around_via`] of the detour's seconds, so the detour
//!   is a fastest route over a good stretch around its via, not a loop or a dip into a side
//!   street (a plateau is where the forward tree's parent of a vertex has that vertex as its
//!   backward-tree parent).
//!
//! The work is bounded: the search space is the stretch-limited overlap of the two searches,
//! and at most [`Limits::examine`] per requested alternative candidate routes are built
//! (unpacked into road edges). Skipped unbuilt: a via on the plateau of one already built (its
//! route is that route again) or on a route kept, and a via whose route surely shares too much
//! with the best one, judged by where its search-tree paths join the best route (read off the
//! trees, nothing unpacked).
//!
//! The search runs over the overlay's multi-level graph (the default) or over the flat road
//! graph alone (the plain A*'s alternatives), through [`super::overlay::query::search`].

use super::overlay::base::BaseGraph;
use super::overlay::partition::Partition;
use super::overlay::query::{self, QuerySpace};
use super::overlay::Weights;
use super::search::{Endpoint, LegPath, PathEdge};
use std::collections::HashSet;

/// The limits an alternative must meet, per request (they follow OSRM's, which loosen for
/// short routes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Most cost, as a multiple of the best route's.
    pub stretch: f64,
    /// Most share of an alternative's seconds on roads of routes already kept.
    pub sharing: f64,
    /// Least plateau around the via, as a share of the detour's seconds.
    pub optimal_around_via: f64,
    /// Candidate routes built per requested alternative, at most.
    pub examine: usize,
}

/// The search runs on until its two smallest keys sum to this times the best cost (OSRM's
/// search space overlap): candidates beyond are not found, so it also caps the stretch.
pub const OVERLAP: f64 = 1.33;

impl Limits {
    /// The limits for a route whose ends are `crow_m` apart and whose best route takes
    /// `best_s`: sharing, local optimality and the candidates examined by distance, the
    /// stretch by duration (OSRM's curve: 100% longer under 5 minutes down to 20% over 10
    /// hours), capped by [`OVERLAP`].
    pub fn for_route(crow_m: f64, best_s: f64) -> Limits {
        let (examine, sharing, optimal_around_via) = match crow_m {
            d if d < 10_000.0 => (10, 0.50, 0.2),
            d if d < 20_000.0 => (8, 0.60, 0.2),
            d if d < 50_000.0 => (6, 0.65, 0.1),
            d if d < 100_000.0 => (4, 0.70, 0.1),
            _ => (2, 0.75, 0.1),
        };
        Limits {
            stretch: (1.0 + longer_by(best_s)).min(OVERLAP),
            sharing,
            optimal_around_via,
            examine,
        }
    }
}

/// How much longer than the best an alternative may take, as a share of the best duration:
/// a smooth curve through 100% at 5 minutes, 75% at 10, 50% at 30, 40% at 1 hour, 30% at 3
/// and 20% at 10 hours (OSRM's points; the fitted form here is a monotone interpolation of
/// them in log-time, ours).
pub fn longer_by(best_s: f64) -> f64 {
    const POINTS: [(f64, f64); 6] = [
        (300.0, 1.0),
        (600.0, 0.75),
        (1800.0, 0.5),
        (3600.0, 0.4),
        (10_800.0, 0.3),
        (36_000.0, 0.2),
    ];
    if best_s <= POINTS[0].0 {
        return POINTS[0].1;
    }
    for w in POINTS.windows(2) {
        let ((t0, f0), (t1, f1)) = (w[0], w[1]);
        if best_s <= t1 {
            let x = (best_s.ln() - t0.ln()) / (t1.ln() - t0.ln());
            return f0 + (f1 - f0) * x;
        }
    }
    POINTS[POINTS.len() - 1].1
}

/// An alternative kept: its path and how it compares with the best route.
#[derive(Clone, Debug)]
pub struct Alternative {
    pub path: LegPath,
    /// The via: the route is the fastest one that drives this road piece whole.
    pub via: graph::EdgeId,
    /// Its cost over the best route's.
    pub stretch: f64,
    /// Share of its seconds on roads of the routes kept before it.
    pub sharing: f64,
}

/// The best route and up to `count` alternatives (cheapest first) between the endpoints, over
/// `g` under `w` (multi-level with the cells `p`, or flat without); `None` if there is no
/// route. `crow_m` is the crow-fly distance between the two points (it picks the limits).
#[allow(clippy::too_many_arguments)]
pub fn find(
    g: &BaseGraph,
    p: Option<&Partition>,
    w: &Weights,
    space: &mut QuerySpace,
    sources: &[Endpoint],
    targets: &[Endpoint],
    crow_m: f64,
    count: usize,
) -> Option<(LegPath, Vec<Alternative>)> {
    // The stretch limit depends on the best duration, unknown before the search: search to
    // the widest overlap, then filter by the route's own limit.
    let found = query::search(g, p, w, space, sources, targets, OVERLAP, count > 0);
    let best_s = found.best;
    if !best_s.is_finite() {
        return None;
    }
    let best_edges = found.path_of(g, p, w, space, found.meet)?;
    let best = LegPath {
        edges: best_edges,
        cost_s: best_s,
        tiles_touched: found.tiles,
        settled: found.settled,
    };
    let limits = Limits::for_route(crow_m, best_s);
    let dense = |edges: &[PathEdge]| -> Vec<u32> { edges.iter().map(|e| g.edge(e.edge)).collect() };
    let best_ids = dense(&best.edges);
    // Roads of the best route and of the routes kept, and vias whose route was built already.
    let on_best: HashSet<u32> = best_ids.iter().copied().collect();
    let mut kept = on_best.clone();
    let mut seen: HashSet<u32> = HashSet::new();
    let mut candidates: Vec<(u32, f64)> = found
        .both
        .iter()
        .copied()
        .filter(|&(v, c)| c <= limits.stretch * best_s && !kept.contains(&v))
        .collect();
    candidates.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut out = Vec::new();
    let mut built = 0usize;
    for (via, cost) in candidates {
        if out.len() >= count || built >= limits.examine * count {
            break;
        }
        if seen.contains(&via) || kept.contains(&via) {
            continue;
        }
        // Most candidates leave the best route for a block or two: refused unbuilt when the
        // start and end they surely share with it are already over the limit.
        if query::joined_s(space, via, |v| on_best.contains(&v)) > limits.sharing * cost {
            continue;
        }
        // Every via on this one's plateau has this same route: build it once.
        let (plateau_s, plateau) = query::plateau(space, via);
        seen.extend(plateau);
        let Some(edges) = found.path_of(g, p, w, space, via) else {
            continue;
        };
        built += 1;
        let ids = dense(&edges);
        let seconds = |e: &PathEdge| e.drive_s + e.turn_s;
        let total: f64 = edges.iter().map(seconds).sum();
        if total <= 0.0 {
            continue;
        }
        let shared: f64 = edges
            .iter()
            .zip(&ids)
            .filter(|(_, id)| kept.contains(id))
            .map(|(e, _)| seconds(e))
            .sum();
        let sharing = shared / total;
        if sharing > limits.sharing {
            continue;
        }
        // The detour: what lies between the longest common start and end with the best route.
        let prefix = ids
            .iter()
            .zip(&best_ids)
            .take_while(|(a, b)| a == b)
            .count();
        let suffix = ids
            .iter()
            .rev()
            .zip(best_ids.iter().rev())
            .take_while(|(a, b)| a == b)
            .count()
            .min(ids.len() - prefix);
        let detour_s: f64 = edges[prefix..edges.len() - suffix]
            .iter()
            .map(seconds)
            .sum();
        if plateau_s < limits.optimal_around_via * detour_s {
            continue;
        }
        kept.extend(ids.iter().copied());
        out.push(Alternative {
            stretch: cost / best_s,
            sharing,
            via: g.edge_id(via),
            path: LegPath {
                edges,
                cost_s: cost,
                tiles_touched: found.tiles,
                settled: found.settled,
            },
        });
    }
    Some((best, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretch_follows_the_duration_curve_and_the_overlap_caps_it() {
        assert_eq!(longer_by(60.0), 1.0);
        assert!((longer_by(600.0) - 0.75).abs() < 1e-9);
        assert!((longer_by(3600.0) - 0.4).abs() < 1e-9);
        assert_eq!(longer_by(100_000.0), 0.2);
        let mut last = f64::INFINITY;
        for s in (60..50_000).step_by(97) {
            let f = longer_by(s as f64);
            assert!(f <= last, "not monotone at {s}");
            last = f;
        }
        assert_eq!(Limits::for_route(3_000.0, 400.0).stretch, OVERLAP);
        let long = Limits::for_route(400_000.0, 5.0 * 3600.0);
        assert!(long.stretch < 1.3 && long.stretch > 1.2, "{long:?}");
        assert_eq!(long.sharing, 0.75);
        assert_eq!(Limits::for_route(3_000.0, 400.0).sharing, 0.5);
    }
}
