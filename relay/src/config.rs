//! Server configuration: defaults, an optional TOML file, and `RELAY_*` environment variables
//! (environment wins over the file, the file wins over the defaults).
//!
//! Every option is one flat key, and its environment variable is `RELAY_` + the key in upper
//! case (`data_dir` <-> `RELAY_DATA_DIR`). `relay/relay.example.toml` lists every option with its
//! default; keep the two in sync (a test parses the example file). Unknown keys in the file are
//! errors, so a typo never silently falls back to a default.
//!
//! What this file does not do: read or create the secrets file (that is [`crate::secrets`]), or
//! touch the network. [`Config`] is plain data; its `Debug` redacts the secret values.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use syntax::Did;

/// Default listen port (the reference PDS's development port).
pub const DEFAULT_PORT: u16 = 2583;
/// Default largest JSON request body: 150 KiB, as the reference PDS.
pub const DEFAULT_JSON_BODY_LIMIT: usize = 150 * 1024;
/// Default largest blob upload: 100 MB (the lexicon allows video blobs that large).
pub const DEFAULT_BLOB_UPLOAD_LIMIT: usize = 100 * 1000 * 1000;
/// Default PLC directory.
pub const DEFAULT_PLC_URL: &str = "https://plc.directory";
/// Default AppView service reference (`did#service_id`).
pub const DEFAULT_APPVIEW_DID: &str = "did:web:api.bsky.app#bsky_appview";
/// Default AppView base URL.
pub const DEFAULT_APPVIEW_URL: &str = "https://api.bsky.app";
/// Smallest positive `firehose_max_bytes_per_second`: 1 KiB/s (less would make one ordinary
/// commit take seconds; `0` turns the limit off).
pub const MIN_FIREHOSE_BYTES_PER_SECOND: u64 = 1024;

/// A secret string (password, token) whose `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The server's 32-byte secret key (encrypts secrets at rest). `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey(bytes)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Result<SecretKey, String> {
        let bytes = hex::decode(s.trim()).map_err(|e| format!("not hex: {e}"))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|v: Vec<u8>| {
            format!("must be 32 bytes (64 hex characters), got {}", v.len())
        })?;
        Ok(SecretKey(bytes))
    }

    /// The key as 64 lowercase hex characters (for the secrets file only).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw key bytes. Callers must not log them.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// The default AppView for `app.bsky.*` calls without an `atproto-proxy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppView {
    /// The service reference, `did#service_id` (the service JWT `aud`).
    pub did: String,
    /// Where to send requests (base URL, no path).
    pub url: String,
}

