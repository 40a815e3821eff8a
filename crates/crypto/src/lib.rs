//! atproto cryptography: the two curves atproto allows (P-256 / `ES256` and K-256 / `ES256K`),
//! low-S ECDSA signing and strict verification, and the public key encodings the protocol uses
//! (multikey and `did:key`, the legacy DID-document multibase form, and JWK for OAuth/DPoP).
//!
//! Only this crate touches elliptic-curve libraries; everything else in the workspace works with
//! [`Keypair`], [`PublicKey`] and [`Curve`]. It does no I/O and stores nothing: callers keep
//! [`Keypair::private_bytes`] in their own (encrypted) storage.
//!
//! Rules enforced here (see `docs/decisions/0002-crypto-library.md` and checklist section B):
//! - signing hashes with SHA-256 and signs the raw digest, always emitting low-S (checklist #17, #18);
//! - verification accepts only 64-byte compact `r‖s`, rejects DER and high-S (checklist #18, #19)
//!   and always goes through the ECDSA verify routine, never a byte comparison (checklist #20);
//! - multikeys use the compressed point behind a varint multicodec (checklist #21); the
//!   codec-less legacy form is parsed but never emitted (checklist #22).

mod curve;
mod error;
mod jwk;
mod keypair;
mod multikey;
mod public_key;

pub use curve::Curve;
pub use error::CryptoError;
pub use k256::elliptic_curve::zeroize::Zeroizing;
pub use keypair::Keypair;
pub use public_key::PublicKey;

/// SHA-256 of `bytes`: the digest atproto signs (commits, PLC operations, service JWTs).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
