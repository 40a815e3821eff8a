//! Secrets at rest and passwords: the server's 32-byte [`SecretKey`], [`SecretBox`]
//! (XChaCha20-Poly1305 with a random 24-byte nonce, the account DID as associated data, so a
//! sealed key copied onto another account's row does not open), argon2id password hashing with
//! a cost that tests can lower ([`PasswordCost`]), and random tokens.
//!
//! Nothing here logs or formats a secret: `Debug` of every secret-bearing type is redacted.
//! Sealed format: `0x01 ‖ nonce (24) ‖ ciphertext+tag`.

use argon2::password_hash::rand_core::OsRng as HashRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const SEALED_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Why a secret could not be opened or a password hashed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The sealed bytes are malformed, or were sealed under another key or for another owner.
    #[error("sealed secret does not open (wrong key, wrong owner or corrupt)")]
    Open,
    /// Password hashing failed (bad parameters).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// The server's 32-byte secret (from config, or generated on first start by the relay).
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// Wraps 32 key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> SecretKey {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        SecretKey(k)
    }

    /// The key bytes (to persist it; handle with care).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A subkey for one purpose: HMAC-SHA256(secret, label).
    pub(crate) fn derive(&self, label: &str) -> [u8; 32] {
        hmac_sha256(&self.0, label.as_bytes())
    }
}

/// HMAC-SHA256 of `msg` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .expect("HMAC accepts keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Seals and opens secrets under the server's key (see the module docs).
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<redacted>)")
    }
}

impl SecretBox {
    /// A box keyed by a subkey of `key` (so the raw server key is used for nothing else).
    pub fn new(key: &SecretKey) -> SecretBox {
        let sub = key.derive("pds secret box v1");
        SecretBox {
            cipher: XChaCha20Poly1305::new((&sub).into()),
        }
    }

    /// Encrypts `plaintext` for `owner` (associated data).
    pub fn seal(&self, plaintext: &[u8], owner: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: owner.as_bytes(),
        };
        // Encryption fails only for plaintexts above ~256 GiB.
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`SecretBox::seal`] produced for the same `owner`.
    pub fn open(
        &self,
        sealed: &[u8],
        owner: &str,
    ) -> Result<crypto::Zeroizing<Vec<u8>>, SecretError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != SEALED_VERSION {
            return Err(SecretError::Open);
        }
        let nonce = XNonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        let payload = Payload {
            msg: &sealed[1 + NONCE_LEN..],
            aad: owner.as_bytes(),
        };
        self.cipher
            .decrypt(nonce, payload)
            .map(crypto::Zeroizing::new)
            .map_err(|_| SecretError::Open)
    }
}

/// How expensive argon2id hashing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PasswordCost {
    /// OWASP's argon2id minimum (19 MiB, 2 passes): for production.
    #[default]
    Standard,
    /// Tiny parameters (8 KiB, 1 pass): for tests only.
    InsecureFastForTests,
}

fn argon2(cost: PasswordCost) -> Result<argon2::Argon2<'static>, SecretError> {
    let params = match cost {
        PasswordCost::Standard => argon2::Params::new(19 * 1024, 2, 1, None),
        PasswordCost::InsecureFastForTests => argon2::Params::new(8, 1, 1, None),
    }
    .map_err(|e| SecretError::Hash(e.to_string()))?;
    Ok(argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ))
}

/// Hashes a password with argon2id and a random salt (PHC string). CPU-heavy: call it from a
/// blocking task. The working memory comes from a bounded pool (see `argon_memory`).
pub fn hash_password(password: &str, cost: PasswordCost) -> Result<String, SecretError> {
    let hasher = argon2(cost)?;
    let salt = SaltString::generate(&mut HashRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .decode_b64(&mut salt_buf)
        .map_err(|e| SecretError::Hash(e.to_string()))?;
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    argon_memory::with_blocks(hasher.params().block_count(), |mem| {
        hasher.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, mem)
    })
    .map_err(|e| SecretError::Hash(e.to_string()))?;
    let output = Output::new(&out).map_err(|e| SecretError::Hash(e.to_string()))?;
    let params =
        ParamsString::try_from(hasher.params()).map_err(|e| SecretError::Hash(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Most argon2 block buffers a stored hash may ask for (256 MiB): a corrupt or hostile row
/// must not make verification allocate without bound.
const MAX_VERIFY_BLOCKS: usize = 256 * 1024;

/// Checks a password against a PHC string (the parameters come from the string; the
/// comparison is constant-time). A malformed hash never verifies.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_VERIFY_BLOCKS {
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let hasher = argon2::Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = argon_memory::with_blocks(blocks, |mem| {
        hasher.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, mem)
    });
    computed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
}

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex_lower(&b)
}

fn hex_lower(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(HEX[usize::from(x >> 4)] as char);
        s.push(HEX[usize::from(x & 15)] as char);
    }
    s
}

/// A new app password, `xxxx-xxxx-xxxx-xxxx` from `a-z2-7` (as the reference generates).
pub(crate) fn new_app_password() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut raw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let mut out = String::with_capacity(19);
    for (i, b) in raw.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[usize::from(b & 31)] as char);
    }
    out
}

mod argon_memory;

#[cfg(test)]
mod tests;