/// The resolved server configuration.
#[derive(Clone)]
pub struct Config {
    /// Where the database, blobs and the secrets file live.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port to listen on (0: any free port).
    pub port: u16,
    /// Public hostname of this server (no scheme, no port).
    pub hostname: String,
    /// Public base URL (`https://<hostname>`, or `http://localhost:<port>` for `localhost`).
    pub public_url: String,
    /// This service's DID (`did:web:<hostname>` unless set).
    pub service_did: Did,
    /// Handle domains offered to new accounts, each with a leading dot (`.test`).
    pub service_handle_domains: Vec<String>,
    /// PLC directory base URL.
    pub plc_url: String,
    /// Default AppView; `None` disables default proxying.
    pub appview: Option<AppView>,
    /// Largest JSON (and other non-blob) request body, in bytes.
    pub json_body_limit: usize,
    /// Largest blob upload, in bytes.
    pub blob_upload_limit: usize,
    /// Largest `importRepo` CAR, in bytes (default: `blob_upload_limit`, as the reference's
    /// `PDS_MAX_REPO_IMPORT_SIZE` defaults to its blob limit).
    pub import_repo_limit: usize,
    /// Allow outbound fetches to loopback and private addresses (tests, local networks only).
    pub allow_private_outbound: bool,
    /// The secret key; when `None`, it is read from (or generated into) `<data_dir>/secrets.toml`.
    pub secret_key: Option<SecretKey>,
    /// The PDS's PLC rotation key (K-256); when `None`, it is read from (or generated into)
    /// `<data_dir>/secrets.toml`.
    pub plc_rotation_key: Option<crypto::Keypair>,
    /// Password for admin HTTP Basic auth (`admin:<password>`); admin routes are off when unset.
    pub admin_password: Option<Secret>,
    /// `describeServer.links.privacyPolicy`.
    pub privacy_policy_url: Option<String>,
    /// `describeServer.links.termsOfService`.
    pub terms_of_service_url: Option<String>,
    /// `describeServer.contact.email`.
    pub contact_email: Option<String>,
    /// Rate limits (`rate_limits.*`, see [`crate::rate_limit`]).
    pub rate_limits: crate::rate_limit::RateLimitSettings,
    /// The one DNS server handle resolution asks (`ip:port`); `None`: the system's resolvers.
    pub dns_nameserver: Option<SocketAddr>,
    /// Whether `createAccount` needs an invite code (`describeServer.inviteCodeRequired`).
    pub invite_required: bool,
    /// Firehose (`subscribeRepos`) retention, live buffer and crawlers.
    pub firehose: crate::firehose_service::FirehoseSettings,
    /// Sender address of outgoing email (default `noreply@<hostname>`).
    pub email_from: String,
    /// SMTP server URL (`smtp://`, `smtps://`, with credentials); `None`: emails are written
    /// to `<data_dir>/outbox/` instead ([`crate::mailer`]).
    pub smtp_url: Option<Secret>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("hostname", &self.hostname)
            .field("public_url", &self.public_url)
            .field("service_did", &self.service_did)
            .field("service_handle_domains", &self.service_handle_domains)
            .field("plc_url", &self.plc_url)
            .field("appview", &self.appview)
            .field("json_body_limit", &self.json_body_limit)
            .field("blob_upload_limit", &self.blob_upload_limit)
            .field("import_repo_limit", &self.import_repo_limit)
            .field("allow_private_outbound", &self.allow_private_outbound)
            .field("secret_key", &self.secret_key)
            .field(
                "plc_rotation_key",
                &self.plc_rotation_key.as_ref().map(|_| "<redacted>"),
            )
            .field("admin_password", &self.admin_password)
            .field("privacy_policy_url", &self.privacy_policy_url)
            .field("terms_of_service_url", &self.terms_of_service_url)
            .field("contact_email", &self.contact_email)
            .field("rate_limits", &self.rate_limits)
            .field("dns_nameserver", &self.dns_nameserver)
            .field("invite_required", &self.invite_required)
            .field("firehose", &self.firehose)
            .field("email_from", &self.email_from)
            .field("smtp_url", &self.smtp_url)
            .finish()
    }
}

impl PartialEq for Config {
    fn eq(&self, other: &Config) -> bool {
        let key = |c: &Config| {
            c.plc_rotation_key
                .as_ref()
                .map(|k| k.public_key().to_did_key())
        };
        self.data_dir == other.data_dir
            && self.bind == other.bind
            && self.port == other.port
            && self.hostname == other.hostname
            && self.public_url == other.public_url
            && self.service_did == other.service_did
            && self.service_handle_domains == other.service_handle_domains
            && self.plc_url == other.plc_url
            && self.appview == other.appview
            && self.json_body_limit == other.json_body_limit
            && self.blob_upload_limit == other.blob_upload_limit
            && self.import_repo_limit == other.import_repo_limit
            && self.allow_private_outbound == other.allow_private_outbound
            && self.secret_key == other.secret_key
            && key(self) == key(other)
            && self.admin_password == other.admin_password
            && self.privacy_policy_url == other.privacy_policy_url
            && self.terms_of_service_url == other.terms_of_service_url
            && self.contact_email == other.contact_email
            && self.rate_limits == other.rate_limits
            && self.dns_nameserver == other.dns_nameserver
            && self.invite_required == other.invite_required
            && self.firehose == other.firehose
            && self.email_from == other.email_from
            && self.smtp_url == other.smtp_url
    }
}

impl Eq for Config {}

impl Config {
    /// The socket address to listen on.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// The path of the secrets file inside the data directory.
    pub fn secrets_path(&self) -> PathBuf {
        self.data_dir.join(crate::secrets::SECRETS_FILE)
    }

