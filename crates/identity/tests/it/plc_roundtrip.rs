//! did:plc operations we build ourselves, pushed through [`PlcLog`]: genesis and DID derivation,
//! updates, the signature and `prev` rules, recovery forks inside and outside the 72-hour window,
//! tombstones, the limits on new operations, and strict parsing (checklist #106-#110, #113).

use crypto::{Curve, Keypair};
use data_model::{Value, cbor};
use identity::{
    LegacyCreate, LimitError, OpLimits, OpParseError, Operation, PlcError, PlcFields, PlcLog,
    RECOVERY_WINDOW_MICROS, SignatureError, SignedOperation, is_plc_did, parse_audit_log,
    validate_audit_log,
};
use syntax::{Datetime, Did, Handle};

/// 2025-01-01T00:00:00Z plus `secs` seconds.
fn at(secs: i64) -> Datetime {
    Datetime::from_timestamp_micros(1_735_689_600_000_000 + secs * 1_000_000).unwrap()
}

fn handle(s: &str) -> Handle {
    s.parse().unwrap()
}

/// An account with a recovery key (priority 0), a PDS rotation key (priority 1) and a separate
/// repo signing key, as the reference PDS lays them out (checklist #112).
struct Account {
    recovery: Keypair,
    rotation: Keypair,
    signing: Keypair,
}

impl Account {
    fn new() -> Account {
        Account {
            recovery: Keypair::generate(Curve::K256),
            rotation: Keypair::generate(Curve::P256),
            signing: Keypair::generate(Curve::K256),
        }
    }

    fn fields(&self) -> PlcFields {
        PlcFields::atproto(
            vec![
                self.recovery.public_key().to_did_key(),
                self.rotation.public_key().to_did_key(),
            ],
            &self.signing.public_key(),
            &handle("alice.example.com"),
            "https://pds.example.com",
        )
    }

    /// A log holding the genesis operation, signed by the PDS rotation key.
    fn genesis(&self) -> (PlcLog, SignedOperation) {
        let op = Operation::genesis(self.fields()).sign(&self.rotation);
        let did = op.genesis_did().unwrap();
        let mut log = PlcLog::new(did);
        log.apply(op.clone(), at(0)).unwrap();
        (log, op)
    }
}

#[test]
fn genesis_derives_a_24_char_did_and_validates() {
    let acct = Account::new();
    let (log, op) = acct.genesis();
    let did = log.did();
    assert!(is_plc_did(did), "{did}");
    assert_eq!(did.identifier().len(), 24);
    assert_eq!(op.genesis_did().as_ref(), Some(did));

    // Signature: 64 bytes, unpadded base64url (86 characters).
    assert_eq!(op.sig().len(), 86);
    assert!(!op.sig().contains('='));
    assert_eq!(op.verify(&[acct.rotation.public_key().to_did_key()]), Ok(0));

    // The unsigned CBOR has `prev: null` present, and no `sig` (checklist #107, #108).
    let unsigned = cbor::decode(&op.operation().unsigned_cbor()).unwrap();
    assert_eq!(unsigned.get("prev"), Some(&Value::Null));
    assert_eq!(unsigned.get("sig"), None);
    assert_eq!(
        unsigned.get("type"),
        Some(&Value::String("plc_operation".into()))
    );

    let state = log.data().unwrap();
    assert_eq!(state.fields, acct.fields());
    assert_eq!(state.to_json()["did"], did.as_str());
    assert_eq!(log.log(), vec![&op]);

    // The audit log survives JSON and validates on its own.
    let entries = parse_audit_log(&log.audit_log_json()).unwrap();
    assert_eq!(validate_audit_log(&entries).unwrap(), log);
}

#[test]
fn update_rotates_signing_key_and_changes_handle_and_pds() {
    let acct = Account::new();
    let (mut log, genesis) = acct.genesis();
    let new_signing = Keypair::generate(Curve::P256);
    let mut fields = log.data().unwrap().fields;
    fields.set_atproto_signing_key(&new_signing.public_key());
    fields.set_handle(&handle("alice.example.org"));
    fields.set_pds_endpoint("pds2.example.org");
    let update = Operation::update(fields.clone(), genesis.cid()).sign(&acct.rotation);

    // `prev` in an update is the CID as a string, not a CBOR link (checklist #107).
    let unsigned = cbor::decode(&update.operation().unsigned_cbor()).unwrap();
    assert_eq!(
        unsigned.get("prev"),
        Some(&Value::String(genesis.cid().to_string()))
    );

    let applied = log.apply(update.clone(), at(60)).unwrap();
    assert_eq!(applied.cid, update.cid());
    assert!(applied.nullified.is_empty());
    assert_eq!(log.data().unwrap().fields, fields);

    let doc = log.document().unwrap();
    assert_eq!(doc.signing_key().unwrap(), new_signing.public_key());
    assert_eq!(doc.handle(), Some(handle("alice.example.org")));
    assert_eq!(doc.pds_endpoint().unwrap(), "https://pds2.example.org");

    let entries = parse_audit_log(&log.audit_log_json()).unwrap();
    assert_eq!(validate_audit_log(&entries).unwrap().log().len(), 2);
}

