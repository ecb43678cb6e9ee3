//! Coordinate value types: a point ([`LatLon`]) and an axis-aligned box ([`BBox`]) in WGS84
//! degrees, with the great-circle distance and bearing between points.
//!
//! Fields are named, so no caller has to remember whether a pair is (lat, lon) or (lon, lat). The
//! outside formats keep their own orders: OSRM and GeoJSON write `[lon, lat]`
//! ([`LatLon::lon_lat`]), the manifest writes a box `[min_lon, min_lat, max_lon, max_lat]`
//! ([`BBox::lon_lat_array`]).

/// Mean Earth radius in metres (IUGG), the usual choice of routing engines for haversine.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A point in degrees.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

impl LatLon {
    #[inline]
    pub const fn new(lat: f64, lon: f64) -> LatLon {
        LatLon { lat, lon }
    }

    /// From OSRM / GeoJSON order, `[lon, lat]`.
    #[inline]
    pub const fn from_lon_lat([lon, lat]: [f64; 2]) -> LatLon {
        LatLon { lat, lon }
    }

    /// In OSRM / GeoJSON order, `[lon, lat]`.
    #[inline]
    pub const fn lon_lat(self) -> [f64; 2] {
        [self.lon, self.lat]
    }

    /// Latitude in `[-90, 90]` and longitude in `[-180, 180]` (so neither is NaN).
    pub fn in_range(self) -> bool {
        (-90.0..=90.0).contains(&self.lat) && (-180.0..=180.0).contains(&self.lon)
    }

    /// Great-circle distance in metres.
    pub fn haversine_m(self, to: LatLon) -> f64 {
        let (lat1, lon1) = (self.lat.to_radians(), self.lon.to_radians());
        let (lat2, lon2) = (to.lat.to_radians(), to.lon.to_radians());
        let dlat = lat2 - lat1;
        let dlon = lon2 - lon1;
        let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
    }

    /// Initial bearing in degrees `[0, 360)` clockwise from north, travelling from here to `to`.
    pub fn bearing_deg(self, to: LatLon) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), to.lat.to_radians());
        let dlon = (to.lon - self.lon).to_radians();
        let y = dlon.sin() * lat2.cos();
        let x = lat1.cos() * lat2.sin() - lat1.sin() * lat2.cos() * dlon.cos();
        let deg = y.atan2(x).to_degrees();
        (deg + 360.0) % 360.0
    }

    /// The point a fraction `t` of the way to `to`, interpolating the degrees linearly (what a
    /// road segment of a few hundred metres is).
    #[inline]
    pub fn lerp(self, to: LatLon, t: f64) -> LatLon {
        LatLon {
            lat: self.lat + (to.lat - self.lat) * t,
            lon: self.lon + (to.lon - self.lon) * t,
        }
    }
}

/// An axis-aligned box in degrees. [`BBox::contains`] and [`BBox::intersects`] treat it as closed
/// (boundaries included).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BBox {
    pub min_lat: f64,
    pub min_lon: f64,
    pub max_lat: f64,
    pub max_lon: f64,
}

impl BBox {
    /// An inverted box that contains nothing; the first [`BBox::expand`] makes it a point.
    pub fn empty() -> BBox {
        BBox {
            min_lat: f64::INFINITY,
            min_lon: f64::INFINITY,
            max_lat: f64::NEG_INFINITY,
            max_lon: f64::NEG_INFINITY,
        }
    }

    /// From the manifest's and the bundle's order, `[min_lon, min_lat, max_lon, max_lat]`.
    pub const fn from_lon_lat_array([min_lon, min_lat, max_lon, max_lat]: [f64; 4]) -> BBox {
        BBox {
            min_lat,
            min_lon,
            max_lat,
            max_lon,
        }
    }

    /// In the manifest's and the bundle's order, `[min_lon, min_lat, max_lon, max_lat]`.
    pub const fn lon_lat_array(&self) -> [f64; 4] {
        [self.min_lon, self.min_lat, self.max_lon, self.max_lat]
    }

    /// True while the box holds no point (as made by [`BBox::empty`], or with NaN bounds).
    pub fn is_empty(&self) -> bool {
        !(self.min_lat <= self.max_lat && self.min_lon <= self.max_lon)
    }

    pub fn contains(&self, p: LatLon) -> bool {
        self.min_lat <= p.lat
            && p.lat <= self.max_lat
            && self.min_lon <= p.lon
            && p.lon <= self.max_lon
    }