    /// Loads the configuration: defaults, then `file` (if given), then the `RELAY_*` variables
    /// of the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match file {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                        path: path.to_owned(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        Config::from_sources(text.as_deref(), std::env::vars())
    }

    /// Builds the configuration from TOML text (if any) and environment variables (only the
    /// `RELAY_*` ones are read). Pure: tests call this directly.
    pub fn from_sources(
        toml_text: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut raw = match toml_text {
            Some(text) => toml::from_str::<RawConfig>(text).map_err(ConfigError::Toml)?,
            None => RawConfig::default(),
        };
        let env: HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        raw.apply_env(&env)?;
        raw.resolve()
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid config file: {0}")]
    Toml(toml::de::Error),
    /// An environment variable has an invalid value.
    #[error("invalid value for {var}: {message}")]
    Env {
        /// The variable name.
        var: String,
        /// What is wrong.
        message: String,
    },
    /// An option has an invalid value (after merging file and environment).
    #[error("invalid value for option {option}: {message}")]
    Invalid {
        /// The option key.
        option: &'static str,
        /// What is wrong.
        message: String,
    },
}

const ENV_PREFIX: &str = "RELAY_";

/// The file/environment layer: every option optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    bind: Option<IpAddr>,
    port: Option<u16>,
    hostname: Option<String>,
    public_url: Option<String>,
    service_did: Option<String>,
    service_handle_domains: Option<Vec<String>>,
    plc_url: Option<String>,
    appview_did: Option<String>,
    appview_url: Option<String>,
    json_body_limit: Option<usize>,
    blob_upload_limit: Option<usize>,
    import_repo_limit: Option<usize>,
    allow_private_outbound: Option<bool>,
    secret_key: Option<String>,
    plc_rotation_key: Option<String>,
    admin_password: Option<String>,
    privacy_policy_url: Option<String>,
    terms_of_service_url: Option<String>,
    contact_email: Option<String>,
    rate_limits: Option<crate::rate_limit::RawRateLimits>,
    dns_nameserver: Option<SocketAddr>,
    invite_required: Option<bool>,
    firehose_retention: Option<String>,
    firehose_buffer_events: Option<usize>,
    firehose_buffer_bytes: Option<usize>,
    firehose_max_subscribers: Option<usize>,
    firehose_max_bytes_per_second: Option<u64>,
    firehose_seq_floor: Option<String>,
    firehose_zero_copy: Option<bool>,
    firehose_relay_quota: Option<String>,
    crawlers: Option<Vec<String>>,
    email_from: Option<String>,
    smtp_url: Option<String>,
}

/// Parses one environment variable into `slot` if it is set.
fn env_value<T>(
    env: &HashMap<String, String>,
    key: &str,
    slot: &mut Option<T>,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<(), ConfigError> {
    let var = format!("{ENV_PREFIX}{}", key.to_ascii_uppercase());
    if let Some(value) = env.get(&var) {
        *slot = Some(parse(value).map_err(|message| ConfigError::Env { var, message })?);
    }
    Ok(())
}

fn parse_from_str<T: std::str::FromStr>(s: &str) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    s.trim().parse::<T>().map_err(|e| e.to_string())
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}

fn parse_string(s: &str) -> Result<String, String> {
    Ok(s.to_owned())
}

fn parse_list(s: &str) -> Result<Vec<String>, String> {
    Ok(s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect())
}

