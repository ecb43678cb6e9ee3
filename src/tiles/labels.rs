//! Street-name labels of one map image: where each name goes, and drawing it.
//!
//! A label is straight text rotated along the longest straight-ish run of its road inside the
//! image (the road stays within [`STRAIGHT_TOLERANCE_PX`] of the text's centre line), reading
//! left to right (never upside down). The roads of one name are first joined end to end, so a
//! street split into many graph edges at its junctions is one line. Names are placed in order of
//! importance (road class, then length drawn in the image, then the name itself, so the order
//! never depends on hashing), each at most [`MAX_PER_NAME`] times and then only far apart, and
//! never overlapping another label or reaching past the image border: a label that does not
//! fit whole is left out rather than cut (the neighbouring image labels the street instead).

use crate::font::{text_path, TextPath};
use std::collections::BTreeMap;
use tiny_skia::{FillRule, LineCap, LineJoin, Paint, Pixmap, Stroke, Transform};

/// Text colour (dark grey: no road colour is this dark, which tests rely on).
pub const TEXT_RGB: [u8; 3] = [0x2b, 0x2b, 0x2b];
/// The halo that keeps text readable over road casings and junctions.
const HALO_RGBA: [u8; 4] = [0xff, 0xff, 0xff, 0xe6];
const HALO_PX: f32 = 1.5;
/// How far the road may stray from the straight text's centre line.
pub const STRAIGHT_TOLERANCE_PX: f32 = 2.5;
/// Space kept free around a label: between labels, and at each end of its run.
const GAP_PX: f32 = 3.0;
/// Repeats of one name in an image.
pub const MAX_PER_NAME: usize = 2;
/// How far apart repeats of a name must be, as a share of the image's larger side.
const REPEAT_APART: f32 = 0.4;
/// Runs tried per name, longest first (bounds the work on long winding roads).
const RUNS_TRIED: usize = 24;

/// One named road in image pixels, in any direction.
pub struct NamedLine<'a> {
    pub name: &'a str,
    /// Lower is more important (the road class as a number).
    pub rank: u8,
    pub size_px: f32,
    pub points: Vec<(f32, f32)>,
}

/// A label placed in an image.
#[derive(Clone, Debug, PartialEq)]
pub struct PlacedLabel {
    pub name: String,
    /// Centre of the text in pixels.
    pub centre: (f32, f32),
    /// Direction of reading, radians from the x axis (y down), in (-π/2, π/2].
    pub angle: f32,
    /// Half extents of the box kept free for the label (text and halo), along and across.
    pub half_len: f32,
    pub half_height: f32,
}

impl PlacedLabel {
    fn axes(&self) -> [(f32, f32); 2] {
        let (s, c) = self.angle.sin_cos();
        [(c, s), (-s, c)]
    }

    /// The four corners of the label's box.
    pub fn corners(&self) -> [(f32, f32); 4] {
        let [(ux, uy), (vx, vy)] = self.axes();
        let (cx, cy) = self.centre;
        let (a, b) = (self.half_len, self.half_height);
        [(-a, -b), (a, -b), (a, b), (-a, b)]
            .map(|(s, t)| (cx + ux * s + vx * t, cy + uy * s + vy * t))
    }

    /// Whether the two boxes, each grown by `gap / 2`, overlap (separating axis test).
    pub fn overlaps(&self, other: &PlacedLabel, gap: f32) -> bool {
        let grow = |l: &PlacedLabel| PlacedLabel {
            half_len: l.half_len + gap / 2.0,
            half_height: l.half_height + gap / 2.0,
            ..l.clone()
        };
        let (a, b) = (grow(self), grow(other));
        let (ca, cb) = (a.corners(), b.corners());
        a.axes().into_iter().chain(b.axes()).all(|(ax, ay)| {
            let span = |cs: &[(f32, f32); 4]| {
                cs.iter()
                    .map(|&(x, y)| x * ax + y * ay)
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), d| {
                        (lo.min(d), hi.max(d))
                    })
            };
            let ((alo, ahi), (blo, bhi)) = (span(&ca), span(&cb));
            ahi >= blo && bhi >= alo
        })
    }

    fn inside(&self, width: f32, height: f32) -> bool {
        self.corners()
            .iter()
            .all(|&(x, y)| x >= 0.0 && y >= 0.0 && x <= width && y <= height)
    }
}

