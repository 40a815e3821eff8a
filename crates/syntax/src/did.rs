//! `Did`: a decentralized identifier, checked against the atproto DID syntax (checklist #23).
//!
//! Spec: <https://atproto.com/specs/did> ("DID Identifier Syntax"). The rules: `did:` + a method
//! of lowercase ASCII letters + `:` + a method-specific identifier of `[A-Za-z0-9._:%-]`, not
//! ending in `:` or `%`, at most 2048 characters, case-sensitive. Like the reference
//! implementations, `%` is not required to start a valid `%XX` escape. Syntax only: unsupported
//! methods (anything but `plc` and `web`) are valid here; whether a method is supported is the
//! resolver's business (checklist #24).

/// Maximum length of a DID in bytes (all characters are ASCII).
const MAX_LEN: usize = 2048;

/// A syntactically valid DID such as `did:plc:7iza6de2dwap2sbkpav7c6c6`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Did(String);

/// Why a string is not a valid [`Did`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidError {
    /// The input is empty.
    #[error("DID is empty")]
    Empty,
    /// More than 2048 characters.
    #[error("DID is longer than 2048 characters")]
    TooLong,
    /// A character outside `[A-Za-z0-9._:%-]`.
    #[error(
        "DID contains disallowed character {ch:?} at byte {pos} (allowed: ASCII letters, digits, '.', '_', ':', '%', '-')"
    )]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        pos: usize,
    },
    /// Does not start with lowercase `did:`.
    #[error("DID must start with \"did:\"")]
    MissingPrefix,
    /// No `:` after the method, so there is no method-specific identifier.
    #[error("DID needs a method-specific identifier after \"did:<method>:\"")]
    MissingIdentifier,
    /// The method is empty or has characters other than lowercase ASCII letters.
    #[error("DID method must be one or more lowercase ASCII letters")]
    InvalidMethod,
    /// The last character is `:` or `%`.
    #[error("DID must not end with ':' or '%'")]
    BadEnding,
}

impl Did {
    pub(crate) fn check(s: &str) -> Result<(), DidError> {
        if s.is_empty() {
            return Err(DidError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(DidError::TooLong);
        }
        if let Some((ch, pos)) = crate::first_disallowed(s, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'%' | b'-')
        }) {
            return Err(DidError::InvalidChar { ch, pos });
        }
        let rest = s.strip_prefix("did:").ok_or(DidError::MissingPrefix)?;
        let (method, _identifier) = rest.split_once(':').ok_or(DidError::MissingIdentifier)?;
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(DidError::InvalidMethod);
        }
        if s.ends_with(':') || s.ends_with('%') {
            return Err(DidError::BadEnding);
        }
        Ok(())
    }

    /// Wraps text that [`Self::check`] already accepted.
    pub(crate) fn from_checked(s: &str) -> Self {
        Self(s.to_owned())
    }

    fn parse_str(s: &str) -> Result<Self, DidError> {
        Self::check(s)?;
        Ok(Self(s.to_owned()))
    }

    fn parse_string(s: String) -> Result<Self, DidError> {
        Self::check(&s)?;
        Ok(Self(s))
    }

    /// The DID as text, exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives back the owned text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The method, e.g. `plc` for `did:plc:abc`.
    pub fn method(&self) -> &str {
        self.parts().0
    }

    /// The method-specific identifier, e.g. `abc` for `did:plc:abc` (may contain `:`).
    pub fn identifier(&self) -> &str {
        self.parts().1
    }

    fn parts(&self) -> (&str, &str) {
        // Checked at parse time: "did:" + method + ":" + identifier.
        self.0
            .get(4..)
            .and_then(|rest| rest.split_once(':'))
            .unwrap_or(("", ""))
    }
}

string_type!(Did, DidError);

#[cfg(test)]
mod tests;
