//! Forward geocoding: a typed query to ranked entries.
//!
//! 1. The query is normalised into tokens ([`crate::normalize`]); tokens with a digit are house
//!    numbers or postcodes ("12 a" is joined into "12a"), the others are words.
//! 2. Each word is matched against the vocabulary: exactly, within an edit distance of 1 (4–7
//!    characters) or 2 (8 and more), or, for the last word, as a prefix (a query typed so far).
//! 3. Every entry in those tokens' postings is scored: the share of the query's words it
//!    matches (each word weighted by its rarity, idf, a match on the entry's own name counting
//!    more than one on its street, suburb, city or postcode, a typo or prefix match less than an
//!    exact one), how much of its own name the query covers, the house number (exact, or the
//!    number without its letter), its importance, and, given a focus point, its distance to it.
//! 4. Hits are sorted by score; the same display name within [`DUPLICATE_M`] (a shop and its
//!    address, a building and its entrance node) is one hit.

use crate::extract::Kind;
use crate::index::PlacesIndex;
use crate::latlon;
use crate::normalize::{self, edit_distance_within, typo_budget};
use std::collections::HashMap;

/// Hits with the same display name closer than this are one place.
pub const DUPLICATE_M: f64 = 100.0;

/// Words (and numbers) of a query beyond this are ignored.
pub const MAX_WORDS: usize = 16;

/// A word whose tokens' postings are at most this long (or a twentieth of the entries, if more)
/// brings its entries in as candidates.
const GENERATOR_MAX_POSTINGS: usize = 1_000;

/// Most hits a query returns.
pub const MAX_LIMIT: usize = 50;

/// A forward query.
#[derive(Clone, Debug)]
pub struct Query<'a> {
    pub text: &'a str,
    /// `(lat, lon)` the user is near: closer hits rank higher.
    pub focus: Option<(f64, f64)>,
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub entry: u32,
    pub score: f64,
    /// Share (0..1) of the query's words, weighted by rarity, the entry matches (on its name
    /// or its context). A hit matching only a common word of the query ("rua") is low here.
    pub matched: f64,
}

/// A hit matching less than this share of the query's words (by weight) does not stand for
/// the query: callers that must pick one place (navigation, `meridian route`) refuse it.
pub const MIN_MATCHED: f64 = 0.5;

/// A word of the query matched to vocabulary tokens.
struct Word {
    /// `(token id, quality 0..1)`.
    matches: Vec<(u32, f64)>,
    weight: f64,
}

/// Parsed query: words and numbers.
struct Parsed {
    words: Vec<String>,
    numbers: Vec<String>,
}

fn parse(text: &str) -> Parsed {
    let tokens = normalize::tokens(text);
    let (mut words, mut numbers) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if normalize::is_numeric(t) {
            // "12 A" is house number 12a.
            let next = tokens.get(i + 1);
            if let Some(n) = next.filter(|n| n.chars().count() == 1 && !normalize::is_numeric(n)) {
                numbers.push(format!("{t}{n}"));
                i += 2;
                continue;
            }
            numbers.push(t.clone());
        } else {
            words.push(t.clone());
        }
        i += 1;
    }
    Parsed { words, numbers }
}

impl PlacesIndex {
    /// Vocabulary tokens a query word may stand for, with their quality.
    fn expand(&self, word: &str, last: bool) -> Vec<(u32, f64)> {
        let vocab = &self.file().vocabulary;
        let mut out = Vec::new();
        if let Ok(i) = vocab.binary_search_by(|t| t.as_str().cmp(word)) {
            out.push((i as u32, 1.0));
        }
        let chars: Vec<char> = word.chars().collect();
        let budget = typo_budget(chars.len());
        let mut buf: Vec<char> = Vec::new();
        if budget > 0 {
            for (i, t) in vocab.iter().enumerate() {
                let t = t.as_str();
                // Byte lengths differ by at most 2 per edit even with accents folded away.
                if t.len().abs_diff(word.len()) > 2 * budget || t == word {
                    continue;
                }
                buf.clear();
                buf.extend(t.chars());
                // A long word's typo must not make a short token: "rua" is no match for "ruas".
                if typo_budget(buf.len()) == 0 {
                    continue;
                }
                if let Some(d) = edit_distance_within(&chars, &buf, budget) {
                    out.push((i as u32, 1.0 - 0.2 * d as f64));
                }
            }
        }
        if last && chars.len() >= 3 {
            // Tokens that start with the word sort right after it.
            let from = vocab.partition_point(|t| t.as_str() <= word);
            for (i, t) in vocab.iter().enumerate().skip(from) {
                if !t.as_str().starts_with(word) {
                    break;
                }
                if !out.iter().any(|(id, _)| *id as usize == i) {
                    out.push((i as u32, 0.75));
                }
            }
        }
        out
    }

