//! OAuth scopes of the atproto profile: the `atproto` scope, the transitional scopes and the
//! granular permission scope strings (checklist #164-#169).
//!
//! Specs: <https://atproto.com/specs/oauth> ("Authorization Scopes", "Transitional Scopes") and
//! <https://atproto.com/specs/permission> ("Resource Types", "Scope String Syntax").
//!
//! Three layers, each usable on its own:
//!
//! - [`ScopeSyntax`]: the general scope string syntax, `resource[:positional][?k=v&k=v…]`, with
//!   percent-decoding and repeated keys (checklist #166). It knows nothing about resources.
//! - [`Permission`]: one granular permission (`repo`, `rpc`, `blob`, `account`, `identity`) or a
//!   permission set reference (`include`), checked against the resource's parameter list and
//!   kept in a normalised form whose [`Display`](fmt::Display) is the canonical scope string
//!   (checklist #167-#169). `include:` is kept unresolved: resolving a permission set needs the
//!   network, which this crate does not do.
//! - [`ScopeSet`]: the space-separated `scope` parameter, and the questions a resource server
//!   asks of it (`allows_*`), honouring `atproto` (#164) and the transitional scopes (#165).
//!
//! Decisions where the specs leave room (each is also noted at the code that makes it):
//!
//! - Without `atproto` every `allows_*` answers `false`, whatever else was granted (#164).
//! - `transition:generic` allows every `rpc` method except the `chat.bsky.*` ones (compared
//!   ASCII-case-insensitively, so a differently cased NSID cannot slip past), to any audience.
//!   `transition:chat.bsky` adds `chat.bsky.*` and does nothing without `transition:generic`.
//!   A method-less service auth token ([`ScopeSet::allows_rpc_any_method`]) could be used for
//!   `chat.bsky` too, so from transitional scopes it needs both of them.
//! - `transition:email` grants `account:email` with action `read` only (not `manage`).
//! - `account` takes the attributes `email` and `repo` from the spec text, plus `status` (account
//!   hosting status), which the reference implementation defines. `action` is a single value as
//!   the spec says ("string, optional"): repeating it is an error.
//! - Repeated values of an array parameter (`action=create&action=create`) are accepted and
//!   de-duplicated; single-valued parameters (`aud`, `attr`, account `action`) may not repeat.
//! - `+` is a literal plus sign, not a space (the spec only mentions percent-encoding), so
//!   `blob:application/ld+json` means what it says.
//! - `aud` must be a `did:plc` or `did:web` (without path) DID followed by a non-empty `#service`
//!   fragment, or `*` in `rpc`. `include:` takes no wildcard `aud`.
//! - Blob MIME patterns keep their case in the scope string (scope strings are case-sensitive),
//!   but MIME types themselves are case-insensitive, so matching an upload ignores ASCII case and
//!   any `; parameters` of the upload's content type.
//! - Unknown scopes (another OAuth profile's, or a resource this code does not know) are kept
//!   and grant nothing; a known resource with bad parameters is kept as [`Scope::Invalid`] and
//!   grants nothing either (the permission spec's rule for permission sets: never grant a
//!   partially understood permission).

use std::fmt;

use syntax::{Did, Nsid};

