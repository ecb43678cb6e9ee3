//! Whether two street names (and `ref`s) are the same road for guidance, so that a route does
//! not say "continue onto Rua do Doutor Alfredo de Magalhães" right after "Rua Dr. Alfredo
//! Magalhães".
//!
//! A name is reduced to a key of words: lower case, accents folded, punctuation dropped,
//! common abbreviations spelt out (Portuguese, Spanish, German, English street words and titles),
//! and linking particles ("de", "do", "da", "von", "of", ...) left out. Refs are compared as sets
//! of codes without spaces (`"IP 1"` is `"IP1"`, `"IC 1; IC 23"` shares `"IC23"` with `"IC 23"`).
//! The tiles store a way's `ref` as its name when it has no `name`; such a name counts as none.

/// A street name reduced to the words that identify the road (see the module doc).
pub fn name_key(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let folded: String = name.chars().flat_map(fold_char).collect();
    let raw: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    for (i, word) in raw.iter().enumerate() {
        let last = i + 1 == raw.len();
        if PARTICLES.contains(word) {
            continue;
        }
        words.push(expand(word, last));
    }
    words
}

/// The name that identifies the road: `""` when the stored name is only the ref copied over.
fn own_name<'a>(name: &'a str, reference: &str) -> &'a str {
    if name == reference {
        ""
    } else {
        name
    }
}