    /// Ranked hits for `q`, best first, at most `q.limit` (capped at [`MAX_LIMIT`]).
    pub fn search(&self, q: &Query) -> Vec<Hit> {
        let file = self.file();
        let mut parsed = parse(q.text);
        // Each word costs a vocabulary scan; no address has more words than this.
        parsed.words.truncate(MAX_WORDS);
        parsed.numbers.truncate(MAX_WORDS);
        if parsed.words.is_empty() {
            return Vec::new();
        }
        let n_entries = file.entries.len().max(1) as f64;
        let words: Vec<Word> = parsed
            .words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let matches = self.expand(w, i + 1 == parsed.words.len());
                // Rarity of the word: of its best match, or the highest for no match at all.
                let df = matches
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map_or(1, |(t, _)| file.postings[*t as usize].len().max(1));
                Word {
                    weight: (1.0 + n_entries / df as f64).ln(),
                    matches,
                }
            })
            .collect();
        let total_weight: f64 = words.iter().map(|w| w.weight).sum();

        // Candidates come from the postings of the selective words only; a word as common as
        // "rua" or "strasse" would make every street a candidate, and is scored below by
        // looking at each candidate's own tokens instead.
        let postings_of = |w: &Word| -> usize {
            w.matches
                .iter()
                .map(|(t, _)| file.postings[*t as usize].len())
                .sum()
        };
        let common = (file.entries.len() / 20).max(GENERATOR_MAX_POSTINGS);
        let mut generators: Vec<usize> = (0..words.len())
            .filter(|&wi| !words[wi].matches.is_empty() && postings_of(&words[wi]) <= common)
            .collect();
        if generators.is_empty() {
            if let Some(rarest) = (0..words.len())
                .filter(|&wi| !words[wi].matches.is_empty())
                .min_by_key(|&wi| postings_of(&words[wi]))
            {
                generators.push(rarest);
            }
        }
        let mut candidates: Vec<u32> = generators
            .iter()
            .flat_map(|&wi| words[wi].matches.iter())
            .flat_map(|(t, _)| file.postings[*t as usize].iter().map(|e| e.to_native()))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        // Which words (and how well) each matched token stands for.
        let mut by_token: HashMap<u32, Vec<(usize, f64)>> = HashMap::new();
        for (wi, w) in words.iter().enumerate() {
            for &(t, quality) in &w.matches {
                by_token.entry(t).or_default().push((wi, quality));
            }
        }

        let mut hits: Vec<Hit> = candidates
            .into_iter()
            .filter_map(|e| {
                let entry = &file.entries[e as usize];
                // Per word, the best quality on the entry's name and on its context.
                let mut per_word = [(0.0f64, 0.0f64); MAX_WORDS];
                let mut own_covered = 0usize;
                for t in entry.name_tokens.iter() {
                    if let Some(ws) = by_token.get(&t.to_native()) {
                        own_covered += 1;
                        for &(wi, quality) in ws {
                            per_word[wi].0 = per_word[wi].0.max(quality);
                        }
                    }
                }
                // Something must match the entry's own name.
                if own_covered == 0 {
                    return None;
                }
                for t in entry.context_tokens.iter() {
                    if let Some(ws) = by_token.get(&t.to_native()) {
                        for &(wi, quality) in ws {
                            per_word[wi].1 = per_word[wi].1.max(quality);
                        }
                    }
                }
                let text = per_word
                    .iter()
                    .zip(&words)
                    .map(|((name, ctx), w)| w.weight * name.max(0.6 * ctx))
                    .sum::<f64>()
                    / total_weight.max(1e-9);
                let matched = per_word
                    .iter()
                    .zip(&words)
                    .map(|((name, ctx), w)| w.weight * f64::from(name.max(*ctx) > 0.0))
                    .sum::<f64>()
                    / total_weight.max(1e-9);
                let coverage = own_covered as f64 / entry.name_tokens.len() as f64;
                let mut score = text * (0.8 + 0.2 * coverage);
                score += number_score(entry, &parsed.numbers, file);
                score += 0.1 * entry.importance.to_native() as f64;
                if let Some(focus) = q.focus {
                    let d = latlon(focus).haversine_m(latlon(entry.point()));
                    score += 0.3 / (1.0 + d / 2_000.0);
                }
                Some(Hit {
                    entry: e,
                    score,
                    matched,
                })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.entry.cmp(&b.entry)));

        let limit = q.limit.clamp(1, MAX_LIMIT);
        let mut out: Vec<Hit> = Vec::with_capacity(limit);
        let mut shown: Vec<(String, (f64, f64))> = Vec::new();
        for h in hits {
            let entry = &file.entries[h.entry as usize];
            let (name, point) = (entry.display_name(), entry.point());
            if shown
                .iter()
                .any(|(n, p)| *n == name && latlon(*p).haversine_m(latlon(point)) < DUPLICATE_M)
            {
                continue;
            }
            shown.push((name, point));
            out.push(h);
            if out.len() == limit {
                break;
            }
        }
        out
    }
}

/// What the query's numbers say about an entry: its house number (exact, or the same number
/// without a letter), a postcode part, or, for an address, a number that is not its own.
fn number_score(
    entry: &crate::index::ArchivedEntry,
    numbers: &[String],
    file: &crate::index::ArchivedPlacesFile,
) -> f64 {
    if numbers.is_empty() {
        // Without a number the street itself is wanted, not one of its houses.
        return if entry.kind() == Kind::Address {
            -0.05
        } else {
            0.0
        };
    }
    let mut score: f64 = 0.0;
    let hn = entry.hn_key.as_str();
    let mut house = false;
    for n in numbers {
        let in_context = entry
            .context_tokens
            .iter()
            .any(|t| file.vocabulary[t.to_native() as usize].as_str() == n);
        if !hn.is_empty() && n == hn {
            score += 0.3;
            house = true;
        } else if !hn.is_empty() && n == normalize::house_number_lead(hn) {
            score += 0.2;
            house = true;
        } else if in_context {
            score += 0.05;
        }
    }
    if !house {
        // A number that is no house here: another house of the street, or the street itself
        // when that house is not mapped (Nominatim falls back the same way).
        score -= match entry.kind() {
            Kind::Address => 0.15,
            _ => 0.05,
        };
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_letters_are_joined() {
        let p = parse("Rua Formosa 12 A, 4000-447");
        assert_eq!(p.words, ["rua", "formosa"]);
        assert_eq!(p.numbers, ["12a", "4000", "447"]);
    }
}
