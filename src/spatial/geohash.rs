//! Geohash cells, the grid the road graph is tiled on: encoding points to cells, cell bounds,
//! neighbours, and the cells a box or a polyline touches.
//!
//! A geohash of precision `p` is `5p` bits alternating longitude and latitude (longitude first),
//! each bit halving that axis' interval, written in base32 (`0-9`, `b-z` without `a i l o`). So
//! the cells of one precision form a regular grid of `2^ceil(5p/2)` columns by `2^floor(5p/2)`
//! rows, and the code works on integer (column, row) indices instead of strings. A cell is a
//! [`Cell`]: the bits as an integer plus the precision, a `Copy` map key (every snap and every
//! ping looks its tile up by one); the base32 string is only for file names and JSON.
//!
//! Cells are half-open: a point on a boundary belongs to the cell above / east of it, except at
//! latitude 90 and longitude 180, which belong to the last row / column. [`encode`],
//! [`decode_bbox`], [`cells_covering`] and [`cells_along`] share that one rule (integer cell
//! indices computed exactly), so a point inside a box is always encoded into one of the box's
//! cells, and a polyline's cells start and end with the cells of its end points.
//!
//! Only the canonical lowercase spelling is accepted: hashes are used as tile keys, and accepting
//! `"U4PR"` would let a lookup miss the tile stored under `"u4pr"`.

use crate::coord::{BBox, LatLon};
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// Longest geohash handled: 12 characters, 60 bits, about 3.7 cm x 1.9 cm at the equator.
pub const MAX_PRECISION: usize = 12;

const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
const INVALID: u8 = u8::MAX;
/// Base32 value of each ASCII byte, [`INVALID`] for bytes outside the alphabet.
const DECODE: [u8; 128] = {
    let mut table = [INVALID; 128];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The steps to the 8 neighbours, N, NE, E, SE, S, SW, W, NW, as (row step, column step): rows
/// grow northwards and columns eastwards.
const NEIGHBOUR_STEPS: [(i64, i64); 8] = [
    (1, 0),
    (1, 1),
    (0, 1),
    (-1, 1),
    (-1, 0),
    (-1, -1),
    (0, -1),
    (1, -1),
];

/// Bits per axis at [`MAX_PRECISION`]; 60 bits split evenly.
const AXIS_BITS: u32 = 30;
const TOTAL_BITS: u32 = 2 * AXIS_BITS;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GeohashError {
    /// A character outside the geohash alphabet; `position` counts characters from 0.
    InvalidCharacter { character: char, position: usize },
    /// A hash or requested precision that is empty or longer than [`MAX_PRECISION`].
    InvalidLength(usize),
    /// Latitude outside `[-90, 90]`, longitude outside `[-180, 180]`, or either not a number.
    OutOfRange { lat: f64, lon: f64 },
}

impl fmt::Display for GeohashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCharacter {
                character,
                position,
            } => write!(
                f,
                "invalid geohash character {character:?} at position {position}"
            ),
            Self::InvalidLength(len) => write!(
                f,
                "geohash length must be between 1 and {MAX_PRECISION}, got {len}"
            ),
            Self::OutOfRange { lat, lon } => write!(
                f,
                "coordinate out of range: lat {lat} (must be in [-90, 90]), lon {lon} (must be in [-180, 180])"
            ),
        }
    }
}

impl std::error::Error for GeohashError {}

/// A geohash cell as an integer: its bits left-aligned in 60 (longitude bit first, as in the
/// string), and its precision in characters. Copy, hashable, and ordered like its string (a
/// cell sorts before the cells inside it), so it serves as a map key where the string did;
/// [`fmt::Display`] and [`FromStr`] convert to and from the base32 string that names files and
/// appears in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    /// The `5 * precision` bits of the hash, shifted to the top of 60 bits; the rest are zero.
    bits: u64,
    precision: u8,
}

impl Cell {
    /// The cell of `precision` characters (1 to [`MAX_PRECISION`]) holding `p`.
    pub fn containing(p: LatLon, precision: usize) -> Result<Cell, GeohashError> {
        check_precision(precision)?;
        if !p.in_range() {
            return Err(GeohashError::OutOfRange {
                lat: p.lat,
                lon: p.lon,
            });
        }
        // One 60-bit code, then truncation: coarser cells nest exactly in finer ones.
        let full = interleave(
            quantize(p.lon, -180.0, 360.0, AXIS_BITS),
            quantize(p.lat, -90.0, 180.0, AXIS_BITS),
        );
        Ok(Cell::from_code(
            full >> (TOTAL_BITS - 5 * precision as u32),
            precision,
        ))
    }

    /// The cell whose hash, as an integer, is the low `5 * precision` bits of `code`.
    fn from_code(code: u64, precision: usize) -> Cell {
        let shift = TOTAL_BITS - 5 * precision as u32;
        Cell {
            bits: (code << shift) & ((1 << TOTAL_BITS) - 1),
            precision: precision as u8,
        }
    }

    /// The hash as an integer: `5 * precision` bits.
    pub fn code(self) -> u64 {
        self.bits >> (TOTAL_BITS - 5 * u32::from(self.precision))
    }

    /// Characters of the hash.
    pub fn precision(self) -> usize {
        usize::from(self.precision)
    }

