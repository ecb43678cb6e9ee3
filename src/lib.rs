//! Meridian: fastest routes over a tiled OpenStreetMap road graph.
//!
//! Layers, each depending only on those listed before it: [`spatial`] (geohash, geometry),
//! [`graph`] (tile format, store, importer), [`route`] (snapping, tile-by-tile search, guidance,
//! OSRM-shaped answers), [`traffic`] (map matching, live speeds), [`cluster`] (the Raft log of
//! ping batches), [`tiles`] (map images and offline bundles), [`server`] (REST, cluster RPC).

pub mod cluster;
pub mod graph;
pub mod route;
pub mod server;
pub mod spatial;
pub mod tiles;
pub mod traffic;