/// The codes of a ref list, spaces removed and upper-cased.
fn ref_codes(reference: &str) -> Vec<String> {
    reference
        .split(';')
        .map(|r| {
            r.chars()
                .filter(|c| !c.is_whitespace())
                .flat_map(char::to_uppercase)
                .collect::<String>()
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// Whether `short` appears as consecutive words of `long`.
fn contains_words(long: &[String], short: &[String]) -> bool {
    !short.is_empty() && short.len() <= long.len() && long.windows(short.len()).any(|w| w == short)
}

/// What a straight continuation from road `a` onto road `b` (each a name and a ref) needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameChange {
    /// The same road: no announcement.
    Same,
    /// `b` has neither name nor ref: nothing to announce, the step keeps `a`'s name.
    Unnamed,
    /// Another road.
    Different,
}

/// Compares two roads by name and ref (see the module doc). Names that reduce to the same key,
/// or one contained word for word in the other ("Autoestrada Porto - Amarante" in "Túnel Águas
/// Santas (Autoestrada Porto - Amarante)"), are the same road; so are roads sharing a ref when
/// at most one of them has a name of its own.
pub fn compare(a: (&str, &str), b: (&str, &str)) -> NameChange {
    let (a_name, b_name) = (own_name(a.0, a.1), own_name(b.0, b.1));
    if b_name.is_empty() && b.1.trim().is_empty() {
        return if a_name.is_empty() && a.1.trim().is_empty() {
            NameChange::Same
        } else {
            NameChange::Unnamed
        };
    }
    let (ka, kb) = (name_key(a_name), name_key(b_name));
    if !ka.is_empty() && !kb.is_empty() {
        let same = ka == kb || contains_words(&ka, &kb) || contains_words(&kb, &ka);
        return if same {
            NameChange::Same
        } else {
            NameChange::Different
        };
    }
    let (ra, rb) = (ref_codes(a.1), ref_codes(b.1));
    if ra.iter().any(|r| rb.contains(r)) {
        NameChange::Same
    } else {
        NameChange::Different
    }
}

/// Words that only link the others.
const PARTICLES: &[&str] = &[
    "de", "do", "da", "dos", "das", "del", "della", "di", "du", "des", "la", "le", "von", "van",
    "der", "den", "the", "of", "e",
];

/// Spells out an abbreviation; `last` tells a trailing street type ("Dr" = Drive) from a title.
fn expand(word: &str, last: bool) -> String {
    let full = match word {
        "r" => "rua",
        "av" | "avda" | "avd" => "avenida",
        "dr" if last => "drive",
        "dr" | "dtr" => "doutor",
        "dra" => "doutora",
        "eng" | "engo" => "engenheiro",
        "prof" => "professor",
        "sr" => "senhor",
        "sra" => "senhora",
        "sto" => "santo",
        "sta" => "santa",
        "s" => "sao",
        "d" | "dom" | "dona" | "dna" => "dom",
        "pc" | "pca" | "pr" => "praca",
        "tv" | "trav" => "travessa",
        "lg" => "largo",
        "al" => "alameda",
        "estr" => "estrada",
        "cp" | "cap" => "capitao",
        "gen" => "general",
        "cel" => "coronel",
        "ave" => "avenue",
        "rd" => "road",
        "blvd" => "boulevard",
        "st" if last => "street",
        "st" => "saint",
        "str" => "strasse",
        "pl" => "platz",
        _ => {
            // German compounds: "Leopoldstr." is "Leopoldstrasse".
            if let Some(stem) = word.strip_suffix("str") {
                return format!("{stem}strasse");
            }
            word
        }
    };
    full.to_string()
}

/// Lower case without accents: the letters people drop or swap when they type a name.
fn fold_char(c: char) -> impl Iterator<Item = char> {
    let s: &str = match c {
        'á' | 'à' | 'â' | 'ã' | 'ä' | 'å' | 'Á' | 'À' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => "e",
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => "i",
        'ó' | 'ò' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ó' | 'Ò' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "o",
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => "u",
        'ç' | 'Ç' => "c",
        'ñ' | 'Ñ' => "n",
        'ß' => "ss",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'º' | 'ª' => "",
        _ => {
            return Fold::Other(c.to_lowercase());
        }
    };
    Fold::Table(s.chars())
}

/// The two shapes [`fold_char`] returns.
enum Fold {
    Table(std::str::Chars<'static>),
    Other(std::char::ToLowercase),
}

impl Iterator for Fold {
    type Item = char;
    fn next(&mut self) -> Option<char> {
        match self {
            Fold::Table(c) => c.next(),
            Fold::Other(c) => c.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        name_key(s).join(" ")
    }

    #[test]
    fn keys_fold_case_accents_abbreviations_and_particles() {
        assert_eq!(
            key("Rua Doutor Alfredo Magalhães"),
            key("Rua do Doutor Alfredo de Magalhães")
        );
        assert_eq!(
            key("R. Dr. Alfredo Magalhães"),
            "rua doutor alfredo magalhaes"
        );
        assert_eq!(key("Av. da Boavista"), key("AVENIDA DA BOAVISTA"));
        assert_eq!(key("Praça D. João I"), key("Pç. Dom João I"));
        assert_eq!(key("Leopoldstr."), key("Leopoldstraße"));
        assert_eq!(key("Main St"), "main street");
        assert_eq!(key("St Mary Rd"), "saint mary road");
        assert_eq!(key("Rua 25 de Abril"), "rua 25 abril");
    }

    #[test]
    fn different_streets_stay_different() {
        assert_ne!(key("Rua de Camões"), key("Praça de Camões"));
        assert_ne!(key("Rua Alfredo Magalhães"), key("Rua Alfredo Keil"));
        assert_eq!(
            compare(("Rua de Camões", ""), ("Praça de Camões", "")),
            NameChange::Different
        );
        assert_eq!(
            compare(("Rua Dom Pedro V", "EN 14"), ("Rua da Espinhosa", "EN 14")),
            NameChange::Different
        );
        assert_eq!(
            compare(("IP1", "IP1"), ("A20", "A20")),
            NameChange::Different
        );
    }

    #[test]
    fn same_road_by_name_containment_or_shared_ref() {
        assert_eq!(
            compare(
                ("Rua Doutor Alfredo Magalhães", ""),
                ("Rua do Doutor Alfredo de Magalhães", "")
            ),
            NameChange::Same
        );
        assert_eq!(
            compare(
                ("Autoestrada Porto - Amarante", "A 4"),
                ("Túnel Águas Santas (Autoestrada Porto - Amarante)", "A 4")
            ),
            NameChange::Same
        );
        // The tiles copy the ref into the name of a way without one.
        assert_eq!(
            compare(("EN 14", "EN 14"), ("Via Norte", "EN 14")),
            NameChange::Same
        );
        assert_eq!(compare(("IP1", "IP1"), ("IP 1", "IP 1")), NameChange::Same);
        assert_eq!(
            compare(("IC 1; IC 23", "IC 1; IC 23"), ("IC 23", "IC 23")),
            NameChange::Same
        );
        assert_eq!(compare(("", ""), ("", "")), NameChange::Same);
    }

    #[test]
    fn onto_a_road_without_name_or_ref_is_unnamed() {
        assert_eq!(compare(("Rua A", ""), ("", "")), NameChange::Unnamed);
        assert_eq!(compare(("", ""), ("Rua A", "")), NameChange::Different);
        assert_eq!(compare(("", ""), ("", "A 41")), NameChange::Different);
    }
}
