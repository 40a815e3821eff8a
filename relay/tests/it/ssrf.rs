//! The SSRF guard (checklist #142): the address table, URL checks, name resolution, and the
//! guarded client refusing loopback servers unless private outbound is allowed.

use std::net::IpAddr;

use relay::ssrf::{OutboundPolicy, SafeClient, SsrfError, is_forbidden};

use crate::common::{Server, test_app};

#[test]
fn address_table() {
    let forbidden = [
        "0.0.0.0",
        "0.1.2.3",
        "10.1.2.3",
        "100.64.0.1",
        "100.127.255.255",
        "127.0.0.1",
        "127.255.0.1",
        "169.254.169.254",
        "172.16.0.1",
        "172.31.255.255",
        "192.0.0.8",
        "192.0.2.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::1",
        "2002:7f00:1::1",
        "2002:c0a8:101::1",
        "2001::1",
        "2001:db8::1",
        "fc00::1",
        "fd00:ec2::254",
        "fe80::1",
        "fec0::1",
        "ff02::1",
    ];
    let allowed = [
        "1.1.1.1",
        "8.8.8.8",
        "100.128.0.1",
        "172.32.0.1",
        "172.15.255.255",
        "192.169.0.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001::1",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ];
    for ip in forbidden {
        assert!(
            is_forbidden(ip.parse::<IpAddr>().unwrap()),
            "{ip} must be forbidden"
        );
    }
    for ip in allowed {
        assert!(
            !is_forbidden(ip.parse::<IpAddr>().unwrap()),
            "{ip} must be allowed"
        );
    }
    println!(
        "ssrf address table: {} forbidden, {} allowed cases",
        forbidden.len(),
        allowed.len()
    );
}

#[test]
fn url_checks() {
    let public = OutboundPolicy::PUBLIC_ONLY;
    let open = OutboundPolicy {
        allow_private: true,
    };
    for url in [
        "http://127.0.0.1:2583/xrpc/_health",
        "http://[::1]/",
        "https://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::ffff:7f00:1]/",
        "http://0x7f000001/",
        "http://2130706433/",
    ] {
        assert!(
            matches!(public.check_url(url), Err(SsrfError::Forbidden { .. })),
            "{url}: {:?}",
            public.check_url(url)
        );
        assert!(open.check_url(url).is_ok(), "{url}");
    }
    for url in [
        "ftp://example.com/",
        "file:///etc/passwd",
        "data:text/plain,hi",
    ] {
        assert!(
            matches!(public.check_url(url), Err(SsrfError::Scheme { .. })),
            "{url}"
        );
    }
    assert!(matches!(
        public.check_url("not a url"),
        Err(SsrfError::InvalidUrl { .. })
    ));
    // Names are judged when resolved, not by their spelling.
    assert!(
        public
            .check_url("https://plc.directory/did:plc:abc")
            .is_ok()
    );
}

#[tokio::test]
async fn names_resolving_to_loopback_are_refused() {
    let err = OutboundPolicy::PUBLIC_ONLY
        .resolve("localhost", 80)
        .await
        .unwrap_err();
    assert!(matches!(err, SsrfError::Forbidden { .. }), "{err}");
    let open = OutboundPolicy {
        allow_private: true,
    };
    let addrs = open.resolve("localhost", 80).await.unwrap();
    assert!(addrs.iter().all(|a| a.ip().is_loopback()));
}

#[tokio::test]
async fn guarded_client_refuses_loopback_servers() {
    let relay = test_app(&[]).await;
    let server = Server::start(relay.app.clone()).await;
    let port = server.addr.port();

    let guarded = SafeClient::new(OutboundPolicy::PUBLIC_ONLY).unwrap();
    let err = guarded
        .get(&format!("http://127.0.0.1:{port}/xrpc/_health"))
        .unwrap_err();
    assert!(matches!(err, SsrfError::Forbidden { .. }), "{err}");
    // By name, the resolver refuses it at connect time.
    let err = guarded
        .get(&format!("http://localhost:{port}/xrpc/_health"))
        .unwrap()
        .send()
        .await
        .unwrap_err();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    let mut refused = false;
    while let Some(e) = cause {
        refused |= matches!(
            e.downcast_ref::<SsrfError>(),
            Some(SsrfError::Forbidden { .. })
        );
        cause = e.source();
    }
    assert!(refused, "{err:?}");

    let open = SafeClient::new(OutboundPolicy {
        allow_private: true,
    })
    .unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let reply = open
            .get(&format!("http://{host}:{port}/xrpc/_health"))
            .unwrap()
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{host}");
    }
    server.stop().await;
}
