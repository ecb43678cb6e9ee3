//! Google's encoded polyline format, the `geometries=polyline` (precision 5) and `polyline6`
//! (precision 6) encodings of OSRM answers.
//!
//! Each coordinate is rounded to an integer number of `10^-precision` degrees; the first point is
//! stored as is and every later one as the difference from the previous rounded point, so
//! rounding errors never accumulate along the line. A value is zig-zag signed (shifted left, all
//! bits inverted when negative), cut into 5-bit groups from the least significant end, each
//! group but the last flagged with `0x20`, and written as the byte `group + 63`. Each point is
//! written latitude first, as the format has it.

use spatial::LatLon;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolylineError {
    /// A byte outside the format's range `?` (63) to `~` (126); `position` is a byte offset.
    InvalidByte { position: usize, byte: u8 },
    /// The input ends inside a value, or after a latitude without its longitude.
    Truncated,
    /// A value, or a coordinate summed from deltas, does not fit in 64 bits; `position` is the
    /// byte offset where the value starts.
    Overflow { position: usize },
}

impl fmt::Display for PolylineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidByte { position, byte } => write!(
                f,
                "invalid byte 0x{byte:02x} at offset {position} in encoded polyline"
            ),
            Self::Truncated => write!(f, "encoded polyline ends in the middle of a coordinate"),
            Self::Overflow { position } => write!(
                f,
                "encoded polyline value at offset {position} overflows 64 bits"
            ),
        }
    }
}

impl std::error::Error for PolylineError {}

/// Rounded coordinates are clamped to this magnitude so that deltas and the zig-zag shift cannot
/// overflow `i64` on garbage input (infinite, or absurd precisions). Real coordinates never reach
/// it: 2^53 holds 180° at up to 13 decimal digits, more than an f64 in degrees resolves.
const LIMIT: i64 = 1 << 53;

/// Encode points (latitude first, as the format has it); precision = 5 or 6 decimal digits.
///
/// Coordinates are rounded half away from zero (`f64::round`). NaN encodes as 0; the format
/// carries no error, so callers pass finite coordinates.
pub fn encode(points: &[LatLon], precision: u32) -> String {
    let factor = scale(precision);
    // Typical deltas take 3 to 5 bytes per value.
    let mut out = String::with_capacity(points.len() * 8);
    let (mut prev_lat, mut prev_lon) = (0i64, 0i64);
    for &LatLon { lat, lon } in points {
        let (lat, lon) = (to_fixed(lat, factor), to_fixed(lon, factor));
        push_value(&mut out, lat - prev_lat);
        push_value(&mut out, lon - prev_lon);
        (prev_lat, prev_lon) = (lat, lon);
    }
    out
}

/// Decode back to points; error for malformed input (a plain error type `PolylineError`
/// implementing std::error::Error).
///
/// The precision is not recorded in the string: decoding a precision-5 line as precision 6
/// silently gives coordinates ten times too small.
pub fn decode(encoded: &str, precision: u32) -> Result<Vec<LatLon>, PolylineError> {
    let factor = scale(precision);
    let bytes = encoded.as_bytes();
    // At least two bytes per point; usually about eight.
    let mut points = Vec::with_capacity(bytes.len() / 6);
    let (mut lat, mut lon) = (0i64, 0i64);
    let mut pos = 0;
    while pos < bytes.len() {
        let lat_start = pos;
        let dlat = read_value(bytes, &mut pos)?;
        let lon_start = pos;
        let dlon = read_value(bytes, &mut pos)?;
        lat = lat.checked_add(dlat).ok_or(PolylineError::Overflow {
            position: lat_start,
        })?;
        lon = lon.checked_add(dlon).ok_or(PolylineError::Overflow {
            position: lon_start,
        })?;
        points.push(LatLon::new(lat as f64 / factor, lon as f64 / factor));
    }
    Ok(points)
}

/// `10^precision`.
fn scale(precision: u32) -> f64 {
    10f64.powi(i32::try_from(precision).unwrap_or(i32::MAX))
}

fn to_fixed(v: f64, factor: f64) -> i64 {
    // `as` saturates (NaN becomes 0); the clamp keeps later arithmetic in range.
    ((v * factor).round() as i64).clamp(-LIMIT, LIMIT)
}

