//! Metric geometry on a spherical Earth: great-circle distances, bearings, and the projection of a
//! point onto a short segment (used for snapping). Coordinates are `(lat, lon)` in degrees unless a
//! name says otherwise.

/// Mean Earth radius in metres (IUGG), the usual choice of routing engines for haversine.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two `(lat, lon)` points.
pub fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let dlat = lat2 - lat1;
    let dlon = lon2 - lon1;
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Initial bearing in degrees `[0, 360)` clockwise from north, travelling from `a` to `b`.
pub fn bearing_deg(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let dlon = (b.1 - a.1).to_radians();
    let y = dlon.sin() * lat2.cos();
    let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * dlon.cos();
    let deg = y.atan2(x).to_degrees();
    (deg + 360.0) % 360.0
}

/// Where a point falls on a segment: the closest point, its parameter along the segment in
/// `[0, 1]`, and the distance to it in metres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Projection {
    pub point: (f64, f64),
    pub fraction: f64,
    pub distance_m: f64,
}

/// Projects `p` onto segment `a`–`b` in a local equirectangular frame centred on `p`. Accurate to
/// well under a metre for segments of a few kilometres, which is all a road segment ever is.
pub fn project_onto_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> Projection {
    let (fraction, _) = LocalFrame::at(p).project(a, b);
    projection_at(p, a, b, fraction)
}

/// The projection of `p` onto `a`–`b` at a known `fraction` (from [`LocalFrame::project`]), with
/// the great-circle distance.
pub fn projection_at(p: (f64, f64), a: (f64, f64), b: (f64, f64), fraction: f64) -> Projection {
    let point = (a.0 + (b.0 - a.0) * fraction, a.1 + (b.1 - a.1) * fraction);
    Projection {
        point,
        fraction,
        distance_m: haversine_m(p, point),
    }
}

/// An equirectangular frame centred on a point: degrees to local planar coordinates with one
/// cosine per point instead of trigonometry per segment. Good to well under 0.1% within a few
/// kilometres, so it serves to discard far segments before any exact distance is computed.
#[derive(Clone, Copy, Debug)]
pub struct LocalFrame {
    origin: (f64, f64),
    /// Cosine of the origin's latitude: shrinks longitude differences to ground scale.
    k: f64,
}

impl LocalFrame {
    pub fn at(origin: (f64, f64)) -> Self {
        LocalFrame {
            origin,
            k: origin.0.to_radians().cos(),
        }
    }

    /// The parameter in `[0, 1]` of the origin's closest point on `a`–`b`, and the planar
    /// distance to it in metres.
    #[inline]
    pub fn project(&self, a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
        let p = self.origin;
        let (ax, ay) = ((a.1 - p.1) * self.k, a.0 - p.0);
        let (bx, by) = ((b.1 - p.1) * self.k, b.0 - p.0);
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
pub fn halfway(shape: &[(f64, f64)]) -> Option<(f64, f64)> {
    let total: f64 = shape.windows(2).map(|w| haversine_m(w[0], w[1])).sum();
    let mut left = total / 2.0;
    for w in shape.windows(2) {
        let length = haversine_m(w[0], w[1]);
        if length >= left && length > 0.0 {
            let t = left / length;
            return Some((
                w[0].0 + (w[1].0 - w[0].0) * t,
                w[0].1 + (w[1].1 - w[0].1) * t,
            ));
        }
        left -= length;
    }
    shape.last().copied()
}

/// A lower bound of the great-circle distance between two points, cheap enough for an A*
/// heuristic: an equirectangular distance using the smaller cosine of the two latitudes, shrunk
/// by a small margin so it never exceeds the haversine distance at city scales.
#[inline]
pub fn lower_bound_distance_m(a: (f64, f64), b: (f64, f64), cos_lat_min: f64) -> f64 {
    let dy = (a.0 - b.0).to_radians();
    let dx = (a.1 - b.1).to_radians() * cos_lat_min;
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

    #[test]
    fn halfway_is_half_the_length_from_either_end() {
        let shape = [
            (41.0, -8.6),
            (41.001, -8.6),
            (41.001, -8.598),
            (41.003, -8.598),
        ];
        let h = halfway(&shape).unwrap();
        let total: f64 = shape.windows(2).map(|w| haversine_m(w[0], w[1])).sum();
        // The halfway point lies on the second segment, total/2 from the start along the line.
        let along = haversine_m(shape[0], shape[1]) + haversine_m(shape[1], h);
        assert!(
            (along - total / 2.0).abs() < 0.01,
            "{along} vs {}",
            total / 2.0
        );
        assert!((h.0 - 41.001).abs() < 1e-12);
        assert_eq!(halfway(&[(1.0, 2.0)]), Some((1.0, 2.0)));
        assert_eq!(halfway(&[]), None);
    }

    #[test]
    fn haversine_of_one_degree_of_latitude() {
        let d = haversine_m((41.0, -8.6), (42.0, -8.6));
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
    }

    #[test]
    fn bearings_of_cardinal_directions() {
        assert!((bearing_deg((41.0, -8.6), (41.1, -8.6)) - 0.0).abs() < 1e-6);
        assert!((bearing_deg((41.0, -8.6), (41.0, -8.5)) - 90.0).abs() < 0.1);
        assert!((bearing_deg((41.0, -8.6), (40.9, -8.6)) - 180.0).abs() < 1e-6);
        assert!((bearing_deg((41.0, -8.6), (41.0, -8.7)) - 270.0).abs() < 0.1);
    }

    #[test]
    fn projection_clamps_and_measures() {
        let a = (41.0, -8.60);
        let b = (41.0, -8.59);
        let mid = project_onto_segment((41.001, -8.595), a, b);
        assert!((mid.fraction - 0.5).abs() < 1e-3);
        assert!((mid.distance_m - 111.2).abs() < 1.0, "{}", mid.distance_m);
        let before = project_onto_segment((41.0, -8.61), a, b);
        assert_eq!(before.fraction, 0.0);
    }

    #[test]
    fn lower_bound_never_exceeds_haversine() {
        let pts: [(f64, f64); 4] = [
            (41.15, -8.61),
            (41.35, -8.40),
            (40.98, -8.79),
            (41.39, -8.36),
        ];
        for &a in &pts {
            for &b in &pts {
                let c = a.0.abs().max(b.0.abs()).to_radians().cos();
                assert!(lower_bound_distance_m(a, b, c) <= haversine_m(a, b) + 1e-9);
            }
        }
    }
}
