//! Handle resolution, without the I/O: reading a DNS `_atproto` TXT answer and a
//! `/.well-known/atproto-did` body, the resolution order, and the bidirectional check
//! (checklist #116-#118, #120).
//!
//! Spec: `specs/handle` ("Handle Resolution", "DNS TXT Method", "HTTPS well-known Method",
//! "Resolution Best Practices"). The network side is the [`HandleResolver`] trait, which the
//! server implements with a real DNS client and HTTP client (following a few redirects, HTTPS
//! only outside development, bounded body size); [`resolve_handle`] drives it. This file has no
//! runtime dependency: the trait returns boxed futures so any executor can run them and the trait
//! stays object-safe (`Arc<dyn HandleResolver>`).
//!
//! A resolved handle is only *claimed*: accept it for an account only after
//! [`check_bidirectional`] (the DID document's `alsoKnownAs` names the handle back); otherwise
//! show `handle.invalid`.

use std::future::Future;
use std::pin::Pin;

use syntax::{Did, DidError, Handle};

use crate::did_doc::DidDocument;

/// Maximum size of a `/.well-known/atproto-did` body we read (a DID is at most 2 KiB; some
/// slack for whitespace).
pub const MAX_WELL_KNOWN_BODY: usize = 4096;

/// The DNS name whose TXT records hold the handle's DID: `_atproto.<handle>`.
pub fn txt_record_name(handle: &Handle) -> String {
    format!("_atproto.{}", handle.as_str())
}

/// The HTTPS well-known URL: `https://<handle>/.well-known/atproto-did`.
pub fn well_known_url(handle: &Handle) -> String {
    format!("https://{}/.well-known/atproto-did", handle.as_str())
}

/// Why a TXT answer set does not name exactly one DID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxtError {
    /// No record starts with `did=`.
    #[error("no did= TXT record")]
    NoRecord,
    /// A `did=` record holds something that is not a DID.
    #[error("TXT record {value:?} does not hold a valid DID: {error}")]
    InvalidDid {
        /// The record value.
        value: String,
        /// Why the DID is invalid.
        error: DidError,
    },
    /// Valid `did=` records name different DIDs.
    #[error("TXT records name different DIDs: {0:?}")]
    Conflicting(Vec<Did>),
}

/// Reads the TXT records found at `_atproto.<handle>` (each record's character-strings already
/// joined). Records without the `did=` prefix are ignored; every `did=` record must hold a valid
/// DID, and they must all name the same one (repeats of one DID are fine).
pub fn parse_txt_records<S: AsRef<str>>(records: &[S]) -> Result<Did, TxtError> {
    let mut found: Vec<Did> = Vec::new();
    for record in records {
        let Some(value) = record.as_ref().strip_prefix("did=") else {
            continue;
        };
        let did = Did::try_from(value.trim()).map_err(|error| TxtError::InvalidDid {
            value: record.as_ref().to_owned(),
            error,
        })?;
        if !found.contains(&did) {
            found.push(did);
        }
    }
    match found.len() {
        0 => Err(TxtError::NoRecord),
        1 => Ok(found.remove(0)),
        _ => Err(TxtError::Conflicting(found)),
    }
}

/// Why a well-known body is not a DID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WellKnownError {
    /// The body is larger than [`MAX_WELL_KNOWN_BODY`].
    #[error("well-known body is larger than {MAX_WELL_KNOWN_BODY} bytes")]
    TooLarge,
    /// The body is not UTF-8.
    #[error("well-known body is not UTF-8")]
    NotUtf8,
    /// The trimmed body is not a DID.
    #[error("well-known body is not a valid DID: {0}")]
    InvalidDid(#[from] DidError),
}

/// Reads a `/.well-known/atproto-did` response body: surrounding whitespace is stripped and the
/// rest must be a DID. (`Content-Type` is deliberately not checked.)
pub fn parse_well_known_body(body: &[u8]) -> Result<Did, WellKnownError> {
    if body.len() > MAX_WELL_KNOWN_BODY {
        return Err(WellKnownError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| WellKnownError::NotUtf8)?;
    Ok(Did::try_from(text.trim())?)
}

/// Why a handle and a DID do not confirm each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleCheckError {
    /// The document is not the resolved DID's.
    #[error("handle resolved to {resolved}, but the DID document is for {document}")]
    WrongDocument {
        /// The DID the handle resolved to.
        resolved: Did,
        /// The document's id.
        document: Did,
    },
    /// The document does not claim the handle.
    #[error("the DID document claims {claimed:?}, not {handle}")]
    NotClaimed {
        /// The handle being checked.
        handle: Handle,
        /// The handle the document claims, if any.
        claimed: Option<Handle>,
    },
}

