//! Handle resolution over real DNS against a tiny UDP responder on loopback (checklist #116,
//! #118), and `com.atproto.identity.resolveDid`, `resolveIdentity`, `refreshIdentity` with the
//! bidirectional handle check (checklist #120).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record};
use identity::{HandleResolver, LookupError};
use relay::handle_resolver::NetHandleResolver;
use relay::ssrf::{OutboundPolicy, SafeClient};
use serde_json::json;
use syntax::Handle;
use tokio::net::UdpSocket;

use crate::common::{Answer, TestRelay, https_server};
use crate::pds_flow::{create_account, get, ok, post};

/// TXT records by query name (lowercase, with the trailing dot); unknown names are NXDOMAIN.
type Zone = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// A DNS responder on `127.0.0.1:<random>` answering TXT queries from `zone`.
async fn dns_responder(zone: Zone) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = Message::new();
            reply
                .set_id(query.id())
                .set_message_type(MessageType::Response)
                .set_op_code(query.op_code())
                .set_recursion_desired(query.recursion_desired())
                .set_recursion_available(true)
                .set_authoritative(true);
            reply.add_queries(query.queries().to_vec());
            let records = query.queries().first().and_then(|q| {
                let name = q.name().to_ascii().to_ascii_lowercase();
                zone.lock()
                    .unwrap()
                    .get(&name)
                    .cloned()
                    .map(|r| (q.name().clone(), r))
            });
            match records {
                Some((name, txts)) => {
                    for t in txts {
                        reply.add_answer(Record::from_rdata(
                            name.clone(),
                            60,
                            RData::TXT(TXT::new(vec![t])),
                        ));
                    }
                }
                None => {
                    reply.set_response_code(ResponseCode::NXDomain);
                }
            }
            let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

fn zone(entries: &[(&str, &[&str])]) -> Zone {
    Arc::new(Mutex::new(
        entries
            .iter()
            .map(|(name, txts)| {
                (
                    format!("{name}."),
                    txts.iter().map(|t| (*t).to_owned()).collect(),
                )
            })
            .collect(),
    ))
}

#[tokio::test]
async fn checklist_116_net_handle_resolver_reads_txt_from_the_configured_nameserver() {
    let did_a = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
    let did_b = "did:plc:44ybard66vv44zksje25o7dz";
    let z = zone(&[
        ("_atproto.one.example.com", &[&format!("did={did_a}")]),
        (
            "_atproto.junk.example.com",
            &["v=spf1 -all", &format!("did={did_a}"), "did:plc:nope"],
        ),
        (
            "_atproto.same.example.com",
            &[&format!("did={did_a}"), &format!("did={did_a}")],
        ),
        (
            "_atproto.two.example.com",
            &[&format!("did={did_a}"), &format!("did={did_b}")],
        ),
    ]);
    let ns = dns_responder(z).await;
    let http = SafeClient::new(OutboundPolicy::PUBLIC_ONLY).unwrap();
    let resolver = NetHandleResolver::with_nameserver(http, ns);

    // Raw lookups: the records as published; NXDOMAIN is NotFound.
    let txt = resolver
        .lookup_txt("_atproto.junk.example.com")
        .await
        .unwrap();
    assert_eq!(txt.len(), 3);
    assert!(txt.contains(&format!("did={did_a}")));
    assert!(matches!(
        resolver.lookup_txt("_atproto.none.example.com").await,
        Err(LookupError::NotFound)
    ));

    let resolve = |h: &str| {
        let handle: Handle = h.parse().unwrap();
        let resolver = &resolver;
        async move { identity::resolve_handle(resolver, &handle).await }
    };
    for (handle, cases) in [
        ("one.example.com", "1 record"),
        ("junk.example.com", "non-did= values ignored"),
        ("same.example.com", "2 records, same DID"),
    ] {
        let (did, method) = resolve(handle).await.expect(cases);
        assert_eq!(did.as_str(), did_a, "{cases}");
        assert_eq!(method, identity::ResolutionMethod::Dns, "{cases}");
    }
    assert!(
        resolve("two.example.com").await.is_err(),
        "2 records naming different DIDs fail"
    );
    println!("DNS TXT handle resolution: 5 cases");
}