    pub fn bbox(self) -> BBox {
        let grid = Grid::new(self.precision());
        let (col, row) = grid.split(self.code());
        grid.bbox(col, row)
    }

    /// The cell one character shorter, `None` at precision 1.
    pub fn parent(self) -> Option<Cell> {
        (self.precision > 1).then(|| self.ancestor(self.precision() - 1))
    }

    /// The cell of `precision` characters (at most this cell's) holding this one.
    pub fn ancestor(self, precision: usize) -> Cell {
        let precision = precision.clamp(1, self.precision());
        Cell::from_code(
            self.code() >> (5 * (self.precision() - precision)),
            precision,
        )
    }

    /// True if `other` lies inside this cell (or is it): this hash is a prefix of its hash.
    pub fn contains(self, other: Cell) -> bool {
        other.precision >= self.precision && other.ancestor(self.precision()) == self
    }

    /// The 8 neighbours in the order N, NE, E, SE, S, SW, W, NW, wrapping longitude at ±180° and
    /// omitting cells beyond the poles.
    ///
    /// Computed by stepping on the integer cell grid, so no floating-point rounding is involved.
    /// For a cell in the top or bottom row the three directions across the pole are dropped and
    /// the other five keep their order (every precision has at least 4 rows, so no cell touches
    /// both poles).
    pub fn neighbours(self) -> Vec<Cell> {
        let precision = self.precision();
        let grid = Grid::new(precision);
        let (col, row) = grid.split(self.code());
        let mut out = Vec::with_capacity(NEIGHBOUR_STEPS.len());
        for (dr, dc) in NEIGHBOUR_STEPS {
            let r = i64::from(row) + dr;
            if r < 0 || r >= grid.rows {
                continue;
            }
            let c = (i64::from(col) + dc).rem_euclid(grid.cols);
            out.push(Cell::from_code(grid.code(c as u32, r as u32), precision));
        }
        out
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let precision = self.precision();
        let code = self.code();
        let mut buf = [0u8; MAX_PRECISION];
        for (i, slot) in buf[..precision].iter_mut().enumerate() {
            let shift = 5 * (precision - 1 - i);
            *slot = ALPHABET[((code >> shift) & 31) as usize];
        }
        // The alphabet is ASCII.
        f.write_str(std::str::from_utf8(&buf[..precision]).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cell({self})")
    }
}

impl FromStr for Cell {
    type Err = GeohashError;

