//! Owned, parse-only newtypes for atproto identifiers and Lexicon string formats.
//!
//! Every type here is built only by parsing (`FromStr`, `TryFrom<&str>`, `TryFrom<String>`,
//! serde `Deserialize`), so holding a value is proof that the string is valid: "parse, don't
//! validate". Each type keeps its text as given (except [`Handle`], which is normalised to
//! lowercase), so `as_str()` round-trips byte for byte. Errors are typed per identifier and say
//! exactly what is wrong.
//!
//! | type | spec | checklist |
//! |---|---|---|
//! | [`Did`] | `specs/did` | #23 |
//! | [`Handle`] | `specs/handle` | #25, #26 |
//! | [`Nsid`] | `specs/nsid` | #27 |
//! | [`Tid`], [`TidClock`] | `specs/tid` | #28, #29, #38 |
//! | [`RecordKey`] | `specs/record-key` | #30 |
//! | [`AtUri`] | `specs/at-uri-scheme` (restricted Lexicon form) | #32 |
//! | [`AtIdentifier`], [`Datetime`], [`CidString`], [`Language`], [`Uri`] | `specs/lexicon` string formats | #33 |
//! | [`RepoPath`] | `specs/repository` ("Repository Paths") | #34 |
//!
//! What this crate deliberately does not do: resolution (DNS, DID documents), CID decoding
//! ([`CidString`] checks string syntax only; `data-model` decodes CIDs), or any I/O. The parsers
//! are hand-written (no regex crate) and allocate at most once, for the owned string.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

#[macro_use]
mod macros;

mod at_identifier;
mod at_uri;
mod cid_string;
mod datetime;
mod did;
mod handle;
mod language;
mod nsid;
mod record_key;
mod repo_path;
mod tid;
mod uri;

pub use at_identifier::{AtIdentifier, AtIdentifierError};
pub use at_uri::{AtUri, AtUriError};
pub use cid_string::{CidString, CidStringError};
pub use datetime::{Datetime, DatetimeError};
pub use did::{Did, DidError};
pub use handle::{DISALLOWED_TLDS, Handle, HandleError};
pub use language::{Language, LanguageError};
pub use nsid::{Nsid, NsidError};
pub use record_key::{RecordKey, RecordKeyError};
pub use repo_path::{RepoPath, RepoPathError};
pub use tid::{Tid, TidClock, TidError};
pub use uri::{Uri, UriError};

/// Finds the first byte in `s` that `allowed` rejects, as `(char, byte position)`.
///
/// Shared by the parsers so every "disallowed character" error names the character and where it
/// is. For a non-ASCII byte the whole character starting there is reported.
pub(crate) fn first_disallowed(s: &str, allowed: impl Fn(u8) -> bool) -> Option<(char, usize)> {
    let pos = s.bytes().position(|b| !allowed(b))?;
    let ch = s
        .get(pos..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER);
    Some((ch, pos))
}
