//! Meridian: fastest routes over a tiled OpenStreetMap road graph.
//!
//! The layers are crates of one workspace (`src/<layer>/`), so the compiler enforces the
//! direction of their dependencies; each depends only on those listed before it:
//! [`spatial`] (geohash, geometry), [`places`] (the geocoding index, forward search and
//! reverse, written by the importer beside the graph), [`graph`] (tile format, store, importer), [`traffic`]
//! (map matching, live speeds, historical profiles), [`route`] (snapping, tile-by-tile search,
//! guidance, OSRM-shaped answers), [`tiles`] (map images and offline bundles), [`cluster`] (the
//! Raft log of ping batches), [`server`] (REST, websocket ingest, cluster RPC). This crate
//! re-exports them under one name for the `meridian` binary, the tests and the benchmarks.

pub use cluster;
pub use graph;
pub use places;
pub use route;
pub use server;
pub use spatial;
pub use tiles;
pub use traffic;