    /// Only the canonical lowercase spelling, 1 to [`MAX_PRECISION`] characters.
    fn from_str(hash: &str) -> Result<Cell, GeohashError> {
        let (code, precision) = parse(hash)?;
        Ok(Cell::from_code(code, precision))
    }
}

/// Geohash of a point with `precision` characters (1 to [`MAX_PRECISION`]), as a string;
/// [`Cell::containing`] is the same as a value.
pub fn encode(p: LatLon, precision: usize) -> Result<String, GeohashError> {
    Cell::containing(p, precision).map(|c| c.to_string())
}

/// Bounds of the cell named by `hash`.
pub fn decode_bbox(hash: &str) -> Result<BBox, GeohashError> {
    hash.parse::<Cell>().map(Cell::bbox)
}

/// True if `hash` is a canonical (lowercase) geohash of 1 to [`MAX_PRECISION`] characters.
pub fn is_valid(hash: &str) -> bool {
    parse(hash).is_ok()
}

/// The names of the cell's 8 neighbours, as [`Cell::neighbours`] orders them.
pub fn neighbors(hash: &str) -> Result<Vec<String>, GeohashError> {
    let cell: Cell = hash.parse()?;
    Ok(cell.neighbours().iter().map(Cell::to_string).collect())
}

/// All cells of the given precision intersecting the box, sorted, without duplicates.
///
/// The box is closed, so a box whose edge lies exactly on a cell boundary also gets the cell on
/// the far side (the one a point on that edge encodes to). The box is clipped to the world;
/// an empty, inverted or NaN box, or a precision outside 1 to [`MAX_PRECISION`], gives no
/// cells. Boxes do not wrap across the antimeridian. The result has one entry per cell, so keep
/// the box small relative to the cell size.
pub fn cells_covering(bbox: &BBox, precision: usize) -> Vec<Cell> {
    if check_precision(precision).is_err() {
        return Vec::new();
    }
    let b = bbox;
    if [b.min_lat, b.min_lon, b.max_lat, b.max_lon]
        .iter()
        .any(|v| v.is_nan())
    {
        return Vec::new();
    }
    let (min_lat, max_lat) = (b.min_lat.max(-90.0), b.max_lat.min(90.0));
    let (min_lon, max_lon) = (b.min_lon.max(-180.0), b.max_lon.min(180.0));
    if min_lat > max_lat || min_lon > max_lon {
        return Vec::new();
    }
    let grid = Grid::new(precision);
    let (c0, r0) = grid.cell_of(min_lat, min_lon);
    let (c1, r1) = grid.cell_of(max_lat, max_lon);
    let count = ((c1 - c0 + 1) as usize).saturating_mul((r1 - r0 + 1) as usize);
    // Preallocate, but not absurdly for an oversized box.
    let mut codes = Vec::with_capacity(count.min(1 << 20));
    for r in r0..=r1 {
        for c in c0..=c1 {
            codes.push(grid.code(c, r));
        }
    }
    // Equal-length hashes sort like their codes: the alphabet is in ASCII order.
    codes.sort_unstable();
    codes
        .into_iter()
        .map(|c| Cell::from_code(c, precision))
        .collect()
}

/// All cells of the given precision that a polyline passes through, in
/// order of first visit, without duplicates.
///
/// Segments are straight lines in (lon, lat) degrees, walked with an exact grid traversal
/// (Amanatides & Woo): from the start cell, step into whichever column or row boundary the
/// segment crosses next, for exactly as many steps as the end cell is columns plus rows away.
/// So no cell is skipped however long the segment is, and the walk always ends in the cell of
/// the end point. A segment whose longitudes differ by more than 180° takes the short way across
/// the antimeridian. Points that [`encode`] would reject are skipped; a precision outside 1 to
/// [`MAX_PRECISION`] gives no cells.
pub fn cells_along(points: &[LatLon], precision: usize) -> Vec<Cell> {
    if check_precision(precision).is_err() {
        return Vec::new();
    }
    let grid = Grid::new(precision);
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut visit = |code: u64| {
        if seen.insert(code) {
            order.push(code);
        }
    };
    let mut prev: Option<LatLon> = None;
    for &p in points.iter().filter(|p| p.in_range()) {
        match prev {
            None => {
                let (c, r) = grid.cell_of(p.lat, p.lon);
                visit(grid.code(c, r));
            }
            Some(a) => grid.walk(a, p, &mut visit),
        }
        prev = Some(p);
    }
    order
        .into_iter()
        .map(|c| Cell::from_code(c, precision))
        .collect()
}

/// Cell width and height in degrees (lon_deg, lat_deg) at a precision.
///
/// Precision 0 is the whole world, `(360, 180)`.
pub fn cell_size_deg(precision: usize) -> (f64, f64) {
    // Clamped only so absurd precisions cannot overflow; the sizes have underflowed to 0 long
    // before.
    let bits = precision.saturating_mul(5).min(4096) as i32;
    (
        360.0 * 0.5f64.powi((bits + 1) / 2),
        180.0 * 0.5f64.powi(bits / 2),
    )
}

fn check_precision(precision: usize) -> Result<(), GeohashError> {
    if (1..=MAX_PRECISION).contains(&precision) {
        Ok(())
    } else {
        Err(GeohashError::InvalidLength(precision))
    }
}

/// The hash's bits as an integer, and its length.
fn parse(hash: &str) -> Result<(u64, usize), GeohashError> {
    let len = hash.chars().count();
    if len == 0 || len > MAX_PRECISION {
        return Err(GeohashError::InvalidLength(len));
    }
    let mut code = 0u64;
    for (position, character) in hash.chars().enumerate() {
        let value = u8::try_from(character)
            .ok()
            .and_then(|b| DECODE.get(usize::from(b)).copied())
            .filter(|&v| v != INVALID)
            .ok_or(GeohashError::InvalidCharacter {
                character,
                position,
            })?;
        code = (code << 5) | u64::from(value);
    }
    Ok((code, len))
}

/// Index of the slice holding `v` when `[min, min + span]` is cut into `2^bits` equal slices,
/// exactly as repeated bisection assigns it: a value on a boundary goes to the upper slice, and
/// `min + span` to the last one. `bits` is at most [`AXIS_BITS`].
#[inline]
fn quantize(v: f64, min: f64, span: f64, bits: u32) -> u32 {
    let last = ((1u64 << bits) - 1) as u32;
    // `as` truncates, which is `floor` here (the product is not negative for in-range values)
    // without the libm call, and saturates (NaN gives 0). `n / span` folds to a constant when
    // inlined with constant arguments, as in `encode`.
    let estimate = ((v - min) * ((1u64 << bits) as f64 / span)) as u32;
    let mut q = estimate.min(last);
    // The subtraction and the scaling round, so next to a boundary the estimate can be one off
    // (never more: the rounding error is below 1e-6 of a cell even at 30 bits). Settle it
    // against the exact boundaries.
    if q > 0 && v < boundary(min, span, bits, q) {
        q -= 1;
    } else if q < last && v >= boundary(min, span, bits, q + 1) {
        q += 1;
    }
    q
}

/// `min + span * q / 2^bits`. Exact for the spans used (180, 360) and `q <= 2^30`: the product
/// needs under 40 bits of mantissa, the division is by a power of two, and the sum is a multiple
/// of `2^-27` below 256. These are the same values bisection computes as midpoints.
#[inline]
fn boundary(min: f64, span: f64, bits: u32, q: u32) -> f64 {
    min + span * f64::from(q) * pow2_neg(bits)
}

/// `2^-bits`, built from its exponent rather than by a division (`bits` is at most 30).
#[inline]
fn pow2_neg(bits: u32) -> f64 {
    f64::from_bits(u64::from(1023 - bits) << 52)
}

/// Spreads the low 32 bits of `x` to the even bit positions of a `u64`.
fn spread(x: u32) -> u64 {
    let mut x = u64::from(x);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Inverse of [`spread`]: gathers the even bit positions of `x`.
fn compact(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0xFFFF_FFFF) as u32
}

/// The 60-bit code of 30-bit axis indices: longitude takes the odd positions because the first
/// (most significant) geohash bit is a longitude bit.
fn interleave(lon: u32, lat: u32) -> u64 {
    (spread(lon) << 1) | spread(lat)
}

/// The cell grid of one precision.
struct Grid {
    precision: usize,
    lon_bits: u32,
    lat_bits: u32,
    cols: i64,
    rows: i64,
    cell_lon: f64,
    cell_lat: f64,
}

impl Grid {
    /// `precision` must be 1 to [`MAX_PRECISION`].
    fn new(precision: usize) -> Grid {
        let bits = 5 * precision as u32;
        let (lon_bits, lat_bits) = (bits.div_ceil(2), bits / 2);
        let (cell_lon, cell_lat) = cell_size_deg(precision);
        Grid {
            precision,
            lon_bits,
            lat_bits,
            cols: 1 << lon_bits,
            rows: 1 << lat_bits,
            cell_lon,
            cell_lat,
        }
    }

