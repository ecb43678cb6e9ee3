//! Metric geometry on a spherical Earth beyond point-to-point distance and bearing (those are
//! [`LatLon::haversine_m`] and [`LatLon::bearing_deg`]): the projection of a point onto a short
//! segment (used for snapping), the halfway point of a line, and a cheap lower bound of distance.

use crate::coord::LatLon;

pub use crate::coord::EARTH_RADIUS_M;

/// Where a point falls on a segment: the closest point, its parameter along the segment in
/// `[0, 1]`, and the distance to it in metres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Projection {
    pub point: LatLon,
    pub fraction: f64,
    pub distance_m: f64,
}

/// Projects `p` onto segment `a`–`b` in a local equirectangular frame centred on `p`. Accurate to
/// well under a metre for segments of a few kilometres, which is all a road segment ever is.
pub fn project_onto_segment(p: LatLon, a: LatLon, b: LatLon) -> Projection {
    let (fraction, _) = LocalFrame::at(p).project(a, b);
    projection_at(p, a, b, fraction)
}

/// The projection of `p` onto `a`–`b` at a known `fraction` (from [`LocalFrame::project`]), with
/// the great-circle distance.
pub fn projection_at(p: LatLon, a: LatLon, b: LatLon, fraction: f64) -> Projection {
    let point = a.lerp(b, fraction);
    Projection {
        point,
        fraction,
        distance_m: p.haversine_m(point),
    }
}

/// An equirectangular frame centred on a point: degrees to local planar coordinates with one
/// cosine per point instead of trigonometry per segment. Good to well under 0.1% within a few
/// kilometres, so it serves to discard far segments before any exact distance is computed.
#[derive(Clone, Copy, Debug)]
pub struct LocalFrame {
    origin: LatLon,
    /// Cosine of the origin's latitude: shrinks longitude differences to ground scale.
    k: f64,
}

impl LocalFrame {
    pub fn at(origin: LatLon) -> Self {
        LocalFrame {
            origin,
            k: origin.lat.to_radians().cos(),
        }
    }

    /// The parameter in `[0, 1]` of the origin's closest point on `a`–`b`, and the planar
    /// distance to it in metres.
    #[inline]
    pub fn project(&self, a: LatLon, b: LatLon) -> (f64, f64) {
        let p = self.origin;
        let (ax, ay) = ((a.lon - p.lon) * self.k, a.lat - p.lat);
        let (bx, by) = ((b.lon - p.lon) * self.k, b.lat - p.lat);
        let (dx, dy) = (bx - ax, by - ay);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 {
            (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (x, y) = (ax + dx * t, ay + dy * t);
        (t, (x * x + y * y).sqrt().to_radians() * EARTH_RADIUS_M)
    }
}

/// The point halfway along a polyline by length (its only point if it has one), or `None` when
/// it is empty.
pub fn halfway(shape: &[LatLon]) -> Option<LatLon> {
    let total: f64 = shape.windows(2).map(|w| w[0].haversine_m(w[1])).sum();
    let mut left = total / 2.0;
    for w in shape.windows(2) {
        let length = w[0].haversine_m(w[1]);
        if length >= left && length > 0.0 {
            return Some(w[0].lerp(w[1], left / length));
        }
        left -= length;
    }
    shape.last().copied()
}

/// A lower bound of the great-circle distance between two points, cheap enough for an A*
/// heuristic: an equirectangular distance using the smaller cosine of the two latitudes, shrunk
/// by a small margin so it never exceeds the haversine distance at city scales.
#[inline]
pub fn lower_bound_distance_m(a: LatLon, b: LatLon, cos_lat_min: f64) -> f64 {
    let dy = (a.lat - b.lat).to_radians();
    let dx = (a.lon - b.lon).to_radians() * cos_lat_min;
    0.995 * EARTH_RADIUS_M * (dx * dx + dy * dy).sqrt()
}

/// Degrees of latitude and longitude spanned by `metres` around latitude `lat`.
pub fn metres_to_degrees(metres: f64, lat: f64) -> (f64, f64) {
    let dlat = (metres / EARTH_RADIUS_M).to_degrees();
    let dlon = dlat / lat.to_radians().cos().max(0.01);
    (dlat, dlon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64) -> LatLon {
        LatLon::new(lat, lon)
    }

    #[test]
    fn halfway_is_half_the_length_from_either_end() {
        let shape = [
            p(41.0, -8.6),
            p(41.001, -8.6),
            p(41.001, -8.598),
            p(41.003, -8.598),
        ];
        let h = halfway(&shape).unwrap();
        let total: f64 = shape.windows(2).map(|w| w[0].haversine_m(w[1])).sum();
        // The halfway point lies on the second segment, total/2 from the start along the line.
        let along = shape[0].haversine_m(shape[1]) + shape[1].haversine_m(h);
        assert!(
            (along - total / 2.0).abs() < 0.01,
            "{along} vs {}",
            total / 2.0
        );
        assert!((h.lat - 41.001).abs() < 1e-12);
        assert_eq!(halfway(&[p(1.0, 2.0)]), Some(p(1.0, 2.0)));
        assert_eq!(halfway(&[]), None);
    }

    #[test]
    fn projection_clamps_and_measures() {
        let a = p(41.0, -8.60);
        let b = p(41.0, -8.59);
        let mid = project_onto_segment(p(41.001, -8.595), a, b);
        assert!((mid.fraction - 0.5).abs() < 1e-3);
        assert!((mid.distance_m - 111.2).abs() < 1.0, "{}", mid.distance_m);
        let before = project_onto_segment(p(41.0, -8.61), a, b);
        assert_eq!(before.fraction, 0.0);
    }

    #[test]
    fn lower_bound_never_exceeds_haversine() {
        let pts = [
            p(41.15, -8.61),
            p(41.35, -8.40),
            p(40.98, -8.79),
            p(41.39, -8.36),
        ];
        for &a in &pts {
            for &b in &pts {
                let c = a.lat.abs().max(b.lat.abs()).to_radians().cos();
                assert!(lower_bound_distance_m(a, b, c) <= a.haversine_m(b) + 1e-9);
            }
        }
    }
}
