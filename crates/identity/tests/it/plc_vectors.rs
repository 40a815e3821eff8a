//! The did:plc audit-log vectors (`interop-tests/plc-interop-tests/audit_log/{valid,invalid}`,
//! from did-method-plc; same across implementations). Every valid log must replay with the same
//! `nullified` flags and re-serialise byte-for-byte equal as JSON values; every invalid log must
//! be rejected at the entry that breaks the rules, with the error kind named in the table
//! (checklist #106-#109, #113).

use std::path::PathBuf;

use identity::{PlcError, SignatureError, SignedOperation, parse_audit_log, validate_audit_log};

fn dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop-tests/plc-interop-tests/audit_log")
        .join(kind)
}

fn load(kind: &str, file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir(kind).join(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every `.json` file in the folder, sorted, so a new vector cannot go unnoticed.
fn files(kind: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir(kind))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// A valid log and what its replay must end in.
struct Valid {
    file: &'static str,
    /// Number of active (non-nullified) operations.
    active: usize,
    /// Whether the DID ends deactivated.
    tombstoned: bool,
}

const VALID: &[Valid] = &[
    Valid {
        file: "log_bnewbold_robocracy.json",
        active: 2,
        tombstoned: false,
    },
    Valid {
        file: "log_bskyapp.json",
        active: 2,
        tombstoned: false,
    },
    Valid {
        file: "log_duplicate_rotation_keys.json",
        active: 1,
        tombstoned: false,
    },
    Valid {
        file: "log_empty_rotation_keys.json",
        active: 2,
        tombstoned: false,
    },
    Valid {
        file: "log_legacy_dholms.json",
        active: 5,
        tombstoned: false,
    },
    Valid {
        file: "log_nullification.json",
        active: 2,
        tombstoned: false,
    },
    Valid {
        file: "log_nullification_at_exactly_72h.json",
        active: 3,
        tombstoned: false,
    },
    Valid {
        file: "log_nullification_nontrivial.json",
        active: 3,
        tombstoned: false,
    },
    Valid {
        file: "log_nullified_tombstone.json",
        active: 3,
        tombstoned: false,
    },
    Valid {
        file: "log_tombstone.json",
        active: 2,
        tombstoned: true,
    },
];

fn check_valid(case: &Valid) -> usize {
    let json = load("valid", case.file);
    let entries = parse_audit_log(&json).unwrap();
    let log = validate_audit_log(&entries)
        .unwrap_or_else(|e| panic!("{}: valid log rejected: {e}", case.file));

    // The rebuilt audit log is the file, value for value (cid, nullified, createdAt, operation).
    assert_eq!(log.audit_log_json(), json, "{}", case.file);
    for (entry, raw) in entries.iter().zip(json.as_array().unwrap()) {
        assert_eq!(entry.operation.to_json(), raw["operation"], "{}", case.file);
        let reparsed = SignedOperation::from_json(&raw["operation"]).unwrap();
        assert_eq!(reparsed.cid(), entry.cid, "{}", case.file);
    }

    // The final state is what the log implies: the last active operation.
    let active: Vec<_> = entries.iter().filter(|e| !e.nullified).collect();
    assert_eq!(active.len(), case.active, "{}", case.file);
    assert_eq!(log.log().len(), case.active, "{}", case.file);
    for (got, want) in log.log().iter().zip(&active) {
        assert_eq!(**got, want.operation, "{}", case.file);
    }
    let last = active.last().unwrap();
    assert_eq!(log.head().unwrap().cid, last.cid, "{}", case.file);
    assert_eq!(log.is_tombstoned(), case.tombstoned, "{}", case.file);
    match log.data() {
        None => assert!(case.tombstoned, "{}: no data for a live DID", case.file),
        Some(state) => {
            assert_eq!(state.did, entries[0].did);
            assert_eq!(Some(state.fields), last.operation.operation().fields());
            let doc = log.document().unwrap();
            assert_eq!(doc.id, entries[0].did);
        }
    }
    // The genesis operation derives the DID (checklist #109).
    assert_eq!(
        entries[0].operation.genesis_did().as_ref(),
        Some(&entries[0].did),
        "{}",
        case.file
    );
    entries.len()
}

/// An invalid log, the entry that must be rejected, and the kind of rejection.
struct Invalid {
    file: &'static str,
    index: usize,
    kind: fn(&PlcError) -> bool,
}

const INVALID: &[Invalid] = &[
    Invalid {
        file: "log_invalid_nullification_reused_key.json",
        index: 2,
        kind: |e| matches!(e, PlcError::InsufficientAuthority),
    },
    Invalid {
        file: "log_invalid_nullification_too_slow.json",
        index: 2,
        kind: |e| matches!(e, PlcError::RecoveryWindowExpired { .. }),
    },
    Invalid {
        file: "log_invalid_sig_b64_newline.json",
        index: 0,
        kind: |e| matches!(e, PlcError::Signature(SignatureError::Encoding)),
    },
    Invalid {
        file: "log_invalid_sig_b64_padding_bits.json",
        index: 0,
        kind: |e| matches!(e, PlcError::Signature(SignatureError::Encoding)),
    },
    Invalid {
        file: "log_invalid_sig_b64_padding_chars.json",
        index: 0,
        kind: |e| matches!(e, PlcError::Signature(SignatureError::Encoding)),
    },
    Invalid {
        file: "log_invalid_sig_der.json",
        index: 0,
        kind: |e| matches!(e, PlcError::Signature(SignatureError::NoMatchingKey)),
    },
    Invalid {
        file: "log_invalid_sig_k256_high_s.json",
        index: 0,
        kind: |e| matches!(e, PlcError::Signature(SignatureError::HighS)),
    },
    Invalid {
        file: "log_invalid_sig_p256_high_s.json",
        index: 0,
        kind: |e| matches!(e, PlcError::Signature(SignatureError::HighS)),
    },
    Invalid {
        file: "log_invalid_update_nullified.json",
        index: 4,
        kind: |e| matches!(e, PlcError::PrevNullified(_)),
    },
    Invalid {
        file: "log_invalid_update_tombstoned.json",
        index: 2,
        kind: |e| matches!(e, PlcError::PrevTombstoned(_)),
    },
];

fn check_invalid(case: &Invalid) -> usize {
    let json = load("invalid", case.file);
    // Every invalid file is well-formed; the rejection must come from validation.
    let entries = parse_audit_log(&json).unwrap();
    let err = validate_audit_log(&entries)
        .err()
        .unwrap_or_else(|| panic!("{}: invalid log accepted", case.file));
    assert_eq!(err.index, case.index, "{}: {err}", case.file);
    // Replay stops at the first bad entry, so the index also proves every earlier entry passed.
    assert!((case.kind)(&err.error), "{}: wrong kind: {err}", case.file);
    entries.len()
}

#[test]
fn valid_audit_logs() {
    let names = files("valid");
    let listed: Vec<&str> = VALID.iter().map(|c| c.file).collect();
    assert_eq!(names, listed, "every valid vector file has a row in VALID");
    let entries: usize = VALID.iter().map(check_valid).sum();
    println!(
        "plc audit_log/valid: {} files, {entries} entries",
        VALID.len()
    );
    assert!(entries > 0);
}

#[test]
fn invalid_audit_logs() {
    let names = files("invalid");
    let listed: Vec<&str> = INVALID.iter().map(|c| c.file).collect();
    assert_eq!(
        names, listed,
        "every invalid vector file has a row in INVALID"
    );
    let entries: usize = INVALID.iter().map(check_invalid).sum();
    println!(
        "plc audit_log/invalid: {} files, {entries} entries",
        INVALID.len()
    );
    assert!(entries > 0);
}

/// The sig-encoding vectors are rejected by the strict decoder alone, before any key is tried.
#[test]
fn invalid_sig_encodings_fail_decoding() {
    for file in [
        "log_invalid_sig_b64_newline.json",
        "log_invalid_sig_b64_padding_bits.json",
        "log_invalid_sig_b64_padding_chars.json",
    ] {
        let entries = parse_audit_log(&load("invalid", file)).unwrap();
        assert_eq!(
            entries[0].operation.signature_bytes(),
            Err(SignatureError::Encoding),
            "{file}"
        );
    }
}

/// Tampering with a stored `nullified` flag or `cid` is caught.
#[test]
fn tampered_audit_log_entries() {
    let json = load("valid", "log_nullification.json");
    let mut entries = parse_audit_log(&json).unwrap();
    entries[1].nullified = false;
    let err = validate_audit_log(&entries).unwrap_err();
    assert_eq!(err.index, 1);
    assert!(
        matches!(err.error, PlcError::NullifiedMismatch { .. }),
        "{err}"
    );

    let mut entries = parse_audit_log(&json).unwrap();
    entries[0].cid = entries[1].cid;
    let err = validate_audit_log(&entries).unwrap_err();
    assert!(matches!(err.error, PlcError::CidMismatch { .. }), "{err}");

    let err = validate_audit_log(&[]).unwrap_err();
    assert_eq!(err.error, PlcError::EmptyLog);
}
