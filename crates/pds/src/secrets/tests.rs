//! Unit tests for sealing, password hashing and token shapes.

use super::*;

#[test]
fn seal_open_round_trip_and_binds_owner() {
    let b = SecretBox::new(&SecretKey::generate());
    let sealed = b.seal(b"key bytes", "did:plc:alice");
    assert_eq!(
        &b.open(&sealed, "did:plc:alice").expect("opens")[..],
        b"key bytes"
    );
    assert!(b.open(&sealed, "did:plc:bob").is_err(), "owner is bound");
    let other = SecretBox::new(&SecretKey::generate());
    assert!(
        other.open(&sealed, "did:plc:alice").is_err(),
        "key is bound"
    );
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(b.open(&tampered, "did:plc:alice").is_err());
    assert!(b.open(&[], "x").is_err());
    assert!(b.open(&[1; 10], "x").is_err());
    assert_ne!(
        sealed,
        b.seal(b"key bytes", "did:plc:alice"),
        "random nonce"
    );
}

#[test]
fn debug_redacts() {
    let k = SecretKey::from_bytes([7; 32]);
    assert_eq!(format!("{k:?}"), "SecretKey(<redacted>)");
    assert_eq!(format!("{:?}", SecretBox::new(&k)), "SecretBox(<redacted>)");
}

#[test]
fn passwords_hash_and_verify() {
    let h = hash_password("hunter2", PasswordCost::InsecureFastForTests).expect("hash");
    assert!(h.starts_with("$argon2id$"));
    assert!(verify_password("hunter2", &h));
    assert!(!verify_password("hunter3", &h));
    assert!(!verify_password("hunter2", "not a hash"));
}

#[test]
fn app_password_shape() {
    let p = new_app_password();
    assert_eq!(p.len(), 19);
    let groups: Vec<&str> = p.split('-').collect();
    assert_eq!(groups.len(), 4);
    assert!(groups.iter().all(|g| g.len() == 4));
    assert!(
        p.bytes()
            .all(|c| c == b'-' || c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c))
    );
}
