//! Exports of the live traffic table for analysts: one row per directed edge with live data
//! (graph edge id, its H3 cell, OSM way id, speeds, samples, last update), as JSON over HTTP (`GET /traffic`)
//! and as a Parquet file that pandas, polars or duckdb read directly.

use super::LiveTraffic;
use graph::GraphStore;
use serde::{Deserialize, Serialize};
use spatial::geometry::halfway;
use spatial::h3;
use spatial::LatLon;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrafficRow {
    /// Graph edge id as `tile:local` (tile = geohash cell index of the graph version).
    pub edge: String,
    pub tile: String,
    /// H3 cell (resolution 9, ~0.1 km²) of the edge's halfway point, for aggregating by hexagon.
    pub h3_cell: Option<String>,
    pub osm_way_id: i64,
    pub speed_kmh: f32,
    pub free_flow_kmh: f32,
    pub samples: u32,
    /// Newest observation, ms since the epoch.
    pub updated_ms: i64,
}

/// The table's rows, sorted by edge; edges unknown to this graph are skipped.
pub fn rows(live: &LiveTraffic, store: &GraphStore) -> Vec<TrafficRow> {
    live.entries()
        .into_iter()
        .filter_map(|(id, o)| {
            let tile = store.tile(id.tile).ok()?;
            let edge = tile.edges.get(id.local as usize)?;
            let shape: Vec<LatLon> = tile.shape(edge).collect();
            let h3_cell = halfway(&shape)
                .and_then(|p| h3::cell_of(p, h3::TRAFFIC_RESOLUTION))
                .map(|c| c.to_string());
            Some(TrafficRow {
                edge: format!("{}:{}", id.tile, id.local),
                tile: store.geohash(id.tile).to_string(),
                h3_cell,
                osm_way_id: edge.way_id(),
                speed_kmh: o.speed_kmh,
                free_flow_kmh: edge.speed_kmh(),
                samples: o.samples,
                updated_ms: o.updated_ms,
            })
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[cfg(feature = "analytics")]
    #[error("parquet: {0}")]
    Parquet(#[from] polars::prelude::PolarsError),
    #[cfg(feature = "analytics")]
    #[error(transparent)]
    Write(#[from] crate::parquet::WriteError),
}

/// Writes rows as a Parquet file (zstd-compressed columns, atomically); returns its size in
/// bytes.
#[cfg(feature = "analytics")]
pub fn write_parquet(rows: &[TrafficRow], path: &std::path::Path) -> Result<u64, ExportError> {
    use polars::prelude::*;
    let columns = vec![
        Column::new(
            "edge".into(),
            rows.iter().map(|r| r.edge.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "tile".into(),
            rows.iter().map(|r| r.tile.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "h3_cell".into(),
            rows.iter()
                .map(|r| r.h3_cell.as_deref())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "osm_way_id".into(),
            rows.iter().map(|r| r.osm_way_id).collect::<Vec<_>>(),
        ),
        Column::new(
            "speed_kmh".into(),
            rows.iter().map(|r| r.speed_kmh).collect::<Vec<_>>(),
        ),
        Column::new(
            "free_flow_kmh".into(),
            rows.iter().map(|r| r.free_flow_kmh).collect::<Vec<_>>(),
        ),
        Column::new(
            "samples".into(),
            rows.iter().map(|r| r.samples).collect::<Vec<_>>(),
        ),
        Column::new(
            "updated_ms".into(),
            rows.iter().map(|r| r.updated_ms).collect::<Vec<_>>(),
        ),
    ];
    let mut df = DataFrame::new(rows.len(), columns)?;
    Ok(crate::parquet::write_atomically(&mut df, path)?)
}
