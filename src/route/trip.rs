//! The order of a trip (OSRM's `/trip`): a travelling-salesman tour over a duration matrix.
//!
//! [`solve_tour`] finds a closed tour through every point: exactly by Held–Karp dynamic
//! programming up to [`EXACT_MAX`] points (O(n² 2ⁿ)), above that by farthest insertion
//! improved with 2-opt and Or-opt moves until neither finds a shorter tour. The matrix may be
//! asymmetric (one-way streets): 2-opt charges the reversed segment in its new direction.
//!
//! [`trip_order`] adds the service's options. An open trip or a fixed end is solved as a closed
//! tour over a changed matrix (free return to a fixed start, free departure from a fixed end, or
//! for both ends a forced zero-cost hop from the end back to the start with every other way
//! into the start and out of the end barred), then rotated so the trip starts where it must.

/// Held–Karp is used up to this many points (2ⁿ n² steps: 100k at 10).
pub const EXACT_MAX: usize = 10;

/// A cost that no tour chooses while any other exists (the barred moves of a fixed-end trip).
const BARRED: f64 = 1e9;

/// Total cost of the closed tour `tour` under `cost` (back to the first point included).
pub fn tour_cost(cost: &[Vec<f64>], tour: &[usize]) -> f64 {
    if tour.len() < 2 {
        return 0.0;
    }
    let closing = cost[tour[tour.len() - 1]][tour[0]];
    tour.windows(2).map(|w| cost[w[0]][w[1]]).sum::<f64>() + closing
}

/// A shortest (exact up to [`EXACT_MAX`] points, else heuristic) closed tour through every
/// index of the square matrix `cost`, starting at 0.
pub fn solve_tour(cost: &[Vec<f64>]) -> Vec<usize> {
    if cost.len() <= EXACT_MAX {
        held_karp(cost)
    } else {
        heuristic_tour(cost)
    }
}

/// The exact shortest closed tour by dynamic programming over subsets, starting at 0.
pub fn held_karp(cost: &[Vec<f64>]) -> Vec<usize> {
    let n = cost.len();
    if n <= 2 {
        return (0..n).collect();
    }
    // best[set][last]: cheapest path from 0 through `set` (bits of points 1..n) ending at
    // `last`; point i is bit i-1.
    let m = n - 1;
    let full = 1usize << m;
    let mut best = vec![f64::INFINITY; full * m];
    let mut parent = vec![u8::MAX; full * m];
    for last in 0..m {
        best[(1 << last) * m + last] = cost[0][last + 1];
    }
    for set in 1..full {
        for last in 0..m {
            if set & (1 << last) == 0 {
                continue;
            }
            let here = best[set * m + last];
            if !here.is_finite() {
                continue;
            }
            for next in 0..m {
                if set & (1 << next) != 0 {
                    continue;
                }
                let to = set | (1 << next);
                let c = here + cost[last + 1][next + 1];
                if c < best[to * m + next] {
                    best[to * m + next] = c;
                    parent[to * m + next] = last as u8;
                }
            }
        }
    }
    let set = full - 1;
    let mut last = (0..m)
        .min_by(|&a, &b| {
            let ca = best[set * m + a] + cost[a + 1][0];
            let cb = best[set * m + b] + cost[b + 1][0];
            ca.total_cmp(&cb)
        })
        .unwrap_or(0);
    let mut tour = Vec::with_capacity(n);
    let mut set = set;
    loop {
        tour.push(last + 1);
        let p = parent[set * m + last];
        set &= !(1 << last);
        if p == u8::MAX {
            break;
        }
        last = p as usize;
    }
    tour.push(0);
    tour.reverse();
    tour
}

/// Farthest insertion, then 2-opt and Or-opt until no move shortens the tour; starts at 0.
pub fn heuristic_tour(cost: &[Vec<f64>]) -> Vec<usize> {
    let n = cost.len();
    if n <= 3 {
        return held_karp(cost);
    }
    let mut tour = farthest_insertion(cost);
    // Each pass either shortens the tour or ends the loop; the cap only guards against float
    // noise cycling between equal tours.
    for _ in 0..100 {
        let a = two_opt(cost, &mut tour);
        let b = or_opt(cost, &mut tour);
        if !a && !b {
            break;
        }
    }
    let start = tour.iter().position(|&p| p == 0).unwrap_or(0);
    tour.rotate_left(start);
    tour
}