/// A placed label with its laid-out text, ready to draw.
pub struct Label {
    pub placed: PlacedLabel,
    text: TextPath,
}

/// Chooses the labels of an image `width` × `height` px from its named roads.
pub fn place(lines: &[NamedLine], width: u32, height: u32) -> Vec<Label> {
    let (w, h) = (width as f32, height as f32);
    // Lines by name; BTreeMap so that equal-rank names are taken in a fixed order.
    let mut by_name: BTreeMap<&str, Vec<&NamedLine>> = BTreeMap::new();
    for line in lines.iter().filter(|l| l.points.len() >= 2) {
        by_name.entry(line.name).or_default().push(line);
    }
    struct Group<'a> {
        name: &'a str,
        rank: u8,
        size_px: f32,
        chains: Vec<Vec<(f32, f32)>>,
        drawn_len: f32,
    }
    let mut groups: Vec<Group> = by_name
        .into_iter()
        .map(|(name, ls)| {
            let best = ls
                .iter()
                .min_by_key(|l| l.rank)
                .map(|l| (l.rank, l.size_px));
            let (rank, size_px) = best.unwrap_or((u8::MAX, 0.0));
            let chains = join_chains(&ls);
            let drawn_len = chains
                .iter()
                .flat_map(|c| clip_polyline(c, 0.0, 0.0, w, h))
                .map(|p| polyline_len(&p))
                .sum();
            Group {
                name,
                rank,
                size_px,
                chains,
                drawn_len,
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        a.rank
            .cmp(&b.rank)
            .then(b.drawn_len.total_cmp(&a.drawn_len))
            .then(a.name.cmp(b.name))
    });

    let mut placed: Vec<Label> = Vec::new();
    for group in &groups {
        let Some(text) = text_path(group.name, group.size_px) else {
            continue;
        };
        let half_len = text.width / 2.0 + HALO_PX;
        // The text's centre line is half the cap height above its baseline.
        let half_height = (text.ascent - text.cap_height / 2.0)
            .max(text.descent + text.cap_height / 2.0)
            + HALO_PX;
        let margin = half_height + 1.0;
        let needed = 2.0 * (half_len + GAP_PX);
        let mut runs: Vec<Run> = group
            .chains
            .iter()
            .flat_map(|c| clip_polyline(c, margin, margin, w - margin, h - margin))
            .flat_map(|piece| straight_runs(&piece, STRAIGHT_TOLERANCE_PX))
            .filter(|r| r.len >= needed)
            .collect();
        runs.sort_by(|a, b| b.len.total_cmp(&a.len).then(a.key().cmp(&b.key())));
        runs.truncate(RUNS_TRIED);
        let mut mine: Vec<(f32, f32)> = Vec::new();
        'runs: for run in &runs {
            let (ux, uy) = ((run.b.0 - run.a.0) / run.len, (run.b.1 - run.a.1) / run.len);
            let slack = run.len / 2.0 - half_len - GAP_PX;
            for f in [0.0, -0.5, 0.5, -1.0, 1.0] {
                let along = run.len / 2.0 + f * slack;
                let centre = (run.a.0 + ux * along, run.a.1 + uy * along);
                let candidate = PlacedLabel {
                    name: group.name.to_string(),
                    centre,
                    angle: upright_angle(ux, uy),
                    half_len,
                    half_height,
                };
                let far_from_mine = mine.iter().all(|&(x, y)| {
                    let (dx, dy) = (x - centre.0, y - centre.1);
                    (dx * dx + dy * dy).sqrt() >= w.max(h) * REPEAT_APART
                });
                if far_from_mine
                    && candidate.inside(w, h)
                    && placed
                        .iter()
                        .all(|l| !l.placed.overlaps(&candidate, GAP_PX))
                {
                    mine.push(centre);
                    placed.push(Label {
                        placed: candidate,
                        text: TextPath {
                            path: text.path.clone(),
                            ..text
                        },
                    });
                    if mine.len() >= MAX_PER_NAME {
                        break 'runs;
                    }
                }
            }
        }
    }
    placed
}