/// The bidirectional check (checklist #120): `handle` resolved to `resolved`, and `doc` (the
/// resolved DID's document) claims `handle` as its handle (its first valid `at://` alias;
/// comparison is case-insensitive because handles are normalised to lowercase).
pub fn check_bidirectional(
    handle: &Handle,
    resolved: &Did,
    doc: &DidDocument,
) -> Result<(), HandleCheckError> {
    if doc.id != *resolved {
        return Err(HandleCheckError::WrongDocument {
            resolved: resolved.clone(),
            document: doc.id.clone(),
        });
    }
    match doc.handle() {
        Some(claimed) if claimed == *handle => Ok(()),
        claimed => Err(HandleCheckError::NotClaimed {
            handle: handle.clone(),
            claimed,
        }),
    }
}

/// A boxed, sendable future: what [`HandleResolver`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How one lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Definitely nothing there: NXDOMAIN or no TXT records; HTTP 404.
    #[error("not found")]
    NotFound,
    /// Anything else (timeout, SERVFAIL, connection error, non-2xx status, body too large); the
    /// text is for logs.
    #[error("lookup failed: {0}")]
    Failed(String),
}

/// The network half of handle resolution, implemented by the server.
///
/// Contract:
/// - [`Self::lookup_txt`] returns the TXT records at `name` (each record's character-strings
///   joined into one string), `Ok(vec![])` or [`LookupError::NotFound`] when there are none.
/// - [`Self::fetch_well_known`] GETs [`well_known_url`] (HTTPS outside development, following at
///   most a few redirects, reading at most [`MAX_WELL_KNOWN_BODY`] bytes) and returns the body of
///   a 2xx response; 404 is [`LookupError::NotFound`].
///
/// Neither method interprets the answer: [`resolve_handle`] does.
pub trait HandleResolver: Send + Sync {
    /// TXT records at the DNS name `name` (`_atproto.<handle>`).
    fn lookup_txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<String>, LookupError>>;

    /// The body of `https://<handle>/.well-known/atproto-did`.
    fn fetch_well_known<'a>(
        &'a self,
        handle: &'a Handle,
    ) -> BoxFuture<'a, Result<Vec<u8>, LookupError>>;
}

/// Which method resolved a handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolutionMethod {
    /// DNS TXT `_atproto.<handle>`.
    Dns,
    /// HTTPS `/.well-known/atproto-did`.
    Https,
}

/// Why [`resolve_handle`] found no DID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveHandleError {
    /// The handle may not be resolved (`handle.invalid`, or a disallowed TLD such as `.local`).
    #[error("handle {0} cannot be resolved (reserved name or TLD)")]
    NotResolvable(Handle),
    /// DNS names different DIDs: resolution fails rather than picking one.
    #[error("DNS names several DIDs for the handle: {0:?}")]
    Ambiguous(Vec<Did>),
    /// Neither method found a DID. Each field says what that method ran into.
    #[error("handle not found (dns: {dns}; https: {https})")]
    NotFound {
        /// The DNS outcome.
        dns: String,
        /// The HTTPS outcome.
        https: String,
    },
}

/// Resolves `handle` to a DID: DNS TXT first; if it yields no DID, HTTPS well-known. When DNS
/// answers, its DID wins and HTTPS is not consulted (checklist #118: prefer DNS). DNS records
/// naming different DIDs fail the resolution outright. The result is only a claim; see
/// [`check_bidirectional`].
pub async fn resolve_handle<R: HandleResolver + ?Sized>(
    resolver: &R,
    handle: &Handle,
) -> Result<(Did, ResolutionMethod), ResolveHandleError> {
    if *handle == Handle::invalid() || handle.is_disallowed_tld() {
        return Err(ResolveHandleError::NotResolvable(handle.clone()));
    }
    let name = txt_record_name(handle);
    let dns = match resolver.lookup_txt(&name).await {
        Ok(records) => match parse_txt_records(&records) {
            Ok(did) => return Ok((did, ResolutionMethod::Dns)),
            Err(TxtError::Conflicting(dids)) => return Err(ResolveHandleError::Ambiguous(dids)),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    let https = match resolver.fetch_well_known(handle).await {
        Ok(body) => match parse_well_known_body(&body) {
            Ok(did) => return Ok((did, ResolutionMethod::Https)),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    Err(ResolveHandleError::NotFound { dns, https })
}
