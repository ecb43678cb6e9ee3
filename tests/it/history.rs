//! Historical profiles end to end on a real graph: matched pings applied by the real state
//! machine land in hourly Parquet files through the observation log, `meridian traffic history`
//! (polars) turns them into a profile file, and routes departing in the slow hour take longer
//! than at night, live data still wins while fresh, and A* stays exact under profiles.

use crate::common::{graph_dir, junctions, router, scratch_dir};
use crate::exactness::check_pairs_with;
use meridian::cluster::state_machine::{StateMachine, TrafficState};
use meridian::cluster::{LoggedPing, PingBatch, TypeConfig};
use meridian::graph::{EdgeId, GlobalId, GraphStore};
use meridian::route::search::SearchSpace;
use meridian::route::Router;
use meridian::spatial::LatLon;
use meridian::traffic::history::{
    build_profiles, time_of_week_bin, BuildOptions, BuildReport, ObservationSource, BIN_MS,
};
use meridian::traffic::live::DEFAULT_FRESH_MS;
use meridian::traffic::observations::{self, ObservationLog, ObservationOptions};
use meridian::traffic::{HistoricalProfiles, LiveTraffic};
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftSnapshotBuilder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const GRAPH: &str = "small/liechtenstein-2015-07";
/// Monday 2026-11-23 00:00 UTC.
const MONDAY_MS: i64 = 1_795_392_000_000;
const HOUR_MS: i64 = 3_600_000;
const WEEK_MS: i64 = 7 * 24 * HOUR_MS;

fn entry(index: u64, pings: Vec<LoggedPing>) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(PingBatch { pings }),
    }
}

/// Observations of `slowed` edges: two Mondays 08:00-09:00 UTC, one ping every 3 minutes per
/// edge at 8..12 km/h (median 10 per 15-minute bin), plus two stray 5 km/h pings per edge at 03:00
/// on the second Monday, too few to make a profile. Returned as log entries of up to 50 pings, in time order.
fn week_pattern(slowed: &[EdgeId]) -> (Vec<Vec<LoggedPing>>, usize) {
    let mut pings = Vec::new();
    let mut seq = 0;
    let mut ping = |device: u64, ts_ms: i64, edge: EdgeId, speed: f32| {
        seq += 1;
        LoggedPing {
            device,
            seq,
            ts_ms,
            lat: 0.0,
            lon: 0.0,
            edge: Some((edge.tile, edge.local)),
            speed_kmh: Some(speed),
        }
    };
    for week in [-1, 0] {
        let monday = MONDAY_MS + week * WEEK_MS;
        for (d, &edge) in slowed.iter().enumerate().filter(|_| week == 0) {
            for k in 0..2 {
                pings.push(ping(d as u64, monday + 3 * HOUR_MS + k * 60_000, edge, 5.0));
            }
        }
        for minute in (0..60).step_by(3) {
            for (d, &edge) in slowed.iter().enumerate() {
                let speed = 8.0 + ((minute / 3 + d as i64) % 5) as f32;
                pings.push(ping(
                    d as u64,
                    monday + 8 * HOUR_MS + minute * 60_000,
                    edge,
                    speed,
                ));
            }
        }
    }
    let n = pings.len();
    (pings.chunks(50).map(|c| c.to_vec()).collect(), n)
}

/// Applies `batches` as log entries `first..` through a state machine (state in `dir/state`)
/// recording into `dir/observations`, then builds a Raft snapshot; returns the highest
/// watermark on disk right after the snapshot, before the log is dropped.
fn apply(
    dir: &Path,
    state: &str,
    store: &Arc<GraphStore>,
    batches: &[Vec<LoggedPing>],
    first: u64,
) -> Option<u64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let log = ObservationLog::open(
        dir.join("observations"),
        store.clone(),
        // Small enough that the row limit splits hours into several files too.
        ObservationOptions { flush_rows: 300 },
    )
    .unwrap();
    let mut sm = StateMachine::open(dir.join(state), Arc::new(TrafficState::default()))
        .unwrap()
        .with_observations(Arc::new(log));
    let entries: Vec<_> = batches
        .iter()
        .enumerate()
        .map(|(i, b)| entry(first + i as u64, b.clone()))
        .collect();
    rt.block_on(sm.apply(entries)).unwrap();
    let mut builder = rt.block_on(sm.get_snapshot_builder());
    rt.block_on(builder.build_snapshot()).unwrap();
    observations::files(&dir.join("observations"))
        .unwrap()
        .iter()
        .filter_map(|p| p.file_stem()?.to_str()?.split_once('-')?.1.parse().ok())
        .max()
    // Dropping the state machine and builder drops the log, which writes what is buffered.
}

