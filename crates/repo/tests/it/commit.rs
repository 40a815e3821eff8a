//! Commit v3 tests: signing and verification on both curves (checklist #36), CID of the signed
//! bytes (#37), strict decoding of the exact field set (#35) and blessed links (#41).

use std::collections::BTreeMap;

use crypto::{Curve, Keypair};
use data_model::{Cid, Value, cbor, cid_for_cbor, cid_for_raw};
use repo::commit::{Commit, CommitError, UnsignedCommit};

fn data_cid(n: u8) -> Cid {
    cid_for_cbor(&cbor::encode(&Value::Integer(i64::from(n))))
}

fn unsigned() -> UnsignedCommit {
    UnsignedCommit::new(
        "did:plc:ewvi7nxzyoun6zhxrhs64oiz".parse().unwrap(),
        data_cid(1),
        "3jzfcijpj2z2a".parse().unwrap(),
    )
}

/// The commit as a generic map, to tamper with at the data-model level.
fn as_map(c: &Commit) -> BTreeMap<String, Value> {
    match cbor::decode(&c.encode()).unwrap() {
        Value::Map(m) => m,
        _ => unreachable!(),
    }
}

fn encode_map(m: BTreeMap<String, Value>) -> Vec<u8> {
    cbor::encode(&Value::Map(m))
}

#[test]
fn sign_and_verify_both_curves() {
    for curve in [Curve::K256, Curve::P256] {
        let key = Keypair::generate(curve);
        let commit = unsigned().sign(&key);
        assert_eq!(commit.sig.len(), 64);
        commit.verify(&key.public_key()).unwrap();
        // Round trip through bytes, then verify again.
        let bytes = commit.encode();
        let back = Commit::decode(&bytes).unwrap();
        assert_eq!(back, commit);
        assert_eq!(back.encode(), bytes);
        back.verify(&key.public_key()).unwrap();
        // The CID is the sha-256 of the signed bytes (checklist #37).
        assert_eq!(commit.cid(), cid_for_cbor(&bytes));
        assert_eq!(commit.to_block(), (commit.cid(), bytes));
        // Wrong key fails.
        let other = Keypair::generate(curve);
        assert!(matches!(
            commit.verify(&other.public_key()),
            Err(CommitError::BadSignature(_))
        ));
    }
}

#[test]
fn tampered_fields_fail_verification() {
    let key = Keypair::generate(Curve::K256);
    let commit = unsigned().sign(&key);
    let pk = key.public_key();
    let mut cases: Vec<(&str, Commit)> = Vec::new();
    let mut c = commit.clone();
    c.unsigned.did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa".parse().unwrap();
    cases.push(("did", c));
    let mut c = commit.clone();
    c.unsigned.rev = "3jzfcijpj2z2b".parse().unwrap();
    cases.push(("rev", c));
    let mut c = commit.clone();
    c.unsigned.data = data_cid(2);
    cases.push(("data", c));
    let mut c = commit.clone();
    c.unsigned.prev = Some(data_cid(3));
    cases.push(("prev", c));
    let mut c = commit.clone();
    c.sig[10] ^= 1;
    cases.push(("sig", c));
    let mut c = commit.clone();
    c.sig.truncate(63);
    cases.push(("short sig", c));
    for (name, c) in &cases {
        assert!(c.verify(&pk).is_err(), "tampered {name} still verifies");
        // Tampered commits still encode/decode: only verification catches them.
        assert_eq!(&Commit::decode(&c.encode()).unwrap(), c);
    }
}

#[test]
fn canonical_key_order_and_prev_present() {
    let key = Keypair::generate(Curve::P256);
    let bytes = unsigned().sign(&key).encode();
    // Map of 6, keys in length-then-bytewise order: did, rev, sig, data, prev, version.
    let mut r = cbor::Reader::new(&bytes);
    assert_eq!(r.read_map_len().unwrap(), 6);
    let mut keys = Vec::new();
    for _ in 0..6 {
        keys.push(r.read_text().unwrap().to_owned());
        r.skip_value(4).unwrap();
    }
    assert_eq!(keys, ["did", "rev", "sig", "data", "prev", "version"]);
    assert_eq!(
        cbor::decode(&bytes).unwrap().get("prev"),
        Some(&Value::Null)
    );
    // Our encoder matches the generic canonical encoder byte for byte.
    assert_eq!(cbor::encode(&cbor::decode(&bytes).unwrap()), bytes);
}

#[test]
fn unsigned_round_trip() {
    let mut u = unsigned();
    u.prev = Some(data_cid(9));
    let bytes = u.encode();
    assert_eq!(UnsignedCommit::decode(&bytes).unwrap(), u);
    assert_eq!(cbor::decode(&bytes).unwrap().as_map().unwrap().len(), 5);
    // An unsigned commit is not a signed one and vice versa.
    assert!(matches!(
        Commit::decode(&bytes),
        Err(CommitError::MissingField("sig"))
    ));
    let signed = u.clone().sign(&Keypair::generate(Curve::K256)).encode();
    assert!(
        matches!(UnsignedCommit::decode(&signed), Err(CommitError::UnknownField(f)) if f == "sig")
    );
    // Signing elsewhere and attaching the signature gives the same commit.
    let key = Keypair::generate(Curve::K256);
    let sig = key.sign(&u.encode()).to_vec();
    let c = u.with_signature(sig);
    c.verify(&key.public_key()).unwrap();
}

