//! `loadgen`: the load driver's command line. Runs one workload against one loopback server and
//! prints a markdown table on stdout; `--json FILE` also writes the full report as JSON.
//!
//! ```text
//! loadgen create-records --url http://127.0.0.1:2583 --accounts 8 --concurrency 8 --duration 10s [--server-pid PID]
//! loadgen get-repo --url http://127.0.0.1:2583 --records 10000 [--iterations 5] [--server-pid PID]
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use loadgen::create_records::{self, CreateRecordsOptions};
use loadgen::duration::parse_duration;
use loadgen::get_repo::{self, GetRepoOptions};
use loadgen::report;

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    about = "Load driver for atproto PDS servers on loopback"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Closed-loop com.atproto.repo.createRecord, one account per worker.
    CreateRecords {
        /// Server base URL (loopback only).
        #[arg(long)]
        url: String,
        /// Accounts to create (default: one per worker); worker i writes to account i % N.
        #[arg(long)]
        accounts: Option<usize>,
        /// Concurrent workers.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Measured window (10s, 500ms, 2m).
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        duration: Duration,
        /// Unmeasured warm-up before the window.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        warmup: Duration,
        /// Server process id, for CPU ms/op and RSS from /proc.
        #[arg(long)]
        server_pid: Option<u32>,
        /// Name of the server in the report.
        #[arg(long, default_value = "server")]
        label: String,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Seed a repo through applyWrites batches, then time com.atproto.sync.getRepo.
    GetRepo {
        /// Server base URL (loopback only).
        #[arg(long)]
        url: String,
        /// Records to seed.
        #[arg(long, default_value_t = 10_000)]
        records: usize,
        /// Writes per applyWrites call (at most 200).
        #[arg(long, default_value_t = 200)]
        batch: usize,
        /// Timed downloads (after one untimed warm-up download).
        #[arg(long, default_value_t = 5)]
        iterations: usize,
        /// Server process id, for CPU and RSS from /proc.
        #[arg(long)]
        server_pid: Option<u32>,
        /// Name of the server in the report.
        #[arg(long, default_value = "server")]
        label: String,
        /// Also write the report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn write_json(path: Option<&PathBuf>, value: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(value)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::CreateRecords {
            url,
            accounts,
            concurrency,
            duration,
            warmup,
            server_pid,
            label,
            json,
        } => {
            let opts = CreateRecordsOptions {
                url,
                accounts: accounts.unwrap_or(concurrency),
                concurrency,
                duration,
                warmup,
                server_pid,
                label,
            };
            let r = create_records::run(&opts).await?;
            print!("{}", report::create_records_table(std::slice::from_ref(&r)));
            for e in &r.error_samples {
                eprintln!("error sample: {e}");
            }
            write_json(json.as_ref(), &r)?;
        }
        Command::GetRepo {
            url,
            records,
            batch,
            iterations,
            server_pid,
            label,
            json,
        } => {
            let opts = GetRepoOptions {
                url,
                records,
                batch,
                iterations,
                server_pid,
                label,
            };
            let r = get_repo::run(&opts).await?;
            print!("{}", report::get_repo_table(std::slice::from_ref(&r)));
            write_json(json.as_ref(), &r)?;
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