/// A pair of junctions with a route over 6 km and the middle third of its edges.
fn slow_road(router: &Router) -> (LatLon, LatLon, Vec<EdgeId>) {
    let nodes = junctions(router);
    let mut rng = StdRng::seed_from_u64(21);
    let mut space = SearchSpace::new();
    loop {
        let a = nodes[rng.random_range(0..nodes.len())];
        let b = nodes[rng.random_range(0..nodes.len())];
        let Ok(r) = router.route(&[a, b], false) else {
            continue;
        };
        if r.route.distance_m < 6_000.0 {
            continue;
        }
        let sa = router.snap(a).unwrap().unwrap();
        let sb = router.snap(b).unwrap().unwrap();
        let path = router.leg(&mut space, &sa, &sb).unwrap();
        let n = path.edges.len();
        let slowed: Vec<EdgeId> = path.edges[n / 3..2 * n / 3]
            .iter()
            .map(|p| p.edge)
            .collect();
        if slowed.len() >= 3 {
            return (a, b, slowed);
        }
    }
}

#[test]
fn weekly_pattern_becomes_a_profile_that_routes_use() {
    let plain = router(GRAPH);
    let store = plain.store.clone();
    let (a, b, slowed) = slow_road(&plain);
    let dir = scratch_dir("history");
    let (batches, written) = week_pattern(&slowed);

    // Apply through the real state machine: the snapshot flushes every entry it covers. Then
    // "restart" with a state from before these entries (as when the log is replayed after the
    // last snapshot): the re-applied entries are at or below the watermark on disk and are not
    // written twice.
    let last = batches.len() as u64;
    assert_eq!(apply(&dir, "state", &store, &batches, 1), Some(last));
    let obs_dir = dir.join("observations");
    let files_once = observations::files(&obs_dir).unwrap();
    assert_eq!(apply(&dir, "state-old", &store, &batches, 1), Some(last));
    assert_eq!(observations::files(&obs_dir).unwrap(), files_once);
    let names: Vec<String> = files_once
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    // Hourly files by ping time (08:00 split by the row limit).
    for hour in ["2026111608", "2026112303", "2026112308"] {
        assert!(
            names.iter().any(|n| n.starts_with(hour)),
            "no file for {hour}: {names:?}"
        );
    }
    // One file per 300 rows, plus a partial file per hour and per entry straddling two hours.
    assert!(names.len() <= written / 300 + 6, "{names:?}");

    // The library build: per-bin medians, sparse bins dropped.
    let source = ObservationSource::new("node", files_once.clone());
    let (profiles, report) = build_profiles(&[source], &store, &BuildOptions::default()).unwrap();
    assert_eq!(report.rows_read, written as u64);
    assert_eq!(report.rows_used, written as u64);
    assert_eq!(report.entries, last);
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    assert_eq!(report.bins_wrong_way, 0);
    let monday_8 = time_of_week_bin(MONDAY_MS + 8 * HOUR_MS);
    let slow_bins: HashSet<u16> = (monday_8..monday_8 + 4).collect();
    let entries = profiles.entries();
    assert_eq!(entries.len(), slowed.len() * 4, "{entries:?}");
    for (edge, bin, speed) in &entries {
        assert!(slowed.contains(edge));
        assert!(slow_bins.contains(bin), "bin {bin}");
        assert_eq!(*speed, 10.0, "median of 8..12 km/h");
    }

    // The CLI writes the same profile to a file that loads back.
    let out = dir.join("porto.profiles");
    let stdout = history_cli(std::slice::from_ref(&obs_dir), &out);
    assert!(
        stdout.contains(&format!("read {written} observations")),
        "{stdout}"
    );
    let loaded = HistoricalProfiles::load(&out, &store).unwrap();
    assert_eq!(loaded.entries(), entries);

    // Routing: slow on Monday 08:30 (this week or any other), free flow at 03:00 and Tuesday.
    let with = Router::new(store.clone()).with_profiles(Arc::new(loaded));
    let free = plain.route(&[a, b], false).unwrap().route.duration_s;
    let at = |t: i64| with.route_at(&[a, b], false, Some(t)).unwrap();
    let rush = at(MONDAY_MS + 8 * HOUR_MS + 30 * 60_000);
    let rush_next_week = at(MONDAY_MS + WEEK_MS + 8 * HOUR_MS + 45 * 60_000);
    let night = at(MONDAY_MS + 3 * HOUR_MS);
    let tuesday = at(MONDAY_MS + 24 * HOUR_MS + 8 * HOUR_MS + 30 * 60_000);
    assert!(
        rush.route.duration_s > free + 10.0,
        "Monday 08:30 must be slower: {} vs free flow {free}",
        rush.route.duration_s
    );
    assert!((rush_next_week.route.duration_s - rush.route.duration_s).abs() < 1e-6);
    assert!((night.route.duration_s - free).abs() < 1e-6, "03:00");
    assert!((tuesday.route.duration_s - free).abs() < 1e-6, "Tuesday");

    // The rush-hour route leaves the slowed road (or crawls through it and costs more).
    let mut space = SearchSpace::new();
    let (sa, sb) = (
        with.snap(a).unwrap().unwrap(),
        with.snap(b).unwrap().unwrap(),
    );
    let rush_model = with.cost_model_at(MONDAY_MS + 8 * HOUR_MS + 30 * 60_000);
    let path = with.leg_with(&rush_model, &mut space, &sa, &sb).unwrap();
    let slowed_set: HashSet<EdgeId> = slowed.iter().copied().collect();
    let kept = path
        .edges
        .iter()
        .filter(|p| slowed_set.contains(&p.edge))
        .count();
    assert!(kept < slowed.len(), "still on all {kept} slowed edges");

    // Fresh live data overrides the profile: live free-flow speeds on the slowed road bring the
    // Monday 08:30 route back to free flow; once they age out, the profile applies again.
    let now = MONDAY_MS + 8 * HOUR_MS + 30 * 60_000;
    let live = LiveTraffic::new();
    for &e in &slowed {
        let free_kmh = store
            .tile(e.tile)
            .unwrap()
            .edge(e.local)
            .speed_kmh
            .to_native();
        live.observe(e, free_kmh, now - 60_000);
    }
    with.traffic
        .publish(live.snapshot(&store, now, DEFAULT_FRESH_MS));
    assert!((at(now).route.duration_s - free).abs() < 1e-6, "live wins");
    with.traffic
        .publish(live.snapshot(&store, now + DEFAULT_FRESH_MS + 60_000, DEFAULT_FRESH_MS));
    assert!((at(now).route.duration_s - rush.route.duration_s).abs() < 1e-6);
}

