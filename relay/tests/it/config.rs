//! Configuration and secrets: defaults, file and environment precedence, errors that name the
//! bad option, the documented example file, redacted `Debug`, and the generated secrets file
//! (0600, stable across restarts).

use std::path::PathBuf;

use relay::Config;
use relay::config::{AppView, ConfigError, SecretKey};
use relay::secrets::{KeySource, load_or_generate_at};

use crate::common::temp_dir;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn example_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/relay.example.toml")).unwrap()
}

#[test]
fn defaults_need_nothing() {
    let c = Config::from_sources(None, env(&[])).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.listen_addr().to_string(), "127.0.0.1:2583");
    assert_eq!(c.hostname, "localhost");
    assert_eq!(c.public_url, "http://localhost:2583");
    assert_eq!(c.service_did.as_str(), "did:web:localhost%3A2583");
    assert_eq!(c.service_handle_domains, vec![".test".to_owned()]);
    assert_eq!(c.plc_url, "https://plc.directory");
    assert_eq!(
        c.appview,
        Some(AppView {
            did: "did:web:api.bsky.app#bsky_appview".to_owned(),
            url: "https://api.bsky.app".to_owned(),
        })
    );
    assert_eq!(c.json_body_limit, 150 * 1024);
    assert_eq!(c.blob_upload_limit, 100_000_000);
    assert!(!c.allow_private_outbound);
    assert!(c.secret_key.is_none());
    assert!(c.plc_rotation_key.is_none());
    assert!(c.admin_password.is_none());
    assert_eq!(c.secrets_path(), PathBuf::from("./data/secrets.toml"));
}

#[test]
fn example_file_lists_every_option_with_its_default() {
    let text = example_text();
    let from_example = Config::from_sources(Some(&text), env(&[])).unwrap();
    let defaults = Config::from_sources(None, env(&[])).unwrap();
    assert_eq!(from_example, defaults);
    // Every option the configuration layer accepts (the fields of `RawConfig`, read from the
    // source so a new option cannot be forgotten) is documented in the example and settable
    // from the environment.
    let keys = raw_config_keys();
    assert!(keys.len() >= 20, "found the option list: {keys:?}");
    let source = config_source();
    for key in &keys {
        assert!(
            text.lines().any(|l| {
                let l = l.trim_start_matches("# ");
                l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}."))
            }),
            "relay.example.toml does not document {key}"
        );
        assert!(
            source.contains(&format!("\"{key}\"")) || source.contains(&format!("\"{key}_")),
            "no RELAY_{} environment variable for {key}",
            key.to_ascii_uppercase()
        );
    }
    println!("relay.example.toml: {} options documented", keys.len());
}

fn config_source() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/config.rs")).unwrap()
}

/// The field names of `struct RawConfig` in `src/config.rs`.
fn raw_config_keys() -> Vec<String> {
    let source = config_source();
    let start = source
        .find("struct RawConfig {")
        .expect("RawConfig in config.rs");
    let body = &source[start..];
    let body = &body[..body.find("\n}").expect("end of RawConfig")];
    body.lines()
        .skip(1)
        .filter_map(|l| {
            let l = l.trim();
            let (name, _) = l.split_once(':')?;
            (!l.starts_with("//") && !l.starts_with('#')).then(|| name.trim().to_owned())
        })
        .collect()
}