impl RawConfig {
    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        env_value(env, "data_dir", &mut self.data_dir, |s| {
            Ok(PathBuf::from(s))
        })?;
        env_value(env, "bind", &mut self.bind, parse_from_str)?;
        env_value(env, "port", &mut self.port, parse_from_str)?;
        env_value(env, "hostname", &mut self.hostname, parse_string)?;
        env_value(env, "public_url", &mut self.public_url, parse_string)?;
        env_value(env, "service_did", &mut self.service_did, parse_string)?;
        env_value(
            env,
            "service_handle_domains",
            &mut self.service_handle_domains,
            parse_list,
        )?;
        env_value(env, "plc_url", &mut self.plc_url, parse_string)?;
        env_value(env, "appview_did", &mut self.appview_did, parse_string)?;
        env_value(env, "appview_url", &mut self.appview_url, parse_string)?;
        env_value(
            env,
            "json_body_limit",
            &mut self.json_body_limit,
            parse_from_str,
        )?;
        env_value(
            env,
            "blob_upload_limit",
            &mut self.blob_upload_limit,
            parse_from_str,
        )?;
        env_value(
            env,
            "import_repo_limit",
            &mut self.import_repo_limit,
            parse_from_str,
        )?;
        env_value(
            env,
            "allow_private_outbound",
            &mut self.allow_private_outbound,
            parse_bool,
        )?;
        env_value(env, "secret_key", &mut self.secret_key, parse_string)?;
        env_value(
            env,
            "plc_rotation_key",
            &mut self.plc_rotation_key,
            parse_string,
        )?;
        env_value(
            env,
            "admin_password",
            &mut self.admin_password,
            parse_string,
        )?;
        env_value(
            env,
            "privacy_policy_url",
            &mut self.privacy_policy_url,
            parse_string,
        )?;
        env_value(
            env,
            "terms_of_service_url",
            &mut self.terms_of_service_url,
            parse_string,
        )?;
        env_value(env, "contact_email", &mut self.contact_email, parse_string)?;
        env_value(
            env,
            "dns_nameserver",
            &mut self.dns_nameserver,
            parse_from_str,
        )?;
        // `rate_limits.enabled` <-> RELAY_RATE_LIMITS_ENABLED (and so on for the two others).
        let (mut enabled, mut ip_header, mut bypass_key) = (None, None, None);
        env_value(env, "rate_limits_enabled", &mut enabled, parse_bool)?;
        env_value(env, "rate_limits_ip_header", &mut ip_header, parse_string)?;
        env_value(env, "rate_limits_bypass_key", &mut bypass_key, parse_string)?;
        if enabled.is_some() || ip_header.is_some() || bypass_key.is_some() {
            let raw = self.rate_limits.get_or_insert_with(Default::default);
            raw.enabled = enabled.or(raw.enabled);
            raw.ip_header = ip_header.or(raw.ip_header.take());
            raw.bypass_key = bypass_key.or(raw.bypass_key.take());
        }
        env_value(
            env,
            "invite_required",
            &mut self.invite_required,
            parse_bool,
        )?;
        env_value(
            env,
            "firehose_retention",
            &mut self.firehose_retention,
            parse_string,
        )?;
        env_value(
            env,
            "firehose_buffer_events",
            &mut self.firehose_buffer_events,
            parse_from_str,
        )?;
        env_value(
            env,
            "firehose_buffer_bytes",
            &mut self.firehose_buffer_bytes,
            parse_from_str,
        )?;
        env_value(
            env,
            "firehose_max_subscribers",
            &mut self.firehose_max_subscribers,
            parse_from_str,
        )?;
        env_value(
            env,
            "firehose_max_bytes_per_second",
            &mut self.firehose_max_bytes_per_second,
            parse_from_str,
        )?;
        env_value(
            env,
            "firehose_seq_floor",
            &mut self.firehose_seq_floor,
            parse_string,
        )?;
        env_value(
            env,
            "firehose_zero_copy",
            &mut self.firehose_zero_copy,
            parse_bool,
        )?;
        env_value(
            env,
            "firehose_relay_quota",
            &mut self.firehose_relay_quota,
            parse_string,
        )?;
        env_value(env, "crawlers", &mut self.crawlers, parse_list)?;
        env_value(env, "email_from", &mut self.email_from, parse_string)?;
        env_value(env, "smtp_url", &mut self.smtp_url, parse_string)?;
        Ok(())
    }

    fn resolve(self) -> Result<Config, ConfigError> {
        let firehose = self.firehose_settings()?;
        let invalid =
            |option: &'static str, message: String| ConfigError::Invalid { option, message };

        let port = self.port.unwrap_or(DEFAULT_PORT);
        let hostname = self.hostname.unwrap_or_else(|| "localhost".to_owned());
        check_hostname(&hostname).map_err(|m| invalid("hostname", m))?;
        let is_localhost = hostname == "localhost";

        let public_url = match self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None if is_localhost => format!("http://localhost:{port}"),
            None => format!("https://{hostname}"),
        };
        check_http_url(&public_url).map_err(|m| invalid("public_url", m))?;

        let service_did = match self.service_did {
            Some(did) => did,
            // did:web allows a port only for localhost, percent-encoded (checklist #115).
            None if is_localhost && port != 0 => format!("did:web:localhost%3A{port}"),
            None => format!("did:web:{hostname}"),
        };
        let service_did: Did = service_did
            .parse()
            .map_err(|e: syntax::DidError| invalid("service_did", e.to_string()))?;

        let mut service_handle_domains = Vec::new();
        for domain in self
            .service_handle_domains
            .unwrap_or_else(|| vec![".test".to_owned()])
        {
            let domain = domain.trim().to_ascii_lowercase();
            let bare = domain.trim_start_matches('.');
            check_hostname(bare)
                .map_err(|m| invalid("service_handle_domains", format!("{domain:?}: {m}")))?;
            service_handle_domains.push(format!(".{bare}"));
        }
        if service_handle_domains.is_empty() {
            return Err(invalid(
                "service_handle_domains",
                "at least one domain is needed".to_owned(),
            ));
        }

        let plc_url = self
            .plc_url
            .unwrap_or_else(|| DEFAULT_PLC_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        check_http_url(&plc_url).map_err(|m| invalid("plc_url", m))?;

        let appview_did = self
            .appview_did
            .unwrap_or_else(|| DEFAULT_APPVIEW_DID.to_owned());
        let appview = if appview_did.is_empty() {
            None
        } else {
            let (did, fragment) = appview_did.split_once('#').ok_or_else(|| {
                invalid(
                    "appview_did",
                    "must be a service reference did#service_id".to_owned(),
                )
            })?;
            did.parse::<Did>()
                .map_err(|e| invalid("appview_did", e.to_string()))?;
            if fragment.is_empty() {
                return Err(invalid("appview_did", "empty service id".to_owned()));
            }
            let url = self
                .appview_url
                .unwrap_or_else(|| DEFAULT_APPVIEW_URL.to_owned())
                .trim_end_matches('/')
                .to_owned();
            check_http_url(&url).map_err(|m| invalid("appview_url", m))?;
            Some(AppView {
                did: appview_did,
                url,
            })
        };

        let json_body_limit = self.json_body_limit.unwrap_or(DEFAULT_JSON_BODY_LIMIT);
        let blob_upload_limit = self.blob_upload_limit.unwrap_or(DEFAULT_BLOB_UPLOAD_LIMIT);
        if json_body_limit == 0 {
            return Err(invalid("json_body_limit", "must be positive".to_owned()));
        }
        if blob_upload_limit == 0 {
            return Err(invalid("blob_upload_limit", "must be positive".to_owned()));
        }
        let import_repo_limit = self.import_repo_limit.unwrap_or(blob_upload_limit);
        if import_repo_limit == 0 {
            return Err(invalid("import_repo_limit", "must be positive".to_owned()));
        }

        let secret_key = match self.secret_key {
            Some(hex) => Some(SecretKey::from_hex(&hex).map_err(|m| invalid("secret_key", m))?),
            None => None,
        };
        let plc_rotation_key = match self.plc_rotation_key {
            Some(hex) => Some(
                crate::secrets::rotation_key_from_hex(&hex)
                    .map_err(|m| invalid("plc_rotation_key", m))?,
            ),
            None => None,
        };
        let admin_password = match self.admin_password {
            Some(p) if p.is_empty() => None,
            Some(p) => Some(Secret(p)),
            None => None,
        };

        let email_from = self
            .email_from
            .unwrap_or_else(|| format!("noreply@{hostname}"));
        crate::mailer::check_address(&email_from).map_err(|m| invalid("email_from", m))?;
        let smtp_url = match self.smtp_url {
            Some(u) if u.is_empty() => None,
            Some(u) => {
                crate::mailer::check_smtp_url(&u).map_err(|m| invalid("smtp_url", m))?;
                Some(Secret(u))
            }
            None => None,
        };

        let non_empty = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let privacy_policy_url = non_empty(self.privacy_policy_url);
        let terms_of_service_url = non_empty(self.terms_of_service_url);
        for (option, url) in [
            ("privacy_policy_url", &privacy_policy_url),
            ("terms_of_service_url", &terms_of_service_url),
        ] {
            if let Some(url) = url {
                check_http_url(url).map_err(|m| invalid(option, m))?;
            }
        }
        let contact_email = non_empty(self.contact_email);
        if let Some(email) = &contact_email
            && !email.contains('@')
        {
            return Err(invalid(
                "contact_email",
                format!("{email:?} is not an email address"),
            ));
        }
        let rate_limits = self
            .rate_limits
            .unwrap_or_default()
            .build()
            .map_err(|m| invalid("rate_limits", m))?;

        Ok(Config {
            data_dir: self.data_dir.unwrap_or_else(|| PathBuf::from("./data")),
            bind: self.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            port,
            hostname,
            public_url,
            service_did,
            service_handle_domains,
            plc_url,
            appview,
            json_body_limit,
            blob_upload_limit,
            import_repo_limit,
            allow_private_outbound: self.allow_private_outbound.unwrap_or(false),
            secret_key,
            plc_rotation_key,
            admin_password,
            privacy_policy_url,
            terms_of_service_url,
            contact_email,
            rate_limits,
            dns_nameserver: self.dns_nameserver,
            invite_required: self.invite_required.unwrap_or(false),
            firehose,
            email_from,
            smtp_url,
        })
    }

    fn firehose_settings(&self) -> Result<crate::firehose_service::FirehoseSettings, ConfigError> {
        let invalid =
            |option: &'static str, message: String| ConfigError::Invalid { option, message };
        let defaults = crate::firehose_service::FirehoseSettings::default();
        let retention = match &self.firehose_retention {
            Some(s) => firehose::parse_duration(s).map_err(|m| invalid("firehose_retention", m))?,
            None => defaults.retention,
        };
        if retention.is_zero() {
            return Err(invalid("firehose_retention", "must be positive".to_owned()));
        }
        let buffer_events = self
            .firehose_buffer_events
            .unwrap_or(defaults.buffer_events);
        let buffer_bytes = self.firehose_buffer_bytes.unwrap_or(defaults.buffer_bytes);
        if buffer_events == 0 || buffer_bytes == 0 {
            return Err(invalid(
                "firehose_buffer_events",
                "the live buffer limits must be positive".to_owned(),
            ));
        }
        let max_subscribers = self
            .firehose_max_subscribers
            .unwrap_or(defaults.max_subscribers);
        if max_subscribers == 0 {
            return Err(invalid(
                "firehose_max_subscribers",
                "must be positive".to_owned(),
            ));
        }
        let max_bytes_per_second = self
            .firehose_max_bytes_per_second
            .unwrap_or(defaults.max_bytes_per_second);
        if (1..MIN_FIREHOSE_BYTES_PER_SECOND).contains(&max_bytes_per_second) {
            return Err(invalid(
                "firehose_max_bytes_per_second",
                format!("must be 0 (no limit) or at least {MIN_FIREHOSE_BYTES_PER_SECOND}"),
            ));
        }
        let seq_floor = match self.firehose_seq_floor.as_deref().map(str::trim) {
            None => defaults.seq_floor,
            Some(s) => crate::firehose_service::SeqFloor::parse(s)
                .map_err(|m| invalid("firehose_seq_floor", m))?,
        };
        let relay_quotas = match &self.firehose_relay_quota {
            Some(s) => firehose::parse_quotas(s).map_err(|m| invalid("firehose_relay_quota", m))?,
            None => defaults.relay_quotas.clone(),
        };
        let mut crawlers = Vec::new();
        for entry in self.crawlers.iter().flatten() {
            if entry.trim().is_empty() {
                continue;
            }
            let url = crate::firehose_service::crawler_url(entry);
            check_http_url(&url).map_err(|m| invalid("crawlers", m))?;
            crawlers.push(url);
        }
        Ok(crate::firehose_service::FirehoseSettings {
            retention,
            buffer_events,
            buffer_bytes,
            crawlers,
            max_subscribers,
            max_bytes_per_second,
            seq_floor,
            zero_copy: self.firehose_zero_copy.unwrap_or(defaults.zero_copy),
            relay_quotas,
            ..defaults
        })
    }
}

/// A DNS hostname: dot-separated labels of ASCII letters, digits and inner hyphens.
fn check_hostname(host: &str) -> Result<(), String> {
    if host.is_empty() || host.len() > 253 {
        return Err("must be a hostname of 1 to 253 characters".to_owned());
    }
    for label in host.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("{host:?} is not a valid hostname"));
        }
    }
    Ok(())
}

/// An absolute `http` or `https` URL.
fn check_http_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("{url:?} must be an http(s) URL with a host"));
    }
    Ok(())
}
