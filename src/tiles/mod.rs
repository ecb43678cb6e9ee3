//! Map tile images and offline bundles: everything a device needs to show and route on a
//! region without Meridian's servers.
//!
//! Images are named by geohash, one file per cell at each display precision, laid out as
//! `<out>/<precision>/<geohash>.png` with an [`index::TileIndex`] (`index.json`) beside them.
//! Images of one graph version never change, so the directory can go to any static host or CDN
//! as is.
//!
//! Display precisions (why these two): a precision-5 cell is about 4.9 km × 3.7 km at Porto's
//! latitude, drawn 512 px wide (≈7 m per pixel, like web-map zoom 14: a city district on a
//! phone); a precision-6 cell is about 0.6 km × 0.9 km at 512 px (≈1.8 m per pixel, zoom 16:
//! streets with names, what turn-by-turn navigation shows). Precision 7 would mean 32× more
//! files for detail a phone screen cannot use; precision 4 shows only a blur of roads.

pub mod bundle;
mod font;
pub mod index;
pub mod labels;
pub mod render;

/// Geohash precisions images are drawn at, coarse to fine.
pub const DISPLAY_PRECISIONS: [usize; 2] = [5, 6];

/// The precision whose images a route answer's `tiles` field names (the finest one).
pub use route::ROUTE_TILE_PRECISION;

/// Width of every image in pixels; the height follows the cell's aspect ratio in metres.
pub const TILE_WIDTH_PX: u32 = 512;

/// Relative path of a cell's image inside a tiles directory: `<precision>/<geohash>.png`.
pub fn image_path(geohash: &str) -> String {
    format!("{}/{}.png", geohash.len(), geohash)
}
