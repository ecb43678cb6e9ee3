//! The shard map: which Raft group (shard) owns which geohash prefixes. Every process of a
//! cluster reads the same map (a JSON file, checked at start, with a version) and sends each ping
//! to the group of the longest prefix of its position's geohash; the empty prefix `""` owns what
//! no other prefix covers, so every position has exactly one shard.
//!
//! ```json
//! {"version": 1, "shards": [{"id": 0, "prefixes": ["", "ez3f"]}, {"id": 1, "prefixes": ["ez3g"]}]}
//! ```
//!
//! [`ShardMap::split`] cuts a graph's tiles into `n` shards of about equal edge counts along the
//! geohash (Z) order, at the coarsest precision that has enough cells.

use serde::{Deserialize, Serialize};
use spatial::geohash::Cell;
use spatial::LatLon;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// A shard's id: also its Raft group's id (in RPC paths, data directories and log lines).
pub type ShardId = u32;

/// File name of the shard map in a cluster's data directory (`meridian up --shards`).
pub const SHARD_MAP_FILE: &str = "shards.json";

#[derive(Debug, thiserror::Error)]
pub enum ShardMapError {
    #[error("cannot read the shard map {path}: {message}")]
    Read { path: String, message: String },
    #[error("the shard map is invalid: {0}")]
    Invalid(String),
}

/// One shard as the file lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub id: ShardId,
    /// Geohash prefixes it owns; `""` is everything no other shard's prefix covers.
    pub prefixes: Vec<String>,
}

/// The file's contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ShardMapFile {
    version: u64,
    shards: Vec<Shard>,
}

/// A checked shard map with its lookup table.
#[derive(Clone, Debug)]
pub struct ShardMap {
    pub version: u64,
    shards: Vec<Shard>,
    by_cell: HashMap<Cell, ShardId>,
    /// Precisions that occur among the prefixes, longest first (the lookup's walk).
    precisions: Vec<usize>,
    rest: ShardId,
}

impl PartialEq for ShardMap {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version && self.shards == other.shards
    }
}

impl Serialize for ShardMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ShardMapFile {
            version: self.version,
            shards: self.shards.clone(),
        }
        .serialize(s)
    }
}

impl ShardMap {
    /// One shard (id 0) owning the world: an unsharded cluster.
    pub fn single() -> ShardMap {
        ShardMap::new(
            1,
            vec![Shard {
                id: 0,
                prefixes: vec![String::new()],
            }],
        )
        .expect("one shard owning the empty prefix is a valid map")
    }

    /// Checks the rules: at least one shard, distinct ids, valid geohash prefixes, no prefix
    /// owned twice, exactly one shard owning `""`.
    pub fn new(version: u64, shards: Vec<Shard>) -> Result<ShardMap, ShardMapError> {
        let invalid = |m: String| Err(ShardMapError::Invalid(m));
        if shards.is_empty() {
            return invalid("it lists no shards".into());
        }
        let mut ids = BTreeSet::new();
        let mut by_cell = HashMap::new();
        let mut rest = None;
        for shard in &shards {
            if !ids.insert(shard.id) {
                return invalid(format!("shard id {} is listed twice", shard.id));
            }
            if shard.prefixes.is_empty() {
                return invalid(format!("shard {} owns no prefix", shard.id));
            }
            for prefix in &shard.prefixes {
                if prefix.is_empty() {
                    if let Some(other) = rest.replace(shard.id) {
                        return invalid(format!(
                            "shards {other} and {} both own the empty prefix",
                            shard.id
                        ));
                    }
                    continue;
                }
                let cell: Cell = prefix.parse().map_err(|e| {
                    ShardMapError::Invalid(format!(
                        "shard {}: {prefix:?} is not a geohash prefix ({e})",
                        shard.id
                    ))
                })?;
                if let Some(other) = by_cell.insert(cell, shard.id) {
                    return invalid(format!(
                        "prefix {prefix:?} is owned by shards {other} and {}",
                        shard.id
                    ));
                }
            }
        }
        let Some(rest) = rest else {
            return invalid(
                "no shard owns the empty prefix \"\" (what no other prefix covers)".into(),
            );
        };
        let mut precisions: Vec<usize> = by_cell
            .keys()
            .map(|c: &Cell| c.precision())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        precisions.reverse();
        Ok(ShardMap {
            version,
            shards,
            by_cell,
            precisions,
            rest,
        })
    }

