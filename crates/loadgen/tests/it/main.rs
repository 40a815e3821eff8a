//! Integration tests of the load driver: pure helpers (durations, timestamps, percentiles,
//! /proc parsing, CAR framing, loopback-only URLs) and whole workloads against an in-process
//! fake XRPC server (axum on 127.0.0.1).

mod fake_server;
mod helpers;
mod workloads;
