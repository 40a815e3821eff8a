//! PKCE (RFC 7636) as atproto's OAuth profile requires it: `S256` only, `plain` refused
//! (checklist #153). The authorization request carries `code_challenge` (base64url of the
//! SHA-256 of a secret `code_verifier`), the token request the verifier; [`verify_s256`]
//! checks one against the other in constant time.
//!
//! Refusing a reused challenge (for about a day) and a reused code is state, kept by the caller
//! with the authorization request; this module only judges the strings.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq as _;

/// Why a PKCE parameter was refused. Every variant is an OAuth `invalid_request` at the
/// authorization request and `invalid_grant` at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// `code_challenge_method` other than `S256` (including `plain` and a missing one).
    #[error("code_challenge_method must be S256")]
    Method,
    /// A challenge that is not 43 base64url characters (a SHA-256 digest).
    #[error("code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)")]
    Challenge,
    /// A verifier outside RFC 7636's 43-128 characters of `[A-Za-z0-9-._~]`.
    #[error("code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~'")]
    Verifier,
    /// A well-formed verifier whose digest is not the challenge.
    #[error("code_verifier does not match the code_challenge")]
    Mismatch,
}

impl PkceError {
    /// The OAuth error code: `invalid_request` at the authorization request, `invalid_grant`
    /// when the verifier is checked at the token endpoint.
    pub fn error_code(&self) -> crate::OAuthErrorCode {
        match self {
            PkceError::Method | PkceError::Challenge => crate::OAuthErrorCode::InvalidRequest,
            PkceError::Verifier | PkceError::Mismatch => crate::OAuthErrorCode::InvalidGrant,
        }
    }
}

/// Checks an authorization request's `code_challenge_method` and `code_challenge`: the method
/// must be `S256` (a missing method means `plain` in RFC 7636, so it is refused too) and the
/// challenge a base64url SHA-256 digest.
pub fn check_challenge(method: Option<&str>, challenge: &str) -> Result<(), PkceError> {
    if method != Some("S256") {
        return Err(PkceError::Method);
    }
    match URL_SAFE_NO_PAD.decode(challenge) {
        Ok(digest) if digest.len() == 32 && challenge.len() == 43 => Ok(()),
        _ => Err(PkceError::Challenge),
    }
}

/// The `S256` challenge for a verifier: base64url(SHA-256(verifier)), no padding.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(crypto::sha256(verifier.as_bytes()))
}

/// Checks a token request's `code_verifier` against the challenge stored with the code.
pub fn verify_s256(verifier: &str, challenge: &str) -> Result<(), PkceError> {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return Err(PkceError::Verifier);
    }
    let expected = s256_challenge(verifier);
    if bool::from(expected.as_bytes().ct_eq(challenge.as_bytes())) {
        Ok(())
    } else {
        Err(PkceError::Mismatch)
    }
}