#[test]
fn tiled_search_stays_exact_under_profiles_and_live_traffic() {
    // Random profiles on a third of the edges in one bin, from a crawl up to the graph's top
    // speed (many faster than free flow), plus live data on some edges: A* must still match
    // Dijkstra under the same speeds.
    let plain = router(GRAPH);
    let store = plain.store.clone();
    let top = store.manifest().max_speed_kmh;
    let depart = MONDAY_MS + 17 * HOUR_MS;
    let bin = time_of_week_bin(depart);
    let mut rng = StdRng::seed_from_u64(123);
    let mut bins = Vec::new();
    let live = LiveTraffic::new();
    for t in 0..store.tile_count() {
        for l in 0..store.tile(t).unwrap().edges.len() as u32 {
            let id = GlobalId::new(t, l);
            if rng.random_bool(0.33) {
                bins.push((id, bin, rng.random_range(3.0..top)));
                // Other bins must not matter.
                bins.push((id, bin + 1, 1.0));
            }
            if rng.random_bool(0.05) {
                live.observe(id, rng.random_range(3.0..top), depart);
            }
        }
    }
    let profiles = HistoricalProfiles::from_bins(&store, bins).unwrap();
    assert!(
        profiles.max_speedup(bin) > 1.5,
        "{}",
        profiles.max_speedup(bin)
    );
    let with = Router::new(store.clone()).with_profiles(Arc::new(profiles));
    with.traffic
        .publish(live.snapshot(&store, depart, DEFAULT_FRESH_MS));
    let model = with.cost_model_at(depart);
    assert_eq!(model.speeds.bin(), bin);
    check_pairs_with(&with, &model, GRAPH, 300, 5);
    assert_eq!(time_of_week_bin(depart + BIN_MS), bin + 1);
}

/// Four edges of the graph, for the merge tests.
fn some_edges(store: &GraphStore) -> Vec<EdgeId> {
    (0..store.tile_count())
        .find(|&t| store.tile(t).unwrap().edges.len() >= 4)
        .map(|t| (0..4).map(|l| GlobalId::new(t, l)).collect())
        .unwrap()
}