    pub fn read(path: &Path) -> Result<ShardMap, ShardMapError> {
        let read_error = |message: String| ShardMapError::Read {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| read_error(e.to_string()))?;
        let file: ShardMapFile =
            serde_json::from_str(&text).map_err(|e| read_error(e.to_string()))?;
        ShardMap::new(file.version, file.shards)
    }

    /// Writes the map as JSON, atomically (temporary file, then rename).
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path)
    }

    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    pub fn ids(&self) -> impl Iterator<Item = ShardId> + '_ {
        self.shards.iter().map(|s| s.id)
    }

    /// The shard owning `cell`: its longest owned ancestor (or itself), else the rest.
    pub fn shard_of_cell(&self, cell: Cell) -> ShardId {
        self.precisions
            .iter()
            .filter(|&&p| p <= cell.precision())
            .find_map(|&p| self.by_cell.get(&cell.ancestor(p)).copied())
            .unwrap_or(self.rest)
    }

    /// The shard owning a position (out-of-range positions belong to the rest).
    pub fn shard_of(&self, p: LatLon) -> ShardId {
        let finest = self.precisions.first().copied().unwrap_or(1);
        match Cell::containing(p, finest) {
            Ok(cell) => self.shard_of_cell(cell),
            Err(_) => self.rest,
        }
    }

    /// Cuts tiles (their cells and weights, e.g. edge counts) into `n` shards of about equal
    /// weight: consecutive runs, in geohash order, of the cells of the coarsest precision whose
    /// runs come within [`SPLIT_TOLERANCE`] of an even split (or of the tiles' own cells). Shard
    /// 0 also owns the rest of the world.
    pub fn split(tiles: &[(Cell, u64)], n: usize) -> Result<ShardMap, ShardMapError> {
        if n == 0 {
            return Err(ShardMapError::Invalid("0 shards".into()));
        }
        if n == 1 {
            return Ok(ShardMap::single());
        }
        let finest = tiles.iter().map(|(c, _)| c.precision()).min().unwrap_or(0);
        let total: u64 = tiles.iter().map(|(_, w)| (*w).max(1)).sum();
        let mut best = None;
        for precision in 1..=finest {
            let mut cells: BTreeMap<Cell, u64> = BTreeMap::new();
            for (cell, weight) in tiles {
                *cells.entry(cell.ancestor(precision)).or_default() += (*weight).max(1);
            }
            if cells.len() < n {
                continue;
            }
            let cells: Vec<(Cell, u64)> = cells.into_iter().collect();
            let runs = greedy_runs(&cells, n);
            let heaviest = runs.iter().map(|(_, w)| *w).max().unwrap_or(0);
            best = Some(runs);
            if heaviest as f64 <= SPLIT_TOLERANCE * total as f64 / n as f64 {
                break;
            }
        }
        let Some(runs) = best else {
            return Err(ShardMapError::Invalid(format!(
                "the graph's {} tiles cannot be cut into {n} shards",
                tiles.len()
            )));
        };
        let mut shards: Vec<Shard> = runs
            .into_iter()
            .enumerate()
            .map(|(id, (cells, _))| Shard {
                id: id as ShardId,
                prefixes: cells.iter().map(|c| c.to_string()).collect(),
            })
            .collect();
        shards[0].prefixes.insert(0, String::new());
        ShardMap::new(1, shards)
    }
}

/// How much heavier than an even share the heaviest shard of [`ShardMap::split`] may be before
/// a finer precision is tried.
pub const SPLIT_TOLERANCE: f64 = 1.25;