/// Why a scope string could not be parsed, syntactically or as a permission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The scope string is empty.
    #[error("scope string is empty")]
    Empty,
    /// A character that is not printable, non-whitespace ASCII.
    #[error(
        "scope string contains {ch:?} at byte {pos} (only printable non-whitespace ASCII is allowed)"
    )]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        pos: usize,
    },
    /// The resource name is empty or has characters other than ASCII letters, digits, `.`, `-`, `_`.
    #[error(
        "scope resource name {0:?} is empty or has characters other than letters, digits, '.', '-', '_'"
    )]
    InvalidResourceName(String),
    /// A `%` not followed by two hex digits, or percent-encoding that decodes to invalid UTF-8.
    #[error("bad percent-encoding in {0:?}")]
    BadPercentEncoding(String),
    /// A parameter without `=` or with an empty name.
    #[error("malformed scope parameter {0:?} (expected name=value)")]
    MalformedParam(String),
    /// A resource other than `repo`, `rpc`, `blob`, `account`, `identity`, `include`.
    #[error("unknown permission resource {0:?}")]
    UnknownResource(String),
    /// A parameter the resource does not define.
    #[error("{resource} permission has no parameter {key:?}")]
    UnknownParam {
        /// The resource name.
        resource: &'static str,
        /// The unexpected parameter name.
        key: String,
    },
    /// The positional parameter was also given as a key.
    #[error("{resource} permission gives {key:?} both positionally and as a parameter")]
    PositionalAndKey {
        /// The resource name.
        resource: &'static str,
        /// The parameter given twice.
        key: &'static str,
    },
    /// A required parameter is missing.
    #[error("{resource} permission is missing required parameter {key:?}")]
    MissingParam {
        /// The resource name.
        resource: &'static str,
        /// The missing parameter.
        key: &'static str,
    },
    /// A single-valued parameter was given more than once.
    #[error("{resource} permission gives single-valued parameter {key:?} more than once")]
    RepeatedParam {
        /// The resource name.
        resource: &'static str,
        /// The repeated parameter.
        key: &'static str,
    },
    /// A parameter value that the resource does not accept.
    #[error("{resource} permission: invalid {key} {value:?}: {reason}")]
    InvalidValue {
        /// The resource name.
        resource: &'static str,
        /// The parameter.
        key: &'static str,
        /// The rejected value (decoded).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An audience that is not a `did:plc`/`did:web` DID followed by a `#service` fragment.
    #[error("invalid service reference {value:?}: {reason}")]
    InvalidServiceRef {
        /// The rejected value (decoded).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A blob accept pattern that is not `*/*`, `type/*` or `type/subtype`.
    #[error("invalid MIME pattern {value:?}: {reason}")]
    InvalidMimePattern {
        /// The rejected value (decoded).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `rpc` with both `lxm` and `aud` wildcards (`rpc:*?aud=*`).
    #[error("rpc permission may not have both lxm and aud as wildcard '*'")]
    RpcDoubleWildcard,
}

// ---------------------------------------------------------------------------------------------
// General syntax
// ---------------------------------------------------------------------------------------------

/// A scope string split by the general syntax, `resource[:positional][?k=v&k=v…]`, with the
/// positional part and the parameters percent-decoded (`specs/permission`, "Scope String
/// Syntax"; checklist #166).
///
/// The positional part runs from the first `:` to the first `?` (a `:` after the `?` belongs to
/// the parameters), and may itself contain `:`, `#`, `&`…. Parameters are split on `&`, and each
/// into name and value at its first `=`. An empty query (`identity:*?`) means no parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSyntax {
    resource: String,
    positional: Option<String>,
    params: Vec<(String, String)>,
}

impl ScopeSyntax {
    /// Splits and decodes `scope`. Fails on an empty string, on characters other than printable
    /// non-whitespace ASCII, on a bad resource name, on bad percent-encoding, and on parameters
    /// without a name or without `=`.
    pub fn parse(scope: &str) -> Result<Self, ScopeError> {
        if scope.is_empty() {
            return Err(ScopeError::Empty);
        }
        if let Some((pos, ch)) = scope.char_indices().find(|(_, c)| !c.is_ascii_graphic()) {
            return Err(ScopeError::InvalidChar { ch, pos });
        }
        let (head, query) = match scope.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (scope, None),
        };
        let (resource, positional) = match head.split_once(':') {
            Some((r, p)) => (r, Some(percent_decode(p)?)),
            None => (head, None),
        };
        if resource.is_empty()
            || !resource
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(ScopeError::InvalidResourceName(resource.to_owned()));
        }
        let mut params = Vec::new();
        if let Some(query) = query.filter(|q| !q.is_empty()) {
            for part in query.split('&') {
                let (key, value) = part
                    .split_once('=')
                    .ok_or_else(|| ScopeError::MalformedParam(part.to_owned()))?;
                if key.is_empty() {
                    return Err(ScopeError::MalformedParam(part.to_owned()));
                }
                params.push((percent_decode(key)?, percent_decode(value)?));
            }
        }
        Ok(Self {
            resource: resource.to_owned(),
            positional,
            params,
        })
    }

    /// The resource name, e.g. `repo` (case-sensitive, never percent-decoded).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The decoded positional part, if there was a `:` before any `?` (possibly empty).
    pub fn positional(&self) -> Option<&str> {
        self.positional.as_deref()
    }

    /// The decoded parameters in order, repeated names included.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// Every value given for `key`, in order (a repeated key is an array).
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes `%XX` escapes; everything else (including `+`) is taken literally.
fn percent_decode(s: &str) -> Result<String, ScopeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16));
            let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16));
            match (hi, lo) {
                (Some(hi), Some(lo)) => {
                    // Two hex digits: at most 0xff, so the cast is lossless.
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                _ => return Err(ScopeError::BadPercentEncoding(s.to_owned())),
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ScopeError::BadPercentEncoding(s.to_owned()))
}

/// Percent-encodes everything but ASCII letters, digits and `-._~*:/+,@!'()` (upper-case hex),
/// so `?`, `&`, `=`, `#`, `%` and spaces can never be mistaken for syntax.
fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'*'
                    | b':'
                    | b'/'
                    | b'+'
                    | b','
                    | b'@'
                    | b'!'
                    | b'\''
                    | b'('
                    | b')'
            )
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Writes `resource[:positional][?k=v&…]` with percent-encoding.
fn write_scope(
    f: &mut fmt::Formatter<'_>,
    resource: &str,
    positional: Option<&str>,
    params: &[(&str, String)],
) -> fmt::Result {
    let mut s = String::from(resource);
    if let Some(p) = positional {
        s.push(':');
        percent_encode(p, &mut s);
    }
    for (i, (k, v)) in params.iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        percent_encode(k, &mut s);
        s.push('=');
        percent_encode(v, &mut s);
    }
    f.write_str(&s)
}

