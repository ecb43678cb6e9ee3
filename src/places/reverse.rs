//! Reverse geocoding: the nearest address within [`ADDRESS_RADIUS_M`], else the nearest named
//! street within [`STREET_RADIUS_M`] (distance to its way segments), else the nearest named
//! place or POI (zoomed out: `place=*` only) within [`PLACE_RADIUS_M`], read from the index's grids. Nominatim's `zoom`
//! chooses the detail: 18 and above addresses first, 16–17 streets, below that places only.

use crate::extract::Kind;
use crate::index::PlacesIndex;
use crate::latlon;
use spatial::geometry::{metres_to_degrees, project_onto_segment};

pub const ADDRESS_RADIUS_M: f64 = 50.0;
pub const STREET_RADIUS_M: f64 = 500.0;
pub const PLACE_RADIUS_M: f64 = 3_000.0;

/// What a reverse lookup found.
#[derive(Clone, Debug, PartialEq)]
pub struct ReverseHit {
    pub entry: u32,
    pub distance_m: f64,
}

/// Detail levels, from Nominatim's `zoom` (0–18).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    Address,
    Street,
    Place,
}

impl Detail {
    pub fn from_zoom(zoom: u8) -> Detail {
        match zoom {
            18.. => Detail::Address,
            16 | 17 => Detail::Street,
            _ => Detail::Place,
        }
    }
}

impl PlacesIndex {
    /// The nearest point entry of a kind accepted by `want` within `radius_m`.
    fn nearest_point(
        &self,
        p: (f64, f64),
        radius_m: f64,
        want: impl Fn(&crate::index::ArchivedEntry) -> bool,
    ) -> Option<ReverseHit> {
        let file = self.file();
        let half = metres_to_degrees(radius_m, p.0);
        file.points
            .items_near(p.0, p.1, half)
            .map(|e| e.to_native())
            .filter(|&e| want(&file.entries[e as usize]))
            .map(|e| ReverseHit {
                entry: e,
                distance_m: latlon(p).haversine_m(latlon(file.entries[e as usize].point())),
            })
            .filter(|h| h.distance_m <= radius_m)
            .min_by(|a, b| {
                a.distance_m
                    .total_cmp(&b.distance_m)
                    .then(a.entry.cmp(&b.entry))
            })
    }

    /// The street entry with the nearest segment within `radius_m`.
    pub fn nearest_street(&self, p: (f64, f64), radius_m: f64) -> Option<ReverseHit> {
        let file = self.file();
        let half = metres_to_degrees(radius_m, p.0);
        let items: Vec<u32> = file
            .segments
            .items_near(p.0, p.1, half)
            .map(|i| i.to_native())
            .collect();
        items
            .chunks(2)
            .map(|pair| {
                let shape = &file.shapes[pair[0] as usize];
                let k = pair[1] as usize;
                let d = project_onto_segment(
                    latlon(p),
                    latlon(shape.point(k)),
                    latlon(shape.point(k + 1)),
                )
                .distance_m;
                ReverseHit {
                    entry: shape.entry.to_native(),
                    distance_m: d,
                }
            })
            .filter(|h| h.distance_m <= radius_m)
            .min_by(|a, b| {
                a.distance_m
                    .total_cmp(&b.distance_m)
                    .then(a.entry.cmp(&b.entry))
            })
    }

    /// The most detailed thing near `(lat, lon)` at the detail asked for, `None` when there is
    /// nothing within the radii (Nominatim's "Unable to geocode").
    pub fn reverse(&self, p: (f64, f64), detail: Detail) -> Option<ReverseHit> {
        if detail == Detail::Address {
            if let Some(h) = self.nearest_point(p, ADDRESS_RADIUS_M, |e| e.kind() == Kind::Address)
            {
                return Some(h);
            }
        }
        if detail != Detail::Place {
            if let Some(h) = self.nearest_street(p, STREET_RADIUS_M) {
                return Some(h);
            }
        }
        // Zoomed out, a POI is too fine: only `place=*` (suburbs, towns) answers.
        self.nearest_point(p, PLACE_RADIUS_M, |e| {
            e.kind() == Kind::Place && (detail != Detail::Place || e.class.as_str() == "place")
        })
    }
}