    /// `(column, row)` of an in-range point.
    fn cell_of(&self, lat: f64, lon: f64) -> (u32, u32) {
        (
            quantize(lon, -180.0, 360.0, self.lon_bits),
            quantize(lat, -90.0, 180.0, self.lat_bits),
        )
    }

    fn code(&self, col: u32, row: u32) -> u64 {
        interleave(
            col << (AXIS_BITS - self.lon_bits),
            row << (AXIS_BITS - self.lat_bits),
        ) >> (TOTAL_BITS - 5 * self.precision as u32)
    }

    fn split(&self, code: u64) -> (u32, u32) {
        let full = code << (TOTAL_BITS - 5 * self.precision as u32);
        (
            compact(full >> 1) >> (AXIS_BITS - self.lon_bits),
            compact(full) >> (AXIS_BITS - self.lat_bits),
        )
    }

    fn bbox(&self, col: u32, row: u32) -> BBox {
        BBox {
            min_lat: boundary(-90.0, 180.0, self.lat_bits, row),
            min_lon: boundary(-180.0, 360.0, self.lon_bits, col),
            max_lat: boundary(-90.0, 180.0, self.lat_bits, row + 1),
            max_lon: boundary(-180.0, 360.0, self.lon_bits, col + 1),
        }
    }

