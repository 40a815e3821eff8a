//! `RepoPath`: a key in a repository's MST, `<collection NSID>/<record key>` (checklist #34).
//!
//! Spec: <https://atproto.com/specs/repository> ("Repository Paths"): exactly two segments, a
//! valid NSID and a valid record key, joined by one `/`, no leading or trailing `/`. Both parts
//! are ASCII by construction.

use crate::{Nsid, NsidError, RecordKey, RecordKeyError};

/// A valid repo path such as `app.bsky.feed.post/3jzfcijpj2z2a`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoPath {
    text: String,
    /// Byte offset of the `/`.
    slash: usize,
}

/// Why a string is not a valid [`RepoPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoPathError {
    /// No `/` at all.
    #[error("repo path must be <collection>/<record key>, found no '/'")]
    MissingSlash,
    /// More than one `/`.
    #[error("repo path has more than two segments (only <collection>/<record key>)")]
    TooManySegments,
    /// The first segment is not an NSID.
    #[error("repo path collection is invalid: {0}")]
    Collection(#[source] NsidError),
    /// The second segment is not a record key.
    #[error("repo path record key is invalid: {0}")]
    RecordKey(#[source] RecordKeyError),
}

impl RepoPath {
    fn check(s: &str) -> Result<usize, RepoPathError> {
        let slash = s.find('/').ok_or(RepoPathError::MissingSlash)?;
        let (collection, rkey) = (&s[..slash], &s[slash + 1..]);
        if rkey.contains('/') {
            return Err(RepoPathError::TooManySegments);
        }
        Nsid::check(collection).map_err(RepoPathError::Collection)?;
        RecordKey::check(rkey).map_err(RepoPathError::RecordKey)?;
        Ok(slash)
    }

    fn parse_str(s: &str) -> Result<Self, RepoPathError> {
        let slash = Self::check(s)?;
        Ok(Self {
            text: s.to_owned(),
            slash,
        })
    }

    fn parse_string(s: String) -> Result<Self, RepoPathError> {
        let slash = Self::check(&s)?;
        Ok(Self { text: s, slash })
    }

    /// Joins a collection and a record key.
    pub fn new(collection: &Nsid, rkey: &RecordKey) -> Self {
        Self {
            text: format!("{collection}/{rkey}"),
            slash: collection.as_str().len(),
        }
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Gives back the owned text.
    pub fn into_string(self) -> String {
        self.text
    }

    /// The collection part as text.
    pub fn collection_str(&self) -> &str {
        &self.text[..self.slash]
    }

    /// The record-key part as text.
    pub fn rkey_str(&self) -> &str {
        &self.text[self.slash + 1..]
    }

    /// The collection as an [`Nsid`] (allocates a copy).
    pub fn collection(&self) -> Nsid {
        Nsid::from_checked(self.collection_str())
    }

    /// The record key as a [`RecordKey`] (allocates a copy).
    pub fn rkey(&self) -> RecordKey {
        RecordKey::from_checked(self.rkey_str())
    }
}

string_type!(RepoPath, RepoPathError);

#[cfg(test)]
mod tests;
