//! Map matching on small drawn maps (see `graph::build::ascii_map`), imported by the real
//! importer: which road and which direction a ping goes to, and the speed it tells.

use super::*;
use graph::build::ascii_map::AsciiMap;

const PRIMARY: &[(&str, &str)] = &[("highway", "primary")];

/// Two parallel two-way streets 20 m apart (one row), 220 m long (eleven characters), west to
/// east.
fn streets() -> (GraphStore, AsciiMap, tempfile::TempDir) {
    let map = AsciiMap::parse(
        "
        a----------b
        c----------d
        ",
        20.0,
    )
    .unwrap()
    // Joined at both ends, so the four nodes are one strongly connected graph.
    .way("ab", PRIMARY)
    .way("cd", PRIMARY)
    .way("ac", PRIMARY)
    .way("bd", PRIMARY);
    let dir = tempfile::tempdir().unwrap();
    map.import(dir.path()).expect("the drawn map imports");
    let store = GraphStore::open(dir.path()).expect("the graph opens");
    (store, map, dir)
}

/// A ping a fraction `t` of the way from `from` to `to`, `north_m` metres north of that line.
fn ping_between(map: &AsciiMap, from: char, to: char, t: f64, north_m: f64) -> Ping {
    let p = map
        .coordinate(from)
        .unwrap()
        .lerp(map.coordinate(to).unwrap(), t);
    Ping {
        device: 1,
        seq: 1,
        ts_ms: 1_800_000_000_000,
        lat: p.lat + north_m / 111_320.0,
        lon: p.lon,
        speed_ms: None,
        heading_deg: None,
        accuracy_m: Some(5.0),
    }
}

/// Which drawn street an edge is and which way it is driven: (tail, head) as drawn letters.
fn ends(store: &GraphStore, map: &AsciiMap, edge: EdgeId) -> (char, char) {
    let tile = store.tile(edge.tile).unwrap();
    let e = tile.edge(edge.local);
    let shape: Vec<LatLon> = tile.shape(e).collect();
    let letter = |p: LatLon| {
        "abcd"
            .chars()
            .min_by(|x, y| {
                let d = |c| map.coordinate(c).unwrap().haversine_m(p);
                d(*x).total_cmp(&d(*y))
            })
            .unwrap()
    };
    (letter(shape[0]), letter(*shape.last().unwrap()))
}

#[test]
fn a_ping_goes_to_the_nearer_street_in_the_direction_of_its_heading() {
    let (store, map, _dir) = streets();
    let m = Matcher::new();
    // 6 m south of the northern street (14 m north of the southern one), heading east.
    let east = Ping {
        heading_deg: Some(90.0),
        speed_ms: Some(10.0),
        ..ping_between(&map, 'a', 'b', 0.5, -6.0)
    };
    let got = m
        .match_ping(&store, &east)
        .unwrap()
        .expect("a road is near");
    assert_eq!(ends(&store, &map, got.edge), ('a', 'b'));
    // The same place heading west is the same street driven the other way.
    let west = Ping {
        device: 2,
        heading_deg: Some(270.0),
        ..east.clone()
    };
    let got = m.match_ping(&store, &west).unwrap().unwrap();
    assert_eq!(ends(&store, &map, got.edge), ('b', 'a'));
    // The receiver's speed is the ping's speed.
    assert!(
        got.speed_kmh.is_some_and(|k| (k - 36.0).abs() < 1e-3),
        "{got:?}"
    );
}

#[test]
fn without_a_speed_the_distance_along_the_road_since_the_last_fix_gives_one() {
    let (store, map, _dir) = streets();
    let m = Matcher::new();
    let first = ping_between(&map, 'c', 'd', 0.2, 0.0);
    let got = m.match_ping(&store, &first).unwrap().unwrap();
    assert_eq!(got.speed_kmh, None, "a first fix tells no speed");
    // Half the street further east 10 s later: that speed, and the direction follows.
    let second = Ping {
        seq: 2,
        ts_ms: first.ts_ms + 10_000,
        ..ping_between(&map, 'c', 'd', 0.7, 0.0)
    };
    let got = m.match_ping(&store, &second).unwrap().unwrap();
    assert_eq!(ends(&store, &map, got.edge), ('c', 'd'));
    let half_m = 0.5
        * map
            .coordinate('c')
            .unwrap()
            .haversine_m(map.coordinate('d').unwrap());
    let kmh = got.speed_kmh.expect("derived from the road distance");
    assert!(
        (kmh as f64 - half_m / 10.0 * 3.6).abs() < 0.5,
        "{kmh} for {half_m} m in 10 s"
    );
}

#[test]
fn a_ping_far_from_every_road_is_not_matched() {
    let (store, map, _dir) = streets();
    let m = Matcher::new();
    // 60 m north of the northern street: beyond the 30 m radius plus the 5 m accuracy.
    let far = ping_between(&map, 'a', 'b', 0.5, 60.0);
    assert_eq!(m.match_ping(&store, &far).unwrap(), None);
    assert_eq!(m.tracked_devices(), 0);
}
