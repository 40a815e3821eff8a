//! The discovery documents (checklist #143-#146), checked field by field as the spec lists
//! them, and the issuer origin rules.

use oauth::server_metadata::{Issuer, IssuerError, authorization_server, protected_resource};
use serde_json::Value;

fn issuer() -> Issuer {
    Issuer::parse("https://pds.example.com", false).expect("issuer")
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s.as_str().expect("string"))
        .collect()
}

#[test]
fn checklist_143_protected_resource_names_one_origin() {
    let doc = protected_resource(&issuer(), &issuer());
    assert_eq!(doc["resource"], "https://pds.example.com");
    assert_eq!(
        strings(&doc["authorization_servers"]),
        ["https://pds.example.com"]
    );
}

#[test]
fn checklist_144_146_authorization_server_fields() {
    let doc = authorization_server(&issuer());
    let has = |field: &str, value: &str| strings(&doc[field]).contains(&value);
    // #144
    assert_eq!(doc["issuer"], "https://pds.example.com");
    assert_eq!(
        doc["authorization_endpoint"],
        "https://pds.example.com/oauth/authorize"
    );
    assert_eq!(doc["token_endpoint"], "https://pds.example.com/oauth/token");
    assert!(has("response_types_supported", "code"));
    assert!(has("grant_types_supported", "authorization_code"));
    assert!(has("grant_types_supported", "refresh_token"));
    assert_eq!(strings(&doc["code_challenge_methods_supported"]), ["S256"]);
    // #145
    assert!(has("token_endpoint_auth_methods_supported", "none"));
    assert!(has(
        "token_endpoint_auth_methods_supported",
        "private_key_jwt"
    ));
    assert!(has(
        "token_endpoint_auth_signing_alg_values_supported",
        "ES256"
    ));
    assert!(!has(
        "token_endpoint_auth_signing_alg_values_supported",
        "none"
    ));
    assert!(has("scopes_supported", "atproto"));
    assert!(has("scopes_supported", "transition:generic"));
    // #146
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["require_pushed_authorization_requests"], true);
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        "https://pds.example.com/oauth/par"
    );
    assert!(has("dpop_signing_alg_values_supported", "ES256"));
    assert_eq!(doc["client_id_metadata_document_supported"], true);
    assert!(matches!(
        doc.get("require_request_uri_registration"),
        None | Some(Value::Bool(true))
    ));
    // Every endpoint is on the issuer's origin.
    for (k, v) in doc.as_object().expect("object") {
        if k.ends_with("_endpoint") || k == "jwks_uri" {
            assert!(
                v.as_str()
                    .expect("url")
                    .starts_with("https://pds.example.com/"),
                "{k}"
            );
        }
    }
}

#[test]
fn checklist_143_issuer_is_an_https_origin() {
    let ok = [
        ("https://pds.example.com", "https://pds.example.com"),
        ("https://pds.example.com/", "https://pds.example.com"),
        ("https://PDS.Example.com", "https://pds.example.com"),
        (
            "https://pds.example.com:8443",
            "https://pds.example.com:8443",
        ),
    ];
    for (input, want) in ok {
        assert_eq!(Issuer::parse(input, false).expect(input).as_str(), want);
    }
    let bad = [
        ("pds.example.com", IssuerError::NotAUrl),
        ("http://pds.example.com", IssuerError::Scheme),
        ("http://localhost:2583", IssuerError::Scheme),
        ("ftp://pds.example.com", IssuerError::Scheme),
        ("https://pds.example.com/oauth", IssuerError::NotAnOrigin),
        ("https://pds.example.com?x=1", IssuerError::NotAnOrigin),
        ("https://pds.example.com#f", IssuerError::NotAnOrigin),
        ("https://user@pds.example.com", IssuerError::NotAnOrigin),
        ("https://pds.example.com:443", IssuerError::DefaultPort),
    ];
    for (input, want) in bad {
        assert_eq!(Issuer::parse(input, false).unwrap_err(), want, "{input}");
    }
    // Development only: http on loopback hosts.
    for input in [
        "http://localhost:2583",
        "http://127.0.0.1:2583",
        "http://[::1]:2583",
    ] {
        assert_eq!(Issuer::parse(input, true).expect(input).as_str(), input);
    }
    assert_eq!(
        Issuer::parse("http://pds.example.com", true).unwrap_err(),
        IssuerError::Scheme
    );
    assert_eq!(
        Issuer::parse("http://[::1]:80", true).unwrap_err(),
        IssuerError::DefaultPort
    );
}