    /// The centre; meaningless (NaN) for an empty box.
    pub fn center(&self) -> LatLon {
        LatLon {
            lat: (self.min_lat + self.max_lat) / 2.0,
            lon: (self.min_lon + self.max_lon) / 2.0,
        }
    }

    /// True if the boxes share at least one point (touching edges count). Empty boxes never
    /// intersect anything.
    pub fn intersects(&self, other: &BBox) -> bool {
        self.min_lat <= other.max_lat
            && other.min_lat <= self.max_lat
            && self.min_lon <= other.max_lon
            && other.min_lon <= self.max_lon
    }

    /// Grows the box to include the point. NaN coordinates are ignored.
    pub fn expand(&mut self, p: LatLon) {
        self.min_lat = self.min_lat.min(p.lat);
        self.max_lat = self.max_lat.max(p.lat);
        self.min_lon = self.min_lon.min(p.lon);
        self.max_lon = self.max_lon.max(p.lon);
    }

    /// The box grown by `lat_deg` north and south and `lon_deg` east and west.
    pub fn grown(&self, lat_deg: f64, lon_deg: f64) -> BBox {
        BBox {
            min_lat: self.min_lat - lat_deg,
            min_lon: self.min_lon - lon_deg,
            max_lat: self.max_lat + lat_deg,
            max_lon: self.max_lon + lon_deg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_of_one_degree_of_latitude() {
        let d = LatLon::new(41.0, -8.6).haversine_m(LatLon::new(42.0, -8.6));
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
    }

    #[test]
    fn bearings_of_cardinal_directions() {
        let o = LatLon::new(41.0, -8.6);
        assert!((o.bearing_deg(LatLon::new(41.1, -8.6)) - 0.0).abs() < 1e-6);
        assert!((o.bearing_deg(LatLon::new(41.0, -8.5)) - 90.0).abs() < 0.1);
        assert!((o.bearing_deg(LatLon::new(40.9, -8.6)) - 180.0).abs() < 1e-6);
        assert!((o.bearing_deg(LatLon::new(41.0, -8.7)) - 270.0).abs() < 0.1);
    }

    #[test]
    fn outside_orders_round_trip() {
        let p = LatLon::new(41.15, -8.61);
        assert_eq!(p.lon_lat(), [-8.61, 41.15]);
        assert_eq!(LatLon::from_lon_lat(p.lon_lat()), p);
        let b = BBox::from_lon_lat_array([-8.7, 41.1, -8.5, 41.2]);
        assert_eq!(
            (b.min_lat, b.min_lon, b.max_lat, b.max_lon),
            (41.1, -8.7, 41.2, -8.5)
        );
        assert_eq!(b.lon_lat_array(), [-8.7, 41.1, -8.5, 41.2]);
        assert!(b.contains(p) && !b.contains(LatLon::new(p.lon, p.lat)));
    }

    #[test]
    fn ranges_reject_nan_and_beyond_the_poles() {
        assert!(LatLon::new(90.0, -180.0).in_range());
        assert!(!LatLon::new(90.1, 0.0).in_range());
        assert!(!LatLon::new(0.0, 180.5).in_range());
        assert!(!LatLon::new(f64::NAN, 0.0).in_range());
    }

    #[test]
    fn bbox_operations() {
        let mut bb = BBox::empty();
        assert!(bb.is_empty());
        assert!(!bb.contains(LatLon::new(0.0, 0.0)));
        bb.expand(LatLon::new(10.0, 20.0));
        bb.expand(LatLon::new(-5.0, 30.0));
        assert!(!bb.is_empty());
        assert_eq!(
            bb,
            BBox {
                min_lat: -5.0,
                min_lon: 20.0,
                max_lat: 10.0,
                max_lon: 30.0
            }
        );
        assert_eq!(bb.center(), LatLon::new(2.5, 25.0));
        assert!(bb.contains(LatLon::new(10.0, 20.0)) && bb.contains(LatLon::new(0.0, 25.0)));
        assert!(!bb.contains(LatLon::new(10.1, 25.0)) && !bb.contains(LatLon::new(0.0, 19.9)));
        let touching = BBox {
            min_lat: 10.0,
            min_lon: 30.0,
            max_lat: 11.0,
            max_lon: 31.0,
        };
        let apart = BBox {
            min_lat: 10.5,
            min_lon: 20.0,
            max_lat: 11.0,
            max_lon: 31.0,
        };
        assert!(bb.intersects(&touching) && touching.intersects(&bb));
        assert!(!bb.intersects(&apart) && !apart.intersects(&bb));
        assert!(!bb.intersects(&BBox::empty()) && !BBox::empty().intersects(&bb));
    }
}
