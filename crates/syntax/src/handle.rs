//! `Handle`: a DNS-name account handle, checked and normalised to lowercase (checklist #25, #26).
//!
//! Spec: <https://atproto.com/specs/handle> ("Handle Identifier Syntax"): at least two labels
//! separated by `.`, each 1–63 characters of ASCII letters, digits and `-` (not at either end of
//! a label), at most 253 characters in total, and the last label (the TLD) starts with a letter.
//! Handles are case-insensitive; parsing lowercases them, so `as_str()` is the normalised form.
//!
//! Syntax only: the TLDs in [`DISALLOWED_TLDS`] (`.local`, `.onion`, ...) are valid syntax, and
//! [`Handle::is_disallowed_tld`] lets registration and resolution refuse them (checklist #26).

/// Maximum length of a handle in bytes.
const MAX_LEN: usize = 253;
/// Maximum length of one label in bytes.
const MAX_LABEL: usize = 63;

/// TLDs that pass the syntax check but must not be registered or resolved (`specs/handle`,
/// "Additional Non-Syntax Restrictions"). Without the leading dot, lowercase.
pub const DISALLOWED_TLDS: [&str; 8] = [
    "alt",
    "arpa",
    "example",
    "internal",
    "invalid",
    "local",
    "localhost",
    "onion",
];

/// A syntactically valid handle such as `alice.bsky.social`, in lowercase.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(String);

/// Why a string is not a valid [`Handle`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    /// The input is empty.
    #[error("handle is empty")]
    Empty,
    /// More than 253 characters.
    #[error("handle is longer than 253 characters")]
    TooLong,
    /// A character other than an ASCII letter, digit, `-` or `.`.
    #[error(
        "handle contains disallowed character {ch:?} at byte {pos} (allowed: ASCII letters, digits, '-', '.')"
    )]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        pos: usize,
    },
    /// Only one label (no `.`).
    #[error("handle needs at least two labels separated by '.'")]
    TooFewLabels,
    /// Two dots in a row, or a leading or trailing dot.
    #[error("handle has an empty label (leading, trailing or double '.')")]
    EmptyLabel,
    /// A label of more than 63 characters.
    #[error("handle label longer than 63 characters")]
    LabelTooLong,
    /// A label that starts or ends with `-`.
    #[error("handle label starts or ends with '-'")]
    LabelHyphen,
    /// The last label starts with something other than an ASCII letter.
    #[error("handle TLD (last label) must start with an ASCII letter")]
    TldNotLetter,
}

impl Handle {
    pub(crate) fn check(s: &str) -> Result<(), HandleError> {
        if s.is_empty() {
            return Err(HandleError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(HandleError::TooLong);
        }
        if let Some((ch, pos)) =
            crate::first_disallowed(s, |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(HandleError::InvalidChar { ch, pos });
        }
        let mut labels = 0usize;
        let mut last = "";
        for label in s.split('.') {
            check_label(label)?;
            labels += 1;
            last = label;
        }
        if labels < 2 {
            return Err(HandleError::TooFewLabels);
        }
        if !last.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(HandleError::TldNotLetter);
        }
        Ok(())
    }

    /// Wraps text that [`Self::check`] already accepted.
    pub(crate) fn from_checked(s: &str) -> Self {
        Self(s.to_ascii_lowercase())
    }

    fn parse_str(s: &str) -> Result<Self, HandleError> {
        Self::check(s)?;
        Ok(Self(s.to_ascii_lowercase()))
    }

    fn parse_string(mut s: String) -> Result<Self, HandleError> {
        Self::check(&s)?;
        s.make_ascii_lowercase();
        Ok(Self(s))
    }

    /// The special handle `handle.invalid`, used where an account's handle failed verification.
    pub fn invalid() -> Self {
        Self("handle.invalid".to_owned())
    }

    /// The handle as lowercase text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives back the owned (lowercase) text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The last label, e.g. `social` for `alice.bsky.social`.
    pub fn tld(&self) -> &str {
        self.0.rsplit('.').next().unwrap_or("")
    }

    /// True if the TLD is one of [`DISALLOWED_TLDS`]: the handle is valid syntax, but must be
    /// refused for registration and resolution (checklist #26).
    pub fn is_disallowed_tld(&self) -> bool {
        DISALLOWED_TLDS.contains(&self.tld())
    }

    /// True for `.test` handles, which the spec reserves for development and testing.
    pub fn is_test_tld(&self) -> bool {
        self.tld() == "test"
    }
}

fn check_label(label: &str) -> Result<(), HandleError> {
    if label.is_empty() {
        return Err(HandleError::EmptyLabel);
    }
    if label.len() > MAX_LABEL {
        return Err(HandleError::LabelTooLong);
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(HandleError::LabelHyphen);
    }
    Ok(())
}

string_type!(Handle, HandleError);

#[cfg(test)]
mod tests;
