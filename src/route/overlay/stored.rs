//! The overlay's partition stored beside the graph (`overlay-partition.bin`), so a server starts
//! without running the inertial-flow bisections again. Only the cells are stored (per level, a
//! cell id per junction); parents, cut edges and boundaries are derived from them at load in a
//! few milliseconds ([`Partition::from_cells`]).
//!
//! Layout, little endian: magic `MRDNPRT1`, format version `u32`, the graph version it was cut
//! for (`u32` length + UTF-8), the configuration (`u32` count + `u64` cell sizes, `u32` count +
//! `u32` prefix bits), junctions `u32`, levels `u32`, per level its name (`u32` length + UTF-8)
//! and one `u32` cell id per junction; then the SHA-256 of everything before it. The file is
//! read whole (4 bytes per junction and level: 1.25 MB for Porto) and refused unless every check
//! passes: checksum, version, graph version, configuration, junction count, dense cell ids, and
//! each level's cells nesting inside the next one's (a wrong nesting would make wrong routes).
//! `meridian import` writes it and lists it in the manifest; `meridian verify` checks it.

use super::base::BaseGraph;
use super::partition::{LevelCells, OverlayConfig, Partition, NONE};
use graph::manifest::SidecarEntry;
use graph::store::sha256_hex;
use graph::GraphStore;
use sha2::{Digest, Sha256};
use std::path::Path;

pub const PARTITION_FILE: &str = "overlay-partition.bin";
/// The manifest's `sidecars` kind of the file.
pub const PARTITION_KIND: &str = "overlay-partition";
const MAGIC: &[u8; 8] = b"MRDNPRT1";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoredPartitionError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid overlay partition: {why}")]
    Invalid { path: String, why: String },
    #[error("{path} was cut for graph {found}, not for this graph ({expected}): re-import")]
    OtherGraph {
        path: String,
        found: String,
        expected: String,
    },
    #[error("{path} was cut with other cell sizes ({found}) than asked for ({expected})")]
    OtherConfig {
        path: String,
        found: String,
        expected: String,
    },
}

fn describe(config: &OverlayConfig) -> String {
    format!("{:?}:{:?}", config.cell_nodes, config.prefix_bits)
}

/// The file's bytes for `levels` of a graph of version `graph_version` cut with `config`.
pub fn encode(graph_version: &str, config: &OverlayConfig, levels: &[LevelCells]) -> Vec<u8> {
    let nodes = levels.first().map_or(0, |l| l.1.len());
    let mut out = Vec::with_capacity(64 + levels.len() * (nodes * 4 + 32));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let put_str = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    put_str(&mut out, graph_version);
    out.extend_from_slice(&(config.cell_nodes.len() as u32).to_le_bytes());
    for &n in &config.cell_nodes {
        out.extend_from_slice(&(n as u64).to_le_bytes());
    }
    out.extend_from_slice(&(config.prefix_bits.len() as u32).to_le_bytes());
    for &b in &config.prefix_bits {
        out.extend_from_slice(&b.to_le_bytes());
    }
    out.extend_from_slice(&(nodes as u32).to_le_bytes());
    out.extend_from_slice(&(levels.len() as u32).to_le_bytes());
    for (name, cells) in levels {
        put_str(&mut out, name);
        for &c in cells {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// A cursor over the file's bytes that fails with a reason instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "a name is not UTF-8".to_string())
    }
}

/// The levels in `bytes`, checked against what the caller expects of them.
pub fn decode(
    path: &str,
    bytes: &[u8],
    graph_version: &str,
    config: &OverlayConfig,
    nodes: usize,
) -> Result<Vec<LevelCells>, StoredPartitionError> {
    let invalid = |why: String| StoredPartitionError::Invalid {
        path: path.to_string(),
        why,
    };
    if bytes.len() < MAGIC.len() + 32 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(invalid("no overlay partition header".into()));
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return Err(invalid("checksum mismatch (the file is damaged)".into()));
    }
    let mut r = Reader {
        bytes: body,
        at: MAGIC.len(),
    };
    let version = r.u32().map_err(invalid)?;
    if version != FORMAT_VERSION {
        return Err(invalid(format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        )));
    }
    let found_graph = r.string().map_err(invalid)?;
    if found_graph != graph_version {
        return Err(StoredPartitionError::OtherGraph {
            path: path.to_string(),
            found: found_graph,
            expected: graph_version.to_string(),
        });
    }
    let stored_config = (|| -> Result<OverlayConfig, String> {
        let n = r.u32()? as usize;
        let cell_nodes = (0..n)
            .map(|_| r.u64().map(|v| v as usize))
            .collect::<Result<_, _>>()?;
        let m = r.u32()? as usize;
        let prefix_bits = (0..m).map(|_| r.u32()).collect::<Result<_, _>>()?;
        Ok(OverlayConfig {
            cell_nodes,
            prefix_bits,
        })
    })()
    .map_err(invalid)?;
    if &stored_config != config {
        return Err(StoredPartitionError::OtherConfig {
            path: path.to_string(),
            found: describe(&stored_config),
            expected: describe(config),
        });
    }
    let stored_nodes = r.u32().map_err(invalid)? as usize;
    if stored_nodes != nodes {
        return Err(invalid(format!(
            "{stored_nodes} junctions, the graph has {nodes}"
        )));
    }
    let count = r.u32().map_err(invalid)? as usize;
    if count > u8::MAX as usize {
        return Err(invalid(format!("{count} levels")));
    }
    let mut levels = Vec::with_capacity(count);
    for _ in 0..count {
        let name = r.string().map_err(invalid)?;
        let raw = r.take(nodes * 4).map_err(invalid)?;
        let cells: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        levels.push((name, cells));
    }
    if r.at != body.len() {
        return Err(invalid(format!(
            "{} bytes after the last level",
            body.len() - r.at
        )));
    }
    check_nesting(&levels).map_err(invalid)?;
    Ok(levels)
}

