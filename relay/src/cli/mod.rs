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
}

/// Runs the parsed command and returns its JSON output.
pub(crate) fn run(cli: Cli) -> anyhow::Result<serde_json::Value> {
    match cli.command {
        Command::Repo(cmd) => repo::run(cmd),
    }
}
