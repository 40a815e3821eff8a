//! `CidString`: the Lexicon `cid` string format, checked for syntax only (checklist #33).
//!
//! Spec: <https://atproto.com/specs/lexicon> ("String Formats", `cid`). Like the reference
//! implementations this is a loose syntax check: 8–256 characters of ASCII letters, digits, `+`
//! and `=` (covering the multibase encodings), and no CIDv0 (`Qm...`, base58 without a
//! multibase prefix, which atproto does not use). It does not decode the CID: several accepted
//! strings are not valid or not "blessed" atproto CIDs. Decoding is `data-model`'s job.

/// Minimum length of a CID string.
const MIN_LEN: usize = 8;
/// Maximum length of a CID string.
const MAX_LEN: usize = 256;

/// A string with CID syntax, such as `bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CidString(String);

/// Why a string does not have CID syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidStringError {
    /// Fewer than 8 characters.
    #[error("CID string is shorter than 8 characters")]
    TooShort,
    /// More than 256 characters.
    #[error("CID string is longer than 256 characters")]
    TooLong,
    /// A character other than ASCII letters, digits, `+` and `=`.
    #[error(
        "CID string contains disallowed character {ch:?} at byte {pos} (allowed: ASCII letters, digits, '+', '=')"
    )]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        pos: usize,
    },
    /// A CIDv0 string.
    #[error("CIDv0 strings (\"Qm...\") are not allowed; atproto uses CIDv1")]
    CidV0,
}

impl CidString {
    fn check(s: &str) -> Result<(), CidStringError> {
        if s.len() > MAX_LEN {
            return Err(CidStringError::TooLong);
        }
        if let Some((ch, pos)) =
            crate::first_disallowed(s, |b| b.is_ascii_alphanumeric() || b == b'+' || b == b'=')
        {
            return Err(CidStringError::InvalidChar { ch, pos });
        }
        if s.len() < MIN_LEN {
            return Err(CidStringError::TooShort);
        }
        if s.starts_with("Qm") {
            return Err(CidStringError::CidV0);
        }
        Ok(())
    }

    fn parse_str(s: &str) -> Result<Self, CidStringError> {
        Self::check(s)?;
        Ok(Self(s.to_owned()))
    }

    fn parse_string(s: String) -> Result<Self, CidStringError> {
        Self::check(&s)?;
        Ok(Self(s))
    }

    /// The CID string exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives back the owned text.
    pub fn into_string(self) -> String {
        self.0
    }
}

string_type!(CidString, CidStringError);

#[cfg(test)]
mod tests;
