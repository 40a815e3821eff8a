//! The server subcommands of the `relay` binary, `relay serve` and `relay plc serve`: their
//! clap arguments and what they run (a tokio runtime, tracing, the server until SIGINT/SIGTERM).
//!
//! The binary's `cli` module embeds these types as subcommands; everything else about serving
//! lives in [`crate::server`] and [`crate::plc_directory`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use crate::config::Config;
use crate::plc_directory::{self, PlcDirectory};

/// `relay serve`: run the PDS server.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file (see relay/relay.example.toml; default: $RELAY_CONFIG if set).
    /// `RELAY_*` variables override the file.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
}

/// `relay plc ...`: the local PLC directory.
#[derive(Debug, Subcommand)]
pub enum PlcCommand {
    /// Serve a did:plc directory (for tests and air-gapped deployments).
    Serve(PlcServeArgs),
}

/// `relay plc serve`.
#[derive(Debug, Args)]
pub struct PlcServeArgs {
    /// Port to listen on (0: any free port; the chosen address is logged).
    #[arg(long, short = 'p', default_value_t = 2582)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,
    /// Append-only JSON-lines file holding the accepted operations; in memory only when absent.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// Why a server command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The server failed.
    #[error(transparent)]
    Serve(#[from] crate::server::ServeError),
    /// The PLC directory file could not be opened.
    #[error(transparent)]
    PlcStore(#[from] plc_directory::PlcStoreError),
    /// Runtime or socket error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Runs `relay serve` to completion (until SIGINT or SIGTERM).
pub fn serve(args: ServeArgs) -> Result<(), CommandError> {
    crate::server::init_tracing();
    let file = args
        .config
        .or_else(|| std::env::var_os("RELAY_CONFIG").map(PathBuf::from));
    let config = Config::load(file.as_deref())?;
    runtime()?.block_on(crate::server::serve(config))?;
    Ok(())
}

/// Runs a `relay plc` command to completion.
pub fn plc(command: PlcCommand) -> Result<(), CommandError> {
    crate::server::init_tracing();
    match command {
        PlcCommand::Serve(args) => runtime()?.block_on(plc_serve(args)),
    }
}

async fn plc_serve(args: PlcServeArgs) -> Result<(), CommandError> {
    let directory = match &args.data {
        Some(path) => PlcDirectory::open(path).await?,
        None => PlcDirectory::in_memory(),
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.bind, args.port)).await?;
    tracing::info!(
        addr = %listener.local_addr()?,
        data = %args.data.as_ref().map_or("<memory>".into(), |p| p.display().to_string()),
        "PLC directory listening"
    );
    let app = plc_directory::router(Arc::new(directory));
    crate::server::run(listener, app, crate::server::shutdown_signal()).await?;
    Ok(())
}
