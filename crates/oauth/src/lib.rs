//! The core of atproto's OAuth profile, for the PDS as Authorization Server and Resource
//! Server (`specs/oauth`, `specs/permission`; checklist sections O and P). Pure functions and
//! small in-memory state, no HTTP and no storage: the `relay` binary maps these onto its
//! endpoints, and `pds` keeps sessions and codes in its stores.
//!
//! - [`dpop`]: DPoP proof verification (RFC 9449): header, signature, `htm`/`htu`, `iat`,
//!   `ath`, and the key's thumbprint the tokens are bound to (checklist #155, #159).
//! - [`nonce`]: server-issued DPoP nonces that rotate and need no storage (checklist #156-#158).
//! - [`replay`]: a bounded cache of recently seen `jti` values (checklist #158, #160).
//! - [`client_auth`]: `private_key_jwt` client assertions and the key-set check that revokes
//!   a session whose key is gone (checklist #160).
//! - [`pkce`]: the `S256` code challenge check (checklist #153).
//! - [`scope`]: permission scope strings and the transitional scopes (checklist #164-#169).
//! - [`client_metadata`]: client ID URLs, client metadata documents and redirect URIs
//!   (checklist #147-#150).
//! - [`token`]: DPoP-bound access tokens, opaque refresh tokens, and every lifetime
//!   (checklist #161, #162).
//! - [`server_metadata`]: the protected-resource and authorization-server discovery
//!   documents and the issuer origin they are built from (checklist #143-#146).
//!
//! Status: library only, nothing is wired to HTTP yet.

pub mod client_auth;
pub mod client_metadata;
pub mod dpop;
pub mod nonce;
pub mod pkce;
pub mod replay;
pub mod scope;
pub mod server_metadata;
pub mod token;