/// Draws the labels: halos first, so a label's halo never covers a neighbour's letters.
pub fn draw(pixmap: &mut Pixmap, labels: &[Label]) {
    let mut halo = Paint::default();
    let [r, g, b, a] = HALO_RGBA;
    halo.set_color_rgba8(r, g, b, a);
    halo.anti_alias = true;
    let mut ink = Paint::default();
    let [r, g, b] = TEXT_RGB;
    ink.set_color_rgba8(r, g, b, 255);
    ink.anti_alias = true;
    let stroke = Stroke {
        width: 2.0 * HALO_PX,
        line_cap: LineCap::Round,
        line_join: LineJoin::Round,
        ..Stroke::default()
    };
    for label in labels {
        pixmap.stroke_path(&label.text.path, &halo, &stroke, transform(label), None);
    }
    for label in labels {
        pixmap.fill_path(
            &label.text.path,
            &ink,
            FillRule::Winding,
            transform(label),
            None,
        );
    }
}

/// From the text's own frame (baseline on y = 0, starting at x = 0) to the image: centred on
/// the label's centre, rotated to its angle.
fn transform(label: &Label) -> Transform {
    let (s, c) = label.placed.angle.sin_cos();
    let (lx, ly) = (-label.text.width / 2.0, label.text.cap_height / 2.0);
    let (cx, cy) = label.placed.centre;
    Transform::from_row(c, s, -s, c, c * lx - s * ly + cx, s * lx + c * ly + cy)
}

/// The reading direction for a run going (ux, uy): left to right, or bottom to top when vertical.
pub fn upright_angle(ux: f32, uy: f32) -> f32 {
    let (ux, uy) = if ux < 0.0 || (ux == 0.0 && uy > 0.0) {
        (-ux, -uy)
    } else {
        (ux, uy)
    };
    uy.atan2(ux)
}

/// Joins lines that meet end to end into longer lines (a street is many graph edges). At a
/// point where more than two of them meet, the first unused one (in input order) continues.
fn join_chains(lines: &[&NamedLine]) -> Vec<Vec<(f32, f32)>> {
    type Key = (u32, u32);
    let key = |p: (f32, f32)| (p.0.to_bits(), p.1.to_bits());
    let mut at: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        at.entry(key(l.points[0])).or_default().push(i);
        at.entry(key(l.points[l.points.len() - 1]))
            .or_default()
            .push(i);
    }
    let mut used = vec![false; lines.len()];
    let mut chains = Vec::new();
    for start in 0..lines.len() {
        if used[start] {
            continue;
        }
        used[start] = true;
        let mut chain: Vec<(f32, f32)> = lines[start].points.clone();
        // Grow forwards, then reverse and grow forwards again (that is, backwards).
        for _ in 0..2 {
            loop {
                let end = chain[chain.len() - 1];
                let next = at
                    .get(&key(end))
                    .and_then(|c| c.iter().copied().find(|&i| !used[i]));
                let Some(i) = next else { break };
                used[i] = true;
                let pts = &lines[i].points;
                if key(pts[0]) == key(end) {
                    chain.extend_from_slice(&pts[1..]);
                } else {
                    chain.extend(pts.iter().rev().skip(1));
                }
            }
            chain.reverse();
        }
        chains.push(chain);
    }
    chains
}

fn polyline_len(points: &[(f32, f32)]) -> f32 {
    points
        .windows(2)
        .map(|w| ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt())
        .sum()
}

