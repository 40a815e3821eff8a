//! The `relay` binary: admin CLI subcommands (`relay repo inspect|verify|build`) and the servers
//! (`relay serve`, `relay plc serve`, implemented in the `relay` library). `main` parses
//! arguments, runs one command, prints its JSON result (if any) on stdout, and on failure prints
//! a human-readable error on stderr and exits 1.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(json) => {
            if !json.is_null() {
                println!("{json}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
