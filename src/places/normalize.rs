//! Text normalisation shared by the index and the queries, so both sides meet on the same
//! tokens: lowercase, accents and diacritics folded away (NFD, combining marks dropped, plus the
//! letters that do not decompose: ß, æ, ø, ł, đ, œ, þ), split on anything that is not a letter
//! or digit, and common street-type abbreviations expanded ("r." → "rua", "av." → "avenida",
//! "str." → "strasse"; "Hauptstr." and "Hauptstraße" both become "hauptstrasse").

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Lowercase, accent-free text; characters other than letters and digits become spaces.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'ß' | 'ẞ' => out.push_str("ss"),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' => out.push('d'),
            'þ' | 'Þ' => out.push_str("th"),
            'ı' => out.push('i'),
            // Abbreviation dots stay attached to their word so "r." can be told from "r".
            '.' => out.push('.'),
            c if c.is_alphanumeric() => out.extend(c.to_lowercase()),
            _ => out.push(' '),
        }
    }
    out
}

/// Abbreviations written with a dot (or without, where unambiguous), and their full forms.
/// Only those with one reading: "St." (Sankt, Saint, Street) and "Dr." (Doktor, Drive) stay as
/// they are typed.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("r.", "rua"),
    ("av.", "avenida"),
    ("av", "avenida"),
    ("avda.", "avenida"),
    ("tv.", "travessa"),
    ("trav.", "travessa"),
    ("lg.", "largo"),
    ("pc.", "praca"),
    ("pca.", "praca"),
    ("estr.", "estrada"),
    ("str.", "strasse"),
    ("str", "strasse"),
    ("pl.", "platz"),
    ("ave.", "avenue"),
    ("ave", "avenue"),
    ("blvd.", "boulevard"),
    ("blvd", "boulevard"),
    ("rd.", "road"),
    ("ln.", "lane"),
    ("ctra.", "carretera"),
];

/// Word endings that abbreviate a compound's last part ("Hauptstr." → "hauptstrasse").
const SUFFIXES: &[(&str, &str)] = &[("str.", "strasse"), ("pl.", "platz")];

/// One normalised token: its full form after abbreviation expansion.
fn expand(word: &str) -> String {
    if let Some((_, full)) = ABBREVIATIONS.iter().find(|(a, _)| *a == word) {
        return (*full).to_string();
    }
    for (suffix, full) in SUFFIXES {
        if let Some(stem) = word.strip_suffix(suffix) {
            if stem.chars().count() >= 3 {
                return format!("{stem}{full}");
            }
        }
    }
    word.trim_matches('.').replace('.', "")
}

/// The tokens of a name or a query, in order (empty tokens dropped).
pub fn tokens(text: &str) -> Vec<String> {
    fold(text)
        .split_whitespace()
        .map(expand)
        .filter(|t| !t.is_empty())
        .collect()
}

/// A house number in a comparable form: lowercase, no spaces or punctuation ("12 A" = "12a").
pub fn house_number(text: &str) -> String {
    fold(text).chars().filter(|c| c.is_alphanumeric()).collect()
}

/// The leading digits of a house number ("12a" → "12", "12-14" → "12"), which a query's bare
/// number matches when the exact form does not.
pub fn house_number_lead(normalised: &str) -> &str {
    let end = normalised
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(normalised.len());
    &normalised[..end]
}

/// Whether a token carries a digit (a house number or a postcode, never a street word).
pub fn is_numeric(token: &str) -> bool {
    token.chars().any(|c| c.is_ascii_digit())
}

/// Levenshtein distance between `a` and `b` if it is at most `max`, else `None`; stops as soon
/// as every cell of a row exceeds `max`.
pub fn edit_distance_within(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
            row_min = row_min.min(cur[j + 1]);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|&d| d <= max)
}

/// How many typos a query token of this many characters may carry: none up to 3 characters,
/// one up to 7, two from 8 on.
pub fn typo_budget(chars: usize) -> usize {
    match chars {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_case_and_punctuation_fold_away() {
        assert_eq!(
            tokens("Rua de Santa Catarina, 312"),
            ["rua", "de", "santa", "catarina", "312"]
        );
        assert_eq!(tokens("Praça da Liberdade"), ["praca", "da", "liberdade"]);
        assert_eq!(tokens("Bahnhofstraße 7"), ["bahnhofstrasse", "7"]);
        assert_eq!(tokens("Mannerheimintie"), ["mannerheimintie"]);
        assert_eq!(tokens("Søndre Ålesund"), ["sondre", "alesund"]);
    }

    #[test]
    fn abbreviations_expand() {
        assert_eq!(tokens("R. Formosa"), ["rua", "formosa"]);
        assert_eq!(tokens("Av. da Boavista"), ["avenida", "da", "boavista"]);
        assert_eq!(tokens("Hauptstr. 5"), ["hauptstrasse", "5"]);
        assert_eq!(tokens("Sendlinger Str. 3"), ["sendlinger", "strasse", "3"]);
        // A lone letter without a dot is not an abbreviation.
        assert_eq!(tokens("Rua R"), ["rua", "r"]);
    }

    #[test]
    fn house_numbers_compare_without_spaces() {
        assert_eq!(house_number("12 A"), "12a");
        assert_eq!(house_number("12-14"), "1214");
        assert_eq!(house_number_lead("12a"), "12");
        assert_eq!(house_number_lead("b"), "");
    }

    #[test]
    fn bounded_edit_distance() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(
            edit_distance_within(&c("catarina"), &c("catarina"), 2),
            Some(0)
        );
        assert_eq!(
            edit_distance_within(&c("catarina"), &c("catrina"), 2),
            Some(1)
        );
        assert_eq!(
            edit_distance_within(&c("catarina"), &c("kataryna"), 2),
            Some(2)
        );
        assert_eq!(
            edit_distance_within(&c("catarina"), &c("boavista"), 2),
            None
        );
        assert_eq!(edit_distance_within(&c("abc"), &c("abcdef"), 2), None);
    }
}
