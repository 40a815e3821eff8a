//! Verifying inter-service JWTs that another party signed with its DID's `#atproto` key, as
//! the reference XRPC server does (checklist #99, #134, #136): used by `createAccount` with a
//! bring-your-own DID, where the token proves the caller controls the DID.
//!
//! The checks run in the reference's order, each with its error name: shape (`BadJwt`), `typ`
//! not a session or DPoP type (`BadJwtType`), `exp` (`JwtExpired`), `lxm` (`BadJwtLexiconMethod`),
//! `iss` (`BadJwtIss`), signature with the issuer's current key (`BadJwtSignature`), then `aud`
//! (`BadJwtAudience`). Resolving the issuer's key needs the network, so the caller passes it in
//! as a closure; this module does no I/O. Signatures may be high-S (the reference accepts
//! malleable JWT signatures) but must be 64-byte compact ECDSA under the `alg` of the key.

use std::future::Future;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use syntax::Did;

/// Why a service JWT was refused. Every variant is a 401 in the reference;
/// [`ServiceAuthError::name`] is its XRPC error name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceAuthError {
    /// No bearer token was sent.
    #[error("missing jwt")]
    Missing,
    /// Not three base64url JSON parts with the required claims.
    #[error("poorly formatted jwt")]
    BadJwt,
    /// A session (`at+jwt`, `refresh+jwt`) or DPoP token.
    #[error("Invalid jwt type \"{0}\"")]
    BadJwtType(String),
    /// Past `exp`.
    #[error("jwt expired")]
    Expired,
    /// `aud` is not this service.
    #[error("jwt audience does not match service did")]
    BadAudience,
    /// `lxm` is absent or another method.
    #[error("{}", lxm_message(.got.as_deref(), .expected))]
    BadLexiconMethod {
        /// The method the token names, if any.
        got: Option<String>,
        /// The method being called.
        expected: String,
    },
    /// `iss` is not a DID (or `did#service`).
    #[error("jwt iss is not a valid did")]
    BadIss,
    /// The issuer's DID document could not be resolved or has no usable `#atproto` key.
    #[error("{0}")]
    UnresolvableIss(String),
    /// The signature does not verify with the issuer's key.
    #[error("jwt signature does not match jwt issuer")]
    BadSignature,
    /// A token with this `jti` was already accepted (checklist #136).
    #[error("jwt has already been used")]
    Replayed,
}

fn lxm_message(got: Option<&str>, expected: &str) -> String {
    match got {
        Some(_) => format!("bad jwt lexicon method (\"lxm\"). must match: {expected}"),
        None => format!("missing jwt lexicon method (\"lxm\"). must match: {expected}"),
    }
}

