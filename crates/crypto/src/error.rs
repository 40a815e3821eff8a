//! [`CryptoError`]: every way a key, an encoding or a signature can be rejected.

use crate::Curve;

/// Why a key, key encoding or signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The signature is not 64 bytes; DER-encoded signatures (70-72 bytes) land here (checklist #19).
    #[error("signature must be 64 bytes (DER is not accepted), got {len} bytes")]
    SignatureLength {
        /// Length of the rejected signature.
        len: usize,
    },
    /// The signature's `s` is above n/2 (checklist #18).
    #[error("high-S signature rejected")]
    HighS,
    /// `r` or `s` is zero or not below the curve order.
    #[error("malformed signature: r or s is out of range")]
    MalformedSignature,
    /// The signature is well-formed but does not verify against this key and message.
    #[error("signature does not verify")]
    BadSignature,
    /// A private key was not a 32-byte scalar in `1..n`.
    #[error("invalid {curve} private key: {reason}")]
    InvalidPrivateKey {
        /// Curve the key was meant for.
        curve: Curve,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// Public key bytes were not a valid compressed or uncompressed point on the curve.
    #[error("invalid {curve} public key: not a valid point encoding on the curve")]
    InvalidPublicKey {
        /// Curve the key was meant for.
        curve: Curve,
    },
    /// A multibase string did not use base58btc (`z` prefix) or was not valid base58.
    #[error("invalid multibase key: {0}")]
    InvalidMultibase(&'static str),
    /// The multicodec prefix of a multikey is not P-256 or K-256.
    #[error("unsupported multicodec 0x{0:x} (expected 0x1200 p256-pub or 0xe7 secp256k1-pub)")]
    UnsupportedMulticodec(u64),
    /// A did:key did not start with `did:key:`.
    #[error("not a did:key: must start with \"did:key:\"")]
    NotDidKey,
    /// A JWK was not an EC public key on one of our curves.
    #[error("invalid JWK: {0}")]
    InvalidJwk(&'static str),
}