#[test]
fn environment_wins_over_file() {
    let file = r#"
        hostname = "pds.example.com"
        port = 3000
        service_handle_domains = ["pds.example.com"]
        allow_private_outbound = false
    "#;
    let c = Config::from_sources(
        Some(file),
        env(&[
            ("RELAY_PORT", "4000"),
            ("RELAY_ALLOW_PRIVATE_OUTBOUND", "true"),
            ("RELAY_SERVICE_HANDLE_DOMAINS", ".a.example, b.example"),
            ("RELAY_ADMIN_PASSWORD", "hunter2"),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(c.port, 4000);
    assert!(c.allow_private_outbound);
    assert_eq!(c.public_url, "https://pds.example.com");
    assert_eq!(c.service_did.as_str(), "did:web:pds.example.com");
    assert_eq!(c.service_handle_domains, vec![".a.example", ".b.example"]);
    assert_eq!(c.admin_password.unwrap().expose(), "hunter2");
}

#[test]
fn appview_can_be_disabled() {
    let c = Config::from_sources(None, env(&[("RELAY_APPVIEW_DID", "")])).unwrap();
    assert_eq!(c.appview, None);
}

#[test]
fn errors_name_the_bad_option() {
    let err = Config::from_sources(Some("data_dri = \"x\""), env(&[])).unwrap_err();
    assert!(matches!(err, ConfigError::Toml(_)), "{err}");
    assert!(err.to_string().contains("data_dri"), "{err}");

    let err = Config::from_sources(None, env(&[("RELAY_PORT", "eighty")])).unwrap_err();
    assert!(err.to_string().contains("RELAY_PORT"), "{err}");

    let err =
        Config::from_sources(None, env(&[("RELAY_ALLOW_PRIVATE_OUTBOUND", "maybe")])).unwrap_err();
    assert!(
        err.to_string().contains("RELAY_ALLOW_PRIVATE_OUTBOUND"),
        "{err}"
    );

    for (var, value, option) in [
        ("RELAY_HOSTNAME", "bad host", "hostname"),
        ("RELAY_SERVICE_DID", "not-a-did", "service_did"),
        ("RELAY_PLC_URL", "ftp://plc", "plc_url"),
        ("RELAY_APPVIEW_DID", "did:web:api.bsky.app", "appview_did"),
        ("RELAY_SECRET_KEY", "abcd", "secret_key"),
        ("RELAY_PLC_ROTATION_KEY", "00", "plc_rotation_key"),
        ("RELAY_JSON_BODY_LIMIT", "0", "json_body_limit"),
    ] {
        let err = Config::from_sources(None, env(&[(var, value)])).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { option: o, .. } if *o == option),
            "{var}={value}: {err}"
        );
    }
}

#[test]
fn debug_redacts_secrets() {
    let key = "ab".repeat(32);
    let c = Config::from_sources(
        None,
        env(&[
            ("RELAY_SECRET_KEY", &key),
            ("RELAY_ADMIN_PASSWORD", "hunter2-password"),
        ]),
    )
    .unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains(&key), "{debug}");
    assert!(!debug.contains("hunter2-password"), "{debug}");
    assert!(debug.contains("redacted"));
    assert_eq!(c.secret_key.unwrap().to_hex(), key);
}

#[test]
fn secrets_file_is_generated_private_and_stable() {
    let dir = temp_dir("secrets");
    let path = dir.join("nested").join("secrets.toml");
    let first = load_or_generate_at(&path, None, None).unwrap();
    assert_eq!(first.secret_key_source, KeySource::Generated);
    assert_eq!(first.plc_rotation_key_source, KeySource::Generated);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    let second = load_or_generate_at(&path, None, None).unwrap();
    assert_eq!(second.secret_key_source, KeySource::File);
    assert_eq!(second.plc_rotation_key_source, KeySource::File);
    assert_eq!(first.secret_key, second.secret_key);
    assert_eq!(
        first.plc_rotation_key.public_key(),
        second.plc_rotation_key.public_key()
    );
    let debug = format!("{second:?}");
    assert!(!debug.contains(&second.secret_key.to_hex()), "{debug}");

    let other = load_or_generate_at(&dir.join("other.toml"), None, None).unwrap();
    assert_ne!(first.secret_key, other.secret_key, "keys are random");
}

#[test]
fn a_missing_secret_is_added_to_an_existing_file() {
    let dir = temp_dir("secrets-upgrade");
    let path = dir.join("secrets.toml");
    let key = "1f".repeat(32);
    std::fs::write(&path, format!("secret_key = \"{key}\"\n")).unwrap();
    let secrets = load_or_generate_at(&path, None, None).unwrap();
    assert_eq!(secrets.secret_key.to_hex(), key);
    assert_eq!(secrets.plc_rotation_key_source, KeySource::Generated);
    let again = load_or_generate_at(&path, None, None).unwrap();
    assert_eq!(again.secret_key.to_hex(), key);
    assert_eq!(again.plc_rotation_key_source, KeySource::File);
}

#[test]
fn configured_secrets_are_used_and_not_written() {
    let dir = temp_dir("secrets-config");
    let key = "0f".repeat(32);
    let rotation = "2e".repeat(32);
    let c = Config::from_sources(
        None,
        env(&[
            ("RELAY_DATA_DIR", dir.to_str().unwrap()),
            ("RELAY_SECRET_KEY", &key),
            ("RELAY_PLC_ROTATION_KEY", &rotation),
        ]),
    )
    .unwrap();
    let got = relay::secrets::load_or_generate(&c).unwrap();
    assert_eq!(got.secret_key_source, KeySource::Config);
    assert_eq!(got.plc_rotation_key_source, KeySource::Config);
    assert_eq!(got.secret_key, SecretKey::from_hex(&key).unwrap());
    assert_eq!(
        hex::encode(&got.plc_rotation_key.private_bytes()[..]),
        rotation
    );
    assert!(!c.secrets_path().exists());
    assert!(!format!("{c:?}").contains(&rotation));
}

#[test]
fn invalid_secrets_file_is_an_error_without_the_value() {
    let dir = temp_dir("secrets-bad");
    let path = dir.join("secrets.toml");
    std::fs::write(&path, "secret_key = \"zz-not-hex-but-secret\"\n").unwrap();
    let err = load_or_generate_at(&path, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid"), "{err}");
    assert!(!err.contains("zz-not-hex-but-secret"), "{err}");
}