#[test]
fn op_signed_by_a_non_rotation_key_is_rejected() {
    let acct = Account::new();
    let (mut log, genesis) = acct.genesis();
    // The repo signing key has no control over the DID.
    let op = Operation::update(acct.fields(), genesis.cid()).sign(&acct.signing);
    assert_eq!(
        log.apply(op, at(60)),
        Err(PlcError::Signature(SignatureError::NoMatchingKey))
    );
    // A genesis op signed by a key that is not among its own rotation keys.
    let stray = Operation::genesis(acct.fields()).sign(&acct.signing);
    let mut fresh = PlcLog::new(stray.genesis_did().unwrap());
    assert_eq!(
        fresh.apply(stray, at(0)),
        Err(PlcError::Signature(SignatureError::NoMatchingKey))
    );
    assert!(fresh.is_empty());
}

#[test]
fn wrong_prev_is_rejected() {
    let acct = Account::new();
    let (mut log, genesis) = acct.genesis();
    let unknown = data_model::cid_for_cbor(b"not an operation of this DID");
    let op = Operation::update(acct.fields(), unknown).sign(&acct.rotation);
    assert_eq!(log.apply(op, at(60)), Err(PlcError::PrevNotFound(unknown)));

    // A second genesis for an existing DID.
    assert_eq!(
        log.apply(genesis.clone(), at(60)),
        Err(PlcError::AlreadyExists)
    );

    // The first operation of a log must be a genesis.
    let update = Operation::update(acct.fields(), genesis.cid()).sign(&acct.rotation);
    let mut empty = PlcLog::new(log.did().clone());
    assert_eq!(empty.apply(update, at(0)), Err(PlcError::NotGenesis));

    // A genesis for some other DID.
    let other: Did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa".parse().unwrap();
    let mut wrong = PlcLog::new(other.clone());
    assert_eq!(
        wrong.apply(genesis, at(0)),
        Err(PlcError::GenesisDidMismatch {
            expected: other,
            derived: log.did().clone(),
        })
    );
}

#[test]
fn timestamps_must_increase() {
    let acct = Account::new();
    let (mut log, genesis) = acct.genesis();
    let op = Operation::update(acct.fields(), genesis.cid()).sign(&acct.rotation);
    assert!(matches!(
        log.apply(op.clone(), at(0)),
        Err(PlcError::TimestampOrder { .. })
    ));
    log.apply(op, at(1)).unwrap();
}

/// Genesis (signed by the PDS key, priority 1), then an update by the PDS key at t=60s; the
/// recovery key (priority 0) forks at the genesis at `recover_at`.
fn recovery_at(
    recover_at: Datetime,
) -> (PlcLog, SignedOperation, Result<identity::Applied, PlcError>) {
    let acct = Account::new();
    let (mut log, genesis) = acct.genesis();
    let attacker = Keypair::generate(Curve::K256);
    let mut hijack = acct.fields();
    hijack.rotation_keys = vec![attacker.public_key().to_did_key()];
    hijack.set_pds_endpoint("https://evil.example.com");
    let bad = Operation::update(hijack, genesis.cid()).sign(&acct.rotation);
    log.apply(bad.clone(), at(60)).unwrap();

    let mut restored = acct.fields();
    restored.rotation_keys = vec![acct.recovery.public_key().to_did_key()];
    let recovery = Operation::update(restored, genesis.cid()).sign(&acct.recovery);
    let result = log.apply(recovery, recover_at);
    (log, bad, result)
}

#[test]
fn recovery_within_72h_nullifies() {
    let (log, bad, result) = recovery_at(at(60 + 71 * 3600));
    let applied = result.unwrap();
    assert_eq!(applied.nullified, vec![bad.cid()]);
    let audit = log.audit_log();
    assert_eq!(
        audit.iter().map(|e| e.nullified).collect::<Vec<_>>(),
        vec![false, true, false]
    );
    assert_eq!(log.log().len(), 2);
    assert_eq!(
        log.data().unwrap().fields.pds_endpoint(),
        Some("https://pds.example.com")
    );
    // Building on the nullified operation is no longer possible.
    let again = Operation::tombstone(bad.cid()).sign(&Keypair::generate(Curve::K256));
    let mut log2 = log.clone();
    assert_eq!(
        log2.apply(again, at(60 + 72 * 3600)),
        Err(PlcError::PrevNullified(bad.cid()))
    );
    let entries = parse_audit_log(&log.audit_log_json()).unwrap();
    assert_eq!(validate_audit_log(&entries).unwrap(), log);
}

