//! did:web locations: hostname-level only, port only for localhost, handle TLD rules
//! (checklist #115).

use identity::{DidWebError, DidWebLocation, did_web_for_host, did_web_for_localhost};
use syntax::Did;

/// One did:web and where its document lives, or why it is refused.
struct Case {
    did: &'static str,
    expect: Result<&'static str, DidWebError>,
}

fn check(case: &Case) {
    let did: Did = case.did.parse().unwrap();
    let got = DidWebLocation::for_did(&did).map(|l| l.document_url());
    assert_eq!(
        got.as_deref().map_err(Clone::clone),
        case.expect.clone(),
        "{}",
        case.did
    );
}

#[test]
fn did_web_locations() {
    let cases = [
        Case {
            did: "did:web:example.com",
            expect: Ok("https://example.com/.well-known/did.json"),
        },
        Case {
            did: "did:web:Sub.Example.COM",
            expect: Ok("https://sub.example.com/.well-known/did.json"),
        },
        Case {
            did: "did:web:localhost",
            expect: Ok("http://localhost/.well-known/did.json"),
        },
        Case {
            did: "did:web:localhost%3A2583",
            expect: Ok("http://localhost:2583/.well-known/did.json"),
        },
        Case {
            did: "did:web:localhost%3a8080",
            expect: Ok("http://localhost:8080/.well-known/did.json"),
        },
        Case {
            did: "did:web:example.com:user:alice",
            expect: Err(DidWebError::PathNotSupported),
        },
        Case {
            did: "did:web:example.com%3A443",
            expect: Err(DidWebError::PortNotAllowed),
        },
        Case {
            did: "did:web:localhost%3A0",
            expect: Err(DidWebError::InvalidPort("0".into())),
        },
        Case {
            did: "did:web:localhost%3Ahttp",
            expect: Err(DidWebError::InvalidPort("http".into())),
        },
        Case {
            did: "did:web:localhost%3A99999",
            expect: Err(DidWebError::InvalidPort("99999".into())),
        },
        Case {
            did: "did:web:exa%2Emple.com",
            expect: Err(DidWebError::BadEscape),
        },
        Case {
            did: "did:web:printer.local",
            expect: Err(DidWebError::DisallowedTld("printer.local".into())),
        },
        Case {
            did: "did:web:127.0.0.1",
            expect: Err(DidWebError::InvalidHost("127.0.0.1".into())),
        },
        Case {
            did: "did:web:example",
            expect: Err(DidWebError::InvalidHost("example".into())),
        },
        Case {
            did: "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
            expect: Err(DidWebError::NotDidWeb),
        },
    ];
    for case in &cases {
        check(case);
    }
    println!("did:web: {} cases", cases.len());
}

#[test]
fn naming_our_own_did_web() {
    let did = did_web_for_host(&"pds.example.com".parse().unwrap());
    assert_eq!(did.as_str(), "did:web:pds.example.com");
    let loc = DidWebLocation::for_did(&did).unwrap();
    assert_eq!(
        (loc.host(), loc.port(), loc.is_localhost()),
        ("pds.example.com", None, false)
    );

    let dev = did_web_for_localhost(2583);
    assert_eq!(dev.as_str(), "did:web:localhost%3A2583");
    let loc = DidWebLocation::for_did(&dev).unwrap();
    assert_eq!(
        (loc.host(), loc.port(), loc.is_localhost()),
        ("localhost", Some(2583), true)
    );
}
