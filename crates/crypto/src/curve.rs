//! The [`Curve`] enum and the per-curve names and codes used by the encodings (JWT `alg`, JWK
//! `crv`, multicodec, legacy DID-document verification method types).

use std::fmt;

/// An elliptic curve that atproto allows for signing keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Curve {
    /// NIST P-256 (secp256r1), JWT algorithm `ES256`.
    P256,
    /// secp256k1, JWT algorithm `ES256K`.
    K256,
}

impl Curve {
    /// Both curves, P-256 first.
    pub const ALL: [Curve; 2] = [Curve::P256, Curve::K256];

    /// The JWS/JWT `alg` name: `ES256` or `ES256K`.
    pub fn jwt_alg(self) -> &'static str {
        match self {
            Curve::P256 => "ES256",
            Curve::K256 => "ES256K",
        }
    }

    /// The curve for a JWS/JWT `alg` name (`ES256` or `ES256K`), if it is one of ours.
    pub fn from_jwt_alg(alg: &str) -> Option<Curve> {
        match alg {
            "ES256" => Some(Curve::P256),
            "ES256K" => Some(Curve::K256),
            _ => None,
        }
    }

    /// The JWK `crv` name: `P-256` or `secp256k1`.
    pub fn jwk_crv(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::K256 => "secp256k1",
        }
    }

    /// The curve for a JWK `crv` name (`P-256` or `secp256k1`), if it is one of ours.
    pub fn from_jwk_crv(crv: &str) -> Option<Curve> {
        match crv {
            "P-256" => Some(Curve::P256),
            "secp256k1" => Some(Curve::K256),
            _ => None,
        }
    }

    /// The multicodec code of this curve's public key: `0x1200` (p256-pub, varint `0x80 0x24`)
    /// or `0xe7` (secp256k1-pub, varint `0xe7 0x01`).
    pub fn multicodec(self) -> u64 {
        match self {
            Curve::P256 => 0x1200,
            Curve::K256 => 0xe7,
        }
    }

    /// The curve for a multicodec code, if it is one of ours.
    pub fn from_multicodec(code: u64) -> Option<Curve> {
        match code {
            0x1200 => Some(Curve::P256),
            0xe7 => Some(Curve::K256),
            _ => None,
        }
    }

    /// The legacy DID-document verification method type for this curve
    /// (`EcdsaSecp256r1VerificationKey2019` or `EcdsaSecp256k1VerificationKey2019`).
    /// Parse-only: new documents use `Multikey` (checklist #22).
    pub fn legacy_did_doc_type(self) -> &'static str {
        match self {
            Curve::P256 => "EcdsaSecp256r1VerificationKey2019",
            Curve::K256 => "EcdsaSecp256k1VerificationKey2019",
        }
    }

    /// The curve for a legacy DID-document verification method type, if it is one of ours.
    pub fn from_legacy_did_doc_type(ty: &str) -> Option<Curve> {
        match ty {
            "EcdsaSecp256r1VerificationKey2019" => Some(Curve::P256),
            "EcdsaSecp256k1VerificationKey2019" => Some(Curve::K256),
            _ => None,
        }
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Curve::P256 => "P-256",
            Curve::K256 => "K-256",
        })
    }
}
