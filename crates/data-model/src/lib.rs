//! The atproto data model: values, strict DAG-CBOR (DRISL) and atproto JSON, and CIDs.
//!
//! - [`Value`] is the in-memory form of any atproto data (records, commits, MST nodes).
//! - [`cbor`] encodes canonically and decodes *strictly*: non-canonical input is rejected,
//!   and decoding is bounded ([`cbor::Limits`]) so hostile input cannot exhaust memory or stack.
//!   It also exposes a low-level [`cbor::Writer`] / [`cbor::Reader`] for hot paths (MST nodes,
//!   commits) that encode fixed shapes without building a [`Value`].
//! - [`json`] converts between atproto JSON (`$link`, `$bytes`, blob objects) and [`Value`].
//! - [`cid_for_cbor`] / [`cid_for_raw`] compute blessed CIDv1s (sha2-256).
//!
//! This crate does no I/O and knows nothing about repositories or the network.

pub mod cbor;
mod cid_util;
pub mod json;
mod value;

pub use cid::Cid;
pub use cid_util::{
    CODEC_DAG_CBOR, CODEC_RAW, HASH_SHA2_256, cid_for_cbor, cid_for_raw, cid_from_sha256,
    is_blessed, parse_cid,
};
pub use value::{BlobRef, Value};
