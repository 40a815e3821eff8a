//! The server's wiring: [`AppState`] (configuration and services), [`app`] (the axum `Router`
//! with CORS, tracing and error normalisation), [`run`] (serve a listener until a shutdown
//! future resolves) and [`serve`] (what `relay serve` does: secrets, bind, run until SIGINT or
//! SIGTERM).
//!
//! `app` and `run` are separate so tests can drive the router with `tower::ServiceExt::oneshot`
//! or serve it on `127.0.0.1:0`. Nothing here knows a use case: handlers are in [`crate::xrpc`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use firehose::Firehose;
use identity::HandleResolver;
use pds::{Pds, PdsConfig, PdsDeps};

use crate::config::Config;
use crate::error::ApiError;
use crate::handle_resolver::NetHandleResolver;
use crate::plc_directory::PlcClient;
use crate::secrets::{self, Secrets, SecretsError};
use crate::ssrf::{OutboundPolicy, SafeClient, SsrfError};

/// File name of the SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "relay.sqlite";
/// Directory of blob bytes inside the data directory.
pub const BLOBS_DIR: &str = "blobs";

/// How often unreferenced temporary blobs are collected, and how old they must be.
const TEMP_BLOB_SWEEP: Duration = Duration::from_secs(60 * 60);

/// Shared state of the server: configuration and services. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    secrets: Secrets,
    http: SafeClient,
    plc: PlcClient,
    handles: Arc<dyn HandleResolver>,
    pds: Arc<Pds>,
    firehose: Arc<Firehose>,
    proxy_endpoints: crate::proxy::EndpointCache,
    /// One permit per open `subscribeRepos` connection (`firehose_max_subscribers`).
    subscribers: Arc<tokio::sync::Semaphore>,
}

/// The use cases' configuration derived from the server's configuration and secrets.
pub fn pds_config(config: &Config, secrets: &Secrets) -> PdsConfig {
    let mut pds = PdsConfig::new(
        config.service_did.clone(),
        config.public_url.clone(),
        config.service_handle_domains.clone(),
        pds::SecretKey::from_bytes(*secrets.secret_key.expose()),
        secrets.plc_rotation_key.clone(),
    );
    pds.blob_upload_limit = u64::try_from(config.blob_upload_limit).unwrap_or(u64::MAX);
    pds.privacy_policy_url = config.privacy_policy_url.clone();
    pds.terms_of_service_url = config.terms_of_service_url.clone();
    pds.contact_email = config.contact_email.clone();
    pds.invite_required = config.invite_required;
    pds
}

impl AppState {
    /// Opens everything the server runs on under the data directory: the SQLite database
    /// (`relay.sqlite`, migrated), the blob store (`blobs/`), the embedded lexicons, and the
    /// configured PLC directory.
    pub async fn open(config: Config, secrets: Secrets) -> Result<AppState, ServeError> {
        AppState::open_with(config, secrets, |_| {}).await
    }

    /// [`AppState::open`], letting the caller adjust the use cases' configuration (tests use
    /// this for cheap password hashing).
    pub async fn open_with(
        config: Config,
        secrets: Secrets,
        adjust: impl FnOnce(&mut PdsConfig),
    ) -> Result<AppState, ServeError> {
        let data_dir = &config.data_dir;
        let blobs = data_dir.join(BLOBS_DIR);
        std::fs::create_dir_all(&blobs).map_err(|source| ServeError::DataDir {
            path: blobs.clone(),
            source,
        })?;
        let store = store::SqliteStore::open(&data_dir.join(DATABASE_FILE)).await?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        crate::firehose_service::apply_seq_floor(&store, config.firehose.seq_floor, now_ms).await?;
        let blob_store = object_store::local::LocalFileSystem::new_with_prefix(&blobs)
            .map_err(|e| ServeError::BlobStore(e.to_string()))?;
        let catalog = crate::lexicons::catalog()?;
        let http = SafeClient::new(OutboundPolicy {
            allow_private: config.allow_private_outbound,
        })?;
        let plc = PlcClient::new(http.clone(), &config.plc_url);
        let mut pds_config = pds_config(&config, &secrets);
        adjust(&mut pds_config);
        let mut deps = PdsDeps::from_store(
            Arc::new(store),
            Arc::new(blob_store),
            Arc::new(catalog),
            Arc::new(plc.clone()),
        );
        deps.mailer = crate::mailer::from_config(&config)?;
        let pds = Arc::new(Pds::new(pds_config, deps));
        Ok(AppState::from_parts(config, secrets, http, plc, pds))
    }

