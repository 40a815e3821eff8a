//! `Language`: the Lexicon `language` string format, a BCP 47 language tag (checklist #33).
//!
//! Spec: <https://atproto.com/specs/lexicon> ("String Formats", `language`), which points at
//! BCP 47 / RFC 5646. The parser follows the RFC 5646 §2.1 ABNF (language, extlang, script,
//! region, variants, extensions, private use; the irregular grandfathered tags; a bare
//! private-use tag `x-...`) and then applies the §2.2.9 validity rules that need no registry:
//! no variant subtag twice and no extension singleton twice (both case-insensitive).
//!
//! Deliberate deviation, matching the shared interop vectors (which reject `JA` and `jaja`): the
//! primary language subtag must be 2–3 *lowercase* ASCII letters (its canonical case per
//! RFC 5646 §2.1.1), so the ABNF's reserved 4-letter and registered 5–8-letter primary subtags
//! are refused. Every later subtag is case-insensitive, as the RFC says. There is no registry
//! lookup: `qaa-Qaaa-QM` is fine, as is any well-formed region or script.

/// Irregular grandfathered tags (RFC 5646 §2.1), matched case-insensitively. The regular
/// grandfathered tags (`zh-hakka`, `art-lojban`, ...) already match the normal grammar.
const IRREGULAR: [&str; 17] = [
    "en-GB-oed",
    "i-ami",
    "i-bnn",
    "i-default",
    "i-enochian",
    "i-hak",
    "i-klingon",
    "i-lux",
    "i-mingo",
    "i-navajo",
    "i-pwn",
    "i-tao",
    "i-tay",
    "i-tsu",
    "sgn-BE-FR",
    "sgn-BE-NL",
    "sgn-CH-DE",
];

/// A well-formed and (registry-free) valid BCP 47 language tag such as `pt-BR`, kept as given.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Language(String);

/// Why a string is not a valid [`Language`] tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LanguageError {
    /// The input is empty.
    #[error("language tag is empty")]
    Empty,
    /// Not well-formed BCP 47.
    #[error("language tag is not well-formed BCP 47 at byte {pos}: {reason}")]
    Malformed {
        /// Byte offset of the subtag at fault.
        pos: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The same variant subtag appears twice (RFC 5646 §2.2.5, §2.2.9).
    #[error("language tag repeats the variant subtag {0:?}")]
    DuplicateVariant(String),
    /// The same extension singleton appears twice (RFC 5646 §2.2.6, §2.2.9).
    #[error("language tag repeats the extension singleton {0:?}")]
    DuplicateExtension(char),
}

impl LanguageError {
    /// True when the tag is not even well-formed (as opposed to well-formed with a repeated
    /// variant or extension, the `language_parse_invalid` class of vectors).
    pub fn is_syntax(&self) -> bool {
        matches!(self, Self::Empty | Self::Malformed { .. })
    }
}

fn malformed(pos: usize, reason: &'static str) -> LanguageError {
    LanguageError::Malformed { pos, reason }
}

