//! The secrets file `<data_dir>/secrets.toml`: the server's secret key and the PDS's PLC
//! rotation key (K-256), generated on first start when the configuration does not give them,
//! and written with 0600 permissions.
//!
//! Values given by the configuration win and are never written to the file. A value missing
//! from both is generated and the file is (re)written atomically: a temporary file created with
//! mode 0600, fsynced, then renamed over `secrets.toml`. Values are never logged; the log line
//! says only where the file is and what was generated. Two processes starting at the same
//! moment on an empty data directory are not supported (one would overwrite the other's file).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use crypto::{Curve, Keypair};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::config::{Config, SecretKey};

/// File name of the secrets file inside the data directory.
pub const SECRETS_FILE: &str = "secrets.toml";

/// The on-disk shape of the secrets file.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    /// 64 hex characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_key: Option<String>,
    /// K-256 private key, 64 hex characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    plc_rotation_key: Option<String>,
}

/// Why the secrets could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The file (or the data directory) could not be read or written.
    #[error("secrets file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file exists but is not a valid secrets file.
    #[error("secrets file {path} is invalid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (never the secret itself).
        message: String,
    },
}

/// Where a secret came from (for the start-up log line and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// Given by the configuration.
    Config,
    /// Read from the secrets file.
    File,
    /// Generated now and written to the secrets file.
    Generated,
}

/// The server's long-lived secrets. `Debug` redacts them.
#[derive(Clone)]
pub struct Secrets {
    /// Encrypts account signing keys and other secrets at rest; keys session tokens.
    pub secret_key: SecretKey,
    /// The PDS's PLC rotation key, listed in every DID it creates.
    pub plc_rotation_key: Keypair,
    /// Where `secret_key` came from.
    pub secret_key_source: KeySource,
    /// Where `plc_rotation_key` came from.
    pub plc_rotation_key_source: KeySource,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("secret_key", &self.secret_key)
            .field(
                "plc_rotation_key",
                &self.plc_rotation_key.public_key().to_did_key(),
            )
            .field("secret_key_source", &self.secret_key_source)
            .field("plc_rotation_key_source", &self.plc_rotation_key_source)
            .finish()
    }
}

impl Secrets {
    /// Fresh random secrets that are not saved anywhere (tests, throwaway servers).
    pub fn ephemeral() -> Secrets {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Secrets {
            secret_key: SecretKey::from_bytes(bytes),
            plc_rotation_key: Keypair::generate(Curve::K256),
            secret_key_source: KeySource::Generated,
            plc_rotation_key_source: KeySource::Generated,
        }
    }
}

/// Parses a K-256 private key from 64 hex characters.
pub fn rotation_key_from_hex(s: &str) -> Result<Keypair, String> {
    let bytes = crypto::Zeroizing::new(hex::decode(s.trim()).map_err(|e| format!("not hex: {e}"))?);
    if bytes.len() != 32 {
        return Err(format!(
            "must be 32 bytes (64 hex characters), got {}",
            bytes.len()
        ));
    }
    Keypair::from_private_bytes(Curve::K256, &bytes).map_err(|e| e.to_string())
}

/// Returns the server's secrets: configured values first, then the secrets file, then new
/// random values written to the file. Logs where they came from, never their values.
pub fn load_or_generate(config: &Config) -> Result<Secrets, SecretsError> {
    let path = config.secrets_path();
    let secrets = load_or_generate_at(
        &path,
        config.secret_key.as_ref(),
        config.plc_rotation_key.as_ref(),
    )?;
    for (what, source) in [
        ("secret key", secrets.secret_key_source),
        ("PLC rotation key", secrets.plc_rotation_key_source),
    ] {
        match source {
            KeySource::Config => tracing::info!("{what}: from configuration"),
            KeySource::File => {
                tracing::info!(path = %path.display(), "{what}: read from secrets file")
            }
            KeySource::Generated => tracing::info!(
                path = %path.display(),
                "{what}: generated a new one and saved it (keep this file private and backed up)"
            ),
        }
    }
    tracing::info!(
        did_key = %secrets.plc_rotation_key.public_key().to_did_key(),
        "PLC rotation key (public)"
    );
    Ok(secrets)
}

/// [`load_or_generate`] for an explicit file path and explicit configured values.
pub fn load_or_generate_at(
    path: &Path,
    configured_secret_key: Option<&SecretKey>,
    configured_rotation_key: Option<&Keypair>,
) -> Result<Secrets, SecretsError> {
    let io = |source| SecretsError::Io {
        path: path.to_owned(),
        source,
    };
    let invalid = |message: String| SecretsError::Invalid {
        path: path.to_owned(),
        message,
    };
    let mut file = match std::fs::read_to_string(path) {
        Ok(text) => {
            toml::from_str::<SecretsFile>(&text).map_err(|e| invalid(e.message().to_owned()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => SecretsFile::default(),
        Err(e) => return Err(io(e)),
    };
    let mut dirty = false;

    let (secret_key, secret_key_source) = match (configured_secret_key, &file.secret_key) {
        (Some(key), _) => (key.clone(), KeySource::Config),
        (None, Some(hex)) => (
            SecretKey::from_hex(hex).map_err(|m| invalid(format!("secret_key {m}")))?,
            KeySource::File,
        ),
        (None, None) => {
            let mut bytes = [0u8; 32];
            OsRng.fill_bytes(&mut bytes);
            let key = SecretKey::from_bytes(bytes);
            file.secret_key = Some(key.to_hex());
            dirty = true;
            (key, KeySource::Generated)
        }
    };

    let (plc_rotation_key, plc_rotation_key_source) =
        match (configured_rotation_key, &file.plc_rotation_key) {
            (Some(key), _) => (key.clone(), KeySource::Config),
            (None, Some(hex)) => (
                rotation_key_from_hex(hex).map_err(|m| invalid(format!("plc_rotation_key {m}")))?,
                KeySource::File,
            ),
            (None, None) => {
                let key = Keypair::generate(Curve::K256);
                file.plc_rotation_key = Some(hex::encode(&key.private_bytes()[..]));
                dirty = true;
                (key, KeySource::Generated)
            }
        };

    if dirty {
        let text = toml::to_string(&file).map_err(|e| invalid(e.to_string()))?;
        let text = format!(
            "# Generated by relay. Keep private (mode 0600) and back it up: without it, the\n\
             # account keys stored in the database cannot be decrypted.\n{text}"
        );
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        write_private(path, text.as_bytes()).map_err(io)?;
    }
    Ok(Secrets {
        secret_key,
        plc_rotation_key,
        secret_key_source,
        plc_rotation_key_source,
    })
}

/// Replaces `path` atomically with `contents`, readable and writable by the owner only.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}