/// Log entries 1..=8 of pings on `edges`: entries 1 and 2 one 5 km/h ping per edge on Monday
/// 03:00 (2 samples per bin, under the default `min_samples` of 3, but 6 if counted three
/// times); entries 3..=8 one ping per edge in the Monday 08:00 bin at 10, 20, .. 60 km/h
/// (median 35; 45 without entries 4 and 5; 40 if all but those are counted twice).
fn merge_pattern(edges: &[EdgeId]) -> Vec<Vec<LoggedPing>> {
    let mut seq = 0;
    let mut batch = |ts_ms: i64, speed: f32| -> Vec<LoggedPing> {
        edges
            .iter()
            .enumerate()
            .map(|(d, e)| {
                seq += 1;
                LoggedPing {
                    device: d as u64,
                    seq,
                    ts_ms,
                    lat: 0.0,
                    lon: 0.0,
                    edge: Some((e.tile, e.local)),
                    speed_kmh: Some(speed),
                }
            })
            .collect()
    };
    let mut out = Vec::new();
    for k in 0..2 {
        out.push(batch(MONDAY_MS + 3 * HOUR_MS + k * 60_000, 5.0));
    }
    for k in 0..6 {
        out.push(batch(
            MONDAY_MS + 8 * HOUR_MS + k * 60_000,
            10.0 * (k + 1) as f32,
        ));
    }
    out
}

/// Records the entries `indexes` (1-based) of `batches` with the real observation log, as a
/// node's apply path does, into `dir`; files hold at most `flush_rows` rows. A follower that
/// installed a snapshot is one whose indexes skip the entries the snapshot covered.
fn record(
    dir: &Path,
    store: &Arc<GraphStore>,
    batches: &[Vec<LoggedPing>],
    indexes: impl IntoIterator<Item = u64>,
    flush_rows: usize,
) -> ObservationSource {
    let log = ObservationLog::open(dir, store.clone(), ObservationOptions { flush_rows }).unwrap();
    for i in indexes {
        let rows = batches[i as usize - 1]
            .iter()
            .map(|p| {
                let (tile, local) = p.edge.unwrap();
                (
                    GlobalId::new(tile, local).pack(),
                    p.ts_ms,
                    p.speed_kmh.unwrap(),
                )
            })
            .collect();
        log.record(i, rows);
    }
    drop(log); // writes what is buffered
    source(dir)
}

fn source(dir: &Path) -> ObservationSource {
    ObservationSource::from_path(dir).unwrap()
}

fn build(
    sources: &[ObservationSource],
    store: &GraphStore,
) -> (Vec<(EdgeId, u16, f32)>, BuildReport) {
    let (profiles, report) = build_profiles(sources, store, &BuildOptions::default()).unwrap();
    (profiles.entries(), report)
}

/// The leader's complete directory (written by the real state machine) and a follower's that
/// lacks entries 4 and 5, as if it had caught up by installing a snapshot up to 5 after
/// recording 1..=3.
fn leader_and_follower(
    dir: &Path,
    store: &Arc<GraphStore>,
    batches: &[Vec<LoggedPing>],
) -> (ObservationSource, ObservationSource) {
    assert_eq!(
        apply(&dir.join("leader"), "state", store, batches, 1),
        Some(8)
    );
    let leader = source(&dir.join("leader/observations"));
    let follower = record(
        &dir.join("follower/observations"),
        store,
        batches,
        [1, 2, 3, 6, 7, 8],
        5,
    );
    (leader, follower)
}

#[test]
fn merged_nodes_fill_a_follower_gap() {
    let store = router(GRAPH).store.clone();
    let edges = some_edges(&store);
    let batches = merge_pattern(&edges);
    let dir = scratch_dir("follower-gap");
    let (leader, follower) = leader_and_follower(&dir, &store, &batches);
    // Different file boundaries: entries cannot be matched up by file.
    assert_ne!(leader.files.len(), follower.files.len());

    let (complete, _) = build(std::slice::from_ref(&leader), &store);
    let monday_8 = time_of_week_bin(MONDAY_MS + 8 * HOUR_MS);
    let expected: Vec<_> = edges.iter().map(|&e| (e, monday_8, 35.0)).collect();
    assert_eq!(complete, expected);
    // The gap matters: the follower alone has other medians.
    let (alone, _) = build(std::slice::from_ref(&follower), &store);
    assert_eq!(
        alone,
        edges
            .iter()
            .map(|&e| (e, monday_8, 45.0))
            .collect::<Vec<_>>()
    );

    // Either order: every entry once, the follower's gap filled from the leader.
    for sources in [
        [leader.clone(), follower.clone()],
        [follower.clone(), leader.clone()],
    ] {
        let (merged, report) = build(&sources, &store);
        assert_eq!(merged, complete);
        assert_eq!(report.rows_used, 8 * 4);
        assert_eq!(report.rows_read, (8 + 6) * 4);
    }
}