fn alpha(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn alnum(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn digit(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// The subtags of `s` with their byte offsets.
fn subtags(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.split('-').scan(0usize, |pos, sub| {
        let at = *pos;
        *pos += sub.len() + 1;
        Some((at, sub))
    })
}

fn is_variant(sub: &str) -> bool {
    sub.len() >= 5 || (sub.len() == 4 && sub.as_bytes()[0].is_ascii_digit())
}

impl Language {
    fn check(s: &str) -> Result<(), LanguageError> {
        if s.is_empty() {
            return Err(LanguageError::Empty);
        }
        if IRREGULAR.iter().any(|g| g.eq_ignore_ascii_case(s)) {
            return Ok(());
        }
        // First pass: each subtag must be 1-8 ASCII letters or digits.
        for (pos, sub) in subtags(s) {
            if sub.is_empty() {
                return Err(malformed(
                    pos,
                    "empty subtag (leading, trailing or double '-')",
                ));
            }
            if sub.len() > 8 {
                return Err(malformed(pos, "subtag longer than 8 characters"));
            }
            if !alnum(sub) {
                return Err(malformed(
                    pos,
                    "subtag has a character other than ASCII letters and digits",
                ));
            }
        }

        // Second pass: the structure, one optional part after another.
        let mut it = subtags(s).peekable();
        let Some((pos, first)) = it.next() else {
            return Err(LanguageError::Empty);
        };
        // privateuse = "x" 1*("-" 1*8alphanum), as a whole tag
        if first.eq_ignore_ascii_case("x") {
            return check_private_use(s.len(), it.next());
        }
        // language: 2-3 lowercase letters (see module docs), then up to three extlangs
        if !(2..=3).contains(&first.len()) || !first.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(malformed(
                pos,
                "primary language subtag must be 2 or 3 lowercase ASCII letters",
            ));
        }
        for _ in 0..3 {
            if it
                .next_if(|(_, sub)| sub.len() == 3 && alpha(sub))
                .is_none()
            {
                break;
            }
        }
        // script = 4ALPHA
        it.next_if(|(_, sub)| sub.len() == 4 && alpha(sub));
        // region = 2ALPHA / 3DIGIT
        it.next_if(|(_, sub)| (sub.len() == 2 && alpha(sub)) || (sub.len() == 3 && digit(sub)));
        // variant = 5*8alphanum / (DIGIT 3alphanum); no duplicates. The Vec only allocates
        // for tags that have variants; sorting keeps a hostile tag with thousands of them cheap.
        let mut variants: Vec<[u8; 8]> = Vec::new();
        while let Some((_, sub)) = it.next_if(|(_, sub)| is_variant(sub)) {
            let mut key = [0u8; 8];
            for (k, b) in key.iter_mut().zip(sub.bytes()) {
                *k = b.to_ascii_lowercase();
            }
            variants.push(key);
        }
        if variants.len() > 1 {
            variants.sort_unstable();
            if let Some(w) = variants.windows(2).find(|w| w[0] == w[1]) {
                let name = w[0].iter().take_while(|&&b| b != 0).map(|&b| char::from(b));
                return Err(LanguageError::DuplicateVariant(name.collect()));
            }
        }
        // extension = singleton 1*("-" 2*8alphanum); no singleton twice (36 of them: a bitset)
        let mut seen: u64 = 0;
        while let Some((pos, sub)) =
            it.next_if(|(_, sub)| sub.len() == 1 && !sub.eq_ignore_ascii_case("x"))
        {
            let single = sub.as_bytes()[0].to_ascii_lowercase();
            let mut n = 0;
            while it.next_if(|(_, sub)| sub.len() >= 2).is_some() {
                n += 1;
            }
            if n == 0 {
                return Err(malformed(
                    pos,
                    "extension singleton needs at least one subtag of 2-8 characters",
                ));
            }
            let index = if single.is_ascii_digit() {
                single - b'0'
            } else {
                single - b'a' + 10
            };
            let bit = 1u64 << index;
            if seen & bit != 0 {
                return Err(LanguageError::DuplicateExtension(char::from(single)));
            }
            seen |= bit;
        }
        // privateuse = "x" 1*("-" 1*8alphanum), at the end (it takes every remaining subtag)
        if it
            .next_if(|(_, sub)| sub.eq_ignore_ascii_case("x"))
            .is_some()
        {
            return check_private_use(s.len(), it.next());
        }
        match it.next() {
            None => Ok(()),
            Some((pos, _)) => Err(malformed(
                pos,
                "subtag is out of place (expected script, region, variant, extension or private use)",
            )),
        }
    }

    fn parse_str(s: &str) -> Result<Self, LanguageError> {
        Self::check(s)?;
        Ok(Self(s.to_owned()))
    }

    fn parse_string(s: String) -> Result<Self, LanguageError> {
        Self::check(&s)?;
        Ok(Self(s))
    }

    /// The tag as text, exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives back the owned text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The primary language subtag, e.g. `pt` for `pt-BR` (`x` or `i` for private-use and
    /// irregular grandfathered tags).
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or("")
    }
}

/// After an `x` singleton: at least one subtag must follow (all are already 1-8 alphanumerics).
fn check_private_use(end: usize, next: Option<(usize, &str)>) -> Result<(), LanguageError> {
    match next {
        Some(_) => Ok(()),
        None => Err(malformed(end, "private-use 'x' needs at least one subtag")),
    }
}

string_type!(Language, LanguageError);

#[cfg(test)]
mod tests;
