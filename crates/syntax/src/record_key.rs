//! `RecordKey`: the key of a record within a collection (checklist #30).
//!
//! Spec: <https://atproto.com/specs/record-key> ("Record Key Syntax"): 1–512 characters from
//! `[A-Za-z0-9.\-_:~]`, and not `.` or `..`. Case-sensitive. Which keys a collection accepts
//! (`tid`, `nsid`, `literal:self`, `any`) is a Lexicon rule, enforced elsewhere (checklist #31).

/// Maximum length of a record key in bytes.
const MAX_LEN: usize = 512;

/// A syntactically valid record key such as `3jzfcijpj2z2a` or `self`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey(String);

/// Why a string is not a valid [`RecordKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordKeyError {
    /// The input is empty.
    #[error("record key is empty")]
    Empty,
    /// More than 512 characters.
    #[error("record key is longer than 512 characters")]
    TooLong,
    /// A character outside `[A-Za-z0-9.\-_:~]`.
    #[error(
        "record key contains disallowed character {ch:?} at byte {pos} (allowed: ASCII letters, digits, '.', '-', '_', ':', '~')"
    )]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        pos: usize,
    },
    /// The key is `.` or `..`.
    #[error("record key must not be \".\" or \"..\"")]
    DotSegment,
}

/// True for the bytes a record key may contain.
pub(crate) fn is_rkey_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'~')
}

impl RecordKey {
    pub(crate) fn check(s: &str) -> Result<(), RecordKeyError> {
        if s.is_empty() {
            return Err(RecordKeyError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(RecordKeyError::TooLong);
        }
        if let Some((ch, pos)) = crate::first_disallowed(s, is_rkey_byte) {
            return Err(RecordKeyError::InvalidChar { ch, pos });
        }
        if s == "." || s == ".." {
            return Err(RecordKeyError::DotSegment);
        }
        Ok(())
    }

    /// Wraps text that [`Self::check`] already accepted.
    pub(crate) fn from_checked(s: &str) -> Self {
        Self(s.to_owned())
    }

    fn parse_str(s: &str) -> Result<Self, RecordKeyError> {
        Self::check(s)?;
        Ok(Self(s.to_owned()))
    }

    fn parse_string(s: String) -> Result<Self, RecordKeyError> {
        Self::check(&s)?;
        Ok(Self(s))
    }

    /// The record key `self`, used by singleton records such as profiles.
    pub fn self_key() -> Self {
        Self("self".to_owned())
    }

    /// The record key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives back the owned text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<crate::Tid> for RecordKey {
    /// Every TID is a valid record key (the `tid` record-key type).
    fn from(tid: crate::Tid) -> Self {
        Self(tid.as_str().to_owned())
    }
}

string_type!(RecordKey, RecordKeyError);

#[cfg(test)]
mod tests;