/// The parts of a polyline inside the rectangle, each a polyline of its own.
pub fn clip_polyline(
    points: &[(f32, f32)],
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
) -> Vec<Vec<(f32, f32)>> {
    let mut pieces = Vec::new();
    if x1 <= x0 || y1 <= y0 {
        return pieces;
    }
    let mut current: Vec<(f32, f32)> = Vec::new();
    for w in points.windows(2) {
        match clip_segment(w[0], w[1], x0, y0, x1, y1) {
            Some((a, b)) => {
                if current.last() != Some(&a) {
                    if current.len() >= 2 {
                        pieces.push(std::mem::take(&mut current));
                    }
                    current.clear();
                    current.push(a);
                }
                current.push(b);
            }
            None => {
                if current.len() >= 2 {
                    pieces.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
    }
    if current.len() >= 2 {
        pieces.push(current);
    }
    pieces
}

/// Liang–Barsky clipping of one segment to the rectangle.
fn clip_segment(
    a: (f32, f32),
    b: (f32, f32),
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
) -> Option<((f32, f32), (f32, f32))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f32, 1.0f32);
    for (p, q) in [
        (-dx, a.0 - x0),
        (dx, x1 - a.0),
        (-dy, a.1 - y0),
        (dy, y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f32| {
        if t == 0.0 {
            a
        } else if t == 1.0 {
            b
        } else {
            (a.0 + dx * t, a.1 + dy * t)
        }
    };
    Some((at(t0), at(t1)))
}

/// A straight-ish stretch of a polyline: its chord from `a` to `b`.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    pub a: (f32, f32),
    pub b: (f32, f32),
    pub len: f32,
}

impl Run {
    /// A total order for ties, so sorting never depends on input order alone.
    fn key(&self) -> [u32; 4] {
        [
            self.a.0.to_bits(),
            self.a.1.to_bits(),
            self.b.0.to_bits(),
            self.b.1.to_bits(),
        ]
    }
}

/// For each start point, the longest stretch from it whose points all stay within `tol` of its
/// chord and go along it (no doubling back); stretches inside an earlier one are not repeated.
pub fn straight_runs(points: &[(f32, f32)], tol: f32) -> Vec<Run> {
    let n = points.len();
    let mut runs = Vec::new();
    let mut reached = 0;
    for i in 0..n.saturating_sub(1) {
        let mut j = i + 1;
        while j + 1 < n && fits(&points[i..=j + 1], tol) {
            j += 1;
        }
        if j > reached {
            let (a, b) = (points[i], points[j]);
            let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
            if len > 0.0 {
                runs.push(Run { a, b, len });
            }
            reached = j;
        }
        if j == n - 1 {
            break;
        }
    }
    runs
}

/// Whether every point lies within `tol` of the chord from the first to the last point, and
/// the points progress along it.
fn fits(points: &[(f32, f32)], tol: f32) -> bool {
    let a = points[0];
    let b = points[points.len() - 1];
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt();
    if len <= f32::EPSILON {
        return false;
    }
    let (ux, uy) = (dx / len, dy / len);
    let mut last_along = -tol;
    points.iter().all(|&(x, y)| {
        let (px, py) = (x - a.0, y - a.1);
        let along = px * ux + py * uy;
        let across = (px * uy - py * ux).abs();
        let ok = across <= tol && along >= last_along - tol && along <= len + tol;
        last_along = last_along.max(along);
        ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(name: &'a str, rank: u8, points: &[(f32, f32)]) -> NamedLine<'a> {
        NamedLine {
            name,
            rank,
            size_px: 11.0,
            points: points.to_vec(),
        }
    }

    #[test]
    fn runs_follow_straight_stretches_and_stop_at_bends() {
        // An L: 200 px east, then 100 px south.
        let pts = [(0.0, 0.0), (100.0, 1.0), (200.0, 0.0), (200.0, 100.0)];
        let runs = straight_runs(&pts, 2.5);
        let longest = runs.iter().map(|r| r.len).fold(0.0, f32::max);
        assert!((longest - 200.0).abs() < 0.01, "{runs:?}");
        assert!(runs.iter().any(|r| (r.len - 100.0).abs() < 0.01));
        // A hairpin is not straight even though it stays near its chord.
        assert!(!fits(
            &[(0.0, 0.0), (100.0, 0.0), (50.0, 0.0), (120.0, 0.0)],
            2.5
        ));
    }

    #[test]
    fn clipping_keeps_the_inside_parts() {
        let pieces = clip_polyline(
            &[(-50.0, 50.0), (150.0, 50.0), (150.0, 150.0)],
            0.0,
            0.0,
            100.0,
            100.0,
        );
        assert_eq!(pieces, vec![vec![(0.0, 50.0), (100.0, 50.0)]]);
        // Leaving and re-entering gives two pieces.
        let pieces = clip_polyline(
            &[(10.0, 10.0), (10.0, 200.0), (90.0, 200.0), (90.0, 10.0)],
            0.0,
            0.0,
            100.0,
            100.0,
        );
        assert_eq!(pieces.len(), 2);
    }

    #[test]
    fn text_reads_left_to_right() {
        assert!(upright_angle(-1.0, 0.0).abs() < 1e-6);
        assert!((upright_angle(0.0, 1.0) + std::f32::consts::FRAC_PI_2).abs() < 1e-6);
        let a = upright_angle(-1.0, -1.0);
        assert!(a > 0.0 && a < std::f32::consts::FRAC_PI_2);
    }

    #[test]
    fn boxes_overlap_only_when_they_do() {
        let l = |x: f32, y: f32, angle: f32| PlacedLabel {
            name: String::new(),
            centre: (x, y),
            angle,
            half_len: 40.0,
            half_height: 6.0,
        };
        assert!(l(0.0, 0.0, 0.0).overlaps(&l(70.0, 0.0, 0.0), 0.0));
        assert!(!l(0.0, 0.0, 0.0).overlaps(&l(90.0, 0.0, 0.0), 0.0));
        assert!(!l(0.0, 0.0, 0.0).overlaps(&l(0.0, 13.0, 0.0), 0.0));
        // A vertical label crossing a horizontal one.
        assert!(l(0.0, 0.0, 0.0).overlaps(&l(0.0, 0.0, 1.5), 0.0));
        // Diagonal boxes whose axis-aligned bounds overlap but which do not.
        assert!(!l(0.0, 0.0, 0.785).overlaps(&l(30.0, -30.0, 0.785), 0.0));
    }

    #[test]
    fn streets_are_joined_labelled_by_importance_without_overlap() {
        // A street in three edges (joined: one 400 px run), and a minor street crossing it whose
        // label would have to sit where the major one's is.
        let lines = [
            line("Main Street", 2, &[(150.0, 100.0), (300.0, 100.0)]),
            line("Main Street", 2, &[(20.0, 100.0), (150.0, 100.0)]),
            line("Main Street", 2, &[(300.0, 100.0), (420.0, 100.0)]),
            line("Side Road", 9, &[(150.0, 101.0), (300.0, 99.0)]),
            line("Far Lane", 9, &[(50.0, 400.0), (450.0, 400.0)]),
        ];
        let labels = place(&lines, 512, 512);
        let names: Vec<&str> = labels.iter().map(|l| l.placed.name.as_str()).collect();
        assert_eq!(names.iter().filter(|n| **n == "Main Street").count(), 1);
        assert!(names.contains(&"Far Lane"));
        assert!(!names.contains(&"Side Road"), "{names:?}");
        let main = &labels[0].placed;
        assert_eq!(main.name, "Main Street");
        assert!((main.centre.1 - 100.0).abs() < 0.5 && main.angle.abs() < 1e-6);
        for (i, a) in labels.iter().enumerate() {
            assert!(a.placed.inside(512.0, 512.0));
            for b in &labels[i + 1..] {
                assert!(!a.placed.overlaps(&b.placed, 0.0));
            }
        }
        // Shuffled input, same labels.
        let mut rev: Vec<NamedLine> = lines
            .iter()
            .rev()
            .map(|l| line(l.name, l.rank, &l.points))
            .collect();
        rev.rotate_left(2);
        let again: Vec<PlacedLabel> = place(&rev, 512, 512)
            .into_iter()
            .map(|l| l.placed)
            .collect();
        let first: Vec<PlacedLabel> = labels.into_iter().map(|l| l.placed).collect();
        assert_eq!(first, again);
    }

    #[test]
    fn a_label_that_does_not_fit_whole_is_left_out() {
        // 60 px of road: too short for the name.
        let short = [line(
            "Rua de Santa Catarina",
            9,
            &[(100.0, 100.0), (160.0, 100.0)],
        )];
        assert!(place(&short, 512, 512).is_empty());
        // Long enough, but running along the very border.
        let edge = [line(
            "Rua de Santa Catarina",
            9,
            &[(0.0, 1.0), (511.0, 1.0)],
        )];
        assert!(place(&edge, 512, 512).is_empty());
        // A long straight road gets its name twice, far apart.
        let long = [line("Avenida", 9, &[(5.0, 300.0), (507.0, 300.0)])];
        let two = place(&long, 512, 512);
        assert_eq!(two.len(), 2);
        assert!((two[0].placed.centre.0 - two[1].placed.centre.0).abs() >= 0.4 * 512.0);
    }
}
