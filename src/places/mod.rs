//! Geocoding from the same OpenStreetMap import as the road graph: addresses, named streets and
//! named places read from the PBF ([`extract`]), normalised ([`normalize`]), stored as one rkyv
//! index next to the graph tiles ([`index`], which also says why rkyv), searched forward
//! ([`search`]: typed text to ranked places) and in reverse ([`reverse`]: a coordinate to the
//! nearest address or street).

pub mod extract;
pub mod index;
pub mod normalize;
pub mod reverse;
pub mod search;

pub use extract::Kind;
pub use index::{build_index, IndexReport, PlacesIndex, FILE_NAME};
pub use reverse::{Detail, ReverseHit};
pub use search::{Hit, Query};

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum PlacesError {
    #[error("cannot read OSM file {path}: {message}")]
    Pbf { path: String, message: String },
    #[error("I/O error in {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot serialise the places index: {0}")]
    Serialize(String),
    #[error("places index {path} is unusable: {message}")]
    Invalid { path: String, message: String },
}

impl PlacesError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        PlacesError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// The index keeps points as `(lat, lon)` pairs (plain numbers in the rkyv file); this is where
/// they cross into the spatial layer's type.
#[inline]
pub(crate) fn latlon(p: (f64, f64)) -> spatial::LatLon {
    spatial::LatLon::new(p.0, p.1)
}

/// Halfway along a line of `(lat, lon)` points, by length.
pub(crate) fn halfway_of(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let line: Vec<spatial::LatLon> = points.iter().map(|&p| latlon(p)).collect();
    spatial::geometry::halfway(&line).map(|m| (m.lat, m.lon))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn shared_extract(name: &str) -> PathBuf {
        let base = std::env::var("MERIDIAN_SHARED_DATA").map_or_else(
            |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
            PathBuf::from,
        );
        base.join("osm").join(format!("{name}.osm.pbf"))
    }

    /// Every address of a real extract (Stockholm's Södermalm, 392 tagged nodes) found by its
    /// own street and number, and reverse at its point naming its street.
    #[test]
    fn every_address_of_a_tiny_extract_is_found_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let report = build_index(&shared_extract("tiny/stockholm-2020-07"), dir.path()).unwrap();
        assert!(report.counts.addresses >= 300, "{:?}", report.counts);
        let index = PlacesIndex::open_in(dir.path()).unwrap().unwrap();
        let file = index.file();
        let (mut found, mut reversed, mut total) = (0, 0, 0);
        for e in file.entries.iter().filter(|e| e.kind() == Kind::Address) {
            total += 1;
            let text = format!("{} {}", e.street, e.housenumber);
            let hits = index.search(&Query {
                text: &text,
                focus: None,
                limit: 1,
            });
            let first = hits.first().map(|h| index.entry(h.entry));
            if first.is_some_and(|f| {
                latlon(f.point()).haversine_m(latlon(e.point())) < 50.0
                    && normalize::tokens(f.road()) == normalize::tokens(&e.street)
            }) {
                found += 1;
            }
            let r = index.reverse(e.point(), Detail::Address).unwrap();
            if normalize::tokens(index.entry(r.entry).road()) == normalize::tokens(&e.street) {
                reversed += 1;
            }
        }
        // Exact text: every house that is unique by street and number is found.
        assert!(found * 100 >= total * 98, "{found} of {total} found");
        assert_eq!(reversed, total);
    }

    /// The southern half of a real extract's index, cut out as an index of its own: it opens
    /// (validated), holds exactly the kept entries, and finds each kept address by its text
    /// where the whole index does, and reverse there names its street.
    #[test]
    fn a_subset_is_a_complete_index_of_what_it_keeps() {
        let dir = tempfile::tempdir().unwrap();
        build_index(&shared_extract("tiny/stockholm-2020-07"), dir.path()).unwrap();
        let whole = PlacesIndex::open_in(dir.path()).unwrap().unwrap();
        let mut lats: Vec<f64> = whole.file().entries.iter().map(|e| e.point().0).collect();
        lats.sort_by(f64::total_cmp);
        let cut = lats[lats.len() / 2];
        let file = index::subset(whole.file(), |e| e.point().0 < cut);
        let bytes = index::to_bytes(&file).unwrap();
        let part = PlacesIndex::from_bytes(&bytes, Path::new("subset")).unwrap();
        let kept: Vec<_> = whole
            .file()
            .entries
            .iter()
            .filter(|e| e.point().0 < cut)
            .collect();
        assert_eq!(part.file().entries.len(), kept.len());
        assert!(part.size_bytes() < whole.size_bytes());
        let (mut same, mut total) = (0, 0);
        for e in kept.iter().filter(|e| e.kind() == Kind::Address) {
            total += 1;
            let text = format!("{} {}", e.street, e.housenumber);
            let q = Query {
                text: &text,
                focus: None,
                limit: 1,
            };
            let (a, b) = (whole.search(&q), part.search(&q));
            let point = |i: &PlacesIndex, h: &[Hit]| h.first().map(|h| i.entry(h.entry).point());
            if point(&whole, &a) == point(&part, &b) {
                same += 1;
            }
            let r = part.reverse(e.point(), Detail::Address).unwrap();
            assert_eq!(
                normalize::tokens(part.entry(r.entry).road()),
                normalize::tokens(&e.street)
            );
        }
        assert!(total > 100, "{total}");
        assert!(
            same * 100 >= total * 98,
            "{same} of {total} as in the whole index"
        );
    }

    #[test]
    fn a_damaged_index_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        build_index(&shared_extract("tiny/stockholm-2020-07"), dir.path()).unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&path, &bytes).unwrap();
        let err = PlacesIndex::open(&path).unwrap_err();
        assert!(err.to_string().contains("unusable"), "{err}");
    }
}
