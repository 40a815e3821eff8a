//! The handle-resolution core: TXT answers (0, 1, 2-same, 2-different records), well-known
//! bodies, DNS-first resolution through a mock [`HandleResolver`], and the bidirectional check
//! (checklist #116-#118, #120).

use std::collections::HashMap;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use crypto::{Curve, Keypair};
use identity::{
    BoxFuture, DidDocument, HandleCheckError, HandleResolver, LookupError, ResolutionMethod,
    ResolveHandleError, TxtError, WellKnownError, check_bidirectional, parse_txt_records,
    parse_well_known_body, resolve_handle, txt_record_name, well_known_url,
};
use syntax::{Did, Handle};

const ALICE: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
const BOB: &str = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";

fn did(s: &str) -> Did {
    s.parse().unwrap()
}

fn handle(s: &str) -> Handle {
    s.parse().unwrap()
}

/// One TXT answer set and its outcome.
struct TxtCase {
    records: &'static [&'static str],
    expect: Result<&'static str, fn(&TxtError) -> bool>,
}

fn check_txt(case: &TxtCase) {
    match (parse_txt_records(case.records), &case.expect) {
        (Ok(got), Ok(want)) => assert_eq!(got.as_str(), *want, "{:?}", case.records),
        (Err(e), Err(kind)) => assert!(kind(&e), "{:?}: {e}", case.records),
        (got, _) => panic!("{:?}: unexpected {got:?}", case.records),
    }
}

#[test]
fn txt_answers() {
    const ALICE_TXT: &str = "did=did:plc:ewvi7nxzyoun6zhxrhs64oiz";
    const BOB_TXT: &str = "did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    let cases = [
        TxtCase {
            records: &[],
            expect: Err(|e| *e == TxtError::NoRecord),
        },
        TxtCase {
            records: &["v=spf1 -all", "hello"],
            expect: Err(|e| *e == TxtError::NoRecord),
        },
        TxtCase {
            records: &[ALICE_TXT],
            expect: Ok(ALICE),
        },
        TxtCase {
            records: &["v=spf1 -all", ALICE_TXT],
            expect: Ok(ALICE),
        },
        TxtCase {
            records: &[ALICE_TXT, ALICE_TXT],
            expect: Ok(ALICE),
        },
        TxtCase {
            records: &[ALICE_TXT, BOB_TXT],
            expect: Err(|e| matches!(e, TxtError::Conflicting(d) if d.len() == 2)),
        },
        TxtCase {
            records: &["did=not-a-did"],
            expect: Err(|e| matches!(e, TxtError::InvalidDid { .. })),
        },
        TxtCase {
            records: &["did="],
            expect: Err(|e| matches!(e, TxtError::InvalidDid { .. })),
        },
        TxtCase {
            records: &["DID=did:plc:ewvi7nxzyoun6zhxrhs64oiz"],
            expect: Err(|e| *e == TxtError::NoRecord),
        },
    ];
    for case in &cases {
        check_txt(case);
    }
    println!("handle TXT: {} cases", cases.len());
}

#[test]
fn well_known_bodies() {
    assert_eq!(
        parse_well_known_body(format!("{ALICE}\n").as_bytes()),
        Ok(did(ALICE))
    );
    assert_eq!(
        parse_well_known_body(format!("  {ALICE}\r\n\t").as_bytes()),
        Ok(did(ALICE))
    );
    assert!(matches!(
        parse_well_known_body(b""),
        Err(WellKnownError::InvalidDid(_))
    ));
    assert!(matches!(
        parse_well_known_body(b"<html>did:plc:x</html>"),
        Err(WellKnownError::InvalidDid(_))
    ));
    assert_eq!(
        parse_well_known_body(&[0xff, 0xfe]),
        Err(WellKnownError::NotUtf8)
    );
    assert_eq!(
        parse_well_known_body(&vec![b' '; 5000]),
        Err(WellKnownError::TooLarge)
    );
    assert_eq!(
        txt_record_name(&handle("Alice.Example.com")),
        "_atproto.alice.example.com"
    );
    assert_eq!(
        well_known_url(&handle("alice.example.com")),
        "https://alice.example.com/.well-known/atproto-did"
    );
}

/// A resolver answering from fixed tables; names not in a table are [`LookupError::NotFound`].
#[derive(Default)]
struct Mock {
    txt: HashMap<String, Result<Vec<String>, LookupError>>,
    web: HashMap<String, Result<Vec<u8>, LookupError>>,
}

