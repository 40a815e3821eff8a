//! Pushed authorization requests (checklist #151, #153, #154, #164): one good request, then
//! one thing wrong at a time, each refused with its OAuth error code.

use oauth::authorization::{ParError, ResponseMode, parse_par};
use oauth::client_metadata::ClientMetadata;
use oauth::pkce::PkceError;

const CLIENT: &str = "https://app.example.com/client-metadata.json";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn client() -> ClientMetadata {
    ClientMetadata {
        client_id: CLIENT.into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        response_types: vec!["code".into()],
        redirect_uris: vec![
            "https://app.example.com/callback".into(),
            "https://app.example.com/other".into(),
        ],
        scope: "atproto transition:generic transition:email".into(),
        dpop_bound_access_tokens: true,
        ..ClientMetadata::default()
    }
}

fn params() -> Vec<(String, String)> {
    [
        ("client_id", CLIENT),
        ("response_type", "code"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st-1"),
        ("redirect_uri", "https://app.example.com/callback"),
        ("scope", "atproto transition:generic"),
        ("login_hint", "alice.example.com"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn with(key: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = params().into_iter().filter(|(k, _)| k != key).collect();
    if let Some(v) = value {
        p.push((key.to_owned(), v.to_owned()));
    }
    p
}

#[test]
fn checklist_151_a_good_request() {
    let req = parse_par(&params(), &client(), Some("jkt-1")).expect("valid PAR");
    assert_eq!(req.client_id, CLIENT);
    assert_eq!(req.redirect_uri, "https://app.example.com/callback");
    assert_eq!(req.state, "st-1");
    assert_eq!(req.scope, "atproto transition:generic");
    assert_eq!(req.code_challenge, CHALLENGE);
    assert_eq!(req.response_mode, ResponseMode::Query);
    assert_eq!(req.login_hint.as_deref(), Some("alice.example.com"));
    assert_eq!(req.dpop_jkt.as_deref(), Some("jkt-1"));
    // Unknown parameters are ignored; repeated scopes collapse.
    let mut p = with("scope", Some("atproto atproto transition:email"));
    p.push(("ui_locales".into(), "en".into()));
    let req = parse_par(&p, &client(), None).expect("valid");
    assert_eq!(req.scope, "atproto transition:email");
    assert_eq!(req.dpop_jkt, None);
    // The only registered redirect URI is used when none is given.
    let mut one = client();
    one.redirect_uris.truncate(1);
    let req = parse_par(&with("redirect_uri", None), &one, None).expect("default redirect");
    assert_eq!(req.redirect_uri, "https://app.example.com/callback");
}

#[test]
fn checklist_151_each_broken_request_is_refused_with_its_code() {
    // (what, parameters, error, OAuth error code)
    type Case = (&'static str, Vec<(String, String)>, ParError, &'static str);
    let cases: Vec<Case> = vec![
        (
            "no client_id",
            with("client_id", None),
            ParError::Missing("client_id"),
            "invalid_request",
        ),
        (
            "other client_id",
            with("client_id", Some("https://evil.example.com/m.json")),
            ParError::ClientMismatch,
            "invalid_request",
        ),
        (
            "response_type token",
            with("response_type", Some("token")),
            ParError::ResponseType,
            "unsupported_response_type",
        ),
        (
            "no response_type",
            with("response_type", None),
            ParError::Missing("response_type"),
            "invalid_request",
        ),
        (
            "no challenge",
            with("code_challenge", None),
            ParError::Missing("code_challenge"),
            "invalid_request",
        ),
        (
            "plain PKCE",
            with("code_challenge_method", Some("plain")),
            ParError::Pkce(PkceError::Method),
            "invalid_request",
        ),
        (
            "no PKCE method",
            with("code_challenge_method", None),
            ParError::Pkce(PkceError::Method),
            "invalid_request",
        ),
        (
            "bad challenge",
            with("code_challenge", Some("short")),
            ParError::Pkce(PkceError::Challenge),
            "invalid_request",
        ),
        (
            "no state",
            with("state", None),
            ParError::Missing("state"),
            "invalid_request",
        ),
        (
            "empty state",
            with("state", Some("")),
            ParError::Missing("state"),
            "invalid_request",
        ),
        (
            "huge state",
            with("state", Some(&"s".repeat(2049))),
            ParError::TooLong("state"),
            "invalid_request",
        ),
        (
            "no redirect_uri with two registered",
            with("redirect_uri", None),
            ParError::Missing("redirect_uri"),
            "invalid_request",
        ),
        (
            "no scope",
            with("scope", None),
            ParError::Missing("scope"),
            "invalid_request",
        ),
        (
            "scope without atproto",
            with("scope", Some("transition:generic")),
            ParError::NoAtproto,
            "invalid_scope",
        ),
        (
            "undeclared scope",
            with("scope", Some("atproto transition:chat.bsky")),
            ParError::ScopeNotDeclared("transition:chat.bsky".into()),
            "invalid_scope",
        ),
        (
            "response_mode web_message",
            with("response_mode", Some("web_message")),
            ParError::ResponseMode,
            "invalid_request",
        ),
        (
            "prompt create",
            with("prompt", Some("create")),
            ParError::Prompt,
            "invalid_request",
        ),
        (
            "request object",
            with("request", Some("eyJ...")),
            ParError::Unsupported("request"),
            "request_not_supported",
        ),
        (
            "request_uri at PAR",
            with("request_uri", Some("urn:ietf:params:oauth:request_uri:x")),
            ParError::Unsupported("request_uri"),
            "request_uri_not_supported",
        ),
        (
            "dpop_jkt not the proof's",
            with("dpop_jkt", Some("jkt-2")),
            ParError::DpopJkt,
            "invalid_request",
        ),
    ];
    for (what, p, want, code) in cases {
        let got = parse_par(&p, &client(), Some("jkt-1")).expect_err(what);
        assert_eq!(got, want, "{what}");
        assert_eq!(got.error_code().as_str(), code, "{what}");
    }
}

#[test]
fn checklist_154_parameters_are_not_repeated_and_redirects_are_registered() {
    let mut p = params();
    p.push(("state".into(), "st-2".into()));
    assert_eq!(
        parse_par(&p, &client(), None),
        Err(ParError::Repeated("state".into()))
    );
    let got = parse_par(
        &with("redirect_uri", Some("https://evil.example.com/cb")),
        &client(),
        None,
    )
    .expect_err("unregistered redirect");
    assert!(matches!(got, ParError::RedirectUri(_)), "{got:?}");
    assert_eq!(got.error_code().as_str(), "invalid_request");
    // dpop_jkt alone binds the code to that key.
    let req = parse_par(&with("dpop_jkt", Some("jkt-9")), &client(), None).expect("dpop_jkt");
    assert_eq!(req.dpop_jkt.as_deref(), Some("jkt-9"));
    for (mode, want) in [
        ("fragment", ResponseMode::Fragment),
        ("form_post", ResponseMode::FormPost),
        ("query", ResponseMode::Query),
    ] {
        let req = parse_par(&with("response_mode", Some(mode)), &client(), None).expect(mode);
        assert_eq!(req.response_mode, want);
    }
}