impl ServiceAuthError {
    /// The XRPC error name the reference sends (with status 401).
    pub fn name(&self) -> &'static str {
        match self {
            ServiceAuthError::Missing => "MissingJwt",
            ServiceAuthError::BadJwt => "BadJwt",
            ServiceAuthError::BadJwtType(_) => "BadJwtType",
            ServiceAuthError::Expired => "JwtExpired",
            ServiceAuthError::BadAudience => "BadJwtAudience",
            ServiceAuthError::BadLexiconMethod { .. } => "BadJwtLexiconMethod",
            ServiceAuthError::BadIss => "BadJwtIss",
            ServiceAuthError::UnresolvableIss(_) => "AuthenticationRequired",
            ServiceAuthError::BadSignature => "BadJwtSignature",
            ServiceAuthError::Replayed => "BadJwt",
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    exp: f64,
    #[serde(default)]
    lxm: Option<String>,
    #[serde(default)]
    jti: Option<String>,
}

/// What a verified service JWT says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedServiceJwt {
    /// The issuer DID (without any `#service` suffix).
    pub iss: Did,
    /// The `#service` suffix of `iss`, if any (`atproto_labeler`, ...).
    pub service: Option<String>,
    /// The audience.
    pub aud: String,
    /// The method the token is bound to.
    pub lxm: Option<String>,
    /// The token's unique id, if it has one (the reference's tokens do).
    pub jti: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

fn decode<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, ServiceAuthError> {
    let bytes = B64.decode(part).map_err(|_| ServiceAuthError::BadJwt)?;
    serde_json::from_slice(&bytes).map_err(|_| ServiceAuthError::BadJwt)
}

/// Verifies `token` for a call of method `lxm` on the service `aud` at `now` (seconds since the
/// epoch). `issuer_key` resolves the issuer DID to its current `#atproto` signing key (for a
/// `did#atproto_labeler` issuer the caller may pick `#atproto_label`; the service suffix is
/// passed along).
pub async fn verify_service_jwt<F, Fut>(
    token: &str,
    aud: &str,
    lxm: &str,
    now: i64,
    issuer_key: F,
) -> Result<VerifiedServiceJwt, ServiceAuthError>
where
    F: FnOnce(Did, Option<String>) -> Fut,
    Fut: Future<Output = Result<crypto::PublicKey, ServiceAuthError>>,
{
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ServiceAuthError::BadJwt);
    };
    let header: Header = decode(h)?;
    if let Some(typ) = header.typ.as_deref()
        && matches!(typ, "at+jwt" | "refresh+jwt" | "dpop+jwt")
    {
        return Err(ServiceAuthError::BadJwtType(typ.to_owned()));
    }
    let claims: Claims = decode(p)?;
    #[allow(clippy::cast_precision_loss)] // seconds since the epoch fit an f64 exactly
    if (now as f64) > claims.exp {
        return Err(ServiceAuthError::Expired);
    }
    if claims.lxm.as_deref() != Some(lxm) {
        return Err(ServiceAuthError::BadLexiconMethod {
            got: claims.lxm.clone(),
            expected: lxm.to_owned(),
        });
    }
    let (did, service) = match claims.iss.split_once('#') {
        Some((d, svc)) if !svc.is_empty() => (d, Some(svc.to_owned())),
        Some(_) => return Err(ServiceAuthError::BadIss),
        None => (claims.iss.as_str(), None),
    };
    let did: Did = did.parse().map_err(|_| ServiceAuthError::BadIss)?;
    let sig = B64.decode(s).map_err(|_| ServiceAuthError::BadSignature)?;
    let key = issuer_key(did.clone(), service.clone()).await?;
    if crypto::Curve::from_jwt_alg(&header.alg) != Some(key.curve()) {
        return Err(ServiceAuthError::BadSignature);
    }
    let signing_input = &token.as_bytes()[..h.len() + 1 + p.len()];
    key.verify_allow_high_s(signing_input, &sig)
        .map_err(|_| ServiceAuthError::BadSignature)?;
    if claims.aud != aud {
        return Err(ServiceAuthError::BadAudience);
    }
    #[allow(clippy::cast_possible_truncation)] // a finite exp in seconds fits an i64
    let exp = claims.exp.ceil() as i64;
    Ok(VerifiedServiceJwt {
        iss: did,
        service,
        aud: claims.aud,
        lxm: claims.lxm,
        jti: claims.jti,
        exp,
    })
}

/// Most `jti`s remembered at once; past it, a token is refused until older ones expire (a
/// flood of distinct valid tokens needs the issuer's key, so this only bounds memory).
const MAX_REMEMBERED: usize = 100_000;

/// The `jti`s of accepted service JWTs until they expire, so a token is accepted once
/// (checklist #136). Tokens without a `jti` cannot be tracked and are accepted as they are.
#[derive(Debug, Default)]
pub struct ReplayCache {
    seen: std::sync::Mutex<std::collections::HashMap<(Did, String), i64>>,
}