    /// Visits the cells of the segment `a -> b` (both in range), start and end cells included.
    fn walk(&self, a: LatLon, b: LatLon, visit: &mut impl FnMut(u64)) {
        let (c0, r0) = self.cell_of(a.lat, a.lon);
        let (c1, r1) = self.cell_of(b.lat, b.lon);
        let (c0, r0, mut c1, r1) = (i64::from(c0), i64::from(r0), i64::from(c1), i64::from(r1));
        // Columns are walked unwrapped (possibly past either end) and wrapped when visited.
        let mut dlon = b.lon - a.lon;
        if dlon > 180.0 {
            dlon -= 360.0;
            c1 -= self.cols;
        } else if dlon < -180.0 {
            dlon += 360.0;
            c1 += self.cols;
        }
        // Position and direction in cell units.
        let (x0, y0) = (
            (a.lon + 180.0) / self.cell_lon,
            (a.lat + 90.0) / self.cell_lat,
        );
        let (dx, dy) = (dlon / self.cell_lon, (b.lat - a.lat) / self.cell_lat);

        // The integer step counts decide where the walk ends; the float parameters only decide
        // the order of column and row steps, so rounding can never make it miss the end cell.
        let (step_c, mut left_c) = ((c1 - c0).signum(), (c1 - c0).abs());
        let (step_r, mut left_r) = ((r1 - r0).signum(), (r1 - r0).abs());
        let (mut t_c, dt_c) = first_crossing(x0, c0, step_c, dx);
        let (mut t_r, dt_r) = first_crossing(y0, r0, step_r, dy);
        let (mut c, mut r) = (c0, r0);
        visit(self.code(c0 as u32, r0 as u32));
        while left_c > 0 || left_r > 0 {
            if left_r == 0 || (left_c > 0 && t_c < t_r) {
                c += step_c;
                t_c += dt_c;
                left_c -= 1;
            } else {
                r += step_r;
                t_r += dt_r;
                left_r -= 1;
            }
            visit(self.code(c.rem_euclid(self.cols) as u32, r as u32));
        }
    }
}

/// For one axis of a grid walk starting at `pos` in cell `cell` and moving `d` cells over the
/// whole segment: the segment parameter `t` of the first boundary crossed, and the increment of
/// `t` between boundaries (infinite when the axis does not move).
fn first_crossing(pos: f64, cell: i64, step: i64, d: f64) -> (f64, f64) {
    if step == 0 || d == 0.0 {
        return (f64::INFINITY, f64::INFINITY);
    }
    let to_boundary = if step > 0 {
        (cell + 1) as f64 - pos
    } else {
        pos - cell as f64
    };
    // `pos` may sit a rounding error outside its own cell.
    (to_boundary.max(0.0) / d.abs(), 1.0 / d.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests compare cells by their names.
    fn covering(bbox: &BBox, precision: usize) -> Vec<String> {
        cells_covering(bbox, precision)
            .iter()
            .map(Cell::to_string)
            .collect()
    }

    fn along(points: &[LatLon], precision: usize) -> Vec<String> {
        cells_along(points, precision)
            .iter()
            .map(Cell::to_string)
            .collect()
    }

    fn ll(points: &[(f64, f64)]) -> Vec<LatLon> {
        points
            .iter()
            .map(|&(lat, lon)| LatLon::new(lat, lon))
            .collect()
    }

    /// Deterministic xorshift, so tests need no crates and never flake.
    struct Rng(u64);
    impl Rng {
        fn next_f64(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn range(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.next_f64()
        }
    }

    /// The adjacent float from `x` in the direction of `target` (`f64::next_up` needs Rust 1.86,
    /// above the crate's MSRV).
    fn next_toward(x: f64, target: f64) -> f64 {
        if x == 0.0 {
            let tiny = f64::from_bits(1);
            return if target > 0.0 { tiny } else { -tiny };
        }
        // Away from zero is one more in the magnitude bits, toward zero one less.
        let away = (target > x) == (x > 0.0);
        let bits = x.to_bits();
        f64::from_bits(if away { bits + 1 } else { bits - 1 })
    }

    /// The textbook algorithm: bisect each axis, one bit at a time, and collect base32 digits.
    fn reference_encode(lat: f64, lon: f64, precision: usize) -> String {
        let (mut lat_lo, mut lat_hi) = (-90.0, 90.0);
        let (mut lon_lo, mut lon_hi) = (-180.0, 180.0);
        let mut out = String::new();
        let mut even = true;
        for _ in 0..precision {
            let mut digit = 0;
            for _ in 0..5 {
                let (v, lo, hi) = if even {
                    (lon, &mut lon_lo, &mut lon_hi)
                } else {
                    (lat, &mut lat_lo, &mut lat_hi)
                };
                let mid = (*lo + *hi) / 2.0;
                digit <<= 1;
                if v >= mid {
                    digit |= 1;
                    *lo = mid;
                } else {
                    *hi = mid;
                }
                even = !even;
            }
            out.push(ALPHABET[digit] as char);
        }
        out
    }

    #[test]
    fn encodes_known_hashes() {
        assert_eq!(
            encode(LatLon::new(57.64911, 10.40744), 11).unwrap(),
            "u4pruydqqvj"
        );
        assert_eq!(encode(LatLon::new(42.605, -5.603), 5).unwrap(), "ezs42");
        assert_eq!(encode(LatLon::new(0.0, 0.0), 5).unwrap(), "s0000");
        assert_eq!(
            encode(LatLon::new(-90.0, -180.0), 12).unwrap(),
            "000000000000"
        );
        assert_eq!(
            encode(LatLon::new(90.0, 180.0), 12).unwrap(),
            "zzzzzzzzzzzz"
        );
        assert_eq!(encode(LatLon::new(57.64911, 10.40744), 1).unwrap(), "u");
    }

    #[test]
    fn coarser_hash_is_prefix_of_finer() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..1000 {
            let (lat, lon) = (rng.range(-90.0, 90.0), rng.range(-180.0, 180.0));
            let full = encode(LatLon::new(lat, lon), 12).unwrap();
            for p in 1..=12 {
                assert_eq!(encode(LatLon::new(lat, lon), p).unwrap(), full[..p]);
            }
        }
    }

    #[test]
    fn matches_bisection_including_exact_boundaries() {
        let mut rng = Rng(42);
        for _ in 0..5000 {
            let (lat, lon) = (rng.range(-90.0, 90.0), rng.range(-180.0, 180.0));
            assert_eq!(
                encode(LatLon::new(lat, lon), 12).unwrap(),
                reference_encode(lat, lon, 12)
            );
        }
        // Points on cell boundaries, and one ulp either side, where a float estimate goes wrong.
        for bits in [1u32, 5, 13, 29, 30] {
            for _ in 0..200 {
                let q = (rng.next_f64() * (1u64 << bits) as f64) as u32;
                let lat = boundary(-90.0, 180.0, bits, q);
                let lon = boundary(-180.0, 360.0, bits, q);
                for (la, lo) in [
                    (lat, lon),
                    (
                        next_toward(lat, f64::NEG_INFINITY),
                        next_toward(lon, f64::NEG_INFINITY),
                    ),
                    (
                        next_toward(lat, f64::INFINITY),
                        next_toward(lon, f64::INFINITY),
                    ),
                ] {
                    let (la, lo) = (la.clamp(-90.0, 90.0), lo.clamp(-180.0, 180.0));
                    assert_eq!(
                        encode(LatLon::new(la, lo), 12).unwrap(),
                        reference_encode(la, lo, 12),
                        "({la}, {lo})"
                    );
                }
            }
        }
    }

    #[test]
    fn encode_rejects_bad_input() {
        assert_eq!(
            encode(LatLon::new(0.0, 0.0), 0),
            Err(GeohashError::InvalidLength(0))
        );
        assert_eq!(
            encode(LatLon::new(0.0, 0.0), 13),
            Err(GeohashError::InvalidLength(13))
        );
        assert!(matches!(
            encode(LatLon::new(90.5, 0.0), 5),
            Err(GeohashError::OutOfRange { .. })
        ));
        assert!(matches!(
            encode(LatLon::new(0.0, -180.01), 5),
            Err(GeohashError::OutOfRange { .. })
        ));
        assert!(encode(LatLon::new(f64::NAN, 0.0), 5).is_err());
        assert!(encode(LatLon::new(0.0, f64::INFINITY), 5).is_err());
    }

    #[test]
    fn decodes_known_bbox() {
        let bb = decode_bbox("ezs42").unwrap();
        assert_eq!(
            bb,
            BBox {
                min_lat: 42.5830078125,
                min_lon: -5.625,
                max_lat: 42.626953125,
                max_lon: -5.5810546875,
            }
        );
        let LatLon { lat, lon } = bb.center();
        assert!((lat - 42.605).abs() < 1e-3 && (lon - -5.603).abs() < 1e-3);

        let bb = decode_bbox("u4pruydqqvj").unwrap();
        assert!(bb.contains(LatLon::new(57.64911, 10.40744)));
        assert_eq!(
            decode_bbox("s").unwrap(),
            BBox {
                min_lat: 0.0,
                min_lon: 0.0,
                max_lat: 45.0,
                max_lon: 45.0
            }
        );
    }

    #[test]
    fn decode_inverts_encode() {
        let mut rng = Rng(7);
        for _ in 0..2000 {
            let (lat, lon) = (rng.range(-90.0, 90.0), rng.range(-180.0, 180.0));
            for p in [1, 4, 5, 8, 11, 12] {
                let hash = encode(LatLon::new(lat, lon), p).unwrap();
                let bb = decode_bbox(&hash).unwrap();
                assert!(
                    bb.contains(LatLon::new(lat, lon)),
                    "{hash} {bb:?} ({lat}, {lon})"
                );
                let (w, h) = cell_size_deg(p);
                assert_eq!((bb.max_lon - bb.min_lon, bb.max_lat - bb.min_lat), (w, h));
                let LatLon {
                    lat: clat,
                    lon: clon,
                } = bb.center();
                assert_eq!(encode(LatLon::new(clat, clon), p).unwrap(), hash);
            }
        }
    }

    #[test]
    fn decode_rejects_bad_input() {
        assert_eq!(decode_bbox(""), Err(GeohashError::InvalidLength(0)));
        assert_eq!(
            decode_bbox("u4pruydqqvjuu"),
            Err(GeohashError::InvalidLength(13))
        );
        assert_eq!(
            decode_bbox("u4pa"),
            Err(GeohashError::InvalidCharacter {
                character: 'a',
                position: 3
            })
        );
        assert_eq!(
            decode_bbox("U4PR"),
            Err(GeohashError::InvalidCharacter {
                character: 'U',
                position: 0
            })
        );
        assert_eq!(
            decode_bbox("ué"),
            Err(GeohashError::InvalidCharacter {
                character: 'é',
                position: 1
            })
        );
        for bad in ["", "i", "l", "o", "a", "u4 p", "zzzzzzzzzzzzz"] {
            assert!(!is_valid(bad), "{bad:?}");
        }
        for good in ["0", "z", "u4pruydqqvj", "000000000000", "ezs42"] {
            assert!(is_valid(good), "{good:?}");
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            GeohashError::InvalidLength(13).to_string(),
            "geohash length must be between 1 and 12, got 13"
        );
        assert_eq!(
            GeohashError::InvalidCharacter {
                character: 'a',
                position: 3
            }
            .to_string(),
            "invalid geohash character 'a' at position 3"
        );
        let e: Box<dyn std::error::Error> = Box::new(GeohashError::OutOfRange {
            lat: 91.0,
            lon: 0.0,
        });
        assert!(e.to_string().contains("lat 91"));
    }

    #[test]
    fn neighbors_of_first_level_cells() {
        // Precision 1 layout, north row first:
        //   b c f g u v y z
        //   8 9 d e s t w x
        //   2 3 6 7 k m q r
        //   0 1 4 5 h j n p
        assert_eq!(
            neighbors("s").unwrap(),
            ["u", "v", "t", "m", "k", "7", "e", "g"]
        );
        // North-west corner: nothing north, west wraps to the far east.
        assert_eq!(neighbors("b").unwrap(), ["c", "9", "8", "x", "z"]);
        // South-east corner: nothing south, east wraps to the far west.
        assert_eq!(neighbors("p").unwrap(), ["r", "2", "0", "n", "q"]);
    }

    #[test]
    fn neighbors_share_an_edge_or_corner() {
        for hash in [
            "u4pruydqqvj",
            "ezs42",
            "9q8yy",
            "zzzzzz",
            "000000",
            "s00000000000",
        ] {
            let me = decode_bbox(hash).unwrap();
            let (w, h) = (me.max_lon - me.min_lon, me.max_lat - me.min_lat);
            let LatLon {
                lat: clat,
                lon: clon,
            } = me.center();
            let all = neighbors(hash).unwrap();
            let expected = NEIGHBOUR_STEPS
                .into_iter()
                .filter_map(|(dr, dc)| {
                    let lat = clat + dr as f64 * h;
                    let mut lon = clon + dc as f64 * w;
                    if !(-90.0..=90.0).contains(&lat) {
                        return None;
                    }
                    if lon > 180.0 {
                        lon -= 360.0;
                    } else if lon < -180.0 {
                        lon += 360.0;
                    }
                    Some(encode(LatLon::new(lat, lon), hash.len()).unwrap())
                })
                .collect::<Vec<_>>();
            assert_eq!(all, expected, "{hash}");
            assert!(all.iter().all(|n| n.len() == hash.len() && n != hash));
        }
        assert_eq!(neighbors("zzzzzz").unwrap().len(), 5);
        assert!(neighbors("").is_err());
    }

    #[test]
    fn cell_sizes() {
        assert_eq!(cell_size_deg(0), (360.0, 180.0));
        assert_eq!(cell_size_deg(1), (45.0, 45.0));
        assert_eq!(cell_size_deg(2), (11.25, 5.625));
        assert_eq!(cell_size_deg(5), (0.0439453125, 0.0439453125));
        assert_eq!(
            cell_size_deg(12),
            (360.0 / (1u64 << 30) as f64, 180.0 / (1u64 << 30) as f64)
        );
    }

    #[test]
    fn covering_known_boxes() {
        let world = BBox {
            min_lat: -90.0,
            min_lon: -180.0,
            max_lat: 90.0,
            max_lon: 180.0,
        };
        let all: String = covering(&world, 1).concat();
        assert_eq!(all, "0123456789bcdefghjkmnpqrstuvwxyz");
        let inside = BBox {
            min_lat: 1.0,
            min_lon: 1.0,
            max_lat: 44.9,
            max_lon: 44.9,
        };
        assert_eq!(covering(&inside, 1), ["s"]);
        // The closed box reaches the boundaries at 45°, which belong to the next cells.
        let exact = BBox {
            min_lat: 0.0,
            min_lon: 0.0,
            max_lat: 45.0,
            max_lon: 45.0,
        };
        assert_eq!(covering(&exact, 1), ["s", "t", "u", "v"]);
        // A degenerate box is the point's own cell.
        let mut point = BBox::empty();
        point.expand(LatLon::new(57.64911, 10.40744));
        assert_eq!(
            covering(&point, 6),
            [encode(LatLon::new(57.64911, 10.40744), 6).unwrap()]
        );
        // Clipped to the world; empty, inverted, NaN or bad precision give nothing.
        let beyond = BBox {
            min_lat: 80.0,
            min_lon: 170.0,
            max_lat: 100.0,
            max_lon: 200.0,
        };
        assert_eq!(covering(&beyond, 1), ["z"]);
        assert!(covering(&BBox::empty(), 5).is_empty());
        let nan = BBox {
            min_lat: f64::NAN,
            ..world
        };
        assert!(covering(&nan, 5).is_empty());
        assert!(covering(&inside, 0).is_empty());
        assert!(covering(&inside, 13).is_empty());
    }

    #[test]
    fn covering_contains_every_inner_point() {
        let mut rng = Rng(99);
        for _ in 0..200 {
            let p = [3, 4, 5, 6][(rng.next_f64() * 4.0) as usize];
            let (w, h) = cell_size_deg(p);
            let mut bb = BBox::empty();
            for _ in 0..2 {
                bb.expand(LatLon::new(
                    rng.range(-85.0, 85.0),
                    rng.range(-175.0, 175.0),
                ));
            }
            // Keep boxes a few cells across.
            bb.max_lat = bb.max_lat.min(bb.min_lat + 4.0 * h);
            bb.max_lon = bb.max_lon.min(bb.min_lon + 4.0 * w);
            let cells = covering(&bb, p);
            assert!(cells.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
            for cell in &cells {
                assert!(decode_bbox(cell).unwrap().intersects(&bb));
            }
            for _ in 0..50 {
                let lat = rng.range(bb.min_lat, bb.max_lat);
                let lon = rng.range(bb.min_lon, bb.max_lon);
                assert!(cells.contains(&encode(LatLon::new(lat, lon), p).unwrap()));
            }
            for (lat, lon) in [(bb.min_lat, bb.min_lon), (bb.max_lat, bb.max_lon)] {
                assert!(cells.contains(&encode(LatLon::new(lat, lon), p).unwrap()));
            }
        }
    }

    #[test]
    fn along_single_points_and_bad_input() {
        assert!(along(&[], 5).is_empty());
        assert_eq!(along(&ll(&[(57.64911, 10.40744)]), 11), ["u4pruydqqvj"]);
        // Repeated points and an invalid point in between change nothing.
        let pts = [
            (42.605, -5.603),
            (42.605, -5.603),
            (f64::NAN, 0.0),
            (42.605, -5.603),
        ];
        assert_eq!(along(&ll(&pts), 5), ["ezs42"]);
        assert!(along(&ll(&pts), 0).is_empty());
        assert!(along(&ll(&pts), 13).is_empty());
    }

    #[test]
    fn along_visits_in_order() {
        // Eastwards along a row at precision 1: 8 9 d e s t w x.
        // (Via 0°, as a single segment spanning over 180° would go round the other way.)
        let row = [(10.0, -170.0), (10.0, 0.0), (10.0, 170.0)];
        assert_eq!(along(&ll(&row), 1).concat(), "89destwx");
        // Back west again: nothing new.
        let there_and_back = [(10.0, -170.0), (10.0, 0.0), (10.0, 170.0), (10.0, -10.0)];
        assert_eq!(along(&ll(&there_and_back), 1).concat(), "89destwx");
        // North along a column: 0 2 8 b.
        assert_eq!(
            along(&ll(&[(-80.0, -170.0), (90.0, -170.0)]), 1).concat(),
            "028b"
        );
    }

    #[test]
    fn along_crosses_the_antimeridian_the_short_way() {
        assert_eq!(along(&ll(&[(10.0, 179.9), (10.0, -179.9)]), 1), ["x", "8"]);
        assert_eq!(along(&ll(&[(10.0, -179.9), (10.0, 179.9)]), 1), ["8", "x"]);
        assert_eq!(along(&ll(&[(10.0, 180.0), (10.0, -179.9)]), 1), ["x", "8"]);
        // Fiji, precision 6 (cells 0.011° wide): a few cells, not a trip round the world.
        let (a, b) = ((-16.8, 179.995), (-16.8, -179.995));
        let cells = along(&ll(&[a, b]), 6);
        assert!(cells.len() <= 3, "{cells:?}");
        assert_eq!(cells[0], encode(LatLon::new(a.0, a.1), 6).unwrap());
        assert_eq!(
            *cells.last().unwrap(),
            encode(LatLon::new(b.0, b.1), 6).unwrap()
        );
    }

    /// Long diagonal segments against dense sampling: every sampled cell is visited, and the walk
    /// takes the minimal number of cells (one per column or row boundary crossed).
    #[test]
    fn along_skips_no_cell() {
        let mut rng = Rng(2024);
        for _ in 0..100 {
            let p = [2, 3, 4, 5][(rng.next_f64() * 4.0) as usize];
            let (w, h) = cell_size_deg(p);
            let a = (rng.range(-80.0, 80.0), rng.range(-170.0, 170.0));
            let b = (
                (a.0 + rng.range(-20.0, 20.0) * h).clamp(-90.0, 90.0),
                (a.1 + rng.range(-20.0, 20.0) * w).clamp(-180.0, 180.0),
            );
            let cells = along(&ll(&[a, b]), p);
            let steps = 20_000;
            for i in 0..=steps {
                let t = f64::from(i) / f64::from(steps);
                let (lat, lon) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
                let cell = encode(LatLon::new(lat, lon), p).unwrap();
                assert!(cells.contains(&cell), "{cell} missing for {a:?} -> {b:?}");
            }
            let grid = Grid::new(p);
            let (ca, ra) = grid.cell_of(a.0, a.1);
            let (cb, rb) = grid.cell_of(b.0, b.1);
            let minimal = ca.abs_diff(cb) + ra.abs_diff(rb) + 1;
            assert_eq!(cells.len() as u32, minimal, "{a:?} -> {b:?}");
            assert_eq!(cells[0], encode(LatLon::new(a.0, a.1), p).unwrap());
            assert_eq!(
                *cells.last().unwrap(),
                encode(LatLon::new(b.0, b.1), p).unwrap()
            );
        }
    }

    #[test]
    fn cells_name_themselves_and_sort_like_their_names() {
        let mut rng = Rng(31);
        let mut cells = Vec::new();
        for _ in 0..500 {
            let p = LatLon::new(rng.range(-90.0, 90.0), rng.range(-180.0, 180.0));
            let precision = 1 + (rng.next_f64() * MAX_PRECISION as f64) as usize % MAX_PRECISION;
            let cell = Cell::containing(p, precision).unwrap();
            let name = cell.to_string();
            assert_eq!(name, encode(p, precision).unwrap());
            assert_eq!(name.parse::<Cell>(), Ok(cell));
            assert_eq!(cell.precision(), precision);
            assert!(cell.bbox().contains(p));
            cells.push(cell);
        }
        // Mixed precisions too: a cell sorts right before the cells inside it, as strings do.
        let mut by_value = cells.clone();
        by_value.sort();
        let mut by_name: Vec<String> = cells.iter().map(Cell::to_string).collect();
        by_name.sort();
        assert_eq!(
            by_value.iter().map(Cell::to_string).collect::<Vec<_>>(),
            by_name
        );
        assert!("u4pr".parse::<Cell>().unwrap() < "u4pr0".parse().unwrap());
        assert!("u4pr0".parse::<Cell>().unwrap() < "u4ps".parse().unwrap());
        assert_eq!(
            "U4PR".parse::<Cell>(),
            Err(GeohashError::InvalidCharacter {
                character: 'U',
                position: 0
            })
        );
        assert_eq!("".parse::<Cell>(), Err(GeohashError::InvalidLength(0)));
    }

    #[test]
    fn cells_nest_by_prefix() {
        let fine: Cell = "u4pruydqqvj".parse().unwrap();
        let coarse: Cell = "u4pr".parse().unwrap();
        assert_eq!(fine.ancestor(4), coarse);
        assert_eq!(fine.parent().unwrap().to_string(), "u4pruydqqv");
        assert_eq!("u".parse::<Cell>().unwrap().parent(), None);
        assert!(coarse.contains(fine) && coarse.contains(coarse));
        assert!(!fine.contains(coarse));
        assert!(!"u4ps".parse::<Cell>().unwrap().contains(fine));
        let (outer, inner) = (coarse.bbox(), fine.bbox());
        assert!(outer.contains(inner.center()));
        assert_eq!(
            coarse
                .neighbours()
                .iter()
                .map(Cell::to_string)
                .collect::<Vec<_>>(),
            neighbors("u4pr").unwrap()
        );
        // Neighbours across the antimeridian and the pole keep the precision.
        let corner: Cell = "b".parse().unwrap();
        assert_eq!(corner.neighbours().len(), 5);
        assert!(corner.neighbours().iter().all(|n| n.precision() == 1));
    }
}
