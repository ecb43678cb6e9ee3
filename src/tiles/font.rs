//! The label font (a Latin subset of DejaVu Sans Condensed, shipped in `fonts/` with its
//! licence) turned into vector paths: glyph outlines from `ttf-parser`, laid out left to right
//! by their advances, as one `tiny_skia::Path` per text. Drawing text as paths, not as
//! pre-rasterised glyph bitmaps, lets labels rotate along a road with the same anti-aliasing
//! as the roads, and gives the halo as a stroke of the same path.

use std::sync::OnceLock;
use tiny_skia::{Path, PathBuilder};

/// The font file, embedded so a rendering never depends on fonts installed on the host.
const FONT_BYTES: &[u8] = include_bytes!("fonts/DejaVuSansCondensed-Latin.ttf");

/// A laid-out text: its outline in pixels with the baseline on y = 0 and the text starting at
/// x = 0 (y grows downwards, as in the image), and its extent.
pub struct TextPath {
    pub path: Path,
    pub width: f32,
    /// Distance from the baseline up to the top of capitals, in pixels.
    pub cap_height: f32,
    /// Distance from the baseline up to the ascender line, in pixels.
    pub ascent: f32,
    /// Distance from the baseline down to the descender line, in pixels (positive).
    pub descent: f32,
}

fn face() -> &'static ttf_parser::Face<'static> {
    static FACE: OnceLock<ttf_parser::Face<'static>> = OnceLock::new();
    // The file is part of the binary: a parse failure is a build defect, found by every test.
    FACE.get_or_init(|| ttf_parser::Face::parse(FONT_BYTES, 0).expect("embedded font parses"))
}

/// Lays out `text` at `size_px` (the em size). `None` if a character has no glyph in the
/// subset (a name in another script is left unlabelled rather than drawn as boxes) or the text
/// has no visible outline.
pub fn text_path(text: &str, size_px: f32) -> Option<TextPath> {
    let face = face();
    let scale = size_px / f32::from(face.units_per_em());
    let mut sink = Sink {
        pb: PathBuilder::new(),
        scale,
        x: 0.0,
    };
    let mut pen = 0.0f32;
    for ch in text.chars() {
        let glyph = face.glyph_index(ch)?;
        sink.x = pen;
        // Spaces have no outline; that is not an error.
        let _ = face.outline_glyph(glyph, &mut sink);
        pen += f32::from(face.glyph_hor_advance(glyph).unwrap_or(0)) * scale;
    }
    let path = sink.pb.finish()?;
    // DejaVu's OS/2 table is too old to state the cap height: the top of "H" is that height.
    let cap = face
        .capital_height()
        .or_else(|| Some(face.glyph_bounding_box(face.glyph_index('H')?)?.y_max))
        .unwrap_or(face.ascender());
    Some(TextPath {
        path,
        width: pen,
        cap_height: f32::from(cap) * scale,
        ascent: f32::from(face.ascender()) * scale,
        descent: -f32::from(face.descender()) * scale,
    })
}

/// Receives glyph outlines in font units (y up) and writes them in pixels (y down).
struct Sink {
    pb: PathBuilder,
    scale: f32,
    x: f32,
}

impl Sink {
    fn px(&self, x: f32, y: f32) -> (f32, f32) {
        (self.x + x * self.scale, -y * self.scale)
    }
}

impl ttf_parser::OutlineBuilder for Sink {
    fn move_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.px(x, y);
        self.pb.move_to(x, y);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.px(x, y);
        self.pb.line_to(x, y);
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (x1, y1) = self.px(x1, y1);
        let (x, y) = self.px(x, y);
        self.pb.quad_to(x1, y1, x, y);
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (x1, y1) = self.px(x1, y1);
        let (x2, y2) = self.px(x2, y2);
        let (x, y) = self.px(x, y);
        self.pb.cubic_to(x1, y1, x2, y2, x, y);
    }
    fn close(&mut self) {
        self.pb.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_names_lay_out_and_other_scripts_do_not() {
        let a = text_path("Rua de Santa Catarina", 11.0).unwrap();
        let b = text_path("Rua de Santa Catarina Sul", 11.0).unwrap();
        assert!(a.width > 60.0 && a.width < 200.0, "width {}", a.width);
        assert!(b.width > a.width);
        // Accented Latin is in the subset.
        assert!(text_path("Pohjoisesplanadi Åbo Väinö", 11.0).is_some());
        // Capitals sit above the baseline (negative y), within the ascent.
        let bounds = a.path.bounds();
        assert!(bounds.top() < -a.cap_height * 0.9 && bounds.top() >= -a.ascent - 0.5);
        assert!(bounds.left() >= -0.5 && bounds.right() <= a.width + 0.5);
        // Cyrillic and CJK are not: such a name is not drawn.
        assert!(text_path("Невский проспект", 11.0).is_none());
        assert!(text_path("中山路", 11.0).is_none());
        assert!(text_path(" ", 11.0).is_none());
    }
}