impl ReplayCache {
    /// Records `token`'s `jti` at `now` (seconds); [`ServiceAuthError::Replayed`] if it was
    /// already accepted and has not expired.
    pub fn accept(&self, token: &VerifiedServiceJwt, now: i64) -> Result<(), ServiceAuthError> {
        let Some(jti) = token.jti.as_ref() else {
            return Ok(());
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_REMEMBERED {
            seen.retain(|_, exp| *exp >= now);
            if seen.len() >= MAX_REMEMBERED {
                return Err(ServiceAuthError::Replayed);
            }
        }
        let key = (token.iss.clone(), jti.clone());
        match seen.get(&key) {
            Some(exp) if *exp >= now => Err(ServiceAuthError::Replayed),
            _ => {
                seen.insert(key, token.exp);
                Ok(())
            }
        }
    }
}

/// A service JWT signed by `key` (tests and tools: what another PDS's `getServiceAuth` would
/// return). `exp` and `now` are seconds since the epoch.
pub fn sign_service_jwt(
    key: &crypto::Keypair,
    iss: &Did,
    aud: &str,
    lxm: Option<&str>,
    now: i64,
    exp: i64,
) -> String {
    crate::jwt::service_jwt(key, iss, aud, lxm, now, exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &str = "did:web:pds.test";
    const LXM: &str = "com.atproto.server.createAccount";

    fn did() -> Did {
        "did:plc:ewvi7nxzyoun6zhxrhs64oiz".parse().unwrap()
    }

    async fn run(
        token: &str,
        key: &crypto::Keypair,
    ) -> Result<VerifiedServiceJwt, ServiceAuthError> {
        let pk = key.public_key();
        verify_service_jwt(token, AUD, LXM, 1_000, |_, _| async move { Ok(pk) }).await
    }

    #[tokio::test]
    async fn a_jti_is_accepted_once_until_it_expires() {
        let key = crypto::Keypair::generate(crypto::Curve::K256);
        let token = sign_service_jwt(&key, &did(), AUD, Some(LXM), 900, 1_060);
        let v = run(&token, &key).await.unwrap();
        assert!(v.jti.is_some(), "our tokens carry a jti");
        let cache = ReplayCache::default();
        cache.accept(&v, 1_000).unwrap();
        assert_eq!(cache.accept(&v, 1_001), Err(ServiceAuthError::Replayed));
        assert_eq!(ServiceAuthError::Replayed.name(), "BadJwt");
        let other = run(
            &sign_service_jwt(&key, &did(), AUD, Some(LXM), 900, 1_060),
            &key,
        )
        .await
        .unwrap();
        cache.accept(&other, 1_001).unwrap();
        // Once expired the entry no longer matters (the token itself is refused as expired).
        cache.accept(&v, 1_061).unwrap();
        let no_jti = VerifiedServiceJwt { jti: None, ..v };
        cache.accept(&no_jti, 1_000).unwrap();
        cache.accept(&no_jti, 1_000).unwrap();
    }

    #[tokio::test]
    async fn checks_in_reference_order() {
        let key = crypto::Keypair::generate(crypto::Curve::K256);
        let other = crypto::Keypair::generate(crypto::Curve::P256);
        let good = sign_service_jwt(&key, &did(), AUD, Some(LXM), 900, 1_060);
        let ok = run(&good, &key).await.unwrap();
        assert_eq!(ok.iss, did());
        let cases: Vec<(String, &crypto::Keypair, &str)> = vec![
            ("a.b".to_owned(), &key, "BadJwt"),
            (
                sign_service_jwt(&key, &did(), AUD, Some(LXM), 900, 999),
                &key,
                "JwtExpired",
            ),
            (
                sign_service_jwt(&key, &did(), AUD, None, 900, 1_060),
                &key,
                "BadJwtLexiconMethod",
            ),
            (
                sign_service_jwt(&key, &did(), AUD, Some("com.atproto.x"), 900, 1_060),
                &key,
                "BadJwtLexiconMethod",
            ),
            (good.clone(), &other, "BadJwtSignature"),
            (
                sign_service_jwt(&key, &did(), "did:web:other.test", Some(LXM), 900, 1_060),
                &key,
                "BadJwtAudience",
            ),
        ];
        for (token, k, name) in &cases {
            let err = run(token, k).await.unwrap_err();
            assert_eq!(err.name(), *name, "{err}");
        }
        println!("service_auth: {} refusal cases", cases.len());
    }
}
