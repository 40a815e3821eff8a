//! Command-line interface: argument definitions (clap) and dispatch. Each command returns the
//! JSON value to print; it never prints itself, so commands stay testable.

mod repo;

use clap::{Parser, Subcommand};

/// The relay binary's command line.
#[derive(Debug, Parser)]
#[command(name = "relay", version, about = "Sovereign atproto PDS relay")]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Repository tools: inspect, verify and build CAR files.
    #[command(subcommand)]
    Repo(repo::RepoCommand),
    /// Run the PDS server (configuration: --config FILE and RELAY_* variables).
    Serve(relay::commands::ServeArgs),
    /// The local PLC directory.
    #[command(subcommand)]
    Plc(relay::commands::PlcCommand),
}

/// Runs the parsed command and returns its JSON output (`null` for the servers, which print
/// nothing when they stop).
pub(crate) fn run(cli: Cli) -> anyhow::Result<serde_json::Value> {
    match cli.command {
        Command::Repo(cmd) => repo::run(cmd),
        Command::Serve(args) => {
            relay::commands::serve(args)?;
            Ok(serde_json::Value::Null)
        }
        Command::Plc(cmd) => {
            relay::commands::plc(cmd)?;
            Ok(serde_json::Value::Null)
        }
    }
}