#[test]
fn identical_replicas_count_once() {
    let store = router(GRAPH).store.clone();
    let edges = some_edges(&store);
    let batches = merge_pattern(&edges);
    let dir = scratch_dir("replicas");
    assert_eq!(
        apply(&dir.join("n1"), "state", &store, &batches, 1),
        Some(8)
    );
    let replicas = [
        source(&dir.join("n1/observations")),
        record(&dir.join("n2"), &store, &batches, 1..=8, 3),
        record(&dir.join("n3"), &store, &batches, 1..=8, 1_000),
    ];
    let (one, _) = build(&replicas[..1], &store);
    // Counted three times, the 03:00 bins would reach `min_samples`.
    let monday_3 = time_of_week_bin(MONDAY_MS + 3 * HOUR_MS);
    assert!(one.iter().all(|(_, bin, _)| *bin != monday_3), "{one:?}");
    assert_eq!(one.len(), edges.len());
    let (three, report) = build(&replicas, &store);
    assert_eq!(three, one);
    assert_eq!(report.rows_read, 3 * 8 * 4);
    assert_eq!(report.rows_used, 8 * 4);
    assert_eq!(report.entries, 8);
}

#[test]
fn report_counts_entries_per_source_and_missing_ranges() {
    let plain = router(GRAPH);
    let store = plain.store.clone();
    let edges = some_edges(&store);
    let batches = merge_pattern(&edges);
    let dir = scratch_dir("merge-report");
    let (leader, follower) = leader_and_follower(&dir, &store, &batches);
    let counts = |r: &BuildReport| -> Vec<(u64, u64, u64, u64)> {
        r.sources
            .iter()
            .map(|s| (s.rows, s.entries, s.entries_used, s.rows_used))
            .collect()
    };

    let (_, report) = build(&[follower.clone(), leader.clone()], &store);
    assert_eq!(report.entries, 8);
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    assert_eq!(counts(&report), vec![(24, 6, 6, 24), (32, 8, 2, 8)]);
    assert_eq!(report.sources[0].name, follower.name);
    assert_eq!(report.files, leader.files.len() + follower.files.len());

    let (_, report) = build(&[leader.clone(), follower.clone()], &store);
    assert_eq!(counts(&report), vec![(32, 8, 8, 32), (24, 6, 0, 0)]);

    // Entries no source has: the follower alone lacks 4 and 5; a second follower with the
    // same gap and a later one (7..=8 lost too) leaves them missing, and 7..=8 are filled.
    let (_, report) = build(std::slice::from_ref(&follower), &store);
    assert_eq!(report.missing, vec![(4, 5)]);
    assert_eq!(report.entries, 6);
    let other = record(&dir.join("other"), &store, &batches, [1, 2, 3, 6], 1_000);
    let (_, report) = build(&[other.clone(), follower.clone()], &store);
    assert_eq!(report.missing, vec![(4, 5)]);
    assert_eq!(counts(&report), vec![(16, 4, 4, 16), (24, 6, 2, 8)]);

    // The CLI takes several directories and prints the same counts.
    let out = dir.join("merged.profiles");
    let stdout = history_cli(
        &[
            dir.join("follower/observations"),
            dir.join("leader/observations"),
        ],
        &out,
    );
    assert!(stdout.contains("8 log entries, 32 rows used"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{}: {} files, 24 rows, 6 entries (2 missing), 6 entries used",
            follower.name,
            follower.files.len()
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("rows in no source"), "{stdout}");
    let (complete, _) = build(std::slice::from_ref(&leader), &store);
    assert_eq!(
        HistoricalProfiles::load(&out, &store).unwrap().entries(),
        complete
    );
}

/// Runs `meridian traffic history` on the observation directories into `out`; its stdout, after
/// asserting it succeeded.
fn history_cli(observations: &[PathBuf], out: &Path) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_meridian"));
    cmd.args(["traffic", "history"]);
    for dir in observations {
        cmd.arg("--observations").arg(dir);
    }
    let cli = cmd
        .arg("--graph")
        .arg(graph_dir(GRAPH))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&cli.stdout).into_owned();
    assert!(
        cli.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    stdout
}
