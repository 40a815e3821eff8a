//! [`Keypair`]: a private signing key on either curve. Signs the SHA-256 digest and always
//! emits low-S compact signatures (checklist #17, #18).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use rand_core::OsRng;

use crate::{CryptoError, Curve, PublicKey, Zeroizing};

/// A private key on P-256 or K-256. The secret is zeroized on drop; `Debug` prints only the
/// curve and the public `did:key`.
#[derive(Clone)]
pub struct Keypair(Inner);

#[derive(Clone)]
enum Inner {
    P256(p256::ecdsa::SigningKey),
    K256(k256::ecdsa::SigningKey),
}

impl Keypair {
    /// A fresh random key from the operating system's RNG.
    pub fn generate(curve: Curve) -> Keypair {
        Keypair(match curve {
            Curve::P256 => Inner::P256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            Curve::K256 => Inner::K256(k256::ecdsa::SigningKey::random(&mut OsRng)),
        })
    }

    /// Loads a private key from its 32-byte big-endian scalar, which must be in `1..n`.
    pub fn from_private_bytes(curve: Curve, bytes: &[u8]) -> Result<Keypair, CryptoError> {
        if bytes.len() != 32 {
            return Err(CryptoError::InvalidPrivateKey {
                curve,
                reason: "must be exactly 32 bytes",
            });
        }
        let out_of_range = |_| CryptoError::InvalidPrivateKey {
            curve,
            reason: "scalar is zero or not below the curve order",
        };
        Ok(Keypair(match curve {
            Curve::P256 => {
                Inner::P256(p256::ecdsa::SigningKey::from_slice(bytes).map_err(out_of_range)?)
            }
            Curve::K256 => {
                Inner::K256(k256::ecdsa::SigningKey::from_slice(bytes).map_err(out_of_range)?)
            }
        }))
    }

    /// The 32-byte big-endian private scalar, for the caller's encrypted key storage. The
    /// buffer is wiped when dropped.
    pub fn private_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        match &self.0 {
            Inner::P256(key) => out.copy_from_slice(&key.to_bytes()),
            Inner::K256(key) => out.copy_from_slice(&key.to_bytes()),
        }
        out
    }

    /// The curve this key is on.
    pub fn curve(&self) -> Curve {
        match &self.0 {
            Inner::P256(_) => Curve::P256,
            Inner::K256(_) => Curve::K256,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match &self.0 {
            Inner::P256(key) => PublicKey::from_p256(*key.verifying_key()),
            Inner::K256(key) => PublicKey::from_k256(*key.verifying_key()),
        }
    }

    /// Hashes `msg` with SHA-256 and signs the digest: deterministic (RFC 6979) ECDSA,
    /// normalised to low S, as 64-byte compact `r‖s` (checklist #17, #18).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.sign_digest(&crate::sha256(msg))
    }

    /// Signs an existing SHA-256 digest; same output rules as [`Keypair::sign`].
    pub fn sign_digest(&self, digest: &[u8; 32]) -> [u8; 64] {
        // `sign_prehash` only fails for a prehash shorter than half the field size; ours is
        // always 32 bytes, so the error branch is unreachable and not input-dependent.
        const INFALLIBLE: &str = "a 32-byte prehash is always accepted";
        match &self.0 {
            Inner::P256(key) => {
                let sig: p256::ecdsa::Signature = key.sign_prehash(digest).expect(INFALLIBLE);
                sig.normalize_s().unwrap_or(sig).to_bytes().into()
            }
            Inner::K256(key) => {
                let sig: k256::ecdsa::Signature = key.sign_prehash(digest).expect(INFALLIBLE);
                sig.normalize_s().unwrap_or(sig).to_bytes().into()
            }
        }
    }

    /// The private JWK: the public members plus `d` (base64url, no padding). Contains the
    /// secret; meant for OAuth/DPoP signing libraries, never for logs or JWKS documents.
    pub fn to_jwk_private(&self) -> serde_json::Value {
        let mut jwk = self.public_key().to_jwk();
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert(
                "d".to_owned(),
                URL_SAFE_NO_PAD
                    .encode(self.private_bytes().as_slice())
                    .into(),
            );
        }
        jwk
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("curve", &self.curve())
            .field("public", &self.public_key().to_did_key())
            .finish_non_exhaustive()
    }
}
