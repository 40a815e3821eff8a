//! The `get-repo` workload: seed one account's repo with N posts through `applyWrites` batches
//! (200 writes each, the reference PDS's limit), then time full `com.atproto.sync.getRepo`
//! downloads (one untimed warm-up download, then `iterations` timed ones). Every download is
//! checked to be a CAR with at least one block per record.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::procfs;
use crate::xrpc::{self, Xrpc};
use crate::{Error, car};

/// Options of a `get-repo` run.
#[derive(Debug, Clone)]
pub struct GetRepoOptions {
    /// Server base URL (loopback).
    pub url: String,
    /// Records to seed.
    pub records: usize,
    /// Writes per applyWrites call.
    pub batch: usize,
    /// Timed downloads.
    pub iterations: usize,
    /// Server process to read RSS from.
    pub server_pid: Option<u32>,
    /// Free-form name of the server for reports.
    pub label: String,
}

/// Timings of the downloads, ms.
#[derive(Debug, Clone, Serialize)]
pub struct Timings {
    /// Fastest.
    pub min: f64,
    /// Median.
    pub median: f64,
    /// Slowest.
    pub max: f64,
}

/// The result of a `get-repo` run.
#[derive(Debug, Clone, Serialize)]
pub struct GetRepoReport {
    /// Always `get-repo`.
    pub kind: &'static str,
    /// The options' label.
    pub label: String,
    /// The server URL.
    pub url: String,
    /// Records seeded.
    pub records: usize,
    /// Seeding time, seconds.
    pub seed_s: f64,
    /// Records written per second while seeding (applyWrites batches).
    pub seed_records_per_s: f64,
    /// Timed downloads.
    pub iterations: usize,
    /// CAR size, bytes.
    pub car_bytes: usize,
    /// Blocks in the CAR.
    pub car_blocks: usize,
    /// The untimed first download, ms.
    pub first_ms: f64,
    /// The timed downloads.
    pub ms: Timings,
    /// Download rate of the median, MB/s.
    pub median_mb_per_s: f64,
    /// Server CPU per timed download, ms (with a server pid).
    pub server_cpu_ms_per_download: Option<f64>,
    /// Server RSS after the downloads, KiB (with a server pid).
    pub server_rss_kib_after: Option<u64>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Seeds the repo and times the downloads.
pub async fn run(opts: &GetRepoOptions) -> Result<GetRepoReport, Error> {
    let xrpc = Xrpc::new(&opts.url)?;
    xrpc.health().await.map_err(|e| Error::Setup {
        what: format!("health check of {}", xrpc.base()),
        message: e.to_string(),
    })?;
    let session = xrpc::create_accounts(&xrpc, 1, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Setup {
            what: "createAccount".into(),
            message: "no session".into(),
        })?;

    let batch = opts.batch.clamp(1, 200);
    let seed_start = Instant::now();
    let mut written = 0usize;
    while written < opts.records {
        let n = batch.min(opts.records - written);
        let writes: Vec<Value> = (written..written + n)
            .map(|i| {
                json!({
                    "$type": "com.atproto.repo.applyWrites#create",
                    "collection": "app.bsky.feed.post",
                    "value": xrpc::post_record(&format!("seed post {i}")),
                })
            })
            .collect();
        xrpc.apply_writes(&session, &writes)
            .await
            .map_err(|e| Error::Setup {
                what: format!("applyWrites (records {written}..{})", written + n),
                message: e.to_string(),
            })?;
        written += n;
    }
    let seed = seed_start.elapsed();

    let download = || async {
        let t = Instant::now();
        let bytes = xrpc
            .get_repo(&session.did)
            .await
            .map_err(|e| Error::Setup {
                what: "getRepo".into(),
                message: e.to_string(),
            })?;
        Ok::<_, Error>((t.elapsed(), bytes))
    };
    let (first, bytes) = download().await?;
    let blocks = car::count_blocks(&bytes)?;
    if blocks < opts.records {
        return Err(Error::Setup {
            what: "getRepo".into(),
            message: format!(
                "the CAR has {blocks} blocks for {} records: incomplete",
                opts.records
            ),
        });
    }
    let car_bytes = bytes.len();

    let cpu_a = opts.server_pid.and_then(procfs::sample);
    let mut times = Vec::with_capacity(opts.iterations.max(1));
    for _ in 0..opts.iterations.max(1) {
        let (d, b) = download().await?;
        if b.len() != car_bytes {
            return Err(Error::Setup {
                what: "getRepo".into(),
                message: format!(
                    "size changed between downloads: {car_bytes} then {}",
                    b.len()
                ),
            });
        }
        times.push(ms(d));
    }
    let cpu_b = opts.server_pid.and_then(procfs::sample);
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let server_cpu_ms_per_download = match (cpu_a, cpu_b) {
        (Some(a), Some(b)) => Some(b.cpu_ms.saturating_sub(a.cpu_ms) as f64 / times.len() as f64),
        _ => None,
    };
    Ok(GetRepoReport {
        kind: "get-repo",
        label: opts.label.clone(),
        url: xrpc.base().to_owned(),
        records: opts.records,
        seed_s: seed.as_secs_f64(),
        seed_records_per_s: opts.records as f64 / seed.as_secs_f64().max(1e-9),
        iterations: times.len(),
        car_bytes,
        car_blocks: blocks,
        first_ms: ms(first),
        ms: Timings {
            min: times[0],
            median,
            max: times[times.len() - 1],
        },
        median_mb_per_s: car_bytes as f64 / 1e6 / (median / 1000.0).max(1e-9),
        server_cpu_ms_per_download,
        server_rss_kib_after: cpu_b.map(|s| s.rss_kib),
    })
}