fn push_value(out: &mut String, delta: i64) {
    // Zig-zag: sign in the lowest bit, so small negative deltas stay short.
    let mut v = ((delta << 1) ^ (delta >> 63)) as u64;
    while v >= 0x20 {
        out.push(char::from((0x20 | (v & 0x1f) as u8) + 63));
        v >>= 5;
    }
    out.push(char::from(v as u8 + 63));
}

/// Reads one signed value starting at `*pos` and moves `*pos` past it.
fn read_value(bytes: &[u8], pos: &mut usize) -> Result<i64, PolylineError> {
    let start = *pos;
    let mut acc = 0u64;
    let mut shift = 0u32;
    loop {
        let &byte = bytes.get(*pos).ok_or(PolylineError::Truncated)?;
        if !(63..=126).contains(&byte) {
            return Err(PolylineError::InvalidByte {
                position: *pos,
                byte,
            });
        }
        let group = u64::from(byte - 63);
        let payload = group & 0x1f;
        // Bits that would land above bit 63 (or a group starting past it) mean overflow.
        if shift >= 64 || payload.checked_shr(64 - shift).unwrap_or(0) != 0 {
            return Err(PolylineError::Overflow { position: start });
        }
        acc |= payload << shift;
        shift += 5;
        *pos += 1;
        if group & 0x20 == 0 {
            break;
        }
    }
    // Undo zig-zag: the low bit says whether the rest was inverted.
    Ok(((acc >> 1) as i64) ^ -((acc & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests' points are `(lat, lon)` pairs, as the format's documentation writes them.
    fn enc(points: &[(f64, f64)], precision: u32) -> String {
        let points: Vec<LatLon> = points
            .iter()
            .map(|&(lat, lon)| LatLon::new(lat, lon))
            .collect();
        encode(&points, precision)
    }

    fn dec(encoded: &str, precision: u32) -> Result<Vec<(f64, f64)>, PolylineError> {
        decode(encoded, precision).map(|v| v.into_iter().map(|p| (p.lat, p.lon)).collect())
    }

    const GOOGLE: &str = "_p~iF~ps|U_ulLnnqC_mqNvxq`@";
    const GOOGLE_POINTS: [(f64, f64); 3] = [(38.5, -120.2), (40.7, -120.95), (43.252, -126.453)];

    #[test]
    fn encodes_google_example() {
        assert_eq!(enc(&GOOGLE_POINTS, 5), GOOGLE);
    }

    #[test]
    fn decodes_google_example_exactly() {
        // Integer / power of ten is correctly rounded, so the decimals come back exactly.
        assert_eq!(dec(GOOGLE, 5).unwrap(), GOOGLE_POINTS);
    }

    #[test]
    fn encodes_documented_single_value() {
        // Google's step-by-step example: -179.9832104 encodes as "`~oia@"; longitude 0 as "?".
        assert_eq!(enc(&[(-179.9832104, 0.0)], 5), "`~oia@?");
        // Smallest values by hand: +1 -> 2 -> 'A', -1 -> !(-2) = 1 -> '@'.
        assert_eq!(enc(&[(0.00001, -0.00001)], 5), "A@");
        assert_eq!(enc(&[(0.000001, -0.000001)], 6), "A@");
    }

    #[test]
    fn empty_input() {
        assert_eq!(enc(&[], 5), "");
        assert_eq!(dec("", 6).unwrap(), Vec::<(f64, f64)>::new());
    }

    #[test]
    fn rounds_half_away_from_zero() {
        // 0.25 * 10 = 2.5 exactly, which rounds to 3 (not 2 as half-to-even would, and -2.5 to
        // -3, not -2 as JavaScript's Math.round would).
        assert_eq!(enc(&[(0.25, -0.25)], 1), enc(&[(0.3, -0.3)], 1));
        assert_eq!(dec(&enc(&[(0.25, -0.25)], 1), 1).unwrap(), [(0.3, -0.3)]);
    }

    #[test]
    fn negative_coordinates_round_trip() {
        let pts = [
            (-33.8688, 151.2093),
            (-34.6037, -58.3816),
            (-0.0000004, -179.999999),
        ];
        let back = dec(&enc(&pts, 6), 6).unwrap();
        assert_eq!(back.len(), pts.len());
        for (p, q) in pts.iter().zip(&back) {
            assert!((p.0 - q.0).abs() <= 0.5e-6 + 1e-12, "{p:?} {q:?}");
            assert!((p.1 - q.1).abs() <= 0.5e-6 + 1e-12, "{p:?} {q:?}");
        }
        assert_eq!(back[2], (0.0, -179.999999));
    }

    #[test]
    fn random_round_trip_precision_6() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut pts = Vec::new();
        let (mut lat, mut lon) = (41.15, -8.61);
        for i in 0..2000 {
            if i % 500 == 0 {
                // Occasional jumps across the globe: large deltas, both signs.
                (lat, lon) = (next() * 180.0 - 90.0, next() * 360.0 - 180.0);
            } else {
                lat = (lat + (next() - 0.5) * 0.01).clamp(-90.0, 90.0);
                lon = (lon + (next() - 0.5) * 0.01).clamp(-180.0, 180.0);
            }
            pts.push((lat, lon));
        }
        let encoded = enc(&pts, 6);
        assert!(encoded.bytes().all(|b| (63..=126).contains(&b)));
        let back = dec(&encoded, 6).unwrap();
        assert_eq!(back.len(), pts.len());
        for (p, q) in pts.iter().zip(&back) {
            assert!((p.0 - q.0).abs() <= 0.5e-6 + 1e-12, "{p:?} {q:?}");
            assert!((p.1 - q.1).abs() <= 0.5e-6 + 1e-12, "{p:?} {q:?}");
        }
        // Decoded values are already on the grid: encoding them again changes nothing.
        assert_eq!(enc(&back, 6), encoded);
    }

    #[test]
    fn errors_do_not_accumulate() {
        // Steps of 0.4 units each: rounding every delta on its own would lose them all.
        let pts: Vec<(f64, f64)> = (0..1000)
            .map(|i| (f64::from(i) * 0.000004, -f64::from(i) * 0.000004))
            .collect();
        let back = dec(&enc(&pts, 5), 5).unwrap();
        for (p, q) in pts.iter().zip(&back) {
            assert!((p.0 - q.0).abs() <= 0.5e-5 + 1e-12, "{p:?} {q:?}");
            assert!((p.1 - q.1).abs() <= 0.5e-5 + 1e-12, "{p:?} {q:?}");
        }
        assert_eq!(back[999], (0.004, -0.004));
    }

    #[test]
    fn malformed_input_is_an_error() {
        // Cut inside the last value (its continuation flag is still set).
        assert_eq!(
            dec(&GOOGLE[..GOOGLE.len() - 1], 5),
            Err(PolylineError::Truncated)
        );
        assert_eq!(
            dec(&GOOGLE[..GOOGLE.len() - 2], 5),
            Err(PolylineError::Truncated)
        );
        // Cut after a latitude: "_mqN" is the third latitude.
        assert_eq!(
            dec(&GOOGLE[..GOOGLE.len() - 5], 5),
            Err(PolylineError::Truncated)
        );
        assert_eq!(dec("_", 5), Err(PolylineError::Truncated));
        assert_eq!(
            dec("_p~iF ps|U", 5),
            Err(PolylineError::InvalidByte {
                position: 5,
                byte: b' '
            })
        );
        assert_eq!(
            dec("_p~iF~ps|Ué", 5),
            Err(PolylineError::InvalidByte {
                position: 10,
                byte: 0xc3
            })
        );
        // Fourteen continuation groups: 70 bits.
        assert_eq!(
            dec(&"~".repeat(14), 5),
            Err(PolylineError::Overflow { position: 0 })
        );
        let err: Box<dyn std::error::Error> = Box::new(PolylineError::Truncated);
        assert_eq!(
            err.to_string(),
            "encoded polyline ends in the middle of a coordinate"
        );
    }

    #[test]
    fn widest_values_round_trip() {
        let pts = [(90.0, 180.0), (-90.0, -180.0), (90.0, 180.0)];
        assert_eq!(dec(&enc(&pts, 6), 6).unwrap(), pts);
        assert_eq!(dec(&enc(&pts, 5), 5).unwrap(), pts);
        // Garbage in must not panic.
        let junk = [(f64::NAN, f64::INFINITY), (f64::NEG_INFINITY, 1e300)];
        let back = dec(&enc(&junk, 6), 6).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0, 0.0);
    }
}
