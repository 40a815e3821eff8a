//! Integration tests for the crypto crate: the shared atproto interop vectors (same across
//! implementations), property tests of sign/verify, and the key encodings.

mod encodings;
mod props;
mod ts_interop;
mod vectors;

use crypto::Curve;

/// floor(n / 2) for each curve, big-endian: a signature is low-S iff s <= this (checklist #18).
pub(crate) fn half_order(curve: Curve) -> [u8; 32] {
    let hex = match curve {
        Curve::P256 => "7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8",
        Curve::K256 => "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0",
    };
    hex::decode(hex).unwrap().try_into().unwrap()
}

/// The curve order n, big-endian.
pub(crate) fn order(curve: Curve) -> [u8; 32] {
    let hex = match curve {
        Curve::P256 => "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
        Curve::K256 => "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
    };
    hex::decode(hex).unwrap().try_into().unwrap()
}

/// The high-S twin of a compact signature: (r, n - s). Computed here with plain big-endian
/// arithmetic, independently of the library under test.
pub(crate) fn high_s_twin(curve: Curve, sig: &[u8; 64]) -> [u8; 64] {
    let n = order(curve);
    let mut out = *sig;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(n[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[32 + i] = d as u8;
    }
    assert_eq!(borrow, 0, "s must be below n");
    out
}
