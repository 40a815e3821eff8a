//! Client ID parsing, client metadata documents and redirect URIs (checklist #147-#150).

use crypto::{Curve, Keypair};
use oauth::OAuthErrorCode;
use oauth::client_metadata::{
    ApplicationType, ClientId, ClientMetadata, ClientMetadataError as E, MAX_DOCUMENT_BYTES,
    RedirectUriProblem as P, validate_document,
};
use serde_json::{Value, json};

const WEB_ID: &str = "https://app.example.com/oauth-client-metadata.json";

fn id(s: &str) -> ClientId {
    match ClientId::parse(s) {
        Ok(id) => id,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

/// A public web client that passes every rule.
fn good_web() -> Value {
    json!({
        "client_id": WEB_ID,
        "application_type": "web",
        "client_name": "Example",
        "client_uri": "https://app.example.com",
        "logo_uri": "https://cdn.example.net/logo.png",
        "tos_uri": "https://app.example.com/tos",
        "policy_uri": "https://app.example.com/policy",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "redirect_uris": ["https://app.example.com/callback"],
        "scope": "atproto transition:generic",
        "token_endpoint_auth_method": "none",
        "dpop_bound_access_tokens": true
    })
}

fn public_jwk() -> Value {
    let mut jwk = Keypair::generate(Curve::P256).public_key().to_jwk();
    if let Some(obj) = jwk.as_object_mut() {
        obj.insert("kid".into(), json!("key-1"));
        obj.insert("alg".into(), json!("ES256"));
    }
    jwk
}

/// A confidential web client (inline `jwks`) that passes every rule.
fn good_confidential() -> Value {
    let mut doc = good_web();
    let obj = doc.as_object_mut().expect("object");
    obj.insert(
        "token_endpoint_auth_method".into(),
        json!("private_key_jwt"),
    );
    obj.insert("token_endpoint_auth_signing_alg".into(), json!("ES256"));
    obj.insert("jwks".into(), json!({ "keys": [public_jwk()] }));
    doc
}

fn with(mut doc: Value, key: &str, value: Option<Value>) -> Value {
    let obj = doc.as_object_mut().expect("object");
    match value {
        Some(v) => {
            obj.insert(key.into(), v);
        }
        None => {
            obj.remove(key);
        }
    }
    doc
}

fn validate(client_id: &str, doc: &Value) -> Result<ClientMetadata, E> {
    let body = serde_json::to_vec(doc).expect("serialize");
    validate_document(&id(client_id), 200, Some("application/json"), &body)
}

#[test]
fn checklist_147_valid_client_ids() {
    for s in [
        WEB_ID,
        "https://example.com/client.json",
        "https://sub.app.example.com/a/b/c",
        "https://app.example.com/metadata?v=2",
        "https://xn--bcher-kva.de/client.json",
    ] {
        let parsed = id(s);
        assert_eq!(parsed.as_str(), s);
        assert!(!parsed.is_loopback());
        assert_eq!(parsed.metadata_url().map(|u| u.as_str()), Some(s));
        assert!(parsed.virtual_metadata().is_none());
        assert_eq!(parsed.to_string(), s);
    }
}

#[test]
fn checklist_147_invalid_client_ids() {
    let too_long = format!("https://example.com/{}", "a".repeat(2100));
    let cases: Vec<(&str, E)> = vec![
        ("", E::ClientIdNotUrl),
        ("app.example.com/client.json", E::ClientIdNotUrl),
        ("my-client", E::ClientIdNotUrl),
        (&too_long, E::ClientIdTooLong),
        ("http://app.example.com/client.json", E::ClientIdScheme),
        ("ftp://app.example.com/client.json", E::ClientIdScheme),
        ("http://127.0.0.1/client.json", E::ClientIdScheme),
        ("https://app.example.com:8443/client.json", E::ClientIdPort),
        ("https://app.example.com:443/client.json", E::ClientIdPort),
        ("https://app.example.com:/client.json", E::ClientIdPort),
        (
            "https://user:pw@app.example.com/client.json",
            E::ClientIdCredentials,
        ),
        (
            "https://user@app.example.com/client.json",
            E::ClientIdCredentials,
        ),
        ("https://app.example.com/client.json#x", E::ClientIdFragment),
        ("https://app.example.com/client.json#", E::ClientIdFragment),
        ("https://93.184.216.34/client.json", E::ClientIdHost),
        ("https://[2001:db8::1]/client.json", E::ClientIdHost),
        ("https://localhost/client.json", E::ClientIdHost),
        ("https://intranet/client.json", E::ClientIdHost),
        ("https://printer.local/client.json", E::ClientIdHost),
        ("https://app.test/client.json", E::ClientIdHost),
        ("https://app.example.com./client.json", E::ClientIdHost),
        ("https://app.example.com", E::ClientIdPath),
        ("https://app.example.com/", E::ClientIdPath),
        ("https://app.example.com/oauth/", E::ClientIdPath),
        (
            "https://APP.example.com/client.json",
            E::ClientIdNotCanonical {
                expected: "https://app.example.com/client.json".into(),
            },
        ),
        (
            "https://app.example.com/a/../client.json",
            E::ClientIdNotCanonical {
                expected: "https://app.example.com/client.json".into(),
            },
        ),
        (
            "https://app.example.com/a b",
            E::ClientIdNotCanonical {
                expected: "https://app.example.com/a%20b".into(),
            },
        ),
    ];
    for (s, want) in cases {
        let got = ClientId::parse(s);
        assert_eq!(got, Err(want), "client_id {s:?}");
        if let Err(e) = got {
            assert_eq!(e.error_code(), OAuthErrorCode::InvalidRequest, "{s:?}");
        }
    }
}

#[test]
fn checklist_147_fetch_results() {
    let client_id = id(WEB_ID);
    let body = serde_json::to_vec(&good_web()).expect("serialize");
    let json = Some("application/json");

    // The good case, with and without a charset parameter.
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
    ] {
        let got = validate_document(&client_id, 200, Some(ct), &body);
        assert!(got.is_ok(), "content type {ct:?}: {got:?}");
    }

    for status in [301, 302, 303, 307, 308] {
        assert_eq!(
            validate_document(&client_id, status, json, &body),
            Err(E::MetadataRedirect { status })
        );
    }
    for status in [201, 202, 204, 206, 400, 401, 404, 410, 500, 503] {
        assert_eq!(
            validate_document(&client_id, status, json, &body),
            Err(E::MetadataStatus { status })
        );
    }
    for ct in [
        None,
        Some("text/html"),
        Some("text/plain"),
        Some("application/jwk-set+json"),
        Some("application/jsonx"),
        Some(""),
    ] {
        assert_eq!(
            validate_document(&client_id, 200, ct, &body),
            Err(E::MetadataContentType {
                content_type: ct.map(str::to_owned)
            }),
            "content type {ct:?}"
        );
    }

    // Oversize: a valid document padded past the limit with whitespace.
    let mut big = body.clone();
    big.resize(MAX_DOCUMENT_BYTES + 1, b' ');
    assert_eq!(
        validate_document(&client_id, 200, json, &big),
        Err(E::MetadataTooLarge)
    );
    let mut at_limit = body.clone();
    at_limit.resize(MAX_DOCUMENT_BYTES, b' ');
    assert!(validate_document(&client_id, 200, json, &at_limit).is_ok());

    for bad in [
        &b"not json"[..],
        b"",
        b"[1,2]",
        b"\"https://x\"",
        b"{\"a\":",
    ] {
        assert!(
            matches!(
                validate_document(&client_id, 200, json, bad),
                Err(E::MetadataNotJson(_))
            ),
            "body {:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let wrong_type = with(good_web(), "dpop_bound_access_tokens", Some(json!("true")));
    assert!(matches!(
        validate(WEB_ID, &wrong_type),
        Err(E::MetadataMalformed(_))
    ));
    let bad_app_type = with(good_web(), "application_type", Some(json!("desktop")));
    assert!(matches!(
        validate(WEB_ID, &bad_app_type),
        Err(E::MetadataMalformed(_))
    ));

    // client_id in the document must equal the URL exactly.
    for other in [
        "https://app.example.com/other.json",
        "https://app.example.com/oauth-client-metadata.json/",
        "https://APP.example.com/oauth-client-metadata.json",
        "https://evil.example.net/oauth-client-metadata.json",
    ] {
        let doc = with(good_web(), "client_id", Some(json!(other)));
        assert_eq!(
            validate(WEB_ID, &doc),
            Err(E::ClientIdMismatch {
                expected: WEB_ID.into(),
                found: other.into()
            })
        );
    }
    assert_eq!(
        validate(WEB_ID, &with(good_web(), "client_id", None)),
        Err(E::ClientIdMissing)
    );

    // The development client has nothing to fetch.
    assert_eq!(
        validate_document(&id("http://localhost"), 200, json, &body),
        Err(E::NotDiscoverable)
    );

    for e in [
        E::MetadataRedirect { status: 302 },
        E::MetadataStatus { status: 201 },
        E::MetadataTooLarge,
        E::ClientIdMismatch {
            expected: "a".into(),
            found: "b".into(),
        },
    ] {
        assert_eq!(e.error_code(), OAuthErrorCode::InvalidClientMetadata);
        assert_eq!(e.error_code().as_str(), "invalid_client_metadata");
    }
}

#[test]
fn checklist_148_good_documents_pass() {
    let web = validate(WEB_ID, &good_web()).expect("public web client");
    assert!(!web.is_confidential());
    assert_eq!(web.application_type, ApplicationType::Web);
    assert_eq!(
        web.scopes().collect::<Vec<_>>(),
        ["atproto", "transition:generic"]
    );

    let conf = validate(WEB_ID, &good_confidential()).expect("confidential, jwks");
    assert!(conf.is_confidential());

    let with_uri = with(good_confidential(), "jwks", None);
    let with_uri = with(
        with_uri,
        "jwks_uri",
        Some(json!("https://app.example.com/jwks.json")),
    );
    assert!(
        validate(WEB_ID, &with_uri)
            .expect("jwks_uri")
            .is_confidential()
    );

    let es256k = with(
        good_confidential(),
        "jwks",
        Some(json!({ "keys": [Keypair::generate(Curve::K256).public_key().to_jwk()] })),
    );
    let es256k = with(
        es256k,
        "token_endpoint_auth_signing_alg",
        Some(json!("ES256K")),
    );
    assert!(validate(WEB_ID, &es256k).is_ok());

    // Defaults: application_type web, token_endpoint_auth_method none.
    let minimal = json!({
        "client_id": WEB_ID,
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "redirect_uris": ["https://other.example.org/cb"],
        "scope": "atproto",
        "dpop_bound_access_tokens": true,
        "unknown_member": {"ignored": true}
    });
    let m = validate(WEB_ID, &minimal).expect("minimal");
    assert_eq!(m.application_type, ApplicationType::Web);
    assert!(!m.is_confidential());

    // Round trip through serde (for caching) keeps it valid.
    let again: ClientMetadata =
        serde_json::from_value(serde_json::to_value(&conf).expect("to_value")).expect("back");
    assert_eq!(again, conf);
    assert_eq!(again.validate(&id(WEB_ID)), Ok(()));
}

#[test]
fn checklist_148_broken_documents() {
    let private_jwk = Keypair::generate(Curve::P256).to_jwk_private();
    let rsa_only = json!({"kty": "RSA", "n": "0vx7agoebGcQSuu", "e": "AQAB", "kid": "r"});
    let cases: Vec<(&str, Value, E)> = vec![
        (
            "dpop missing",
            with(good_web(), "dpop_bound_access_tokens", None),
            E::DpopRequired,
        ),
        (
            "dpop false",
            with(good_web(), "dpop_bound_access_tokens", Some(json!(false))),
            E::DpopRequired,
        ),
        (
            "grant_types missing",
            with(good_web(), "grant_types", None),
            E::GrantTypeMissing,
        ),
        (
            "grant_types without authorization_code",
            with(good_web(), "grant_types", Some(json!(["refresh_token"]))),
            E::GrantTypeMissing,
        ),
        (
            "implicit grant",
            with(
                good_web(),
                "grant_types",
                Some(json!(["authorization_code", "implicit"])),
            ),
            E::GrantTypeUnsupported {
                grant_type: "implicit".into(),
            },
        ),
        (
            "response_types missing",
            with(good_web(), "response_types", None),
            E::ResponseTypeMissing,
        ),
        (
            "response_types without code",
            with(good_web(), "response_types", Some(json!(["token"]))),
            E::ResponseTypeMissing,
        ),
        (
            "implicit response type",
            with(
                good_web(),
                "response_types",
                Some(json!(["code", "code token"])),
            ),
            E::ResponseTypeUnsupported {
                response_type: "code token".into(),
            },
        ),
        (
            "scope missing",
            with(good_web(), "scope", None),
            E::ScopeMissing,
        ),
        (
            "scope empty",
            with(good_web(), "scope", Some(json!(""))),
            E::ScopeMissing,
        ),
        (
            "scope without atproto",
            with(good_web(), "scope", Some(json!("transition:generic"))),
            E::ScopeMissingAtproto,
        ),
        (
            "scope with atproto as a prefix only",
            with(good_web(), "scope", Some(json!("atprotox"))),
            E::ScopeMissingAtproto,
        ),
        (
            "scope with double space",
            with(
                good_web(),
                "scope",
                Some(json!("atproto  transition:generic")),
            ),
            E::ScopeMalformed,
        ),
        (
            "scope with a quote",
            with(good_web(), "scope", Some(json!("atproto \"x\""))),
            E::ScopeMalformed,
        ),
        (
            "redirect_uris missing",
            with(good_web(), "redirect_uris", None),
            E::RedirectUrisMissing,
        ),
        (
            "redirect_uris empty",
            with(good_web(), "redirect_uris", Some(json!([]))),
            E::RedirectUrisMissing,
        ),
        (
            "client_secret_basic",
            with(
                good_web(),
                "token_endpoint_auth_method",
                Some(json!("client_secret_basic")),
            ),
            E::AuthMethodUnsupported {
                method: "client_secret_basic".into(),
            },
        ),
        (
            "signing alg none (confidential)",
            with(
                good_confidential(),
                "token_endpoint_auth_signing_alg",
                Some(json!("none")),
            ),
            E::SigningAlgNone,
        ),
        (
            "signing alg none (public)",
            with(
                good_web(),
                "token_endpoint_auth_signing_alg",
                Some(json!("none")),
            ),
            E::SigningAlgNone,
        ),
        (
            "signing alg on a public client",
            with(
                good_web(),
                "token_endpoint_auth_signing_alg",
                Some(json!("ES256")),
            ),
            E::SigningAlgForPublicClient,
        ),
        (
            "signing alg missing",
            with(good_confidential(), "token_endpoint_auth_signing_alg", None),
            E::SigningAlgMissing,
        ),
        (
            "signing alg unsupported",
            with(
                good_confidential(),
                "token_endpoint_auth_signing_alg",
                Some(json!("HS256")),
            ),
            E::SigningAlgUnsupported {
                alg: "HS256".into(),
            },
        ),
        (
            "confidential without keys",
            with(good_confidential(), "jwks", None),
            E::JwksMissing,
        ),
        (
            "confidential with jwks and jwks_uri",
            with(
                good_confidential(),
                "jwks_uri",
                Some(json!("https://app.example.com/jwks.json")),
            ),
            E::JwksBoth,
        ),
        (
            "jwks with no keys",
            with(good_confidential(), "jwks", Some(json!({"keys": []}))),
            E::JwksMalformed,
        ),
        (
            "jwks not a set",
            with(good_confidential(), "jwks", Some(public_jwk())),
            E::JwksMalformed,
        ),
        (
            "jwks with a private key",
            with(
                good_confidential(),
                "jwks",
                Some(json!({"keys": [public_jwk(), private_jwk]})),
            ),
            E::JwksPrivateKey,
        ),
        (
            "jwks with a symmetric key",
            with(
                good_confidential(),
                "jwks",
                Some(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})),
            ),
            E::JwksPrivateKey,
        ),
        (
            "jwks with no usable key",
            with(
                good_confidential(),
                "jwks",
                Some(json!({ "keys": [rsa_only] })),
            ),
            E::JwksNoUsableKey,
        ),
        (
            "jwks_uri over http",
            with(
                with(good_confidential(), "jwks", None),
                "jwks_uri",
                Some(json!("http://app.example.com/jwks.json")),
            ),
            E::JwksUriInvalid,
        ),
        (
            "jwks_uri on localhost",
            with(
                with(good_confidential(), "jwks", None),
                "jwks_uri",
                Some(json!("https://localhost/jwks.json")),
            ),
            E::JwksUriInvalid,
        ),
        (
            "client_uri on another host",
            with(
                good_web(),
                "client_uri",
                Some(json!("https://evil.example.net")),
            ),
            E::ClientUriInvalid,
        ),
        (
            "client_uri over http",
            with(
                good_web(),
                "client_uri",
                Some(json!("http://app.example.com")),
            ),
            E::ClientUriInvalid,
        ),
        (
            "logo_uri over http",
            with(
                good_web(),
                "logo_uri",
                Some(json!("http://cdn.example.net/logo.png")),
            ),
            E::InsecureUri { field: "logo_uri" },
        ),
        (
            "logo_uri data URL",
            with(
                good_web(),
                "logo_uri",
                Some(json!("data:image/png;base64,AAAA")),
            ),
            E::InsecureUri { field: "logo_uri" },
        ),
        (
            "tos_uri over http",
            with(
                good_web(),
                "tos_uri",
                Some(json!("http://app.example.com/tos")),
            ),
            E::InsecureUri { field: "tos_uri" },
        ),
        (
            "policy_uri not a URL",
            with(good_web(), "policy_uri", Some(json!("policy"))),
            E::InsecureUri {
                field: "policy_uri",
            },
        ),
        (
            "http redirect uri",
            with(
                good_web(),
                "redirect_uris",
                Some(json!(["http://app.example.com/callback"])),
            ),
            E::RedirectUri {
                uri: "http://app.example.com/callback".into(),
                problem: P::HttpNotLoopback,
            },
        ),
    ];
    for (name, doc, want) in cases {
        let got = validate(WEB_ID, &doc);
        assert_eq!(got, Err(want.clone()), "case {name:?}");
        let code = if matches!(want, E::RedirectUri { .. }) {
            OAuthErrorCode::InvalidRedirectUri
        } else {
            OAuthErrorCode::InvalidClientMetadata
        };
        assert_eq!(want.error_code(), code, "case {name:?}");
        assert!(!want.to_string().is_empty());
    }
}

#[test]
fn checklist_149_registered_redirect_uris() {
    use ApplicationType::{Native, Web};
    let native_id = "https://app.example.com/client-metadata.json";
    let cases: Vec<(ApplicationType, &str, Result<(), P>)> = vec![
        // Web clients: https.
        (Web, "https://app.example.com/callback", Ok(())),
        (Web, "https://other.example.org/cb?x=1", Ok(())),
        (Web, "https://app.example.com:8443/callback", Ok(())),
        (
            Web,
            "https://app.example.com:443/callback",
            Err(P::DefaultPort),
        ),
        (
            Web,
            "http://app.example.com/callback",
            Err(P::HttpNotLoopback),
        ),
        (Web, "http://127.0.0.1/callback", Err(P::LoopbackNotAllowed)),
        (Web, "http://[::1]/callback", Err(P::LoopbackNotAllowed)),
        (Web, "http://localhost/callback", Err(P::LocalhostName)),
        (Web, "https://localhost/callback", Err(P::HostNotPublic)),
        (Web, "https://127.0.0.1/callback", Err(P::HostNotPublic)),
        (Web, "https://app.local/callback", Err(P::HostNotPublic)),
        (Web, "https://app.example.com/cb#frag", Err(P::Fragment)),
        (Web, "https://u:p@app.example.com/cb", Err(P::Credentials)),
        (Web, "com.example.app:/callback", Err(P::CustomSchemeForWeb)),
        (Web, "javascript:alert(1)", Err(P::CustomSchemeForWeb)),
        (Web, "/callback", Err(P::NotUrl)),
        // Native clients: reversed-host custom scheme with one slash, or https on the origin.
        (Native, "com.example.app:/callback", Ok(())),
        (Native, "com.example.app:/", Ok(())),
        (Native, "https://app.example.com/callback", Ok(())),
        (Native, "https://app.example.com/oauth/native?x=1", Ok(())),
        (
            Native,
            "com.example.app://callback",
            Err(P::CustomSchemeForm),
        ),
        (Native, "com.example.app:callback", Err(P::CustomSchemeForm)),
        (
            Native,
            "com.example:/callback",
            Err(P::CustomSchemeMismatch {
                expected: "com.example.app".into(),
            }),
        ),
        (
            Native,
            "app.example.com:/callback",
            Err(P::CustomSchemeMismatch {
                expected: "com.example.app".into(),
            }),
        ),
        (
            Native,
            "myapp:/callback",
            Err(P::CustomSchemeMismatch {
                expected: "com.example.app".into(),
            }),
        ),
        (
            Native,
            "https://other.example.org/callback",
            Err(P::NativeHttpsOrigin),
        ),
        (
            Native,
            "https://example.com/callback",
            Err(P::NativeHttpsOrigin),
        ),
        (
            Native,
            "https://app.example.com:8443/callback",
            Err(P::NativeHttpsOrigin),
        ),
        (
            Native,
            "http://127.0.0.1/callback",
            Err(P::LoopbackNotAllowed),
        ),
        (
            Native,
            "http://[::1]:8080/callback",
            Err(P::LoopbackNotAllowed),
        ),
        (Native, "http://localhost/callback", Err(P::LocalhostName)),
        (Native, "com.example.app:/cb#x", Err(P::Fragment)),
    ];
    for (app_type, uri, want) in cases {
        let doc = with(good_web(), "client_id", Some(json!(native_id)));
        let doc = with(doc, "client_uri", None);
        let doc = with(doc, "application_type", Some(json!(app_type)));
        let doc = with(doc, "redirect_uris", Some(json!([uri])));
        let got = validate(native_id, &doc).map(|_| ());
        let want = want.map_err(|problem| E::RedirectUri {
            uri: uri.into(),
            problem,
        });
        assert_eq!(got, want, "{app_type:?} {uri:?}");
    }

    // One bad URI among good ones is enough to reject the document.
    let doc = with(
        good_web(),
        "redirect_uris",
        Some(json!([
            "https://app.example.com/a",
            "http://app.example.com/b"
        ])),
    );
    assert!(matches!(
        validate(WEB_ID, &doc),
        Err(E::RedirectUri {
            problem: P::HttpNotLoopback,
            ..
        })
    ));
}

#[test]
fn checklist_149_requested_redirect_uri_matching() {
    let native_id = "https://app.example.com/client-metadata.json";
    let doc = json!({
        "client_id": native_id,
        "application_type": "native",
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "redirect_uris": ["com.example.app:/callback", "https://app.example.com/cb"],
        "scope": "atproto",
        "dpop_bound_access_tokens": true
    });
    let native = validate(native_id, &doc).expect("native client");
    let loopback = id("http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb")
        .virtual_metadata()
        .expect("virtual");

    let cases: Vec<(&ClientMetadata, &str, bool)> = vec![
        (&native, "com.example.app:/callback", true),
        (&native, "https://app.example.com/cb", true),
        (&native, "com.example.app:/callback/", false),
        (&native, "com.example.app:/other", false),
        (&native, "https://app.example.com/cb?x=1", false),
        (&native, "https://app.example.com/cb#x", false),
        (&native, "https://app.example.com:443/cb", false),
        (&native, "https://APP.example.com/cb", false),
        (&native, "https://app.example.com/CB", false),
        // Loopback: path matched, port ignored.
        (&loopback, "http://127.0.0.1/cb", true),
        (&loopback, "http://127.0.0.1:8080/cb", true),
        (&loopback, "http://127.0.0.1:53117/cb", true),
        (&loopback, "http://127.0.0.1:8080/other", false),
        (&loopback, "http://127.0.0.1:8080/cb/", false),
        (&loopback, "http://127.0.0.1:8080/cb?x=1", false),
        (&loopback, "http://127.0.0.1:8080/cb#x", false),
        (&loopback, "http://[::1]:8080/cb", false),
        (&loopback, "http://localhost:8080/cb", false),
        (&loopback, "https://127.0.0.1:8080/cb", false),
        (&loopback, "http://u@127.0.0.1:8080/cb", false),
    ];
    for (metadata, uri, ok) in cases {
        let got = metadata.check_redirect_uri(uri);
        if ok {
            assert_eq!(got, Ok(()), "{uri:?}");
        } else {
            assert_eq!(
                got,
                Err(E::RedirectUriNotRegistered { uri: uri.into() }),
                "{uri:?}"
            );
            if let Err(e) = got {
                assert_eq!(e.error_code(), OAuthErrorCode::InvalidRequest);
            }
        }
    }
}

#[test]
fn checklist_150_localhost_client_with_parameters() {
    let s = "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&scope=atproto";
    let client_id = id(s);
    assert!(client_id.is_loopback());
    assert_eq!(client_id.as_str(), s);
    assert!(client_id.metadata_url().is_none());
    let ClientId::Loopback(l) = &client_id else {
        panic!("not a loopback client: {client_id:?}");
    };
    assert_eq!(l.redirect_uris(), ["http://127.0.0.1/cb"]);
    assert_eq!(l.scope(), "atproto");

    let m = client_id.virtual_metadata().expect("virtual metadata");
    assert_eq!(m.client_id, s);
    assert_eq!(m.redirect_uris, ["http://127.0.0.1/cb"]);
    assert_eq!(m.scope, "atproto");
    assert_eq!(m.application_type, ApplicationType::Native);
    assert_eq!(m.token_endpoint_auth_method.as_deref(), Some("none"));
    assert!(!m.is_confidential());
    assert!(m.dpop_bound_access_tokens);
    assert_eq!(m.grant_types, ["authorization_code", "refresh_token"]);
    assert!(m.response_types.iter().any(|r| r == "code"));
    assert!(m.client_name.is_some());
    assert_eq!(m.validate(&client_id), Ok(()));

    // Several redirect_uri parameters, IPv6, a '+'-encoded multi-value scope.
    let s = "http://localhost/?redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fa\
             &redirect_uri=http%3A%2F%2F%5B%3A%3A1%5D%2Fb&scope=atproto+transition%3Ageneric";
    let m = id(s).virtual_metadata().expect("virtual metadata");
    assert_eq!(
        m.redirect_uris,
        ["http://127.0.0.1:3000/a", "http://[::1]/b"]
    );
    assert_eq!(m.scope, "atproto transition:generic");
    assert_eq!(m.validate(&id(s)), Ok(()));
    assert_eq!(m.check_redirect_uri("http://127.0.0.1:4000/a"), Ok(()));
    assert_eq!(m.check_redirect_uri("http://[::1]:4000/b"), Ok(()));
}

#[test]
fn checklist_150_localhost_client_defaults() {
    for s in [
        "http://localhost",
        "http://localhost/",
        "http://localhost?",
        "http://localhost/?",
    ] {
        let client_id = id(s);
        let m = client_id.virtual_metadata().expect("virtual metadata");
        assert_eq!(m.client_id, s);
        assert_eq!(m.redirect_uris, ["http://127.0.0.1/", "http://[::1]/"]);
        assert_eq!(m.scope, "atproto");
        assert_eq!(m.validate(&client_id), Ok(()), "{s:?}");
        assert_eq!(m.check_redirect_uri("http://127.0.0.1:1234/"), Ok(()));
        assert_eq!(m.check_redirect_uri("http://[::1]:1234/"), Ok(()));
        assert!(m.check_redirect_uri("http://127.0.0.1:1234/cb").is_err());
    }
    // Only the scope given: default redirect URIs.
    let m = id("http://localhost?scope=atproto%20transition%3Ageneric")
        .virtual_metadata()
        .expect("virtual metadata");
    assert_eq!(m.redirect_uris, ["http://127.0.0.1/", "http://[::1]/"]);
    assert_eq!(m.scope, "atproto transition:generic");
    // Only a redirect URI given: default scope.
    let m = id("http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2F")
        .virtual_metadata()
        .expect("virtual metadata");
    assert_eq!(m.redirect_uris, ["http://127.0.0.1/"]);
    assert_eq!(m.scope, "atproto");
}

#[test]
fn checklist_150_localhost_client_rejections() {
    let redirect = |uri: &str, problem: P| E::RedirectUri {
        uri: uri.into(),
        problem,
    };
    let cases: Vec<(&str, E)> = vec![
        ("http://localhost:8080", E::ClientIdPort),
        ("http://localhost:80/", E::ClientIdPort),
        ("http://localhost/cb", E::LoopbackClientIdPath),
        (
            "http://localhost/client-metadata.json",
            E::LoopbackClientIdPath,
        ),
        ("http://localhost#x", E::ClientIdFragment),
        ("http://localhost/?scope=atproto#x", E::ClientIdFragment),
        ("http://user@localhost", E::ClientIdCredentials),
        (
            "http://LOCALHOST",
            E::ClientIdNotCanonical {
                expected: "http://localhost/".into(),
            },
        ),
        ("https://localhost", E::ClientIdHost),
        ("http://127.0.0.1", E::ClientIdScheme),
        ("http://[::1]/", E::ClientIdScheme),
        ("http://localhost.example.com/", E::ClientIdScheme),
        (
            "http://localhost?client_name=x",
            E::LoopbackClientIdParam {
                name: "client_name".into(),
            },
        ),
        (
            "http://localhost?scope=atproto&scope=atproto",
            E::LoopbackClientIdDuplicateScope,
        ),
        (
            "http://localhost?scope=transition%3Ageneric",
            E::ScopeMissingAtproto,
        ),
        ("http://localhost?scope=", E::ScopeMissing),
        (
            "http://localhost?redirect_uri=http%3A%2F%2Flocalhost%2Fcb",
            redirect("http://localhost/cb", P::LocalhostName),
        ),
        (
            "http://localhost?redirect_uri=https%3A%2F%2F127.0.0.1%2Fcb",
            redirect("https://127.0.0.1/cb", P::LoopbackClientNeedsLoopback),
        ),
        (
            "http://localhost?redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb",
            redirect("https://app.example.com/cb", P::LoopbackClientNeedsLoopback),
        ),
        (
            "http://localhost?redirect_uri=http%3A%2F%2F10.0.0.1%2Fcb",
            redirect("http://10.0.0.1/cb", P::LoopbackClientNeedsLoopback),
        ),
        (
            "http://localhost?redirect_uri=com.example.app%3A%2Fcb",
            redirect("com.example.app:/cb", P::LoopbackClientNeedsLoopback),
        ),
        (
            "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb%23f",
            redirect("http://127.0.0.1/cb#f", P::Fragment),
        ),
        (
            "http://localhost?redirect_uri=cb",
            redirect("cb", P::NotUrl),
        ),
    ];
    for (s, want) in cases {
        assert_eq!(ClientId::parse(s), Err(want), "client_id {s:?}");
    }
}

#[test]
fn checklist_150_localhost_metadata_must_stay_public_native() {
    let client_id = id("http://localhost");
    let mut m = client_id.virtual_metadata().expect("virtual metadata");
    m.application_type = ApplicationType::Web;
    assert_eq!(m.validate(&client_id), Err(E::LoopbackClientType));

    let mut m = client_id.virtual_metadata().expect("virtual metadata");
    m.redirect_uris = vec!["https://app.example.com/cb".into()];
    assert_eq!(
        m.validate(&client_id),
        Err(E::RedirectUri {
            uri: "https://app.example.com/cb".into(),
            problem: P::LoopbackClientNeedsLoopback
        })
    );

    // A document claiming to be the localhost client is not accepted for a web client_id.
    let mut m = client_id.virtual_metadata().expect("virtual metadata");
    m.client_id = WEB_ID.into();
    m.application_type = ApplicationType::Web;
    assert!(m.validate(&id(WEB_ID)).is_err());
}
