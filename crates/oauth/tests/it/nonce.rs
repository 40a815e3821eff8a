//! DPoP nonces (checklist #156-#158): rotation, the neighbouring periods, other secrets.

use std::time::Duration;

use oauth::nonce::NonceSource;

const T: i64 = 1_800_000_000; // a multiple of 60

#[test]
fn checklist_158_nonces_rotate_and_recent_ones_are_accepted() {
    let source = NonceSource::new([7; 32], Duration::from_secs(60));
    let n = source.current(T);
    assert_eq!(source.current(T + 59), n, "same period, same nonce");
    assert_ne!(source.current(T + 60), n, "rotated after the period");
    assert_eq!(n.len(), 22, "128 bits, base64url");
    // Accepted in its own period and the ones either side; not two periods later.
    assert!(source.is_valid(&n, T));
    assert!(source.is_valid(&n, T + 119));
    assert!(source.is_valid(&n, T - 60));
    assert!(!source.is_valid(&n, T + 120));
    assert!(!source.is_valid(&n, T - 61));
    assert!(!source.is_valid("", T));
    assert!(!source.is_valid("not-a-nonce", T));
}

#[test]
fn checklist_158_nonces_depend_on_the_secret_and_live_under_five_minutes() {
    let a = NonceSource::new([1; 32], Duration::from_secs(60));
    let b = NonceSource::new([2; 32], Duration::from_secs(60));
    assert_ne!(a.current(T), b.current(T));
    assert!(!b.is_valid(&a.current(T), T));
    // Two processes with one secret agree.
    let a2 = NonceSource::new([1; 32], Duration::from_secs(60));
    assert!(a2.is_valid(&a.current(T), T));
    // A period asked for beyond 100 s is capped, so no nonce outlives five minutes.
    let slow = NonceSource::new([1; 32], Duration::from_secs(3600));
    let n = slow.current(T);
    assert!(!slow.is_valid(&n, T + 300));
}
