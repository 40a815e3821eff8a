//! did:web in atproto: where a did:web's document lives, and how to name our own (checklist #115).
//!
//! Spec: `specs/did` ("did:web in AT Protocol") on top of W3C did:web. atproto allows
//! hostname-level did:webs only (no path segments, so no `:` inside the identifier), the document
//! is at `https://<host>/.well-known/did.json`, and a port (its `:` percent-encoded as `%3A`) is
//! allowed only for `localhost`, in development. Hostnames follow the handle syntax and its TLD
//! restrictions. `localhost` is served over plain `http://`, as the reference resolver does;
//! production callers should refuse it ([`DidWebLocation::is_localhost`]).
//!
//! The document itself is built with [`crate::DidDocument::atproto`].

use syntax::{Did, Handle};

/// The path of a did:web document on its host.
pub const DID_WEB_DOCUMENT_PATH: &str = "/.well-known/did.json";

/// Where a did:web's document lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidWebLocation {
    host: String,
    port: Option<u16>,
}

/// Why a DID is not a did:web atproto accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DidWebError {
    /// The DID's method is not `web`.
    #[error("not a did:web")]
    NotDidWeb,
    /// The identifier has path segments (`did:web:example.com:user`).
    #[error("did:web with a path is not supported in atproto")]
    PathNotSupported,
    /// A `%` escape other than `%3A`.
    #[error("did:web may only percent-encode the port separator (%3A)")]
    BadEscape,
    /// The hostname is not a valid handle-style hostname.
    #[error("did:web hostname {0:?} is not a valid hostname")]
    InvalidHost(String),
    /// The hostname's TLD is one of the disallowed ones (`.local`, `.onion`, ...).
    #[error("did:web hostname {0:?} has a disallowed TLD")]
    DisallowedTld(String),
    /// A port on something other than `localhost`.
    #[error("a did:web port is only allowed for localhost")]
    PortNotAllowed,
    /// The port is not a number in 1..=65535.
    #[error("did:web port {0:?} is invalid")]
    InvalidPort(String),
}

impl DidWebLocation {
    /// Where `did`'s document lives, after checking the atproto restrictions.
    pub fn for_did(did: &Did) -> Result<DidWebLocation, DidWebError> {
        if did.method() != "web" {
            return Err(DidWebError::NotDidWeb);
        }
        let id = did.identifier();
        if id.contains(':') {
            return Err(DidWebError::PathNotSupported);
        }
        let (host, port) = match split_escaped_port(id)? {
            (host, Some(port)) => {
                if !host.eq_ignore_ascii_case("localhost") {
                    return Err(DidWebError::PortNotAllowed);
                }
                let n = port
                    .parse::<u16>()
                    .ok()
                    .filter(|n| *n != 0 && !port.starts_with('+'))
                    .ok_or_else(|| DidWebError::InvalidPort(port.to_owned()))?;
                (host, Some(n))
            }
            (host, None) => (host, None),
        };
        if host.contains('%') {
            return Err(DidWebError::BadEscape);
        }
        if host.eq_ignore_ascii_case("localhost") {
            return Ok(DidWebLocation {
                host: "localhost".to_owned(),
                port,
            });
        }
        let handle =
            Handle::try_from(host).map_err(|_| DidWebError::InvalidHost(host.to_owned()))?;
        if handle.is_disallowed_tld() {
            return Err(DidWebError::DisallowedTld(host.to_owned()));
        }
        Ok(DidWebLocation {
            host: handle.into_string(),
            port: None,
        })
    }

    /// The hostname (lowercase).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, only ever set for `localhost`.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// True for `localhost` (development only).
    pub fn is_localhost(&self) -> bool {
        self.host == "localhost"
    }

    /// The document URL: `https://<host>/.well-known/did.json`, or
    /// `http://localhost[:port]/.well-known/did.json` in development.
    pub fn document_url(&self) -> String {
        match (self.is_localhost(), self.port) {
            (true, Some(port)) => format!("http://localhost:{port}{DID_WEB_DOCUMENT_PATH}"),
            (true, None) => format!("http://localhost{DID_WEB_DOCUMENT_PATH}"),
            (false, _) => format!("https://{}{DID_WEB_DOCUMENT_PATH}", self.host),
        }
    }
}

/// The did:web for a hostname: `did:web:<host>`.
pub fn did_web_for_host(host: &Handle) -> Did {
    // A handle is lowercase letters, digits, `-` and `.`, all valid DID identifier characters.
    Did::try_from(format!("did:web:{}", host.as_str())).expect("a handle is a valid did:web id")
}

/// The development did:web for `localhost` on `port`: `did:web:localhost%3A<port>`.
pub fn did_web_for_localhost(port: u16) -> Did {
    Did::try_from(format!("did:web:localhost%3A{port}")).expect("a fixed valid did:web")
}

/// Splits `host%3Aport` (either case of the escape) into host and port text.
fn split_escaped_port(id: &str) -> Result<(&str, Option<&str>), DidWebError> {
    let lower = id.to_ascii_lowercase();
    match lower.find("%3a") {
        Some(i) => {
            let (host, port) = (&id[..i], &id[i + 3..]);
            if port.contains('%') {
                return Err(DidWebError::BadEscape);
            }
            Ok((host, Some(port)))
        }
        None => Ok((id, None)),
    }
}