    /// Assembles the state from already built services.
    pub fn from_parts(
        config: Config,
        secrets: Secrets,
        http: SafeClient,
        plc: PlcClient,
        pds: Arc<Pds>,
    ) -> AppState {
        let handles = Arc::new(match config.dns_nameserver {
            Some(ns) => NetHandleResolver::with_nameserver(http.clone(), ns),
            None => NetHandleResolver::new(http.clone()),
        });
        let mut firehose = Firehose::new(
            pds.events().clone(),
            pds.subscribe_events(),
            config.firehose.firehose_config(),
        );
        if config.firehose.zero_copy && cfg!(target_os = "linux") {
            // Live frames spooled as WebSocket messages, for `sendfile` (xrpc/subscribe.rs).
            firehose = firehose.with_wire(Arc::new(crate::ws::spool_wire));
        }
        let firehose = Arc::new(firehose);
        let subscribers = Arc::new(tokio::sync::Semaphore::new(
            config
                .firehose
                .max_subscribers
                .min(tokio::sync::Semaphore::MAX_PERMITS),
        ));
        AppState {
            inner: Arc::new(Inner {
                subscribers,
                config,
                secrets,
                http,
                plc,
                handles,
                pds,
                firehose,
                proxy_endpoints: crate::proxy::EndpointCache::default(),
            }),
        }
    }

    /// The same state with another outbound HTTP client, for tests that serve HTTPS on loopback
    /// under public-looking names (`SafeClient::new_pinned`). The handle resolver and PLC client
    /// keep the client they were built with.
    #[doc(hidden)]
    pub fn with_http(&self, http: SafeClient) -> AppState {
        let i = &self.inner;
        AppState {
            inner: Arc::new(Inner {
                config: i.config.clone(),
                secrets: i.secrets.clone(),
                http,
                plc: i.plc.clone(),
                handles: i.handles.clone(),
                pds: i.pds.clone(),
                firehose: i.firehose.clone(),
                proxy_endpoints: crate::proxy::EndpointCache::default(),
                subscribers: i.subscribers.clone(),
            }),
        }
    }

    /// The use cases.
    pub fn pds(&self) -> &Pds {
        &self.inner.pds
    }

    /// The firehose (`com.atproto.sync.subscribeRepos`).
    pub fn firehose(&self) -> &Arc<Firehose> {
        &self.inner.firehose
    }

    /// The PLC directory client.
    pub fn plc(&self) -> &PlcClient {
        &self.inner.plc
    }

    /// A permit for one more `subscribeRepos` connection, if the cap allows it.
    pub(crate) fn subscriber_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.inner.subscribers.clone().try_acquire_owned().ok()
    }

    /// Resolved proxy service endpoints.
    pub(crate) fn proxy_endpoints(&self) -> &crate::proxy::EndpointCache {
        &self.inner.proxy_endpoints
    }

    /// The network handle resolver (DNS TXT, HTTPS well-known).
    pub fn handle_resolver(&self) -> &dyn HandleResolver {
        &*self.inner.handles
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The server's secrets (secret key, PLC rotation key). Never log them.
    pub fn secrets(&self) -> &Secrets {
        &self.inner.secrets
    }

    /// The outbound HTTP client, guarded against SSRF by the configured policy.
    pub fn http(&self) -> &SafeClient {
        &self.inner.http
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The secrets file could not be read or created.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The outbound HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] SsrfError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] store::OpenError),
    /// The blob store could not be opened.
    #[error("cannot open blob store: {0}")]
    BlobStore(String),
    /// The embedded lexicons do not load.
    #[error("cannot load lexicons: {0}")]
    Lexicons(#[from] lexicon::LoadError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    /// The firehose could not start (its sequencer log is unreadable, or its seq cannot be
    /// raised to the configured floor).
    #[error("cannot start the firehose: {0}")]
    Firehose(#[from] pds::ports::StoreError),
    /// The configured mailer could not be built.
    #[error("cannot set up email: {0}")]
    Mailer(#[from] crate::mailer::MailerError),
}

/// Request headers atproto clients send cross-origin (the preflight mirrors what is asked, as the
/// reference PDS does; these are the ones that matter, listed for documentation and tests).
pub const ATPROTO_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "dpop",
    "atproto-proxy",
    "atproto-accept-labelers",
];

/// Response headers browser clients must be able to read.
pub const EXPOSED_HEADERS: &[&str] = &[
    "dpop-nonce",
    "www-authenticate",
    "atproto-repo-rev",
    "atproto-content-labelers",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
];

/// CORS as atproto browser clients need it: any origin, the common methods, any requested
/// header (incl. `atproto-proxy`, `atproto-accept-labelers`, `dpop`, `authorization`), and the
/// DPoP/auth/rev/label/rate-limit response headers exposed (checklist #133).
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(
            EXPOSED_HEADERS
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect::<Vec<_>>(),
        )
        .max_age(Duration::from_secs(24 * 3600))
}