impl Mock {
    fn txt(mut self, handle: &str, records: &[&str]) -> Self {
        let records = records.iter().map(|r| r.to_string()).collect();
        self.txt.insert(format!("_atproto.{handle}"), Ok(records));
        self
    }
    fn txt_fails(mut self, handle: &str) -> Self {
        self.txt.insert(
            format!("_atproto.{handle}"),
            Err(LookupError::Failed("SERVFAIL".into())),
        );
        self
    }
    fn web(mut self, handle: &str, body: &str) -> Self {
        self.web
            .insert(handle.to_owned(), Ok(body.as_bytes().to_vec()));
        self
    }
}

impl HandleResolver for Mock {
    fn lookup_txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<String>, LookupError>> {
        let answer = self
            .txt
            .get(name)
            .cloned()
            .unwrap_or(Err(LookupError::NotFound));
        Box::pin(async move { answer })
    }
    fn fetch_well_known<'a>(
        &'a self,
        handle: &'a Handle,
    ) -> BoxFuture<'a, Result<Vec<u8>, LookupError>> {
        let answer = self
            .web
            .get(handle.as_str())
            .cloned()
            .unwrap_or(Err(LookupError::NotFound));
        Box::pin(async move { answer })
    }
}

/// Runs a future that never waits (the mock answers immediately).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[test]
fn resolution_prefers_dns_then_https() {
    let alice_txt = format!("did={ALICE}");
    let bob_txt = format!("did={BOB}");
    let mock = Mock::default()
        .txt("dns.example.com", &[&alice_txt])
        .web("web.example.com", &format!("{ALICE}\n"))
        // Both methods answer, differently: DNS wins (checklist #118).
        .txt("both.example.com", &[&alice_txt])
        .web("both.example.com", BOB)
        .txt("split.example.com", &[&alice_txt, &bob_txt])
        .web("split.example.com", ALICE)
        .txt_fails("flaky.example.com")
        .web("flaky.example.com", ALICE)
        .txt("junk.example.com", &["did=???"])
        .web("junk.example.com", ALICE);
    let resolve = |h: &str| block_on(resolve_handle(&mock, &handle(h)));

    assert_eq!(
        resolve("dns.example.com"),
        Ok((did(ALICE), ResolutionMethod::Dns))
    );
    assert_eq!(
        resolve("web.example.com"),
        Ok((did(ALICE), ResolutionMethod::Https))
    );
    assert_eq!(
        resolve("both.example.com"),
        Ok((did(ALICE), ResolutionMethod::Dns))
    );
    assert_eq!(
        resolve("flaky.example.com"),
        Ok((did(ALICE), ResolutionMethod::Https))
    );
    assert_eq!(
        resolve("junk.example.com"),
        Ok((did(ALICE), ResolutionMethod::Https))
    );
    assert!(
        matches!(resolve("split.example.com"), Err(ResolveHandleError::Ambiguous(d)) if d.len() == 2)
    );
    assert!(matches!(
        resolve("nobody.example.com"),
        Err(ResolveHandleError::NotFound { .. })
    ));
    assert!(matches!(
        resolve("printer.local"),
        Err(ResolveHandleError::NotResolvable(_))
    ));
    assert!(matches!(
        resolve("handle.invalid"),
        Err(ResolveHandleError::NotResolvable(_))
    ));

    // Object safety: the server can hold the resolver as `Arc<dyn HandleResolver>`.
    let dynamic: std::sync::Arc<dyn HandleResolver> = std::sync::Arc::new(mock);
    assert!(block_on(resolve_handle(dynamic.as_ref(), &handle("dns.example.com"))).is_ok());
}

#[test]
fn bidirectional_check() {
    let key = Keypair::generate(Curve::K256).public_key();
    let alice = did(ALICE);
    let h = handle("alice.example.com");
    let doc = DidDocument::atproto(&alice, Some(&h), &key, "https://pds.example.com");
    assert_eq!(check_bidirectional(&h, &alice, &doc), Ok(()));
    // Handles compare case-insensitively (both sides are normalised to lowercase).
    assert_eq!(
        check_bidirectional(&handle("ALICE.example.COM"), &alice, &doc),
        Ok(())
    );

    // The handle points at a DID whose document claims another handle (checklist #120).
    let other = handle("mallory.example.com");
    assert_eq!(
        check_bidirectional(&other, &alice, &doc),
        Err(HandleCheckError::NotClaimed {
            handle: other,
            claimed: Some(h.clone())
        })
    );
    // A document with no handle at all.
    let bare = DidDocument::atproto(&alice, None, &key, "https://pds.example.com");
    assert!(matches!(
        check_bidirectional(&h, &alice, &bare),
        Err(HandleCheckError::NotClaimed { claimed: None, .. })
    ));
    // The document fetched is not the resolved DID's.
    assert!(matches!(
        check_bidirectional(&h, &did(BOB), &doc),
        Err(HandleCheckError::WrongDocument { .. })
    ));
}