/// Every level's ids are dense (each id below the count is used) and each cell lies inside one
/// cell of the level above.
fn check_nesting(levels: &[LevelCells]) -> Result<(), String> {
    for (li, (name, cells)) in levels.iter().enumerate() {
        let count = cells.iter().copied().max().map_or(0, |m| m as usize + 1);
        if cells.contains(&NONE) {
            return Err(format!("level {name}: a junction without a cell"));
        }
        let mut used = vec![false; count];
        for &c in cells {
            used[c as usize] = true;
        }
        if used.contains(&false) {
            return Err(format!("level {name}: cell ids are not dense"));
        }
        if let Some((_, above)) = levels.get(li + 1) {
            let mut parent = vec![NONE; count];
            for (n, &c) in cells.iter().enumerate() {
                let p = &mut parent[c as usize];
                if *p == NONE {
                    *p = above[n];
                } else if *p != above[n] {
                    return Err(format!(
                        "level {name}: cell {c} lies in two cells of the level above"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Writes `levels` into `dir` atomically and returns the manifest entry of the file.
pub fn write(
    dir: &Path,
    graph_version: &str,
    config: &OverlayConfig,
    levels: &[LevelCells],
) -> Result<SidecarEntry, StoredPartitionError> {
    let bytes = encode(graph_version, config, levels);
    let path = dir.join(PARTITION_FILE);
    let io = |source| StoredPartitionError::Io {
        path: path.display().to_string(),
        source,
    };
    let tmp = dir.join(format!("{PARTITION_FILE}.tmp"));
    std::fs::write(&tmp, &bytes).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(SidecarEntry {
        kind: PARTITION_KIND.into(),
        file: PARTITION_FILE.into(),
        bytes: bytes.len() as u64,
        sha256: sha256_hex(&bytes),
    })
}

/// Cuts the partition of the graph in `store` with `config`, writes it beside the tiles and
/// lists it in the manifest (replacing an older entry). What `meridian import` runs.
pub fn write_for(
    store: &GraphStore,
    g: &BaseGraph,
    config: &OverlayConfig,
) -> Result<SidecarEntry, StoredPartitionError> {
    let dir = store.dir();
    let levels = Partition::cells(store, g, config);
    let entry = write(dir, &store.manifest().graph_version, config, &levels)?;
    let mut manifest = store.manifest().clone();
    manifest.sidecars.retain(|s| s.kind != PARTITION_KIND);
    manifest.sidecars.push(entry.clone());
    manifest
        .write(dir)
        .map_err(|source| StoredPartitionError::Io {
            path: dir
                .join(graph::manifest::MANIFEST_FILE)
                .display()
                .to_string(),
            source,
        })?;
    Ok(entry)
}

/// The stored levels of the graph in `store`, if its directory has a file cut for this graph
/// and `config`; `Ok(None)` when there is no file.
pub fn read_for(
    store: &GraphStore,
    config: &OverlayConfig,
    nodes: usize,
) -> Result<Option<Vec<LevelCells>>, StoredPartitionError> {
    let path = store.dir().join(PARTITION_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoredPartitionError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    decode(
        &path.display().to_string(),
        &bytes,
        &store.manifest().graph_version,
        config,
        nodes,
    )
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels() -> Vec<LevelCells> {
        vec![
            ("small".into(), vec![0, 0, 1, 1, 2, 3]),
            ("big".into(), vec![0, 0, 0, 0, 1, 1]),
        ]
    }

    fn config() -> OverlayConfig {
        OverlayConfig {
            cell_nodes: vec![2],
            prefix_bits: vec![15],
        }
    }

    #[test]
    fn round_trips_and_refuses_every_damaged_byte() {
        let bytes = encode("v1", &config(), &levels());
        assert_eq!(decode("f", &bytes, "v1", &config(), 6).unwrap(), levels());
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert!(decode("f", &bad, "v1", &config(), 6).is_err(), "byte {i}");
        }
        for cut in 0..bytes.len() {
            assert!(decode("f", &bytes[..cut], "v1", &config(), 6).is_err());
        }
    }

    #[test]
    fn refuses_another_graph_config_size_or_nesting() {
        let bytes = encode("v1", &config(), &levels());
        assert!(matches!(
            decode("f", &bytes, "v2", &config(), 6),
            Err(StoredPartitionError::OtherGraph { .. })
        ));
        let other = OverlayConfig {
            cell_nodes: vec![4],
            ..config()
        };
        assert!(matches!(
            decode("f", &bytes, "v1", &other, 6),
            Err(StoredPartitionError::OtherConfig { .. })
        ));
        assert!(decode("f", &bytes, "v1", &config(), 7).is_err());
        // Cell 1 of "small" split across two cells of "big": a valid checksum, wrong cells.
        let mut crossing = levels();
        crossing[1].1 = vec![0, 0, 0, 1, 1, 1];
        let bytes = encode("v1", &config(), &crossing);
        let err = decode("f", &bytes, "v1", &config(), 6).unwrap_err();
        assert!(err.to_string().contains("two cells"), "{err}");
        let mut sparse = levels();
        sparse[0].1 = vec![0, 0, 1, 1, 3, 3];
        let bytes = encode("v1", &config(), &sparse);
        assert!(decode("f", &bytes, "v1", &config(), 6).is_err());
    }
}
