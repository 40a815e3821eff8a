//! The `create-records` workload: one account per worker, each worker a closed loop of
//! `com.atproto.repo.createRecord` (`app.bsky.feed.post`) for a fixed time.
//!
//! Timeline: accounts are created first (not measured); then every worker starts; requests that
//! start during the warm-up are not counted; the measured window is `[t0, t0 + duration)` and
//! counts requests that both start and finish inside it; workers stop issuing at the end of the
//! window (bounded loop), and the in-flight requests are awaited and discarded. Server CPU is
//! read from `/proc` exactly at `t0` and at the end of the window. A failed request is counted and
//! followed by a 5 ms pause, so a failing server is not spun against.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::Error;
use crate::procfs::{self, ProcSample};
use crate::stats::LatencySummary;
use crate::xrpc::{self, CallError, Session, Xrpc};

/// How many distinct error messages a report keeps.
const ERROR_SAMPLES: usize = 5;

/// Options of a `create-records` run.
#[derive(Debug, Clone)]
pub struct CreateRecordsOptions {
    /// Server base URL (loopback).
    pub url: String,
    /// Accounts to create; worker `i` writes to account `i % accounts`.
    pub accounts: usize,
    /// Number of concurrent closed-loop workers.
    pub concurrency: usize,
    /// Measured window.
    pub duration: Duration,
    /// Unmeasured time before the window.
    pub warmup: Duration,
    /// Server process to read CPU and RSS from.
    pub server_pid: Option<u32>,
    /// Free-form name of the server for reports (`relay`, `reference`).
    pub label: String,
}

/// Server-side readings over the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    /// The server's pid.
    pub pid: u32,
    /// CPU time (user + system) spent in the window, ms.
    pub cpu_ms: u64,
    /// `cpu_ms` per successful operation.
    pub cpu_ms_per_op: Option<f64>,
    /// Resident memory before accounts were created, KiB.
    pub rss_kib_before: Option<u64>,
    /// Resident memory at the end of the window, KiB.
    pub rss_kib_after: u64,
    /// Peak resident memory so far, KiB.
    pub hwm_kib: u64,
}

/// The result of a `create-records` run.
#[derive(Debug, Clone, Serialize)]
pub struct CreateRecordsReport {
    /// Always `create-records`.
    pub kind: &'static str,
    /// The options' label.
    pub label: String,
    /// The server URL.
    pub url: String,
    /// Accounts used.
    pub accounts: usize,
    /// Workers.
    pub concurrency: usize,
    /// Measured window, seconds.
    pub duration_s: f64,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// Successful operations in the window.
    pub ops: u64,
    /// Failed operations in the window.
    pub errors: u64,
    /// Failed operations over the whole run (warm-up and tails included).
    pub errors_total: u64,
    /// `ops / duration_s`.
    pub ops_per_s: f64,
    /// Latency of the successful operations in the window.
    pub latency_ms: LatencySummary,
    /// Server readings (with a server pid).
    pub server: Option<ServerReport>,
    /// The load driver's own CPU per operation, ms (it shares the machine with the server).
    pub loadgen_cpu_ms_per_op: Option<f64>,
    /// Cores kept busy by everything else on the machine during the window (neither the server
    /// nor the load driver): a noise indicator on shared machines. Needs a server pid.
    pub other_busy_cores: Option<f64>,
    /// Up to five distinct error messages.
    pub error_samples: Vec<String>,
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    errors_in_window: u64,
    errors_total: u64,
}

fn remember(samples: &Mutex<Vec<String>>, e: &CallError) {
    if let Ok(mut s) = samples.lock() {
        let msg = e.to_string();
        if s.len() < ERROR_SAMPLES && !s.contains(&msg) {
            s.push(msg);
        }
    }
}