#[test]
fn strict_decode_rejects_bad_shapes() {
    let key = Keypair::generate(Curve::K256);
    let good = as_map(&unsigned().sign(&key));
    type Check = fn(&CommitError) -> bool;
    let edit = |f: &dyn Fn(&mut BTreeMap<String, Value>)| {
        let mut m = good.clone();
        f(&mut m);
        encode_map(m)
    };
    let sha512_data = {
        // CIDv1, dag-cbor, sha2-512 (0x13) with a 64-byte digest.
        let mut raw = vec![0x01, 0x71, 0x13, 0x40];
        raw.extend_from_slice(&[7u8; 64]);
        Cid::try_from(raw.as_slice()).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        (
            "missing prev",
            edit(&|m| {
                m.remove("prev");
            }),
            |e| matches!(e, CommitError::MissingField("prev")),
        ),
        (
            "missing did",
            edit(&|m| {
                m.remove("did");
            }),
            |e| matches!(e, CommitError::MissingField("did")),
        ),
        (
            "missing rev",
            edit(&|m| {
                m.remove("rev");
            }),
            |e| matches!(e, CommitError::MissingField("rev")),
        ),
        (
            "missing data",
            edit(&|m| {
                m.remove("data");
            }),
            |e| matches!(e, CommitError::MissingField("data")),
        ),
        (
            "missing sig",
            edit(&|m| {
                m.remove("sig");
            }),
            |e| matches!(e, CommitError::MissingField("sig")),
        ),
        (
            "missing version",
            edit(&|m| {
                m.remove("version");
            }),
            |e| matches!(e, CommitError::MissingField("version")),
        ),
        (
            "extra key",
            edit(&|m| {
                m.insert("extra".into(), Value::Null);
            }),
            |e| matches!(e, CommitError::UnknownField(k) if k == "extra"),
        ),
        (
            "version 2",
            edit(&|m| {
                m.insert("version".into(), Value::Integer(2));
            }),
            |e| matches!(e, CommitError::UnsupportedVersion(2)),
        ),
        (
            "version as string",
            edit(&|m| {
                m.insert("version".into(), Value::String("3".into()));
            }),
            |e| matches!(e, CommitError::Cbor(_)),
        ),
        (
            "bad did",
            edit(&|m| {
                m.insert("did".into(), Value::String("plc:abc".into()));
            }),
            |e| matches!(e, CommitError::InvalidDid(_)),
        ),
        (
            "bad rev",
            edit(&|m| {
                m.insert("rev".into(), Value::String("notatid".into()));
            }),
            |e| matches!(e, CommitError::InvalidRev(_)),
        ),
        (
            "raw-codec data",
            edit(&|m| {
                m.insert("data".into(), Value::Link(cid_for_raw(b"x")));
            }),
            |e| matches!(e, CommitError::NotBlessed { field: "data", .. }),
        ),
        (
            "sha-512 data",
            edit(&|m| {
                m.insert("data".into(), Value::Link(sha512_data));
            }),
            |e| matches!(e, CommitError::NotBlessed { field: "data", .. }),
        ),
        (
            "sha-512 prev",
            edit(&|m| {
                m.insert("prev".into(), Value::Link(sha512_data));
            }),
            |e| matches!(e, CommitError::NotBlessed { field: "prev", .. }),
        ),
        (
            "prev not a link",
            edit(&|m| {
                m.insert("prev".into(), Value::Integer(0));
            }),
            |e| matches!(e, CommitError::Cbor(_)),
        ),
        (
            "sig as text",
            edit(&|m| {
                m.insert("sig".into(), Value::String("x".into()));
            }),
            |e| matches!(e, CommitError::Cbor(_)),
        ),
        ("not a map", cbor::encode(&Value::List(vec![])), |e| {
            matches!(e, CommitError::Cbor(_))
        }),
        (
            "trailing bytes",
            {
                let mut v = encode_map(good.clone());
                v.push(0);
                v
            },
            |e| matches!(e, CommitError::Cbor(_)),
        ),
        (
            "keys out of order",
            {
                // did, rev, sig, data, prev, version re-ordered: version first.
                let mut w = cbor::Writer::new();
                w.map(6);
                w.text("version");
                w.uint(3);
                for k in ["did", "rev", "sig", "data", "prev"] {
                    w.text(k);
                    w.value(&good[k]);
                }
                w.into_bytes()
            },
            |e| matches!(e, CommitError::Cbor(_)),
        ),
        ("huge", vec![0u8; 100_000], |e| {
            matches!(e, CommitError::TooLarge)
        }),
    ];
    for (name, bytes, check) in &cases {
        match Commit::decode(bytes) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => assert!(check(&e), "{name}: wrong error {e:?}"),
        }
    }
    println!("commit strict-decode cases: {}", cases.len());
    // The untouched map decodes.
    Commit::decode(&encode_map(good)).unwrap();
}
