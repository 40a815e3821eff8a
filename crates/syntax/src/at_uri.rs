//! `AtUri`: an `at://` URI in the restricted Lexicon form (checklist #32).
//!
//! Spec: <https://atproto.com/specs/at-uri-scheme> ("Restricted AT URI Syntax"):
//! `at://AUTHORITY[/COLLECTION[/RKEY]]` where the authority is a DID or a handle, the collection
//! an NSID and the rkey a record key; at most 8 KB; no trailing `/`; no query and no fragment
//! (the Lexicon `at-uri` format and record references never carry them).
//!
//! The text is kept exactly as given (a handle authority is not lowercased here, so URIs inside
//! records round-trip byte for byte); [`AtUri::authority`] returns the normalised identifier.
//! One allocation holds the text; the typed accessors copy out the part they return.

use crate::{
    AtIdentifier, AtIdentifierError, Nsid, NsidError, RecordKey, RecordKeyError, RepoPath,
};

/// Maximum length of an AT-URI in bytes.
const MAX_LEN: usize = 8192;
/// Length of `at://`.
const PREFIX: usize = 5;

/// A valid Lexicon AT-URI such as `at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AtUri {
    text: String,
    /// End of the authority (byte offset).
    authority_end: usize,
    /// End of the collection; equals `authority_end` when there is none.
    collection_end: usize,
}

/// Why a string is not a valid [`AtUri`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtUriError {
    /// More than 8192 bytes.
    #[error("AT-URI is longer than 8192 bytes")]
    TooLong,
    /// Does not start with lowercase `at://`.
    #[error("AT-URI must start with \"at://\"")]
    MissingScheme,
    /// A `?` or `#`.
    #[error("AT-URI must not have a query or fragment ('{ch}' at byte {pos})")]
    QueryOrFragment {
        /// `?` or `#`.
        ch: char,
        /// Its byte offset.
        pos: usize,
    },
    /// Ends with `/`.
    #[error("AT-URI must not end with '/'")]
    TrailingSlash,
    /// Nothing between `at://` and the first `/`.
    #[error("AT-URI authority (DID or handle) is empty")]
    EmptyAuthority,
    /// `//` in the path.
    #[error("AT-URI path has an empty segment ('//')")]
    EmptySegment,
    /// More than collection and record key.
    #[error("AT-URI path has more than two segments (only /<collection>/<record key>)")]
    TooManySegments,
    /// The authority is neither a DID nor a handle.
    #[error("AT-URI authority is invalid: {0}")]
    Authority(#[source] AtIdentifierError),
    /// The collection is not an NSID.
    #[error("AT-URI collection is invalid: {0}")]
    Collection(#[source] NsidError),
    /// The record key is invalid.
    #[error("AT-URI record key is invalid: {0}")]
    RecordKey(#[source] RecordKeyError),
}

impl AtUri {
    /// Returns `(authority_end, collection_end)`.
    fn check(s: &str) -> Result<(usize, usize), AtUriError> {
        if s.len() > MAX_LEN {
            return Err(AtUriError::TooLong);
        }
        let rest = s.strip_prefix("at://").ok_or(AtUriError::MissingScheme)?;
        if let Some(pos) = s.find(['?', '#']) {
            let ch = if s.as_bytes()[pos] == b'?' { '?' } else { '#' };
            return Err(AtUriError::QueryOrFragment { ch, pos });
        }
        if s.ends_with('/') {
            return Err(AtUriError::TrailingSlash);
        }
        let mut parts = rest.split('/');
        let authority = parts.next().unwrap_or("");
        let collection = parts.next();
        let rkey = parts.next();
        if parts.next().is_some() {
            return Err(AtUriError::TooManySegments);
        }
        if authority.is_empty() {
            return Err(AtUriError::EmptyAuthority);
        }
        AtIdentifier::check(authority).map_err(AtUriError::Authority)?;
        let authority_end = PREFIX + authority.len();
        let Some(collection) = collection else {
            return Ok((authority_end, authority_end));
        };
        if collection.is_empty() {
            return Err(AtUriError::EmptySegment);
        }
        Nsid::check(collection).map_err(AtUriError::Collection)?;
        let collection_end = authority_end + 1 + collection.len();
        if let Some(rkey) = rkey {
            RecordKey::check(rkey).map_err(AtUriError::RecordKey)?;
        }
        Ok((authority_end, collection_end))
    }

    fn parse_str(s: &str) -> Result<Self, AtUriError> {
        let (authority_end, collection_end) = Self::check(s)?;
        Ok(Self {
            text: s.to_owned(),
            authority_end,
            collection_end,
        })
    }

    fn parse_string(s: String) -> Result<Self, AtUriError> {
        let (authority_end, collection_end) = Self::check(&s)?;
        Ok(Self {
            text: s,
            authority_end,
            collection_end,
        })
    }

    /// `at://<authority>`, the URI of a whole repo.
    pub fn for_repo(authority: &AtIdentifier) -> Self {
        let text = format!("at://{authority}");
        let end = text.len();
        Self {
            text,
            authority_end: end,
            collection_end: end,
        }
    }

    /// `at://<authority>/<collection>`.
    pub fn for_collection(authority: &AtIdentifier, collection: &Nsid) -> Self {
        let text = format!("at://{authority}/{collection}");
        Self {
            authority_end: PREFIX + authority.as_str().len(),
            collection_end: text.len(),
            text,
        }
    }

    /// `at://<authority>/<collection>/<rkey>`, the URI of one record.
    pub fn for_record(authority: &AtIdentifier, collection: &Nsid, rkey: &RecordKey) -> Self {
        let authority_end = PREFIX + authority.as_str().len();
        Self {
            text: format!("at://{authority}/{collection}/{rkey}"),
            authority_end,
            collection_end: authority_end + 1 + collection.as_str().len(),
        }
    }

    /// The URI exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Gives back the owned text.
    pub fn into_string(self) -> String {
        self.text
    }

    /// The authority as written (a handle keeps its original case).
    pub fn authority_str(&self) -> &str {
        &self.text[PREFIX..self.authority_end]
    }

    /// The authority as a DID or (lowercased) handle.
    pub fn authority(&self) -> AtIdentifier {
        AtIdentifier::from_checked(self.authority_str())
    }

    /// The collection as written, if present.
    pub fn collection_str(&self) -> Option<&str> {
        (self.collection_end > self.authority_end)
            .then(|| &self.text[self.authority_end + 1..self.collection_end])
    }

    /// The collection, if present.
    pub fn collection(&self) -> Option<Nsid> {
        self.collection_str().map(Nsid::from_checked)
    }

    /// The record key as written, if present.
    pub fn rkey_str(&self) -> Option<&str> {
        (self.collection_end < self.text.len()).then(|| &self.text[self.collection_end + 1..])
    }

    /// The record key, if present.
    pub fn rkey(&self) -> Option<RecordKey> {
        self.rkey_str().map(RecordKey::from_checked)
    }

    /// `<collection>/<rkey>` when this URI names a record.
    pub fn repo_path(&self) -> Option<RepoPath> {
        Some(RepoPath::new(&self.collection()?, &self.rkey()?))
    }
}

string_type!(AtUri, AtUriError);

#[cfg(test)]
mod tests;
