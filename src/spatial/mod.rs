//! Spatial primitives shared by every layer: geohash cells ([`geohash`]) and metric geometry on
//! the WGS84 sphere approximation ([`geometry`]).

pub mod geohash;
pub mod geometry;