/// Reads the parameters of one resource, enforcing its parameter list and the positional rule.
struct Reader<'a> {
    syn: &'a ScopeSyntax,
    resource: &'static str,
}

impl<'a> Reader<'a> {
    /// Fails on any parameter name not in `known`.
    fn new(
        syn: &'a ScopeSyntax,
        resource: &'static str,
        known: &[&str],
    ) -> Result<Self, ScopeError> {
        if let Some((k, _)) = syn
            .params
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            return Err(ScopeError::UnknownParam {
                resource,
                key: k.clone(),
            });
        }
        Ok(Self { syn, resource })
    }

    /// All values of `key`; for the positional parameter, the positional part counts as its one
    /// value and may not be combined with the key.
    fn multi(&self, key: &'static str, positional: bool) -> Result<Vec<&'a str>, ScopeError> {
        let keyed: Vec<&'a str> = self.syn.values(key).collect();
        if let Some(p) = self.syn.positional.as_deref().filter(|_| positional) {
            if !keyed.is_empty() {
                return Err(ScopeError::PositionalAndKey {
                    resource: self.resource,
                    key,
                });
            }
            return Ok(vec![p]);
        }
        Ok(keyed)
    }

    /// At most one value of `key`.
    fn single(&self, key: &'static str, positional: bool) -> Result<Option<&'a str>, ScopeError> {
        let values = self.multi(key, positional)?;
        match values.as_slice() {
            [] => Ok(None),
            [v] => Ok(Some(v)),
            _ => Err(ScopeError::RepeatedParam {
                resource: self.resource,
                key,
            }),
        }
    }

    fn missing(&self, key: &'static str) -> ScopeError {
        ScopeError::MissingParam {
            resource: self.resource,
            key,
        }
    }

    fn invalid(&self, key: &'static str, value: &str, reason: &'static str) -> ScopeError {
        ScopeError::InvalidValue {
            resource: self.resource,
            key,
            value: value.to_owned(),
            reason,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parameter value types
// ---------------------------------------------------------------------------------------------

/// An NSID or the full wildcard `*` (`repo` collections, `rpc` methods). Partial wildcards such
/// as `app.bsky.*` are not NSIDs and are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NsidPattern {
    /// `*`: every NSID.
    Any,
    /// Exactly this NSID (case-sensitive).
    Nsid(Nsid),
}

impl NsidPattern {
    fn parse(r: &Reader<'_>, key: &'static str, value: &str) -> Result<Self, ScopeError> {
        if value == "*" {
            return Ok(Self::Any);
        }
        if value.contains('*') {
            return Err(r.invalid(key, value, "partial wildcards are not supported"));
        }
        value
            .parse::<Nsid>()
            .map(Self::Nsid)
            .map_err(|_| r.invalid(key, value, "not an NSID or '*'"))
    }

    /// Whether `nsid` is covered.
    pub fn matches(&self, nsid: &Nsid) -> bool {
        match self {
            Self::Any => true,
            Self::Nsid(n) => n == nsid,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Any => "*",
            Self::Nsid(n) => n.as_str(),
        }
    }
}

impl fmt::Display for NsidPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sorts, de-duplicates and collapses to `[Any]` if the wildcard is present.
fn normalize_nsids(mut v: Vec<NsidPattern>) -> Vec<NsidPattern> {
    if v.contains(&NsidPattern::Any) {
        return vec![NsidPattern::Any];
    }
    v.sort();
    v.dedup();
    v
}

/// A record operation of the `repo` resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RepoAction {
    /// Create a record.
    Create,
    /// Update (overwrite) a record.
    Update,
    /// Delete a record.
    Delete,
}

impl RepoAction {
    /// All actions, in canonical order.
    pub const ALL: [RepoAction; 3] = [Self::Create, Self::Update, Self::Delete];

    /// The scope string value: `create`, `update` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }

    fn from_value(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A DID service reference, `did#service`, as an `rpc`/`include` audience. The DID must be
/// `did:plc` or `did:web` without a path, the fragment non-empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceRef {
    did: Did,
    service: String,
}

impl ServiceRef {
    /// Parses `did:…#service`.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        Self::check(s).map_err(|reason| ScopeError::InvalidServiceRef {
            value: s.to_owned(),
            reason,
        })
    }

    fn check(s: &str) -> Result<Self, &'static str> {
        let (did, service) = s
            .split_once('#')
            .ok_or("must be a DID followed by a '#service' fragment")?;
        if service.is_empty() || service.contains('#') {
            return Err("the '#service' fragment must be non-empty");
        }
        let did: Did = did.parse().map_err(|_| "not a valid DID before '#'")?;
        let ok = match did.method() {
            "plc" => {
                let id = did.identifier();
                id.len() == 24 && id.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
            }
            "web" => !did.identifier().contains(':'),
            _ => false,
        };
        if !ok {
            return Err("the DID must be a did:plc or a did:web without path");
        }
        Ok(Self {
            did,
            service: service.to_owned(),
        })
    }

    /// The DID part.
    pub fn did(&self) -> &Did {
        &self.did
    }

    /// The service fragment, without `#`.
    pub fn service(&self) -> &str {
        &self.service
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.did, self.service)
    }
}

