//! Property tests of sign/verify on both curves: signatures verify, are always low-S
//! (checklist #18), and any flipped bit or the high-S twin is rejected.

use crypto::{CryptoError, Curve, Keypair};
use proptest::prelude::*;

use crate::{half_order, high_s_twin};

fn curve() -> impl Strategy<Value = Curve> {
    prop_oneof![Just(Curve::P256), Just(Curve::K256)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn sign_then_verify(
        curve in curve(),
        secret in any::<[u8; 32]>(),
        msg in proptest::collection::vec(any::<u8>(), 0..200),
        flip in 0usize..512,
    ) {
        let key = Keypair::from_private_bytes(curve, &secret);
        prop_assume!(key.is_ok()); // zero or >= n: vanishingly rare
        let key = key.unwrap();
        let public = key.public_key();
        let sig = key.sign(&msg);

        prop_assert_eq!(public.verify(&msg, &sig), Ok(()));
        // checklist #18: s <= n/2, compared as big-endian bytes.
        prop_assert!(sig[32..] <= half_order(curve)[..], "high-S signature emitted");

        let mut bad = sig;
        bad[flip / 8] ^= 1 << (flip % 8);
        prop_assert!(public.verify(&msg, &bad).is_err());

        let mut other = msg.clone();
        other.push(0);
        prop_assert_eq!(public.verify(&other, &sig), Err(CryptoError::BadSignature));

        let twin = high_s_twin(curve, &sig);
        prop_assert_eq!(public.verify(&msg, &twin), Err(CryptoError::HighS));
        prop_assert_eq!(public.verify_allow_high_s(&msg, &twin), Ok(()));
    }
}

/// checklist #18: many signatures from fresh random keys, all low-S. 10,000 in release builds
/// (`cargo test -p crypto --release`), fewer in debug builds to keep them quick.
#[test]
fn many_signatures_are_low_s() {
    let n = if cfg!(debug_assertions) {
        1_000
    } else {
        10_000
    };
    for curve in Curve::ALL {
        let half = half_order(curve);
        let key = Keypair::generate(curve);
        for i in 0..n {
            let sig = key.sign(format!("message {i}").as_bytes());
            assert!(sig[32..] <= half[..], "{curve}: high-S signature #{i}");
        }
    }
    println!("many_signatures_are_low_s: {n} signatures per curve");
}

#[test]
fn signing_is_deterministic_and_keys_differ() {
    for curve in Curve::ALL {
        let key = Keypair::generate(curve);
        assert_eq!(key.sign(b"abc"), key.sign(b"abc"));
        assert_eq!(key.sign(b"abc"), key.sign_digest(&crypto::sha256(b"abc")));
        let other = Keypair::generate(curve);
        assert_ne!(key.public_key(), other.public_key());
        assert_eq!(
            other.public_key().verify(b"abc", &key.sign(b"abc")),
            Err(CryptoError::BadSignature)
        );
    }
}

#[test]
fn signatures_do_not_cross_curves() {
    let p = Keypair::from_private_bytes(Curve::P256, &[7; 32]).unwrap();
    let k = Keypair::from_private_bytes(Curve::K256, &[7; 32]).unwrap();
    assert!(k.public_key().verify(b"x", &p.sign(b"x")).is_err());
    assert!(p.public_key().verify(b"x", &k.sign(b"x")).is_err());
}

#[test]
fn malformed_signatures_are_rejected_with_clear_errors() {
    let key = Keypair::generate(Curve::P256);
    let public = key.public_key();
    let sig = key.sign(b"m");
    let der_like = [0x30u8; 71];
    let err = public.verify(b"m", &der_like).unwrap_err();
    assert_eq!(err, CryptoError::SignatureLength { len: 71 });
    assert!(
        err.to_string()
            .contains("signature must be 64 bytes (DER is not accepted)")
    );
    assert!(public.verify(b"m", &sig[..63]).is_err());
    assert!(public.verify(b"m", &[]).is_err());
    // r = 0 and s = 0 are out of range.
    let mut zero_r = sig;
    zero_r[..32].fill(0);
    assert_eq!(
        public.verify(b"m", &zero_r),
        Err(CryptoError::MalformedSignature)
    );
    let mut zero_s = sig;
    zero_s[32..].fill(0);
    assert_eq!(
        public.verify(b"m", &zero_s),
        Err(CryptoError::MalformedSignature)
    );
    // s = n is out of range.
    let mut s_is_n = sig;
    s_is_n[32..].copy_from_slice(&crate::order(Curve::P256));
    assert_eq!(
        public.verify(b"m", &s_is_n),
        Err(CryptoError::MalformedSignature)
    );
    assert_eq!(CryptoError::HighS.to_string(), "high-S signature rejected");
}
