//! JWK (RFC 7517/7518) encoding of EC keys and the RFC 7638 thumbprint, for OAuth and DPoP.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::{CryptoError, Curve};

/// `{"kty":"EC","crv":..,"x":..,"y":..}` from an uncompressed SEC1 point (`04 ‖ x ‖ y`).
pub(crate) fn public_jwk(curve: Curve, uncompressed: &[u8; 65]) -> Value {
    json!({
        "kty": "EC",
        "crv": curve.jwk_crv(),
        "x": URL_SAFE_NO_PAD.encode(&uncompressed[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&uncompressed[33..65]),
    })
}

/// RFC 7638 thumbprint: base64url(sha256 of the required members in lexicographic order, no
/// whitespace). For EC keys the members are `crv`, `kty`, `x`, `y`.
pub(crate) fn thumbprint(curve: Curve, uncompressed: &[u8; 65]) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        curve.jwk_crv(),
        URL_SAFE_NO_PAD.encode(&uncompressed[1..33]),
        URL_SAFE_NO_PAD.encode(&uncompressed[33..65]),
    );
    URL_SAFE_NO_PAD.encode(crate::sha256(canonical.as_bytes()))
}

/// The curve and uncompressed SEC1 point of a public EC JWK. Rejects JWKs that carry a private
/// `d` member: a public key slot (a DPoP header, a JWKS) must never hold one.
pub(crate) fn parse_public(jwk: &Value) -> Result<(Curve, [u8; 65]), CryptoError> {
    let obj = jwk
        .as_object()
        .ok_or(CryptoError::InvalidJwk("not a JSON object"))?;
    if obj.get("kty").and_then(Value::as_str) != Some("EC") {
        return Err(CryptoError::InvalidJwk("kty must be \"EC\""));
    }
    if obj.contains_key("d") {
        return Err(CryptoError::InvalidJwk(
            "public JWK must not contain private member \"d\"",
        ));
    }
    let crv = obj
        .get("crv")
        .and_then(Value::as_str)
        .ok_or(CryptoError::InvalidJwk("missing crv"))?;
    let curve = Curve::from_jwk_crv(crv).ok_or(CryptoError::InvalidJwk(
        "crv must be \"P-256\" or \"secp256k1\"",
    ))?;
    let mut point = [0u8; 65];
    point[0] = 0x04;
    point[1..33].copy_from_slice(&coordinate(obj.get("x"))?);
    point[33..65].copy_from_slice(&coordinate(obj.get("y"))?);
    Ok((curve, point))
}

fn coordinate(value: Option<&Value>) -> Result<[u8; 32], CryptoError> {
    let text = value
        .and_then(Value::as_str)
        .ok_or(CryptoError::InvalidJwk("missing x or y"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| CryptoError::InvalidJwk("x and y must be base64url without padding"))?;
    bytes
        .try_into()
        .map_err(|_| CryptoError::InvalidJwk("x and y must be 32 bytes"))
}