/// The audience of an `rpc` permission.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Audience {
    /// `*`: any service.
    Any,
    /// This one service.
    Service(ServiceRef),
}

impl Audience {
    /// Whether a request to `aud` (a `did#service` reference, compared exactly) is covered.
    pub fn matches(&self, aud: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Service(s) => s.to_string() == aud,
        }
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Service(s) => s.fmt(f),
        }
    }
}

/// A `blob` accept pattern, as in the lexicon `blob` type's `accept`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MimePattern {
    /// `*/*`: any MIME type.
    Any,
    /// `type/*`: any subtype of this type (the type is stored without `/*`).
    Type(String),
    /// `type/subtype`: exactly this MIME type.
    Exact(String),
}

impl MimePattern {
    /// Parses `*/*`, `type/*` or `type/subtype` (one `/`, both sides non-empty, no other `*`).
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        Self::check(s).map_err(|reason| ScopeError::InvalidMimePattern {
            value: s.to_owned(),
            reason,
        })
    }

    fn check(s: &str) -> Result<Self, &'static str> {
        if s == "*/*" {
            return Ok(Self::Any);
        }
        let (ty, sub) = s
            .split_once('/')
            .ok_or("MIME pattern needs a '/' between type and subtype")?;
        if ty.is_empty() || sub.is_empty() || sub.contains('/') {
            return Err("MIME pattern must be type/subtype, both non-empty");
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("MIME pattern must be printable ASCII without spaces");
        }
        if ty.contains('*') {
            return Err("only '*/*' may have a wildcard type");
        }
        if sub == "*" {
            return Ok(Self::Type(ty.to_owned()));
        }
        if sub.contains('*') {
            return Err("partial wildcards are not supported");
        }
        Ok(Self::Exact(s.to_owned()))
    }

    /// Whether a MIME type (`type/subtype`, optionally with `; parameters`) matches, ignoring
    /// ASCII case. A type containing `*` never matches.
    pub fn matches(&self, mime: &str) -> bool {
        let Some((ty, sub)) = mime_essence(mime) else {
            return false;
        };
        match self {
            Self::Any => true,
            Self::Type(t) => t.eq_ignore_ascii_case(ty),
            Self::Exact(e) => e.split_once('/').is_some_and(|(et, es)| {
                et.eq_ignore_ascii_case(ty) && es.eq_ignore_ascii_case(sub)
            }),
        }
    }
}

/// `type` and `subtype` of a concrete MIME type, parameters dropped; `None` if malformed.
fn mime_essence(mime: &str) -> Option<(&str, &str)> {
    let essence = mime.split(';').next().unwrap_or("").trim();
    let (ty, sub) = essence.split_once('/')?;
    let good = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'*' && b != b'/')
    };
    (good(ty) && good(sub)).then_some((ty, sub))
}