/// `n` consecutive runs of `cells` (at least one cell each; `cells.len() >= n`), each closed
/// once it holds its share of what is left.
fn greedy_runs(cells: &[(Cell, u64)], n: usize) -> Vec<(Vec<Cell>, u64)> {
    let mut left: u64 = cells.iter().map(|(_, w)| w).sum();
    let mut runs = Vec::with_capacity(n);
    let mut i = 0;
    for id in 0..n {
        let target = left.div_ceil((n - id) as u64);
        let must_leave = n - id - 1;
        let (mut run, mut weight) = (Vec::new(), 0);
        while i < cells.len() {
            if !run.is_empty() && (weight >= target || cells.len() - i <= must_leave) {
                break;
            }
            weight += cells[i].1;
            run.push(cells[i].0);
            i += 1;
        }
        left -= weight;
        runs.push((run, weight));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(s: &str) -> Cell {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_and_the_empty_prefix_takes_the_rest() {
        let map = ShardMap::new(
            3,
            vec![
                Shard {
                    id: 0,
                    prefixes: vec!["".into()],
                },
                Shard {
                    id: 1,
                    prefixes: vec!["ez".into(), "u0".into()],
                },
                Shard {
                    id: 2,
                    prefixes: vec!["ez3f".into()],
                },
            ],
        )
        .unwrap();
        assert_eq!(map.shard_of_cell(cell("ez3fh0")), 2);
        assert_eq!(map.shard_of_cell(cell("ez3gh0")), 1);
        assert_eq!(map.shard_of_cell(cell("ez")), 1);
        assert_eq!(map.shard_of_cell(cell("e")), 0);
        assert_eq!(map.shard_of_cell(cell("u0qq")), 1);
        assert_eq!(map.shard_of_cell(cell("dr5r")), 0);
        // Porto is in ez3f; New York in dr5r.
        assert_eq!(map.shard_of(LatLon::new(41.15, -8.61)), 2);
        assert_eq!(map.shard_of(LatLon::new(40.75, -73.99)), 0);
        assert_eq!(map.shard_of(LatLon::new(f64::NAN, 0.0)), 0);
    }

    #[test]
    fn bad_maps_are_refused_with_a_reason() {
        let shard = |id, p: &[&str]| Shard {
            id,
            prefixes: p.iter().map(|s| s.to_string()).collect(),
        };
        let cases = [
            (vec![], "no shards"),
            (vec![shard(0, &[""]), shard(0, &["ez"])], "listed twice"),
            (vec![shard(0, &[""]), shard(1, &[])], "owns no prefix"),
            (vec![shard(0, &["", "ez"]), shard(1, &["ez"])], "owned by"),
            (vec![shard(0, &[""]), shard(1, &[""])], "both own"),
            (vec![shard(0, &["ez"])], "empty prefix"),
            (vec![shard(0, &["", "EZ!"])], "not a geohash"),
        ];
        for (shards, why) in cases {
            let e = ShardMap::new(1, shards.clone()).unwrap_err().to_string();
            assert!(e.contains(why), "{shards:?}: {e}");
        }
    }

    #[test]
    fn split_balances_weight_in_geohash_order_and_round_trips_through_a_file() {
        // 8 tiles in two precision-5 cells (6 in ezjm4, 2 in ezjm5) and 4 more in ezjm6.
        let mut tiles: Vec<(Cell, u64)> = ["0", "1", "2", "3", "4", "5"]
            .iter()
            .map(|c| (cell(&format!("ezjm4{c}")), 10))
            .collect();
        tiles.extend(["0", "1"].iter().map(|c| (cell(&format!("ezjm5{c}")), 10)));
        tiles.extend(
            ["0", "1", "2", "3"]
                .iter()
                .map(|c| (cell(&format!("ezjm6{c}")), 10)),
        );
        let map = ShardMap::split(&tiles, 2).unwrap();
        assert_eq!(
            map.shards(),
            &[
                Shard {
                    id: 0,
                    prefixes: vec!["".into(), "ezjm4".into()]
                },
                Shard {
                    id: 1,
                    prefixes: vec!["ezjm5".into(), "ezjm6".into()]
                },
            ]
        );
        for (c, _) in &tiles {
            let expected = if c.to_string().starts_with("ezjm4") {
                0
            } else {
                1
            };
            assert_eq!(map.shard_of_cell(*c), expected, "{c}");
        }
        // Three shards: one per precision-5 cell.
        let three = ShardMap::split(&tiles, 3).unwrap();
        assert_eq!(three.ids().collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(three.shard_of_cell(cell("ezjm60")), 2);
        assert!(ShardMap::split(&tiles[..1], 2).is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SHARD_MAP_FILE);
        map.write(&path).unwrap();
        assert_eq!(ShardMap::read(&path).unwrap(), map);
        std::fs::write(&path, "{\"version\": 1}").unwrap();
        assert!(ShardMap::read(&path).is_err());
    }
}
