//! Answers next to osrm-routed's, recorded: the anchors' fixed query sets (`../shared/anchors`,
//! random pairs over each extract) with OSRM 26.10 CH's answers to them. Meridian routes the same
//! pairs in-process, with the overlay as the server does, and must agree with OSRM on which
//! pairs have a route and, on most pairs, on the distance: the two speed models differ (OSRM's
//! car.lua vs. our profile), so durations are compared only as a median ratio, and distances
//! within 1% on a share measured here (Liechtenstein 1000 pairs, Porto the first 200).

use crate::common::{graph_dir_deep, shared_data};
use meridian::graph::GraphStore;
use meridian::route::Router;
use meridian::spatial::LatLon;
use std::sync::Arc;

/// One recorded OSRM answer: the pair, and OSRM's distance and duration if it found a route.
struct Recorded {
    from: LatLon,
    to: LatLon,
    osrm: Option<(f64, f64)>,
}

fn recorded(dataset: &str) -> Vec<Recorded> {
    let path = shared_data()
        .parent()
        .unwrap()
        .join("anchors")
        .join(format!("results-osrm-ch-{dataset}.csv"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (lon1, lat1, lon2, lat2) = (col("lon1"), col("lat1"), col("lon2"), col("lat2"));
    let (status, duration, distance) = (col("status"), col("duration_s"), col("distance_m"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let num = |i: usize| f[i].parse::<f64>().unwrap();
            Recorded {
                from: LatLon::new(num(lat1), num(lon1)),
                to: LatLon::new(num(lat2), num(lon2)),
                osrm: (f[status] == "Ok").then(|| (num(distance), num(duration))),
            }
        })
        .collect()
}

/// `(pairs, routed by both, same found/not found, within 1% distance, median duration ratio)`.
fn compare(extract: &str, dataset: &str, pairs: usize) -> (usize, usize, usize, usize, f64) {
    let store = GraphStore::open(graph_dir_deep(extract)).unwrap();
    let router = Router::new(Arc::new(store))
        .with_overlay(Default::default())
        .unwrap();
    let answers = recorded(dataset);
    let (mut both, mut agree, mut close) = (0, 0, 0);
    let mut ratios = Vec::new();
    for r in answers.iter().take(pairs) {
        let ours = router
            .route(&[r.from, r.to], false)
            .ok()
            .map(|a| (a.route.distance_m, a.route.duration_s));
        if ours.is_some() == r.osrm.is_some() {
            agree += 1;
        }
        if let (Some((d, t)), Some((od, ot))) = (ours, r.osrm) {
            both += 1;
            if (d - od).abs() <= 0.01 * od.max(1.0) {
                close += 1;
            }
            if ot > 0.0 {
                ratios.push(t / ot);
            }
        }
    }
    ratios.sort_by(f64::total_cmp);
    let median = ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN);
    let n = pairs.min(answers.len());
    eprintln!(
        "{dataset}: {n} pairs, {both} routed by both, {agree} agree on found/not found, \
         {close} within 1% of OSRM's distance, median duration ratio {median:.3}"
    );
    (n, both, agree, close, median)
}

#[test]
fn answers_agree_with_recorded_osrm_routed() {
    for (extract, dataset, pairs, min_close) in [
        // Measured on 2026-12-04: 895 of 1000 and 183 of 200 within 1%; median duration
        // ratios 0.991 and 0.996.
        (
            "small/liechtenstein-2015-07",
            "liechtenstein-2015-07",
            1000,
            0.85,
        ),
        ("medium/porto-2015-06", "porto-2015-06", 200, 0.85),
    ] {
        let (n, both, agree, close, median) = compare(extract, dataset, pairs);
        assert!(
            agree as f64 >= 0.98 * n as f64,
            "{dataset}: {agree} of {n} agree on found"
        );
        assert!(
            close as f64 >= min_close * both as f64,
            "{dataset}: {close} of {both} within 1% of OSRM's distance"
        );
        assert!(
            (0.9..1.1).contains(&median),
            "{dataset}: median duration ratio {median}"
        );
    }
}