async fn worker(
    xrpc: Xrpc,
    session: Session,
    index: usize,
    t0: Instant,
    deadline: Instant,
    samples: Arc<Mutex<Vec<String>>>,
) -> WorkerResult {
    let mut out = WorkerResult::default();
    let mut seq = 0u64;
    loop {
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        seq += 1;
        let record = xrpc::post_record(&format!("loadgen worker {index} post {seq}"));
        let result = xrpc
            .create_record(&session, "app.bsky.feed.post", &record)
            .await;
        let finished = Instant::now();
        let in_window = started >= t0 && finished <= deadline;
        match result {
            Ok(()) => {
                if in_window {
                    let us = finished.duration_since(started).as_micros();
                    out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                }
            }
            Err(e) => {
                out.errors_total += 1;
                if in_window {
                    out.errors_in_window += 1;
                }
                remember(&samples, &e);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    out
}

/// Runs the workload and returns its report.
pub async fn run(opts: &CreateRecordsOptions) -> Result<CreateRecordsReport, Error> {
    let concurrency = opts.concurrency.max(1);
    let accounts = opts.accounts.max(1);
    let xrpc = Xrpc::new(&opts.url)?;
    xrpc.health().await.map_err(|e| Error::Setup {
        what: format!("health check of {}", xrpc.base()),
        message: e.to_string(),
    })?;
    let rss_before = opts.server_pid.and_then(procfs::sample).map(|s| s.rss_kib);
    let sessions = xrpc::create_accounts(&xrpc, accounts, 4).await?;

    let start = Instant::now();
    let t0 = start + opts.warmup;
    let deadline = t0 + opts.duration;
    let samples = Arc::new(Mutex::new(Vec::new()));

    let pid = opts.server_pid;
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(t0).await;
        let a: Option<ProcSample> = pid.and_then(procfs::sample);
        let self_a = procfs::self_cpu_ms();
        let machine_a = procfs::machine_busy_ms();
        tokio::time::sleep_until(deadline).await;
        let b: Option<ProcSample> = pid.and_then(procfs::sample);
        let self_b = procfs::self_cpu_ms();
        let machine_b = procfs::machine_busy_ms();
        (a, b, self_a, self_b, machine_a.zip(machine_b))
    });

    let mut set = tokio::task::JoinSet::new();
    for i in 0..concurrency {
        let session = sessions[i % sessions.len()].clone();
        set.spawn(worker(
            xrpc.clone(),
            session,
            i,
            t0,
            deadline,
            Arc::clone(&samples),
        ));
    }
    let mut latencies = Vec::new();
    let (mut errors, mut errors_total) = (0u64, 0u64);
    while let Some(joined) = set.join_next().await {
        let r = joined.map_err(|e| Error::Join(e.to_string()))?;
        latencies.extend(r.latencies_us);
        errors += r.errors_in_window;
        errors_total += r.errors_total;
    }
    let (a, b, self_a, self_b, machine) = sampler.await.map_err(|e| Error::Join(e.to_string()))?;

    let ops = latencies.len() as u64;
    let per_op = |ms: u64| (ops > 0).then(|| ms as f64 / ops as f64);
    let server = match (pid, a, b) {
        (Some(pid), Some(a), Some(b)) => Some(ServerReport {
            pid,
            cpu_ms: b.cpu_ms.saturating_sub(a.cpu_ms),
            cpu_ms_per_op: per_op(b.cpu_ms.saturating_sub(a.cpu_ms)),
            rss_kib_before: rss_before,
            rss_kib_after: b.rss_kib,
            hwm_kib: b.hwm_kib,
        }),
        _ => None,
    };
    let loadgen_cpu_ms_per_op = match (self_a, self_b) {
        (Some(a), Some(b)) => per_op(b.saturating_sub(a)),
        _ => None,
    };
    let secs = opts.duration.as_secs_f64();
    let other_busy_cores = match (&server, self_a.zip(self_b), machine) {
        (Some(s), Some((sa, sb)), Some((ma, mb))) if secs > 0.0 => {
            let other = mb
                .saturating_sub(ma)
                .saturating_sub(s.cpu_ms)
                .saturating_sub(sb.saturating_sub(sa));
            Some(other as f64 / 1000.0 / secs)
        }
        _ => None,
    };
    let error_samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(CreateRecordsReport {
        kind: "create-records",
        label: opts.label.clone(),
        url: xrpc.base().to_owned(),
        accounts,
        concurrency,
        duration_s: secs,
        warmup_s: opts.warmup.as_secs_f64(),
        ops,
        errors,
        errors_total,
        ops_per_s: if secs > 0.0 { ops as f64 / secs } else { 0.0 },
        latency_ms: LatencySummary::from_micros(&mut latencies),
        server,
        loadgen_cpu_ms_per_op,
        other_busy_cores,
        error_samples,
    })
}
