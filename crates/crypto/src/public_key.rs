//! [`PublicKey`]: strict signature verification and the public key encodings (multikey,
//! `did:key`, legacy multibase, SEC1, JWK).

use std::fmt;
use std::hash::{Hash, Hasher};

use p256::ecdsa::signature::hazmat::PrehashVerifier;

use crate::{CryptoError, Curve, jwk, multikey};

const DID_KEY_PREFIX: &str = "did:key:";

/// A P-256 or K-256 public key.
///
/// Equality and hashing are by curve and point. `Debug` and `Display` print the `did:key`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(Inner);

#[derive(Clone, PartialEq, Eq)]
enum Inner {
    P256(p256::ecdsa::VerifyingKey),
    K256(k256::ecdsa::VerifyingKey),
}

/// Whether verification tolerates high-S signatures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HighS {
    Reject,
    Allow,
}

impl PublicKey {
    pub(crate) fn from_p256(key: p256::ecdsa::VerifyingKey) -> PublicKey {
        PublicKey(Inner::P256(key))
    }

    pub(crate) fn from_k256(key: k256::ecdsa::VerifyingKey) -> PublicKey {
        PublicKey(Inner::K256(key))
    }

    /// The curve this key is on.
    pub fn curve(&self) -> Curve {
        match &self.0 {
            Inner::P256(_) => Curve::P256,
            Inner::K256(_) => Curve::K256,
        }
    }

    /// Verifies `sig` over `sha256(msg)`: the atproto rule for commits, PLC operations and
    /// service JWTs. Accepts only 64-byte compact `r‖s` with low S (checklist #18, #19); the
    /// check is the ECDSA verify routine, never a byte comparison (checklist #20).
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        self.verify_digest(&crate::sha256(msg), sig)
    }

    /// Like [`PublicKey::verify`], for a message already hashed with SHA-256.
    pub fn verify_digest(&self, digest: &[u8; 32], sig: &[u8]) -> Result<(), CryptoError> {
        self.verify_inner(digest, sig, HighS::Reject)
    }

    /// Like [`PublicKey::verify`] but also accepts high-S signatures. Only for JWS made by
    /// third parties (DPoP proofs, OAuth client assertions), where browsers' WebCrypto emits
    /// high S about half the time; never for repo commits, PLC operations or service JWTs.
    pub fn verify_allow_high_s(&self, msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        self.verify_inner(&crate::sha256(msg), sig, HighS::Allow)
    }

    fn verify_inner(
        &self,
        digest: &[u8; 32],
        sig: &[u8],
        high_s: HighS,
    ) -> Result<(), CryptoError> {
        if sig.len() != 64 {
            return Err(CryptoError::SignatureLength { len: sig.len() });
        }
        macro_rules! verify_with {
            ($curve:ident, $key:expr) => {{
                let parsed = $curve::ecdsa::Signature::from_slice(sig)
                    .map_err(|_| CryptoError::MalformedSignature)?;
                let parsed = match parsed.normalize_s() {
                    None => parsed,
                    Some(low) if high_s == HighS::Allow => low,
                    Some(_) => return Err(CryptoError::HighS),
                };
                $key.verify_prehash(digest, &parsed)
                    .map_err(|_| CryptoError::BadSignature)
            }};
        }
        match &self.0 {
            Inner::P256(key) => verify_with!(p256, key),
            Inner::K256(key) => verify_with!(k256, key),
        }
    }

    /// Parses a SEC1 point (33-byte compressed or 65-byte uncompressed) on `curve`.
    pub fn from_sec1_bytes(curve: Curve, bytes: &[u8]) -> Result<PublicKey, CryptoError> {
        let invalid = |_| CryptoError::InvalidPublicKey { curve };
        Ok(match curve {
            Curve::P256 => PublicKey::from_p256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(invalid)?,
            ),
            Curve::K256 => PublicKey::from_k256(
                k256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(invalid)?,
            ),
        })
    }

    /// The 33-byte compressed SEC1 point.
    pub fn compressed_bytes(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        match &self.0 {
            Inner::P256(key) => out.copy_from_slice(key.to_encoded_point(true).as_bytes()),
            Inner::K256(key) => out.copy_from_slice(key.to_encoded_point(true).as_bytes()),
        }
        out
    }

    /// The 65-byte uncompressed SEC1 point (`04 ‖ x ‖ y`).
    pub fn uncompressed_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        match &self.0 {
            Inner::P256(key) => out.copy_from_slice(key.to_encoded_point(false).as_bytes()),
            Inner::K256(key) => out.copy_from_slice(key.to_encoded_point(false).as_bytes()),
        }
        out
    }

    /// The multikey: `z` + base58btc(multicodec varint ‖ compressed point), as used in the
    /// `publicKeyMultibase` of a `Multikey` verification method (checklist #21).
    pub fn to_multikey(&self) -> String {
        multikey::encode(self.curve(), &self.compressed_bytes())
    }

    /// Parses a multikey. Only compressed points are accepted, as the spec requires.
    pub fn from_multikey(s: &str) -> Result<PublicKey, CryptoError> {
        let (curve, key_bytes) = multikey::decode(s)?;
        if key_bytes.len() != 33 {
            return Err(CryptoError::InvalidPublicKey { curve });
        }
        PublicKey::from_sec1_bytes(curve, &key_bytes)
    }

    /// `did:key:` + the multikey.
    pub fn to_did_key(&self) -> String {
        format!("{DID_KEY_PREFIX}{}", self.to_multikey())
    }

    /// Parses a `did:key` for a P-256 or K-256 key.
    pub fn from_did_key(s: &str) -> Result<PublicKey, CryptoError> {
        let multikey = s
            .strip_prefix(DID_KEY_PREFIX)
            .ok_or(CryptoError::NotDidKey)?;
        PublicKey::from_multikey(multikey)
    }

    /// Parses the legacy DID-document form: `z` + base58btc of the bare SEC1 point with no
    /// multicodec, the curve coming from the verification method type (see
    /// [`Curve::from_legacy_did_doc_type`]). Accepts compressed and uncompressed points.
    /// Parse-only: we never emit this form (checklist #22).
    pub fn from_legacy_multibase(curve: Curve, s: &str) -> Result<PublicKey, CryptoError> {
        let bytes = multikey::decode_base58btc(s)?;
        PublicKey::from_sec1_bytes(curve, &bytes)
    }

    /// The public JWK: `{"kty":"EC","crv":"P-256"|"secp256k1","x":..,"y":..}`, coordinates in
    /// base64url without padding.
    pub fn to_jwk(&self) -> serde_json::Value {
        jwk::public_jwk(self.curve(), &self.uncompressed_bytes())
    }

    /// Parses a public EC JWK on P-256 or K-256. Other members (`alg`, `kid`, `use`) are
    /// ignored; a JWK carrying the private `d` is rejected.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<PublicKey, CryptoError> {
        let (curve, point) = jwk::parse_public(jwk)?;
        PublicKey::from_sec1_bytes(curve, &point)
    }

    /// The RFC 7638 JWK thumbprint (base64url SHA-256), as used for DPoP `jkt`.
    pub fn jwk_thumbprint(&self) -> String {
        jwk::thumbprint(self.curve(), &self.uncompressed_bytes())
    }
}

impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.curve().hash(state);
        self.compressed_bytes().hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_did_key())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_did_key())
    }
}