/// Rewrites responses produced outside our handlers (the body-limit layer's bare `413`) into
/// XRPC JSON errors.
async fn normalize_errors(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return ApiError::payload_too_large("request entity too large").into_response();
    }
    response
}

/// Paths outside `/xrpc/` that nothing serves.
async fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

/// The application: every route, with rate limits (when enabled), CORS, request tracing and
/// error normalisation.
pub fn app(state: AppState) -> Router {
    let xrpc = crate::xrpc::router(&state);
    let mut router = Router::new()
        .merge(xrpc)
        .merge(crate::oauth::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::oauth::dpop_nonce_header,
        ));
    let limits = &state.config().rate_limits;
    if limits.enabled {
        let limits = Arc::new(crate::rate_limit::RateLimits::new(limits));
        router = router.layer(axum::middleware::from_fn_with_state(
            (state.clone(), limits),
            crate::rate_limit::rate_limit,
        ));
    }
    router
        .with_state(state)
        .layer(axum::middleware::map_response(normalize_errors))
        .layer(cors())
        .layer(TraceLayer::new_for_http())
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting connections and
/// waits for in-flight requests to finish.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Connections whose socket a handler can reach (`ConnectInfo<Peer>`; TCP_NODELAY set),
    // for the firehose's `sendfile` (see `crate::net`).
    axum::serve(
        crate::net::SharedListener::new(listener),
        app.into_make_service_with_connect_info::<crate::net::Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received SIGINT, shutting down"),
        () = terminate => tracing::info!("received SIGTERM, shutting down"),
    }
}

/// `relay serve`: prepares the data directory and secrets, binds the configured address and
/// serves until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let secrets = secrets::load_or_generate(&config)?;
    let addr = config.listen_addr();
    let listener = crate::net::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr()?;
    tracing::info!(
        addr = %local,
        public_url = %config.public_url,
        service_did = %config.service_did,
        data_dir = %config.data_dir.display(),
        "relay listening"
    );
    let state = AppState::open(config, secrets).await?;
    let sweeper = tokio::spawn(sweep_temp_blobs(state.clone()));
    let firehose_tasks = crate::firehose_service::spawn_background(&state).await?;
    let firehose = state.firehose().clone();
    let shutdown = async move {
        shutdown_signal().await;
        // Subscribers get a close frame instead of a dropped connection.
        firehose.close();
    };
    run(listener, app(state), shutdown).await?;
    sweeper.abort();
    for task in firehose_tasks {
        task.abort();
    }
    tracing::info!("relay stopped");
    Ok(())
}

/// Collects temporary blobs that no record referenced within [`TEMP_BLOB_SWEEP`], every
/// [`TEMP_BLOB_SWEEP`]. Failures are logged and retried on the next round.
async fn sweep_temp_blobs(state: AppState) {
    let mut interval = tokio::time::interval(TEMP_BLOB_SWEEP);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match state.pds().collect_temp_blobs(TEMP_BLOB_SWEEP).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "collected unreferenced temporary blobs"),
            Err(e) => tracing::warn!(error = %e, "temporary blob collection failed"),
        }
        // Expired legacy refresh tokens and OAuth requests, codes, sessions and challenge
        // memories, on the same schedule.
        match state.pds().collect_expired_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(count = n, "deleted expired sessions and OAuth rows"),
            Err(e) => tracing::warn!(error = %e, "expired session collection failed"),
        }
    }
}

/// Installs the tracing subscriber: `RUST_LOG` filter (default `info`), human-readable output on
/// stderr. Safe to call more than once (later calls do nothing).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
