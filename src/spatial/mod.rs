//! Spatial primitives shared by every layer: coordinate value types ([`coord`]: [`LatLon`],
//! [`BBox`]), geohash cells ([`geohash`]), metric geometry on the WGS84 sphere approximation
//! ([`geometry`]), and H3 cells for analytics ([`h3`]).

pub mod coord;
pub mod geohash;
pub mod geometry;
pub mod h3;

pub use coord::{BBox, LatLon};