/// Starts from the two points farthest apart (both ways summed); then repeatedly takes the
/// point farthest from the tour and inserts it where it adds least.
fn farthest_insertion(cost: &[Vec<f64>]) -> Vec<usize> {
    let n = cost.len();
    let (mut a, mut b, mut far) = (0, 1, f64::NEG_INFINITY);
    for (i, row) in cost.iter().enumerate() {
        for (j, &there) in row.iter().enumerate().skip(i + 1) {
            let d = there + cost[j][i];
            if d > far {
                (a, b, far) = (i, j, d);
            }
        }
    }
    let mut tour = vec![a, b];
    let mut in_tour = vec![false; n];
    in_tour[a] = true;
    in_tour[b] = true;
    // Distance of each point to the tour (either direction, nearest tour point).
    let gap = |i: usize, j: usize| cost[i][j].min(cost[j][i]);
    let mut to_tour: Vec<f64> = (0..n).map(|k| gap(k, a).min(gap(k, b))).collect();
    while tour.len() < n {
        let k = (0..n)
            .filter(|&k| !in_tour[k])
            .max_by(|&x, &y| to_tour[x].total_cmp(&to_tour[y]))
            .expect("a point is left");
        let mut best = (f64::INFINITY, 0);
        for i in 0..tour.len() {
            let (p, q) = (tour[i], tour[(i + 1) % tour.len()]);
            let added = cost[p][k] + cost[k][q] - cost[p][q];
            if added < best.0 {
                best = (added, i + 1);
            }
        }
        tour.insert(best.1, k);
        in_tour[k] = true;
        for (j, d) in to_tour.iter_mut().enumerate() {
            *d = d.min(gap(j, k));
        }
    }
    tour
}

/// Improvements smaller than this are float noise.
const EPS: f64 = 1e-9;

/// One sweep of 2-opt moves (reverse `tour[i+1..=j]`), applying each improving one; true if
/// any was applied.
fn two_opt(cost: &[Vec<f64>], tour: &mut [usize]) -> bool {
    let n = tour.len();
    let mut improved = false;
    loop {
        // Prefix sums of the tour's hops driven forwards and backwards, for O(1) moves.
        let mut fwd = vec![0.0; n];
        let mut bwd = vec![0.0; n];
        for k in 1..n {
            fwd[k] = fwd[k - 1] + cost[tour[k - 1]][tour[k]];
            bwd[k] = bwd[k - 1] + cost[tour[k]][tour[k - 1]];
        }
        let mut applied = false;
        'search: for i in 0..n - 2 {
            for j in i + 2..n {
                let (a, b) = (tour[i], tour[i + 1]);
                let (c, d) = (tour[j], tour[(j + 1) % n]);
                if d == a {
                    continue;
                }
                let inner_fwd = fwd[j] - fwd[i + 1];
                let inner_bwd = bwd[j] - bwd[i + 1];
                let delta =
                    cost[a][c] + cost[b][d] + inner_bwd - cost[a][b] - cost[c][d] - inner_fwd;
                if delta < -EPS {
                    tour[i + 1..=j].reverse();
                    applied = true;
                    improved = true;
                    break 'search;
                }
            }
        }
        if !applied {
            return improved;
        }
    }
}

/// One sweep of Or-opt moves (a run of 1 to 3 points moved elsewhere, same direction),
/// applying each improving one; true if any was applied.
fn or_opt(cost: &[Vec<f64>], tour: &mut Vec<usize>) -> bool {
    let n = tour.len();
    let mut improved = false;
    loop {
        let mut applied = None;
        'search: for len in 1..=3.min(n - 2) {
            for i in 0..n {
                let s0 = tour[i];
                let sl = tour[(i + len - 1) % n];
                let p = tour[(i + n - 1) % n];
                let q = tour[(i + len) % n];
                let removed = cost[p][q] - cost[p][s0] - cost[sl][q];
                // Insert between tour[j] and tour[j+1], both outside the run.
                for off in len..n - 1 {
                    let j = (i + off) % n;
                    let (a, b) = (tour[j], tour[(j + 1) % n]);
                    let delta = removed + cost[a][s0] + cost[sl][b] - cost[a][b];
                    if delta < -EPS {
                        applied = Some((i, len, a));
                        break 'search;
                    }
                }
            }
        }
        let Some((i, len, after)) = applied else {
            return improved;
        };
        improved = true;
        let run: Vec<usize> = (0..len).map(|k| tour[(i + k) % n]).collect();
        let mut rest: Vec<usize> = (0..n - len).map(|k| tour[(i + len + k) % n]).collect();
        let at = rest
            .iter()
            .position(|&x| x == after)
            .expect("insertion point")
            + 1;
        rest.splice(at..at, run);
        *tour = rest;
    }
}

