//! `AtIdentifier`: the Lexicon `at-identifier` format, a DID or a handle (checklist #33).
//!
//! Spec: <https://atproto.com/specs/lexicon> ("String Formats", `at-identifier`). Handles never
//! contain `:`, so any input with a `:` is parsed as a DID (and gets DID error messages), and
//! anything else as a handle. A handle is normalised to lowercase, like [`Handle`] itself.

use crate::{Did, DidError, Handle, HandleError};

/// A DID or a handle, as accepted by endpoints such as `com.atproto.repo.getRecord?repo=`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AtIdentifier {
    /// A DID.
    Did(Did),
    /// A handle (lowercase).
    Handle(Handle),
}

/// Why a string is not a valid [`AtIdentifier`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtIdentifierError {
    /// The input contains `:` but is not a valid DID.
    #[error(transparent)]
    Did(#[from] DidError),
    /// The input has no `:` and is not a valid handle.
    #[error(transparent)]
    Handle(#[from] HandleError),
}

impl AtIdentifier {
    /// Checks without allocating (used by [`crate::AtUri`]).
    pub(crate) fn check(s: &str) -> Result<(), AtIdentifierError> {
        if s.contains(':') {
            Did::check(s)?;
        } else {
            Handle::check(s)?;
        }
        Ok(())
    }

    /// Wraps text that [`Self::check`] already accepted.
    pub(crate) fn from_checked(s: &str) -> Self {
        if s.contains(':') {
            Self::Did(Did::from_checked(s))
        } else {
            Self::Handle(Handle::from_checked(s))
        }
    }

    fn parse_str(s: &str) -> Result<Self, AtIdentifierError> {
        Ok(if s.contains(':') {
            Self::Did(s.parse()?)
        } else {
            Self::Handle(s.parse()?)
        })
    }

    fn parse_string(s: String) -> Result<Self, AtIdentifierError> {
        Ok(if s.contains(':') {
            Self::Did(Did::try_from(s)?)
        } else {
            Self::Handle(Handle::try_from(s)?)
        })
    }

    /// The identifier as text (a handle in lowercase).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Did(did) => did.as_str(),
            Self::Handle(handle) => handle.as_str(),
        }
    }

    /// Gives back the owned text.
    pub fn into_string(self) -> String {
        match self {
            Self::Did(did) => did.into_string(),
            Self::Handle(handle) => handle.into_string(),
        }
    }

    /// The DID, if this is one.
    pub fn as_did(&self) -> Option<&Did> {
        match self {
            Self::Did(did) => Some(did),
            Self::Handle(_) => None,
        }
    }

    /// The handle, if this is one.
    pub fn as_handle(&self) -> Option<&Handle> {
        match self {
            Self::Did(_) => None,
            Self::Handle(handle) => Some(handle),
        }
    }
}

impl From<Did> for AtIdentifier {
    fn from(did: Did) -> Self {
        Self::Did(did)
    }
}

impl From<Handle> for AtIdentifier {
    fn from(handle: Handle) -> Self {
        Self::Handle(handle)
    }
}

string_type!(AtIdentifier, AtIdentifierError);

#[cfg(test)]
mod tests;
