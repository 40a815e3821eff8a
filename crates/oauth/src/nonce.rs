//! Server-issued DPoP nonces (RFC 9449 §8-9; checklist #156-#158).
//!
//! atproto makes nonces mandatory: every response to a DPoP request carries `DPoP-Nonce`, and
//! a proof without a current nonce is answered with `use_dpop_nonce`. The nonces here need no
//! storage and agree across processes sharing the secret: time is cut into periods, and the
//! nonce of period `n` is an HMAC-SHA256 of `n` under the secret, truncated to 128 bits and
//! base64url-encoded. A nonce is accepted during its own period and the ones either side of it,
//! so a client holding the previous nonce (or a server whose clock is a little ahead) is not
//! bounced; with the default period of 60 s a nonce lives at most three minutes, inside the
//! five the spec allows.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// The default rotation period.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(60);

/// Issues and checks DPoP nonces from a secret (see the module docs).
#[derive(Clone)]
pub struct NonceSource {
    secret: [u8; 32],
    period_secs: u64,
}

impl std::fmt::Debug for NonceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceSource")
            .field("period_secs", &self.period_secs)
            .finish_non_exhaustive()
    }
}

impl NonceSource {
    /// Nonces under `secret`, rotating every `period` (at least one second; a period over 100 s
    /// would let a nonce outlive the spec's five minutes, so it is capped there).
    pub fn new(secret: [u8; 32], period: Duration) -> NonceSource {
        NonceSource {
            secret,
            period_secs: period.as_secs().clamp(1, 100),
        }
    }

    /// The nonce to send now (`now_secs`: Unix seconds).
    pub fn current(&self, now_secs: i64) -> String {
        self.nonce_for(self.period_of(now_secs))
    }

    /// Whether `nonce` was issued in the current period or the one before or after it.
    pub fn is_valid(&self, nonce: &str, now_secs: i64) -> bool {
        let n = self.period_of(now_secs);
        // Every candidate is compared, so the time taken does not say which one matched.
        let mut ok = false;
        for p in [n.saturating_sub(1), n, n.saturating_add(1)] {
            ok |= bool::from(self.nonce_for(p).as_bytes().ct_eq(nonce.as_bytes()));
        }
        ok
    }

    fn period_of(&self, now_secs: i64) -> u64 {
        u64::try_from(now_secs).unwrap_or(0) / self.period_secs
    }

    fn nonce_for(&self, period: u64) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"atproto-dpop-nonce");
        mac.update(&period.to_be_bytes());
        let tag = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&tag[..16])
    }
}