#[test]
fn recovery_at_exactly_72h_is_allowed() {
    let (_, _, result) = recovery_at(
        Datetime::from_timestamp_micros(at(60).timestamp_micros() + RECOVERY_WINDOW_MICROS)
            .unwrap(),
    );
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn recovery_after_72h_is_rejected() {
    let (log, _, result) = recovery_at(
        Datetime::from_timestamp_micros(at(60).timestamp_micros() + RECOVERY_WINDOW_MICROS + 1_000)
            .unwrap(),
    );
    assert!(
        matches!(result, Err(PlcError::RecoveryWindowExpired { .. })),
        "{result:?}"
    );
    assert!(log.audit_log().iter().all(|e| !e.nullified));
}

#[test]
fn fork_by_a_key_of_equal_or_lower_priority_is_rejected() {
    let acct = Account::new();
    let (mut log, genesis) = acct.genesis();
    let first = Operation::update(acct.fields(), genesis.cid()).sign(&acct.rotation);
    log.apply(first, at(60)).unwrap();
    let mut other = acct.fields();
    other.set_handle(&handle("bob.example.com"));
    let fork = Operation::update(other, genesis.cid()).sign(&acct.rotation);
    assert_eq!(
        log.apply(fork, at(120)),
        Err(PlcError::InsufficientAuthority)
    );
}

#[test]
fn tombstone_is_terminal() {
    let acct = Account::new();
    let (mut log, genesis) = acct.genesis();
    let tomb = Operation::tombstone(genesis.cid()).sign(&acct.rotation);
    log.apply(tomb.clone(), at(60)).unwrap();
    assert!(log.is_tombstoned());
    assert_eq!(log.data(), None);
    assert_eq!(log.document(), None);

    let update = Operation::update(acct.fields(), tomb.cid()).sign(&acct.recovery);
    assert_eq!(
        log.apply(update, at(120)),
        Err(PlcError::PrevTombstoned(tomb.cid()))
    );
    // The same key cannot fork around its own tombstone...
    let around = Operation::update(acct.fields(), genesis.cid()).sign(&acct.rotation);
    assert_eq!(
        log.apply(around, at(120)),
        Err(PlcError::InsufficientAuthority)
    );
    // ...but the higher-priority recovery key can, within 72 hours.
    let revive = Operation::update(acct.fields(), genesis.cid()).sign(&acct.recovery);
    let applied = log.apply(revive, at(180)).unwrap();
    assert_eq!(applied.nullified, vec![tomb.cid()]);
    assert!(!log.is_tombstoned());
}

#[test]
fn limits_on_new_operations() {
    let acct = Account::new();
    let check = |fields: PlcFields| {
        let op = Operation::genesis(fields).sign(&acct.rotation);
        let mut log = PlcLog::new(op.genesis_did().unwrap());
        log.apply(op, at(0))
    };

    let mut six = acct.fields();
    six.rotation_keys = (0..6)
        .map(|_| Keypair::generate(Curve::K256).public_key().to_did_key())
        .collect();
    six.rotation_keys[0] = acct.rotation.public_key().to_did_key();
    assert!(matches!(
        check(six),
        Err(PlcError::Limit(LimitError::Count {
            field: "rotationKeys",
            count: 6,
            ..
        }))
    ));

    let mut dup = acct.fields();
    dup.rotation_keys.push(dup.rotation_keys[1].clone());
    assert!(matches!(
        check(dup),
        Err(PlcError::Limit(LimitError::Duplicate {
            field: "rotationKeys",
            ..
        }))
    ));

    let mut bad_key = acct.fields();
    bad_key.rotation_keys.push("did:key:zNotAKey".into());
    assert!(matches!(
        check(bad_key),
        Err(PlcError::Limit(LimitError::InvalidRotationKey(_)))
    ));

    let mut bad_vm = acct.fields();
    bad_vm
        .verification_methods
        .insert("other".into(), "did:web:example.com".into());
    assert!(matches!(
        check(bad_vm),
        Err(PlcError::Limit(LimitError::InvalidVerificationMethod(_)))
    ));

    // A 40-handle alsoKnownAs is refused locally, before any submission (checklist #110).
    let mut many = acct.fields();
    let label = "a".repeat(60);
    many.also_known_as = (0..40)
        .map(|i| format!("at://user{i}.{label}.{label}.{label}.example.com"))
        .collect();
    assert!(matches!(
        check(many),
        Err(PlcError::Limit(LimitError::TooLarge { .. }))
    ));

    let mut eleven = acct.fields();
    eleven.also_known_as = (0..11).map(|i| format!("at://u{i}.example.com")).collect();
    assert!(matches!(
        check(eleven),
        Err(PlcError::Limit(LimitError::Count {
            field: "alsoKnownAs",
            ..
        }))
    ));

    // Legacy `create` operations are never accepted for new DIDs.
    let legacy = Operation::LegacyCreate(LegacyCreate {
        signing_key: acct.signing.public_key().to_did_key(),
        recovery_key: acct.recovery.public_key().to_did_key(),
        handle: "alice.example.com".into(),
        service: "https://pds.example.com".into(),
    })
    .sign(&acct.recovery);
    let mut log = PlcLog::new(legacy.genesis_did().unwrap());
    assert_eq!(
        log.apply(legacy, at(0)),
        Err(PlcError::Limit(LimitError::LegacyCreate))
    );

    // Custom limits are honoured.
    let op = Operation::genesis(acct.fields()).sign(&acct.rotation);
    let tiny = OpLimits {
        max_op_bytes: 100,
        ..OpLimits::default()
    };
    let mut log = PlcLog::with_limits(op.genesis_did().unwrap(), tiny);
    assert!(matches!(
        log.apply(op, at(0)),
        Err(PlcError::Limit(LimitError::TooLarge { max: 100, .. }))
    ));
}

#[test]
fn strict_operation_parsing() {
    let acct = Account::new();
    let (_, genesis) = acct.genesis();
    let json = genesis.to_json();
    assert_eq!(SignedOperation::from_json(&json).unwrap(), genesis);

    let edit = |f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut j = json.clone();
        f(j.as_object_mut().unwrap());
        SignedOperation::from_json(&j)
    };
    assert_eq!(
        edit(&|m| {
            m.insert("extra".into(), 1.into());
        }),
        Err(OpParseError::UnknownField("extra".into()))
    );
    assert_eq!(
        edit(&|m| {
            m.remove("prev");
        }),
        Err(OpParseError::MissingField("prev"))
    );
    assert_eq!(
        edit(&|m| {
            m.insert("type".into(), "plc_whatever".into());
        }),
        Err(OpParseError::UnknownType("plc_whatever".into()))
    );
    assert!(matches!(
        edit(&|m| {
            m.insert("rotationKeys".into(), serde_json::json!([1]));
        }),
        Err(OpParseError::WrongType {
            field: "rotationKeys",
            ..
        })
    ));
    // `prev` must be the canonical base32 CIDv1 dag-cbor string.
    let upper = genesis.cid().to_string().to_uppercase();
    assert!(matches!(
        edit(&|m| {
            m.insert("prev".into(), upper.clone().into());
        }),
        Err(OpParseError::InvalidPrev(_))
    ));
    let raw = data_model::cid_for_raw(b"x").to_string();
    assert!(matches!(
        edit(&|m| {
            m.insert("prev".into(), raw.clone().into());
        }),
        Err(OpParseError::InvalidPrev(_))
    ));

    let tomb = Operation::tombstone(genesis.cid()).sign(&acct.rotation);
    assert_eq!(SignedOperation::from_json(&tomb.to_json()).unwrap(), tomb);
    let mut null_prev = tomb.to_json();
    null_prev["prev"] = serde_json::Value::Null;
    assert_eq!(
        SignedOperation::from_json(&null_prev),
        Err(OpParseError::NullPrev)
    );
}

/// A signature re-encoded with padding or with non-zero trailing bits decodes to the same bytes
/// in a lax decoder; ours refuses it, so the CID cannot be malleated (checklist #108).
#[test]
fn malleated_signature_encodings_are_rejected() {
    let acct = Account::new();
    let (_, genesis) = acct.genesis();
    let keys = [acct.rotation.public_key().to_did_key()];
    let variants = [
        format!("{}==", genesis.sig()),
        format!("{}\n", genesis.sig()),
        {
            // 64 bytes = 85⅓ characters: the last character carries 2 padding bits.
            let mut s = genesis.sig().to_owned();
            let last = s.pop().unwrap();
            const ALPHABET: &str =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let i = ALPHABET.find(last).unwrap();
            s.push(ALPHABET.as_bytes()[i | 1] as char);
            s
        },
    ];
    for sig in variants {
        assert_ne!(sig, genesis.sig());
        let op = SignedOperation::from_parts(genesis.operation().clone(), sig.clone());
        assert_eq!(op.verify(&keys), Err(SignatureError::Encoding), "{sig:?}");
    }
    let short = SignedOperation::from_parts(genesis.operation().clone(), "AAAA".into());
    assert_eq!(short.verify(&keys), Err(SignatureError::Length(3)));
}
