//! Integration tests of the relay library: the app through `tower::ServiceExt::oneshot` and real
//! servers on `127.0.0.1:0` (HTTP basics, CORS, limits, errors), configuration and secrets, the
//! local PLC directory with its client, and the SSRF guard.

mod accounts_admin;
mod common;
mod config;
mod email_2fa;
mod email_tokens;
mod firehose;
mod http_basics;
mod identity_resolve;
mod import_repo;
mod migration_firehose;
mod oauth;
mod pds_flow;
mod plc_directory;
mod proxy;
mod rate_limits;
mod ssrf;
mod sync_stream;
mod ws_writer;