impl fmt::Display for MimePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*/*"),
            Self::Type(t) => write!(f, "{t}/*"),
            Self::Exact(e) => f.write_str(e),
        }
    }
}

/// An attribute of the `account` resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountAttr {
    /// `email`: the account email address (read: see it and its confirmation status; manage:
    /// also change it).
    Email,
    /// `repo`: import a whole repository CAR (manage; read does nothing).
    Repo,
    /// `status`: account hosting status (defined by the reference implementation, not yet in
    /// the spec text).
    Status,
}

impl AccountAttr {
    /// The scope string value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Repo => "repo",
            Self::Status => "status",
        }
    }

    fn from_value(s: &str) -> Option<Self> {
        [Self::Email, Self::Repo, Self::Status]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// The degree of control of an `account` permission; `manage` includes `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountAction {
    /// `read` (the default).
    Read,
    /// `manage`: change it (includes `read`).
    Manage,
}

impl AccountAction {
    /// The scope string value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Manage => "manage",
        }
    }

    fn from_value(s: &str) -> Option<Self> {
        [Self::Read, Self::Manage]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// An attribute of the `identity` resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityAttr {
    /// `handle`: update the handle.
    Handle,
    /// `*`: full control of the DID document and handle.
    Any,
}

impl IdentityAttr {
    /// The scope string value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handle => "handle",
            Self::Any => "*",
        }
    }

    fn from_value(s: &str) -> Option<Self> {
        [Self::Handle, Self::Any]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

// ---------------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------------

/// One granular permission, or an unresolved permission set reference.
///
/// [`Permission::parse`] normalises: arrays are sorted and de-duplicated, a wildcard absorbs the
/// rest, `repo` actions are kept in `create, update, delete` order. Values built by hand should
/// keep those invariants (non-empty arrays, no `rpc` with both wildcards); matching never grants
/// through an empty array or a double-wildcard `rpc`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `repo:<collection|*>[?action=…]`: write records.
    Repo {
        /// Record collections (positional `collection`).
        collections: Vec<NsidPattern>,
        /// Allowed actions; all three when `action` is omitted.
        actions: Vec<RepoAction>,
    },
    /// `rpc:<lxm|*>?aud=<did#svc|*>`: proxied calls and service auth tokens.
    Rpc {
        /// Methods (positional `lxm`).
        lxm: Vec<NsidPattern>,
        /// Audience (required).
        aud: Audience,
    },
    /// `blob:<mime pattern>`: upload blobs.
    Blob {
        /// Accepted MIME patterns (positional `accept`).
        accept: Vec<MimePattern>,
    },
    /// `account:<attr>[?action=read|manage]`.
    Account {
        /// The attribute (positional).
        attr: AccountAttr,
        /// The action; `read` when omitted.
        action: AccountAction,
    },
    /// `identity:<handle|*>`.
    Identity {
        /// The attribute (positional).
        attr: IdentityAttr,
    },
    /// `include:<nsid>[?aud=did#svc]`: a permission set, kept unresolved (grants nothing here).
    Include {
        /// The permission set's NSID (positional).
        nsid: Nsid,
        /// Audience passed down to the set's `inheritAud` rpc permissions.
        aud: Option<ServiceRef>,
    },
}

impl Permission {
    /// Parses one permission scope string.
    pub fn parse(scope: &str) -> Result<Self, ScopeError> {
        Self::from_syntax(&ScopeSyntax::parse(scope)?)
    }

    /// Interprets an already split scope string.
    pub fn from_syntax(syn: &ScopeSyntax) -> Result<Self, ScopeError> {
        match syn.resource() {
            "repo" => parse_repo(syn),
            "rpc" => parse_rpc(syn),
            "blob" => parse_blob(syn),
            "account" => parse_account(syn),
            "identity" => parse_identity(syn),
            "include" => parse_include(syn),
            other => Err(ScopeError::UnknownResource(other.to_owned())),
        }
    }

    /// The resource name (`repo`, `rpc`, …).
    pub fn resource(&self) -> &'static str {
        match self {
            Self::Repo { .. } => "repo",
            Self::Rpc { .. } => "rpc",
            Self::Blob { .. } => "blob",
            Self::Account { .. } => "account",
            Self::Identity { .. } => "identity",
            Self::Include { .. } => "include",
        }
    }

    /// Whether this permission allows `action` on records of `collection`.
    pub fn allows_repo_write(&self, collection: &Nsid, action: RepoAction) -> bool {
        match self {
            Self::Repo {
                collections,
                actions,
            } => actions.contains(&action) && collections.iter().any(|c| c.matches(collection)),
            _ => false,
        }
    }

    /// Whether this permission allows calling `lxm` on `aud` (proxied or via service auth).
    pub fn allows_rpc(&self, lxm: &Nsid, aud: &str) -> bool {
        match self {
            Self::Rpc {
                lxm: methods,
                aud: a,
            } => {
                !rpc_double_wildcard(methods, a)
                    && a.matches(aud)
                    && methods.iter().any(|m| m.matches(lxm))
            }
            _ => false,
        }
    }

    /// Whether this permission allows a method-less service auth token for `aud`: only
    /// `rpc:*?aud=<aud>` does.
    pub fn allows_rpc_any_method(&self, aud: &str) -> bool {
        match self {
            Self::Rpc { lxm, aud: a } => {
                !rpc_double_wildcard(lxm, a) && a.matches(aud) && lxm.contains(&NsidPattern::Any)
            }
            _ => false,
        }
    }

    /// Whether this permission allows uploading a blob of type `mime`.
    pub fn allows_blob(&self, mime: &str) -> bool {
        match self {
            Self::Blob { accept } => accept.iter().any(|p| p.matches(mime)),
            _ => false,
        }
    }

    /// Whether this permission allows `action` on account attribute `attr` (`manage` implies
    /// `read`).
    pub fn allows_account(&self, attr: AccountAttr, action: AccountAction) -> bool {
        match self {
            Self::Account {
                attr: a,
                action: granted,
            } => *a == attr && (*granted == AccountAction::Manage || *granted == action),
            _ => false,
        }
    }

    /// Whether this permission allows changing identity attribute `attr` (`*` covers all).
    pub fn allows_identity(&self, attr: IdentityAttr) -> bool {
        match self {
            Self::Identity { attr: a } => *a == IdentityAttr::Any || *a == attr,
            _ => false,
        }
    }
}

fn rpc_double_wildcard(lxm: &[NsidPattern], aud: &Audience) -> bool {
    *aud == Audience::Any && lxm.contains(&NsidPattern::Any)
}

fn parse_repo(syn: &ScopeSyntax) -> Result<Permission, ScopeError> {
    let r = Reader::new(syn, "repo", &["collection", "action"])?;
    let raw = r.multi("collection", true)?;
    if raw.is_empty() {
        return Err(r.missing("collection"));
    }
    let collections = raw
        .into_iter()
        .map(|v| NsidPattern::parse(&r, "collection", v))
        .collect::<Result<Vec<_>, _>>()?;
    let raw_actions = r.multi("action", false)?;
    let actions = if raw_actions.is_empty() {
        RepoAction::ALL.to_vec()
    } else {
        let mut acts = raw_actions
            .into_iter()
            .map(|v| {
                RepoAction::from_value(v)
                    .ok_or_else(|| r.invalid("action", v, "expected create, update or delete"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        acts.sort();
        acts.dedup();
        acts
    };
    Ok(Permission::Repo {
        collections: normalize_nsids(collections),
        actions,
    })
}

fn parse_rpc(syn: &ScopeSyntax) -> Result<Permission, ScopeError> {
    let r = Reader::new(syn, "rpc", &["lxm", "aud"])?;
    let raw = r.multi("lxm", true)?;
    if raw.is_empty() {
        return Err(r.missing("lxm"));
    }
    let lxm = raw
        .into_iter()
        .map(|v| NsidPattern::parse(&r, "lxm", v))
        .collect::<Result<Vec<_>, _>>()?;
    let aud_raw = r.single("aud", false)?.ok_or_else(|| r.missing("aud"))?;
    let aud = if aud_raw == "*" {
        Audience::Any
    } else {
        Audience::Service(ServiceRef::parse(aud_raw)?)
    };
    let lxm = normalize_nsids(lxm);
    if rpc_double_wildcard(&lxm, &aud) {
        return Err(ScopeError::RpcDoubleWildcard);
    }
    Ok(Permission::Rpc { lxm, aud })
}

fn parse_blob(syn: &ScopeSyntax) -> Result<Permission, ScopeError> {
    let r = Reader::new(syn, "blob", &["accept"])?;
    let raw = r.multi("accept", true)?;
    if raw.is_empty() {
        return Err(r.missing("accept"));
    }
    let mut accept = raw
        .into_iter()
        .map(MimePattern::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if accept.contains(&MimePattern::Any) {
        accept = vec![MimePattern::Any];
    } else {
        accept.sort();
        accept.dedup();
    }
    Ok(Permission::Blob { accept })
}

fn parse_account(syn: &ScopeSyntax) -> Result<Permission, ScopeError> {
    let r = Reader::new(syn, "account", &["attr", "action"])?;
    let attr_raw = r.single("attr", true)?.ok_or_else(|| r.missing("attr"))?;
    let attr = AccountAttr::from_value(attr_raw)
        .ok_or_else(|| r.invalid("attr", attr_raw, "expected email, repo or status"))?;
    let action = match r.single("action", false)? {
        None => AccountAction::Read,
        Some(v) => AccountAction::from_value(v)
            .ok_or_else(|| r.invalid("action", v, "expected read or manage"))?,
    };
    Ok(Permission::Account { attr, action })
}

fn parse_identity(syn: &ScopeSyntax) -> Result<Permission, ScopeError> {
    let r = Reader::new(syn, "identity", &["attr"])?;
    let raw = r.single("attr", true)?.ok_or_else(|| r.missing("attr"))?;
    let attr = IdentityAttr::from_value(raw)
        .ok_or_else(|| r.invalid("attr", raw, "expected handle or *"))?;
    Ok(Permission::Identity { attr })
}

fn parse_include(syn: &ScopeSyntax) -> Result<Permission, ScopeError> {
    let r = Reader::new(syn, "include", &["nsid", "aud"])?;
    let raw = r.single("nsid", true)?.ok_or_else(|| r.missing("nsid"))?;
    let nsid: Nsid = raw
        .parse()
        .map_err(|_| r.invalid("nsid", raw, "not an NSID (no wildcards)"))?;
    let aud = match r.single("aud", false)? {
        None => None,
        Some(v) => Some(ServiceRef::parse(v)?),
    };
    Ok(Permission::Include { nsid, aud })
}

impl fmt::Display for Permission {
    /// The canonical scope string: the positional form when an array has one element, wildcards
    /// absorbing the rest, defaults (`repo` all actions, `account` `read`) left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Repo {
                collections,
                actions,
            } => {
                let mut params: Vec<(&str, String)> = Vec::new();
                let positional = match collections.as_slice() {
                    [one] => Some(one.as_str()),
                    many => {
                        params.extend(many.iter().map(|c| ("collection", c.to_string())));
                        None
                    }
                };
                let all = RepoAction::ALL.iter().all(|a| actions.contains(a));
                if !all {
                    params.extend(actions.iter().map(|a| ("action", a.as_str().to_owned())));
                }
                write_scope(f, "repo", positional, &params)
            }
            Self::Rpc { lxm, aud } => {
                let mut params: Vec<(&str, String)> = Vec::new();
                let positional = match lxm.as_slice() {
                    [one] => Some(one.as_str()),
                    many => {
                        params.extend(many.iter().map(|m| ("lxm", m.to_string())));
                        None
                    }
                };
                params.push(("aud", aud.to_string()));
                write_scope(f, "rpc", positional, &params)
            }
            Self::Blob { accept } => match accept.as_slice() {
                [one] => write_scope(f, "blob", Some(&one.to_string()), &[]),
                many => {
                    let params: Vec<(&str, String)> =
                        many.iter().map(|m| ("accept", m.to_string())).collect();
                    write_scope(f, "blob", None, &params)
                }
            },
            Self::Account { attr, action } => {
                let params: Vec<(&str, String)> = match action {
                    AccountAction::Read => Vec::new(),
                    AccountAction::Manage => vec![("action", action.as_str().to_owned())],
                };
                write_scope(f, "account", Some(attr.as_str()), &params)
            }
            Self::Identity { attr } => write_scope(f, "identity", Some(attr.as_str()), &[]),
            Self::Include { nsid, aud } => {
                let params: Vec<(&str, String)> =
                    aud.iter().map(|a| ("aud", a.to_string())).collect();
                write_scope(f, "include", Some(nsid.as_str()), &params)
            }
        }
    }
}

impl std::str::FromStr for Permission {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Scope sets
// ---------------------------------------------------------------------------------------------

/// A transitional scope (`specs/oauth`, "Transitional Scopes"; checklist #165).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    /// `transition:generic`: App Password level access.
    Generic,
    /// `transition:chat.bsky`: `chat.bsky` methods; needs `transition:generic`.
    ChatBsky,
    /// `transition:email`: the email address in `getSession`.
    Email,
}

impl Transition {
    /// The scope string, e.g. `transition:generic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generic => "transition:generic",
            Self::ChatBsky => "transition:chat.bsky",
            Self::Email => "transition:email",
        }
    }
}

/// One entry of a `scope` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `atproto`: selects the atproto profile (checklist #164).
    Atproto,
    /// A transitional scope.
    Transition(Transition),
    /// A granular permission or permission set reference.
    Permission(Permission),
    /// A well-formed scope of a resource this code does not know (e.g. another OAuth profile's,
    /// or `Repo:…`: names are case-sensitive). Kept as given; grants nothing.
    Unknown(String),
    /// A scope that is malformed, or names a known resource with unacceptable parameters. Kept as
    /// given; grants nothing.
    Invalid {
        /// The scope as given.
        raw: String,
        /// Why it was rejected.
        error: ScopeError,
    },
}

impl Scope {
    /// Classifies one scope token; never fails (see [`Scope::Unknown`], [`Scope::Invalid`]).
    pub fn parse(token: &str) -> Self {
        match token {
            "atproto" => return Self::Atproto,
            "transition:generic" => return Self::Transition(Transition::Generic),
            "transition:chat.bsky" => return Self::Transition(Transition::ChatBsky),
            "transition:email" => return Self::Transition(Transition::Email),
            _ => {}
        }
        let syn = match ScopeSyntax::parse(token) {
            Ok(s) => s,
            Err(error) => {
                return Self::Invalid {
                    raw: token.to_owned(),
                    error,
                };
            }
        };
        match Permission::from_syntax(&syn) {
            Ok(p) => Self::Permission(p),
            Err(ScopeError::UnknownResource(_)) => Self::Unknown(token.to_owned()),
            Err(error) => Self::Invalid {
                raw: token.to_owned(),
                error,
            },
        }
    }
}

impl fmt::Display for Scope {
    /// `atproto`, the transitional scope, the canonical permission, or the raw text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Atproto => f.write_str("atproto"),
            Self::Transition(t) => f.write_str(t.as_str()),
            Self::Permission(p) => p.fmt(f),
            Self::Unknown(raw) | Self::Invalid { raw, .. } => f.write_str(raw),
        }
    }
}

/// The scopes of a grant, parsed from the space-separated OAuth `scope` parameter, and the
/// access questions a resource server asks (checklist #164-#169).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScopeSet {
    scopes: Vec<Scope>,
}

impl ScopeSet {
    /// Splits on spaces (runs of spaces and leading/trailing ones are tolerated) and classifies
    /// each token with [`Scope::parse`]; exact duplicates are dropped, order is kept.
    pub fn parse(scope: &str) -> Self {
        let mut scopes: Vec<Scope> = Vec::new();
        for token in scope.split(' ').filter(|t| !t.is_empty()) {
            let s = Scope::parse(token);
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        Self { scopes }
    }

    /// The scopes, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Scope> {
        self.scopes.iter()
    }

    /// The granular permissions (including unresolved `include:` references).
    pub fn permissions(&self) -> impl Iterator<Item = &Permission> {
        self.scopes.iter().filter_map(|s| match s {
            Scope::Permission(p) => Some(p),
            _ => None,
        })
    }

    /// The `include:` permission set references still to be resolved, with their `aud`.
    pub fn includes(&self) -> impl Iterator<Item = (&Nsid, Option<&ServiceRef>)> {
        self.permissions().filter_map(|p| match p {
            Permission::Include { nsid, aud } => Some((nsid, aud.as_ref())),
            _ => None,
        })
    }

    /// The scopes rejected as malformed or with bad parameters, with the reasons.
    pub fn invalid(&self) -> impl Iterator<Item = (&str, &ScopeError)> {
        self.scopes.iter().filter_map(|s| match s {
            Scope::Invalid { raw, error } => Some((raw.as_str(), error)),
            _ => None,
        })
    }

    /// Whether `atproto` is present (checklist #164).
    pub fn has_atproto(&self) -> bool {
        self.scopes.contains(&Scope::Atproto)
    }

    fn has(&self, t: Transition) -> bool {
        self.scopes.contains(&Scope::Transition(t))
    }

    /// Whether `transition:generic` is present.
    pub fn transition_generic(&self) -> bool {
        self.has(Transition::Generic)
    }

    /// Whether `transition:chat.bsky` is present. It takes effect only together with
    /// `transition:generic`; the `allows_*` questions check that.
    pub fn transition_chat(&self) -> bool {
        self.has(Transition::ChatBsky)
    }

    /// Whether `transition:email` is present.
    pub fn transition_email(&self) -> bool {
        self.has(Transition::Email)
    }

    fn effective_chat(&self) -> bool {
        self.transition_generic() && self.transition_chat()
    }

    /// Whether the session may create, update or delete records of `collection`.
    /// `transition:generic` allows all record writes.
    pub fn allows_repo_write(&self, collection: &Nsid, action: RepoAction) -> bool {
        self.has_atproto()
            && (self.transition_generic()
                || self
                    .permissions()
                    .any(|p| p.allows_repo_write(collection, action)))
    }

    /// Whether the session may upload a blob of MIME type `mime` (e.g. `image/png`).
    /// `transition:generic` allows any blob.
    pub fn allows_blob(&self, mime: &str) -> bool {
        self.has_atproto()
            && ((self.transition_generic() && mime_essence(mime).is_some())
                || self.permissions().any(|p| p.allows_blob(mime)))
    }

    /// Whether the session may call `lxm` on service `aud` (e.g. `did:web:api.bsky.app#bsky_appview`),
    /// through the proxy or with a service auth token (both are the same permission).
    ///
    /// `transition:generic` allows every method except `chat.bsky.*` to any audience (this
    /// includes the preferences methods); `transition:chat.bsky` together with
    /// `transition:generic` adds `chat.bsky.*`. A bare DID `aud` (no `#service`) only matches
    /// `aud=*` permissions.
    pub fn allows_rpc(&self, lxm: &Nsid, aud: &str) -> bool {
        if !self.has_atproto() {
            return false;
        }
        let transitional = if is_chat_bsky(lxm) {
            self.effective_chat()
        } else {
            self.transition_generic()
        };
        transitional || self.permissions().any(|p| p.allows_rpc(lxm, aud))
    }

    /// Whether the session may get a service auth token for `aud` without an `lxm` (usable for
    /// any method). Granular: `rpc:*?aud=<aud>`. Transitional: such a token could call
    /// `chat.bsky` methods too, so it needs `transition:generic` and `transition:chat.bsky`
    /// (a stricter choice than the reference implementation, which allows it with
    /// `transition:generic` alone).
    pub fn allows_rpc_any_method(&self, aud: &str) -> bool {
        self.has_atproto()
            && (self.effective_chat() || self.permissions().any(|p| p.allows_rpc_any_method(aud)))
    }

    /// Whether the session may `read` or `manage` account attribute `attr`.
    /// `transition:email` grants `email` `read` (email and confirmation status in `getSession`);
    /// `transition:generic` grants no account management.
    pub fn allows_account(&self, attr: AccountAttr, action: AccountAction) -> bool {
        self.has_atproto()
            && ((attr == AccountAttr::Email
                && action == AccountAction::Read
                && self.transition_email())
                || self.permissions().any(|p| p.allows_account(attr, action)))
    }

    /// Whether the session may change identity attribute `attr` (handle, or `*` for the whole
    /// DID document). No transitional scope grants identity changes.
    pub fn allows_identity(&self, attr: IdentityAttr) -> bool {
        self.has_atproto() && self.permissions().any(|p| p.allows_identity(attr))
    }
}

/// Whether `lxm` is under `chat.bsky.`, ignoring ASCII case (the excluded namespace must not be
/// reachable by case games).
fn is_chat_bsky(lxm: &Nsid) -> bool {
    lxm.as_str()
        .get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case("chat.bsky."))
}

impl fmt::Display for ScopeSet {
    /// Space-separated, each scope in its [`Scope`] display form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.scopes.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            s.fmt(f)?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::slice::Iter<'a, Scope>;
    fn into_iter(self) -> Self::IntoIter {
        self.scopes.iter()
    }
}
