//! `Uri`: the Lexicon `uri` string format, a generic absolute URI (checklist #33).
//!
//! Spec: <https://atproto.com/specs/lexicon> ("String Formats", `uri`): "flexible to any URI
//! schema", at most 8 KB. The check: an RFC 3986 scheme (a letter, then letters, digits, `+`,
//! `-` or `.`), a `:`, then at least one more character, with no whitespace or control
//! characters anywhere. Non-ASCII characters after the scheme are allowed (IRIs appear in real
//! records and the reference TypeScript validator accepts them). No further structure
//! (authority, path) is checked.

/// Maximum length of a URI in bytes.
const MAX_LEN: usize = 8192;

/// A string with generic URI syntax, such as `https://example.com/path?q=1#frag`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uri(String);

/// Why a string is not a valid [`Uri`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The input is empty.
    #[error("URI is empty")]
    Empty,
    /// More than 8192 bytes.
    #[error("URI is longer than 8192 bytes")]
    TooLong,
    /// No valid `scheme:` at the start.
    #[error(
        "URI must start with a scheme (a letter, then letters, digits, '+', '-' or '.') and ':'"
    )]
    InvalidScheme,
    /// Nothing after `scheme:`.
    #[error("URI has nothing after the scheme")]
    EmptyAfterScheme,
    /// Whitespace or a control character.
    #[error("URI contains whitespace or a control character at byte {pos}")]
    Whitespace {
        /// Byte offset of the character.
        pos: usize,
    },
}

impl Uri {
    fn check(s: &str) -> Result<(), UriError> {
        if s.is_empty() {
            return Err(UriError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(UriError::TooLong);
        }
        if let Some((pos, _)) = s
            .char_indices()
            .find(|(_, c)| c.is_whitespace() || c.is_control())
        {
            return Err(UriError::Whitespace { pos });
        }
        let (scheme, rest) = s.split_once(':').ok_or(UriError::InvalidScheme)?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(UriError::InvalidScheme);
        }
        if rest.is_empty() {
            return Err(UriError::EmptyAfterScheme);
        }
        Ok(())
    }

    fn parse_str(s: &str) -> Result<Self, UriError> {
        Self::check(s)?;
        Ok(Self(s.to_owned()))
    }

    fn parse_string(s: String) -> Result<Self, UriError> {
        Self::check(&s)?;
        Ok(Self(s))
    }

    /// The URI exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives back the owned text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The scheme as written, e.g. `https`.
    pub fn scheme(&self) -> &str {
        self.0.split_once(':').map_or("", |(s, _)| s)
    }
}

string_type!(Uri, UriError);

#[cfg(test)]
mod tests;
