//! The relay server as a library: configuration, the axum application and its XRPC handlers,
//! the one error-to-XRPC mapping, auth extractors, the local PLC directory and the SSRF guard.
//! The `relay` binary (`main.rs`) only parses the command line and calls in here.
//!
//! # Layout
//! - [`config`]: options from defaults, a TOML file and `RELAY_*` variables; [`secrets`]: the
//!   generated secret key file.
//! - [`server`]: [`AppState`], [`app`] (the `Router`), [`run`] (serve until shutdown), [`serve`]
//!   (`relay serve`).
//! - [`xrpc`]: `/xrpc/*` routing and thin handlers, one module per NSID group; [`auth`]:
//!   credential extractors; [`error`]: [`ApiError`], the only place errors meet the wire.
//! - [`firehose_service`]: firehose settings, `requestCrawl` over the SSRF-guarded client,
//!   retention pruning and crawler tasks (`subscribeRepos` itself: `xrpc/subscribe.rs`, on
//!   [`ws`], our RFC 6455 server side that writes the shared frame bytes with vectored writes).
//! - [`net`]: the listener whose connections a handler can reach (`ConnectInfo<Peer>`), so
//!   `subscribeRepos` can `sendfile` live frames from the firehose's spool.
//! - [`throttle`]: the per-connection firehose bandwidth limit (a pure token bucket).
//! - [`proxy`]: service proxying (`atproto-proxy`, default AppView) for methods not served here.
//! - [`commands`]: the `relay serve` and `relay plc serve` subcommands.
//! - [`plc_directory`]: the did:plc directory API (`relay plc serve`) and a client for any
//!   directory; [`ssrf`]: the outbound-fetch guard every HTTP client here goes through;
//!   [`handle_resolver`]: DNS TXT and well-known handle lookups.
//!
//! Only this crate knows HTTP, axum and XRPC JSON; use cases live in `pds`.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod auth;
pub mod commands;
pub mod config;
pub mod error;
pub mod firehose_service;
pub mod handle_resolver;
pub mod lexicons;
pub mod mailer;
pub mod net;
pub mod oauth;
pub mod plc_directory;
pub mod proxy;
pub mod rate_limit;
pub mod secrets;
pub mod server;
pub mod ssrf;
pub mod throttle;
pub mod ws;
pub mod xrpc;

pub use config::Config;
pub use error::ApiError;
pub use server::{AppState, ServeError, app, init_tracing, run, serve, shutdown_signal};

/// The version reported by `/xrpc/_health` and the PLC directory's `/_health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
