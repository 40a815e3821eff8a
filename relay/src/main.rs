//! The `relay` binary. For now it only hosts admin CLI subcommands (`relay repo inspect|verify|
//! build`); the server itself comes later. `main` parses arguments, runs one command, prints its
//! JSON result on stdout, and on failure prints a human-readable error on stderr and exits 1.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(json) => {
            println!("{json}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
