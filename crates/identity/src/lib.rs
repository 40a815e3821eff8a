//! atproto identity: did:plc operations and operation logs, DID documents, did:web, and the pure
//! core of handle resolution (checklist sections K and L).
//!
//! | file | what |
//! |---|---|
//! | `operation` | [`Operation`], [`SignedOperation`]: build, sign, strict parse and verify, CIDs, genesis DIDs |
//! | `limits` | [`OpLimits`]: size and field limits for *new* operations |
//! | `log` | [`PlcLog`]: a PLC directory's per-DID state machine (recovery forks, nullification); [`validate_audit_log`] |
//! | `did_doc` | [`DidDocument`]: render from PLC state, read the signing key, PDS and handle out of any document |
//! | `did_web` | [`DidWebLocation`]: where a did:web document lives; naming our own did:web |
//! | `handle` | TXT and well-known parsing, [`HandleResolver`] (the I/O the server provides), [`resolve_handle`], [`check_bidirectional`] |
//!
//! This crate is pure: no tokio, no HTTP client, no database. The server submits operations to a
//! PLC directory and fetches documents; it uses the types here to build and check what goes over
//! the wire. [`PlcLog`] is enough to *be* a PLC directory (for tests or a local mirror) when
//! wrapped with storage and HTTP.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod did_doc;
mod did_web;
mod handle;
mod json_util;
mod limits;
mod log;
mod operation;

pub use did_doc::{
    CONTEXT_DID_V1, CONTEXT_K256, CONTEXT_MULTIKEY_V1, CONTEXT_P256, DidDocError, DidDocument,
    DocService, MULTIKEY_TYPE, VerificationMethod, is_http_origin,
};
pub use did_web::{
    DID_WEB_DOCUMENT_PATH, DidWebError, DidWebLocation, did_web_for_host, did_web_for_localhost,
};
pub use handle::{
    BoxFuture, HandleCheckError, HandleResolver, LookupError, MAX_WELL_KNOWN_BODY,
    ResolutionMethod, ResolveHandleError, TxtError, WellKnownError, check_bidirectional,
    parse_txt_records, parse_well_known_body, resolve_handle, txt_record_name, well_known_url,
};
pub use limits::{LimitError, OpLimits};
pub use log::{
    Applied, AuditEntry, AuditEntryParseError, AuditLogError, PlcError, PlcLog, PlcState,
    RECOVERY_WINDOW_MICROS, parse_audit_log, validate_audit_log,
};
pub use operation::{
    ATPROTO_PDS_SERVICE, ATPROTO_PDS_TYPE, ATPROTO_VERIFICATION_METHOD, LegacyCreate, OpParseError,
    Operation, PlcFields, PlcService, SignatureError, SignedOperation, TYPE_LEGACY_CREATE,
    TYPE_OPERATION, TYPE_TOMBSTONE, decode_sig, did_for_signed_genesis, is_plc_did,
};