/// Why a trip cannot be planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TripError {
    /// An open trip needs a fixed start or a fixed end (OSRM answers `NotImplemented`).
    #[error("This request is not supported")]
    Unsupported,
    /// Some point cannot reach another (OSRM's `NoTrips`).
    #[error("No trip visiting all destinations possible.")]
    NoTrips,
}

/// The trip's options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TripEnds {
    /// Back to the first point of the trip at the end.
    pub roundtrip: bool,
    /// The trip starts at point 0 (`source=first`).
    pub first: bool,
    /// The trip ends at the last point (`destination=last`).
    pub last: bool,
}

/// The order to visit the points of the duration matrix `durations` (`None`: no path) in:
/// a permutation of its indexes; with `roundtrip`, the trip then drives back to the first.
///
/// As OSRM: an open trip must fix its start or its end; a closed trip starts at point 0
/// unless only the end is fixed, then it starts at the last point.
pub fn trip_order(durations: &[Vec<Option<f64>>], ends: TripEnds) -> Result<Vec<usize>, TripError> {
    let n = durations.len();
    if !ends.roundtrip && !ends.first && !ends.last {
        return Err(TripError::Unsupported);
    }
    if durations.iter().flatten().any(Option::is_none) {
        return Err(TripError::NoTrips);
    }
    if n < 2 {
        return Ok((0..n).collect());
    }
    let mut cost: Vec<Vec<f64>> = durations
        .iter()
        .map(|row| row.iter().map(|c| c.unwrap_or(BARRED)).collect())
        .collect();
    let (start, end) = (0, n - 1);
    if ends.first && ends.last {
        // Start .. end as a closed tour: end -> start is free and the only way into start or
        // out of end.
        for (i, row) in cost.iter_mut().enumerate() {
            if i != start {
                row[start] = BARRED;
            }
        }
        for (j, c) in cost[end].iter_mut().enumerate() {
            if j != end {
                *c = BARRED;
            }
        }
        cost[end][start] = 0.0;
        cost[start][end] = BARRED;
    } else if !ends.roundtrip && ends.first {
        // Nothing to pay for the way back to the start.
        for row in cost.iter_mut() {
            row[start] = 0.0;
        }
    } else if !ends.roundtrip && ends.last {
        // Nothing to pay for leaving the end.
        cost[end].iter_mut().for_each(|c| *c = 0.0);
    }
    let mut tour = solve_tour(&cost);
    let rotate_to = |tour: &mut Vec<usize>, point: usize| {
        let at = tour.iter().position(|&p| p == point).unwrap_or(0);
        tour.rotate_left(at);
    };
    if !ends.last || ends.first {
        rotate_to(&mut tour, start);
    } else if ends.roundtrip {
        rotate_to(&mut tour, end);
    } else {
        // The point after the end starts the trip, so it finishes at the end.
        let at = tour.iter().position(|&p| p == end).unwrap_or(0);
        tour.rotate_left((at + 1) % n);
    }
    Ok(tour)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (the route crate has no `rand`).
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// The optimum by trying every order of points 1..n.
    fn brute_force(cost: &[Vec<f64>]) -> f64 {
        fn go(cost: &[Vec<f64>], tour: &mut Vec<usize>, left: &mut Vec<usize>, best: &mut f64) {
            if left.is_empty() {
                *best = best.min(tour_cost(cost, tour));
                return;
            }
            for k in 0..left.len() {
                let p = left.remove(k);
                tour.push(p);
                go(cost, tour, left, best);
                tour.pop();
                left.insert(k, p);
            }
        }
        let mut best = f64::INFINITY;
        go(
            cost,
            &mut vec![0],
            &mut (1..cost.len()).collect(),
            &mut best,
        );
        best
    }

    /// Asymmetric costs: distances between random points plus a random one-way detour.
    fn random_matrix(rng: &mut XorShift, n: usize) -> Vec<Vec<f64>> {
        let pts: Vec<(f64, f64)> = (0..n).map(|_| (rng.next(), rng.next())).collect();
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        if i == j {
                            return 0.0;
                        }
                        let (dx, dy) = (pts[i].0 - pts[j].0, pts[i].1 - pts[j].1);
                        (dx * dx + dy * dy).sqrt() * 1000.0 + rng.next() * 200.0
                    })
                    .collect()
            })
            .collect()
    }

    fn is_permutation(tour: &[usize], n: usize) -> bool {
        let mut seen = vec![false; n];
        tour.len() == n
            && tour
                .iter()
                .all(|&p| p < n && !std::mem::replace(&mut seen[p], true))
    }

    #[test]
    fn held_karp_is_optimal_on_random_asymmetric_instances() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for n in 1..=8 {
            for _ in 0..10 {
                let cost = random_matrix(&mut rng, n);
                let tour = solve_tour(&cost);
                assert!(
                    is_permutation(&tour, n) && tour.first() == Some(&0),
                    "{tour:?}"
                );
                let optimum = brute_force(&cost);
                assert!((tour_cost(&cost, &tour) - optimum).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn heuristic_gives_valid_tours_no_worse_than_farthest_insertion() {
        let mut rng = XorShift(42);
        for n in [4, 12, 30, 60] {
            let cost = random_matrix(&mut rng, n);
            let tour = heuristic_tour(&cost);
            assert!(is_permutation(&tour, n) && tour[0] == 0);
            let start = farthest_insertion(&cost);
            assert!(tour_cost(&cost, &tour) <= tour_cost(&cost, &start) + 1e-6);
        }
    }

    #[test]
    fn trip_ends_are_respected() {
        let mut rng = XorShift(7);
        for n in [2, 5, 9, 14] {
            let cost = random_matrix(&mut rng, n);
            let m: Vec<Vec<Option<f64>>> = cost
                .iter()
                .map(|r| r.iter().map(|&c| Some(c)).collect())
                .collect();
            let order = |roundtrip, first, last| {
                trip_order(
                    &m,
                    TripEnds {
                        roundtrip,
                        first,
                        last,
                    },
                )
            };
            for (rt, f, l) in [
                (true, false, false),
                (true, true, false),
                (true, true, true),
                (false, true, false),
                (false, true, true),
                (false, false, true),
            ] {
                let t = order(rt, f, l).unwrap();
                assert!(is_permutation(&t, n), "{t:?}");
                if f || !l {
                    assert_eq!(t[0], 0, "{rt} {f} {l}");
                }
                if l && !rt {
                    assert_eq!(t[n - 1], n - 1, "{rt} {f} {l}");
                }
                if l && rt && !f {
                    assert_eq!(t[0], n - 1);
                }
                if l && f {
                    assert_eq!((t[0], t[n - 1]), (0, n - 1));
                }
            }
            assert_eq!(order(false, false, false), Err(TripError::Unsupported));
        }
        let mut m = vec![vec![Some(1.0); 3]; 3];
        m[1][2] = None;
        let ends = TripEnds {
            roundtrip: true,
            first: false,
            last: false,
        };
        assert_eq!(trip_order(&m, ends), Err(TripError::NoTrips));
    }

    #[test]
    fn an_open_trip_from_the_first_point_is_the_shortest_path_order() {
        // Points on a line 0, 3, 1, 2 (positions); from 0 the best open trip is 0 2 3 1.
        let pos: [f64; 4] = [0.0, 3.0, 1.0, 2.0];
        let m: Vec<Vec<Option<f64>>> = pos
            .iter()
            .map(|a| pos.iter().map(|b| Some((a - b).abs())).collect())
            .collect();
        let t = trip_order(
            &m,
            TripEnds {
                roundtrip: false,
                first: true,
                last: false,
            },
        )
        .unwrap();
        assert_eq!(t, vec![0, 2, 3, 1]);
    }
}