#[tokio::test]
async fn checklist_120_resolve_did_identity_and_refresh() {
    let z = zone(&[]);
    let ns = dns_responder(z.clone()).await;
    let ns = ns.to_string();
    let relay = TestRelay::start(&[("RELAY_DNS_NAMESERVER", ns.as_str())]).await;
    let alice = create_account(&relay, "alice.test").await;

    // resolveDid: the document from the PLC directory.
    let out = ok(get(
        &relay,
        &format!("com.atproto.identity.resolveDid?did={}", alice.did),
        None,
    )
    .await);
    assert_eq!(out["didDoc"]["id"], alice.did.as_str());
    assert_eq!(out["didDoc"]["alsoKnownAs"][0], "at://alice.test");
    get(
        &relay,
        "com.atproto.identity.resolveDid?did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
        None,
    )
    .await
    .assert_xrpc_error(400, "DidNotFound");
    get(
        &relay,
        "com.atproto.identity.resolveDid?did=not-a-did",
        None,
    )
    .await
    .assert_xrpc_error(400, "InvalidRequest");

    // resolveIdentity by DID and by handle (a local handle), and refreshIdentity.
    for id in [alice.did.as_str(), "alice.test", "ALICE.test"] {
        let out = ok(get(
            &relay,
            &format!("com.atproto.identity.resolveIdentity?identifier={id}"),
            None,
        )
        .await);
        assert_eq!(out["did"], alice.did.as_str(), "{id}");
        assert_eq!(out["handle"], "alice.test", "{id}");
        assert_eq!(out["didDoc"]["id"], alice.did.as_str());
    }
    let out = ok(post(
        &relay,
        "com.atproto.identity.refreshIdentity",
        None,
        json!({ "identifier": alice.did }),
    )
    .await);
    assert_eq!(out["handle"], "alice.test");
    get(
        &relay,
        "com.atproto.identity.resolveIdentity?identifier=nobody.test",
        None,
    )
    .await
    .assert_xrpc_error(400, "HandleNotFound");

    // An external handle over the mock DNS: updateHandle accepts it, resolveHandle and
    // resolveIdentity find it both ways.
    z.lock().unwrap().insert(
        "_atproto.alice.example.com.".to_owned(),
        vec![format!("did={}", alice.did)],
    );
    z.lock().unwrap().insert(
        "_atproto.mallory.example.com.".to_owned(),
        vec![format!("did={}", alice.did)],
    );
    ok(post(
        &relay,
        "com.atproto.identity.updateHandle",
        Some(&alice.access),
        json!({ "handle": "alice.example.com" }),
    )
    .await);
    let out = ok(get(
        &relay,
        "com.atproto.identity.resolveHandle?handle=alice.example.com",
        None,
    )
    .await);
    assert_eq!(out["did"], alice.did.as_str());
    let out = ok(get(
        &relay,
        &format!(
            "com.atproto.identity.resolveIdentity?identifier={}",
            alice.did
        ),
        None,
    )
    .await);
    assert_eq!(out["handle"], "alice.example.com");
    // A handle whose TXT points at alice, but which her document does not claim.
    let out = ok(get(
        &relay,
        "com.atproto.identity.resolveIdentity?identifier=mallory.example.com",
        None,
    )
    .await);
    assert_eq!(out["did"], alice.did.as_str());
    assert_eq!(out["handle"], "handle.invalid");
}

