//! Shared helpers: a test configuration, one-shot requests against the app, a real server on
//! `127.0.0.1:0` with a shutdown handle, and unique temporary directories.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use relay::plc_directory::PlcDirectory;
use relay::secrets::Secrets;
use relay::ssrf::{OutboundPolicy, SafeClient};
use relay::{AppState, Config};
use tower::ServiceExt;

/// A configuration for tests: private outbound allowed, data in `data_dir`, everything else
/// default unless `extra` sets it.
pub(crate) fn test_config(data_dir: &std::path::Path, extra: &[(&str, &str)]) -> Config {
    let mut env = vec![
        ("RELAY_ALLOW_PRIVATE_OUTBOUND".to_owned(), "true".to_owned()),
        (
            "RELAY_DATA_DIR".to_owned(),
            data_dir.to_string_lossy().into_owned(),
        ),
    ];
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Config::from_sources(None, env).unwrap()
}

/// A relay over a fresh data directory, with its own local PLC directory server.
pub(crate) struct TestRelay {
    pub(crate) app: Router,
    pub(crate) state: AppState,
    /// Keeps the relay's PLC directory running.
    pub(crate) _plc: Server,
}

impl TestRelay {
    /// Starts a PLC directory and opens a relay on a new data directory; `extra` adds settings.
    pub(crate) async fn start(extra: &[(&str, &str)]) -> TestRelay {
        TestRelay::start_with(extra, |_| {}).await
    }

    /// [`TestRelay::start`], with `configure` adjusting the use cases' configuration (after
    /// the fast test password cost is set).
    pub(crate) async fn start_with(
        extra: &[(&str, &str)],
        configure: impl FnOnce(&mut pds::PdsConfig),
    ) -> TestRelay {
        let plc = Server::start(relay::plc_directory::router(Arc::new(
            PlcDirectory::in_memory(),
        )))
        .await;
        let dir = temp_dir("relay");
        let plc_url = plc.url();
        let mut settings = vec![("RELAY_PLC_URL", plc_url.as_str())];
        settings.extend_from_slice(extra);
        let config = test_config(&dir, &settings);
        let state = AppState::open_with(config, Secrets::ephemeral(), |c| {
            c.password_cost = pds::PasswordCost::InsecureFastForTests;
            configure(c);
        })
        .await
        .unwrap();
        TestRelay {
            app: relay::app(state.clone()),
            state,
            _plc: plc,
        }
    }
}

impl TestRelay {
    /// A relay with the SSRF guard ON (no private outbound), whose use cases talk to an
    /// in-process PLC directory (so accounts can still be created without the network).
    pub(crate) async fn start_guarded(extra: &[(&str, &str)]) -> TestRelay {
        let dir = temp_dir("relay-guarded");
        let mut settings = vec![("RELAY_ALLOW_PRIVATE_OUTBOUND", "false")];
        settings.extend_from_slice(extra);
        let config = test_config(&dir, &settings);
        let secrets = Secrets::ephemeral();
        let store = store::SqliteStore::open(&dir.join("relay.sqlite"))
            .await
            .unwrap();
        std::fs::create_dir_all(dir.join("blobs")).unwrap();
        let blobs =
            object_store::local::LocalFileSystem::new_with_prefix(dir.join("blobs")).unwrap();
        let mut pds_config = relay::server::pds_config(&config, &secrets);
        pds_config.password_cost = pds::PasswordCost::InsecureFastForTests;
        let deps = pds::PdsDeps::from_store(
            Arc::new(store),
            Arc::new(blobs),
            Arc::new(relay::lexicons::catalog().unwrap()),
            Arc::new(pds::MemoryPlc::new()),
        );
        let pds = Arc::new(pds::Pds::new(pds_config, deps));
        let http = SafeClient::new(OutboundPolicy::PUBLIC_ONLY).unwrap();
        let plc = relay::plc_directory::PlcClient::new(http.clone(), &config.plc_url);
        let state = AppState::from_parts(config, secrets, http, plc, pds);
        // A directory nobody uses, to keep the struct shape.
        let unused = Server::start(relay::plc_directory::router(Arc::new(
            PlcDirectory::in_memory(),
        )))
        .await;
        TestRelay {
            app: relay::app(state.clone()),
            state,
            _plc: unused,
        }
    }
}

/// A fresh [`TestRelay`] with `extra` settings.
pub(crate) async fn test_app(extra: &[(&str, &str)]) -> TestRelay {
    TestRelay::start(extra).await
}

/// A response, fully read.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// The body as JSON (panics if it is not).
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts an XRPC error: status, `error` name and JSON content type; returns the message.
    pub(crate) fn assert_xrpc_error(&self, status: u16, error: &str) -> String {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {:?}",
            String::from_utf8_lossy(&self.body)
        );
        let content_type = self.headers.get("content-type").unwrap().to_str().unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "content-type {content_type}"
        );
        let json = self.json();
        assert_eq!(json["error"], error, "body: {json}");
        let message = json["message"].as_str().expect("message is a string");
        assert!(!message.is_empty());
        message.to_owned()
    }
}

/// Sends one request through the app.
pub(crate) async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

/// A GET request.
pub(crate) fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// A POST request with a JSON body.
pub(crate) fn post_json(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

/// A server running on `127.0.0.1:<random>`; stops when dropped or on [`Server::stop`].
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Serves `app` on a free loopback port.
    pub(crate) async fn start(app: Router) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(relay::run(listener, app, async move {
            let _ = rx.await;
        }));
        Server {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Triggers graceful shutdown and waits for the server to return.
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A fresh, empty directory under the system temp dir (left behind for inspection).
pub(crate) fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "relay-it-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The last event `seq` the relay has stored (0 if none). Use it rather than the firehose
/// hub's head right after a write: the hub learns of events from its tailer task, so its head
/// may lag behind a write that has just returned.
/// The first `seq` in the event log (the log starts above the seq floor, checklist #75).
pub(crate) async fn first_seq(relay: &TestRelay) -> i64 {
    relay
        .state
        .pds()
        .events()
        .events_after(0, 1)
        .await
        .expect("events")
        .first()
        .expect("an event")
        .seq
}

pub(crate) async fn stored_head(relay: &TestRelay) -> i64 {
    relay
        .state
        .pds()
        .events()
        .latest_seq()
        .await
        .expect("latest seq")
        .unwrap_or(0)
}

/// What the HTTPS test server answers for one request: status, extra header lines, body.
pub(crate) type Answer = (u16, Vec<String>, String);

/// An HTTPS server on `127.0.0.1:<random>` with the test certificate for `*.wk.example.com`
/// (`tests/fixtures/tls`), answering each request with `answer(host, path)`. HTTP/1.1 by
/// hand, one request per connection.
pub(crate) async fn https_server(answer: fn(&str, &str) -> Answer) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{dir}/server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/server.key")).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut req = Vec::new();
                let mut buf = [0u8; 2048];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req).into_owned();
                let path = text.split(' ').nth(1).unwrap_or("").to_owned();
                let host = text
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("host: ")
                            .or_else(|| l.strip_prefix("Host: "))
                    })
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                let (status, headers, body) = answer(&host, &path);
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for h in headers {
                    head.push_str(&h);
                    head.push_str("\r\n");
                }
                head.push_str("\r\n");
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}
