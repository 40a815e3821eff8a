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

#[test]
fn hashes_interoperate_with_the_argon2_crate_phc_api() {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};
    // Rows written before the memory pool (by the crate's own PHC API) still verify, and ours
    // verify with the crate's verifier: same algorithm, parameters, salt and output.
    let params = argon2::Params::new(64, 1, 1, None).expect("params");
    let crate_hasher =
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::from_b64("c29tZXNhbHRzb21lc2FsdA").expect("salt");
    let theirs = crate_hasher
        .hash_password(b"correct horse", &salt)
        .expect("hash")
        .to_string();
    assert!(verify_password("correct horse", &theirs));
    assert!(!verify_password("correct horsf", &theirs));

    let ours = hash_password("battery staple", PasswordCost::InsecureFastForTests).expect("hash");
    let parsed = PasswordHash::new(&ours).expect("our PHC string parses");
    assert!(
        argon2::Argon2::default()
            .verify_password(b"battery staple", &parsed)
            .is_ok()
    );
    assert!(
        argon2::Argon2::default()
            .verify_password(b"battery stapler", &parsed)
            .is_err()
    );
}

#[test]
fn verify_refuses_hashes_with_absurd_memory_cost() {
    // m = 4 GiB: never allocated, never verifies.
    let phc = "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$\
               AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert!(!verify_password("x", phc));
}

#[test]
fn concurrent_hashes_share_a_bounded_pool_of_buffers() {
    // Many threads hashing at once never hold more than `max_concurrent` buffers, and the
    // buffers are kept for reuse instead of being freed after every hash.
    let threads: Vec<_> = (0..16)
        .map(|i| {
            std::thread::spawn(move || {
                let pw = format!("password-{i}");
                let h = hash_password(&pw, PasswordCost::InsecureFastForTests).expect("hash");
                assert!(verify_password(&pw, &h));
                let (lent, idle) = argon_memory::counts();
                assert!(lent + idle <= argon_memory::max_concurrent());
            })
        })
        .collect();
    for t in threads {
        t.join().expect("hashing thread");
    }
    let (lent, idle) = argon_memory::counts();
    assert!(idle >= 1 && lent + idle <= argon_memory::max_concurrent());
}