/// The handle syntax vectors of `interop-tests/atproto-interop-tests/syntax/`, without comments
/// and blank lines.
fn handle_vectors(name: &str) -> Vec<String> {
    let path = format!(
        "{}/../interop-tests/atproto-interop-tests/syntax/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn checklist_122_resolve_handle_rejects_every_invalid_handle_and_no_valid_one() {
    // Nothing resolves (the nameserver knows no name), so a valid handle is HandleNotFound;
    // only syntax makes InvalidRequest.
    let ns = dns_responder(zone(&[])).await.to_string();
    let relay = TestRelay::start(&[("RELAY_DNS_NAMESERVER", ns.as_str())]).await;
    let invalid = handle_vectors("handle_syntax_invalid.txt");
    let valid = handle_vectors("handle_syntax_valid.txt");
    assert!(invalid.len() >= 40 && valid.len() >= 60, "vectors read");
    for h in &invalid {
        let path = format!(
            "com.atproto.identity.resolveHandle?handle={}",
            query_escape(h)
        );
        get(&relay, &path, None)
            .await
            .assert_xrpc_error(400, "InvalidRequest");
    }
    // Concurrently: each valid one is looked up (DNS, then HTTPS), and fails to resolve.
    let relay = &relay;
    let replies = futures::future::join_all(valid.iter().map(|h| async move {
        let path = format!(
            "com.atproto.identity.resolveHandle?handle={}",
            query_escape(h)
        );
        (h, get(relay, &path, None).await)
    }))
    .await;
    for (h, reply) in replies {
        if reply.status.is_success() {
            continue;
        }
        let error = reply.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_ne!(error, "InvalidRequest", "{h} is a valid handle");
        assert_eq!(error, "HandleNotFound", "{h}: {:?}", reply.json());
    }
    println!(
        "resolveHandle: {} invalid handles refused, {} valid ones looked up",
        invalid.len(),
        valid.len()
    );
}

const WK_DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

fn wk_answer(host: &str, path: &str) -> Answer {
    let did = || {
        (
            200,
            vec!["content-type: text/html".to_owned()],
            format!("{WK_DID}\n"),
        )
    };
    match (host, path) {
        ("alice.wk.example.com", "/.well-known/atproto-did") => did(),
        ("moved.wk.example.com", "/.well-known/atproto-did") => (
            301,
            vec!["location: https://moved.wk.example.com/new-home".to_owned()],
            String::new(),
        ),
        ("moved.wk.example.com", "/new-home") => did(),
        ("loop.wk.example.com", _) => (
            302,
            vec![format!(
                "location: https://loop.wk.example.com/{}",
                path.len()
            )],
            String::new(),
        ),
        ("junk.wk.example.com", _) => (200, vec![], "<html>not a DID</html>".to_owned()),
        ("error.wk.example.com", _) => (500, vec![], "oops".to_owned()),
        _ => (404, vec![], "not found".to_owned()),
    }
}

/// Checklist #117 end to end: the HTTPS well-known method over real TLS (a test root trusted
/// by this client only), through the relay's resolver and SSRF-guarded client. The DID is
/// read with surrounding whitespace stripped and no `Content-Type` check, a 301 is followed,
/// a redirect loop and non-DID bodies fail, 404 is "not found". DNS answers NXDOMAIN for all
/// of them, so HTTPS decides.
#[tokio::test]
async fn checklist_117_https_well_known_over_tls() {
    let server = https_server(wk_answer).await;
    let ca = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls/ca.pem"
    ))
    .unwrap();
    let hosts = [
        "alice.wk.example.com",
        "moved.wk.example.com",
        "loop.wk.example.com",
        "junk.wk.example.com",
        "error.wk.example.com",
        "missing.wk.example.com",
    ];
    let pins: Vec<(&str, SocketAddr)> = hosts.iter().map(|h| (*h, server)).collect();
    // The pins are held to the policy: loopback is refused unless private targets are allowed.
    assert!(SafeClient::new_pinned(OutboundPolicy::PUBLIC_ONLY, &pins, Some(&ca)).is_err());
    let policy = OutboundPolicy {
        allow_private: true,
    };
    let http = SafeClient::new_pinned(policy, &pins, Some(&ca)).unwrap();
    let ns = dns_responder(zone(&[])).await;
    let resolver = NetHandleResolver::with_nameserver(http, ns);
    let resolve = |h: &str| {
        let handle: Handle = h.parse().unwrap();
        let resolver = &resolver;
        async move { identity::resolve_handle(resolver, &handle).await }
    };
    for handle in ["alice.wk.example.com", "moved.wk.example.com"] {
        let (did, method) = resolve(handle)
            .await
            .unwrap_or_else(|e| panic!("{handle}: {e}"));
        assert_eq!(did.as_str(), WK_DID, "{handle}");
        assert_eq!(method, identity::ResolutionMethod::Https, "{handle}");
    }
    for handle in [
        "loop.wk.example.com",
        "junk.wk.example.com",
        "error.wk.example.com",
        "missing.wk.example.com",
    ] {
        assert!(resolve(handle).await.is_err(), "{handle} must not resolve");
    }
    let missing: Handle = "missing.wk.example.com".parse().unwrap();
    assert!(matches!(
        resolver.fetch_well_known(&missing).await,
        Err(LookupError::NotFound)
    ));
    let looping: Handle = "loop.wk.example.com".parse().unwrap();
    match resolver.fetch_well_known(&looping).await {
        Err(LookupError::Failed(m)) => assert!(m.contains("redirect"), "{m}"),
        other => panic!("a redirect loop must fail: {other:?}"),
    }
    // The same pins without the test root: the certificate is refused.
    let strict = SafeClient::new_pinned(policy, &pins, None).unwrap();
    let strict = NetHandleResolver::with_nameserver(strict, ns);
    let alice: Handle = "alice.wk.example.com".parse().unwrap();
    match strict.fetch_well_known(&alice).await {
        Err(LookupError::Failed(m)) => assert!(m.contains("certificate"), "{m}"),
        other => panic!("an untrusted certificate must fail: {other:?}"),
    }
}
