//! Integration tests of the oauth crate, one module per source module.

mod authorization;
mod client_auth;
mod client_metadata;
mod dpop;
mod nonce;
mod pkce;
mod replay;
mod scope;
mod server_metadata;
mod token;
