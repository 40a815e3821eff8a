//! `Nsid`: a namespaced identifier such as `app.bsky.feed.post` (checklist #27).
//!
//! Spec: <https://atproto.com/specs/nsid>. An NSID is a reversed domain name (the authority)
//! plus a name: at least three `.`-separated segments, at most 317 characters. Authority segments are 1–63 characters of ASCII letters, digits and `-` (not at either
//! end), and the first one does not start with a digit. The name is 1–63 ASCII letters and
//! digits and does not start with a digit. Case is kept as given: NSIDs are not forced to
//! lowercase (the name is case-sensitive).
//!
//! Deliberate deviation: the spec text also caps the authority at 253 characters, but the shared
//! vectors accept a 287-character NSID with a 283-character authority (the reference
//! implementations check only the 317 total), so only the total is enforced; the vectors win.

/// Maximum length of an NSID in bytes.
const MAX_LEN: usize = 317;
/// Maximum length of one segment in bytes.
const MAX_SEGMENT: usize = 63;

/// A syntactically valid NSID, kept exactly as given.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nsid(String);

/// Why a string is not a valid [`Nsid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NsidError {
    /// The input is empty.
    #[error("NSID is empty")]
    Empty,
    /// More than 317 characters.
    #[error("NSID is longer than 317 characters")]
    TooLong,
    /// A character other than an ASCII letter, digit, `-` or `.`.
    #[error(
        "NSID contains disallowed character {ch:?} at byte {pos} (allowed: ASCII letters, digits, '-', '.')"
    )]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        pos: usize,
    },
    /// Fewer than three segments.
    #[error("NSID needs at least three segments (two-part authority and a name)")]
    TooFewSegments,
    /// Two dots in a row, or a leading or trailing dot.
    #[error("NSID has an empty segment (leading, trailing or double '.')")]
    EmptySegment,
    /// A segment of more than 63 characters.
    #[error("NSID segment longer than 63 characters")]
    SegmentTooLong,
    /// An authority segment that starts or ends with `-`.
    #[error("NSID authority segment starts or ends with '-'")]
    SegmentHyphen,
    /// The first segment (the TLD of the authority) starts with a digit.
    #[error("NSID first segment must not start with a digit")]
    FirstSegmentDigit,
    /// The name (last segment) has characters other than ASCII letters and digits, or starts
    /// with a digit.
    #[error("NSID name (last segment) must be ASCII letters and digits, starting with a letter")]
    InvalidName,
}

impl Nsid {
    pub(crate) fn check(s: &str) -> Result<(), NsidError> {
        if s.is_empty() {
            return Err(NsidError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(NsidError::TooLong);
        }
        if let Some((ch, pos)) =
            crate::first_disallowed(s, |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(NsidError::InvalidChar { ch, pos });
        }
        let (authority, name) = s.rsplit_once('.').ok_or(NsidError::TooFewSegments)?;
        if !authority.contains('.') {
            return Err(NsidError::TooFewSegments);
        }
        for (i, seg) in authority.split('.').enumerate() {
            if seg.is_empty() {
                return Err(NsidError::EmptySegment);
            }
            if seg.len() > MAX_SEGMENT {
                return Err(NsidError::SegmentTooLong);
            }
            if seg.starts_with('-') || seg.ends_with('-') {
                return Err(NsidError::SegmentHyphen);
            }
            if i == 0 && seg.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(NsidError::FirstSegmentDigit);
            }
        }
        if name.is_empty() {
            return Err(NsidError::EmptySegment);
        }
        if name.len() > MAX_SEGMENT {
            return Err(NsidError::SegmentTooLong);
        }
        if !name.starts_with(|c: char| c.is_ascii_alphabetic())
            || !name.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(NsidError::InvalidName);
        }
        Ok(())
    }

    /// Wraps text that [`Self::check`] already accepted.
    pub(crate) fn from_checked(s: &str) -> Self {
        Self(s.to_owned())
    }

    fn parse_str(s: &str) -> Result<Self, NsidError> {
        Self::check(s)?;
        Ok(Self(s.to_owned()))
    }

    fn parse_string(s: String) -> Result<Self, NsidError> {
        Self::check(&s)?;
        Ok(Self(s))
    }

    /// The NSID as text, exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives back the owned text.
    pub fn into_string(self) -> String {
        self.0
    }

    /// The authority in NSID (reversed) order, e.g. `app.bsky.feed` for `app.bsky.feed.post`.
    pub fn authority(&self) -> &str {
        self.0.rsplit_once('.').map_or("", |(a, _)| a)
    }

    /// The name (last segment), e.g. `post` for `app.bsky.feed.post`.
    pub fn name(&self) -> &str {
        self.0.rsplit_once('.').map_or("", |(_, n)| n)
    }

    /// The authority as a DNS domain (segments reversed, lowercased), e.g. `feed.bsky.app` for
    /// `app.bsky.feed.post`: the name that lexicon resolution looks up.
    pub fn authority_domain(&self) -> String {
        let mut out = String::with_capacity(self.authority().len());
        for (i, seg) in self.authority().rsplit('.').enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push_str(seg);
        }
        out.make_ascii_lowercase();
        out
    }
}

string_type!(Nsid, NsidError);

#[cfg(test)]
mod tests;
