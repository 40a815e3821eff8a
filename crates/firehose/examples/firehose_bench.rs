//! Firehose delivery benchmark client: N WebSocket subscribers on `subscribeRepos` while an
//! open-loop writer creates records at a target rate; reports delivery latency (p50/p99/max),
//! delivered fraction, gaps, achieved write rate and the server's RSS. Works against any PDS
//! (ours or the reference): it only uses `createAccount`, `createRecord` and `subscribeRepos`.
//!
//! ```text
//! cargo run --release -p firehose --example firehose_bench -- \
//!     --pds http://127.0.0.1:2583 --subscribers 1,100,1000 --rates 100,1000 --seconds 10 \
//!     [--pid SERVER_PID] [--label relay] [--accounts 32] [--json out.jsonl]
//! ```
//!
//! Latency of one frame = the subscriber's receive time minus the event's `time` field, which
//! the server stamps when it sequences the event (ours: just before the commit transaction;
//! the reference: when its sequencer writes the row). Both processes run on this machine, so
//! the clocks agree; `time` has millisecond resolution in the reference's frames and ours
//! (`.123000Z`), so figures carry up to 1 ms of truncation. Each subscriber scans the frame for
//! `seq` and `time` without a full decode (both precede `blocks` in canonical key order), so
//! 1,000 subscribers do not need 1,000 decoders.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone)]
struct Args {
    pds: String,
    subscribers: Vec<usize>,
    rates: Vec<u64>,
    seconds: u64,
    pid: Option<u32>,
    label: String,
    accounts: usize,
    json: Option<PathBuf>,
    max_in_flight: usize,
}

fn parse_args() -> Result<Args, Error> {
    let mut a = Args {
        pds: "http://127.0.0.1:2583".into(),
        subscribers: vec![1, 100, 1000],
        rates: vec![100, 1000],
        seconds: 10,
        pid: None,
        label: "server".into(),
        accounts: 32,
        json: None,
        max_in_flight: 128,
    };
    let mut it = std::env::args().skip(1);
    let list = |s: String| -> Result<Vec<u64>, Error> {
        s.split(',')
            .map(|x| x.trim().parse::<u64>().map_err(Error::from))
            .collect()
    };
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--pds" => a.pds = val()?.trim_end_matches('/').to_owned(),
            "--subscribers" => {
                a.subscribers = list(val()?)?.into_iter().map(|n| n as usize).collect()
            }
            "--rates" => a.rates = list(val()?)?,
            "--seconds" => a.seconds = val()?.parse()?,
            "--pid" => a.pid = Some(val()?.parse()?),
            "--label" => a.label = val()?,
            "--accounts" => a.accounts = val()?.parse()?,
            "--json" => a.json = Some(PathBuf::from(val()?)),
            "--max-in-flight" => a.max_in_flight = val()?.parse()?,
            "-h" | "--help" => {
                println!("see the doc comment of crates/firehose/examples/firehose_bench.rs");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(a)
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS[.fff…]Z` to microseconds since the epoch.
fn parse_time_us(s: &[u8]) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        std::str::from_utf8(s.get(r)?).ok()?.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut micros = 0i64;
    if s.get(19) == Some(&b'.') {
        let mut scale = 100_000;
        for &c in s.get(20..)?.iter().take_while(|c| c.is_ascii_digit()) {
            micros += i64::from(c - b'0') * scale;
            scale /= 10;
        }
    }
    Some(((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60_000_000 + sec * 1_000_000 + micros)
}

fn read_uint(b: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *b.get(at)?;
    if first >> 5 != 0 && first >> 5 != 3 {
        return None;
    }
    let info = first & 0x1f;
    let n = match info {
        0..=23 => return Some((u64::from(info), at + 1)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return None,
    };
    let v = b
        .get(at + 1..at + 1 + n)?
        .iter()
        .fold(0u64, |a, x| (a << 8) | u64::from(*x));
    Some((v, at + 1 + n))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `(seq, time in µs)` of a `#commit` frame, by scanning for the two keys.
fn seq_and_time(frame: &[u8]) -> Option<(i64, i64)> {
    let head = &frame[..frame.len().min(4096)];
    let s = find(head, b"\x63seq")? + 4;
    let (seq, _) = read_uint(head, s)?;
    let t = find(head, b"\x64time")? + 5;
    let (len, start) = read_uint(head, t)?;
    let time = parse_time_us(head.get(start..start + len as usize)?)?;
    Some((seq as i64, time))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct SubResult {
    latencies_us: Vec<u32>,
    frames: u64,
    gaps: u64,
    closed_early: bool,
}

async fn subscriber(
    url: String,
    mut stop: watch::Receiver<bool>,
    ready: Arc<AtomicU64>,
) -> Result<SubResult, Error> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    ready.fetch_add(1, Ordering::Relaxed);
    let mut r = SubResult {
        latencies_us: Vec::new(),
        frames: 0,
        gaps: 0,
        closed_early: false,
    };
    let mut last_seq: Option<i64> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            msg = ws.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    let now = now_us();
                    if let Some((seq, t)) = seq_and_time(&b) {
                        r.frames += 1;
                        r.latencies_us.push((now - t).clamp(0, i64::from(u32::MAX)) as u32);
                        if let Some(l) = last_seq && seq != l + 1 {
                            r.gaps += 1;
                        }
                        last_seq = Some(seq);
                    }
                }
                Some(Ok(_)) => {}
                _ => {
                    r.closed_early = true;
                    break;
                }
            }
        }
    }
    Ok(r)
}

async fn create_accounts(
    http: &reqwest::Client,
    pds: &str,
    n: usize,
) -> Result<Vec<(String, String)>, Error> {
    let tag: String = format!("{:x}", now_us() % 0xfffff);
    let mut out = Vec::new();
    for i in 0..n {
        let handle = format!("fb{tag}{i}.test");
        let res: Value = http
            .post(format!("{pds}/xrpc/com.atproto.server.createAccount"))
            .json(&json!({"handle": handle, "email": format!("{handle}@example.com"), "password": "bench-password"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let did = res["did"].as_str().ok_or("no did")?.to_owned();
        let jwt = res["accessJwt"].as_str().ok_or("no token")?.to_owned();
        out.push((did, jwt));
    }
    Ok(out)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

async fn run_level(
    args: &Args,
    http: &reqwest::Client,
    accounts: &[(String, String)],
    subs: usize,
    rate: u64,
) -> Result<Value, Error> {
    let ws_url = format!(
        "{}/xrpc/com.atproto.sync.subscribeRepos",
        args.pds.replacen("http", "ws", 1)
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let ready = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(subs);
    for _ in 0..subs {
        tasks.push(tokio::spawn(subscriber(
            ws_url.clone(),
            stop_rx.clone(),
            ready.clone(),
        )));
    }
    let t0 = Instant::now();
    while (ready.load(Ordering::Relaxed) as usize) < subs && t0.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connected = ready.load(Ordering::Relaxed) as usize;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = args.pid.and_then(rss_kib);

    // RSS sampler.
    let rss_max = Arc::new(AtomicU64::new(rss_before.unwrap_or(0)));
    let sampler = args.pid.map(|pid| {
        let rss_max = rss_max.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            loop {
                if let Some(r) = rss_kib(pid) {
                    rss_max.fetch_max(r, Ordering::Relaxed);
                }
                tokio::select! {
                    _ = stop.changed() => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        })
    });

    // Open-loop writer at `rate`, at most `max_in_flight` requests outstanding.
    let total = rate * args.seconds;
    let permits = Arc::new(Semaphore::new(args.max_in_flight));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut writes = Vec::with_capacity(total as usize);
    let deadline = started + Duration::from_secs(args.seconds);
    for i in 0..total {
        tick.tick().await;
        let permit = permits.clone().acquire_owned().await?;
        if Instant::now() > deadline {
            break; // a server slower than the target rate: stop at the time limit
        }
        let (did, jwt) = accounts[i as usize % accounts.len()].clone();
        let http = http.clone();
        let url = format!("{}/xrpc/com.atproto.repo.createRecord", args.pds);
        let (ok, failed) = (ok.clone(), failed.clone());
        writes.push(tokio::spawn(async move {
            let res = http
                .post(url)
                .bearer_auth(jwt)
                .json(&json!({"repo": did, "collection": "app.bsky.feed.post",
                    "record": {"$type": "app.bsky.feed.post", "text": format!("bench {i}"),
                               "createdAt": "2026-01-01T00:00:00.000Z"}}))
                .send()
                .await;
            match res {
                Ok(r) if r.status().is_success() => ok.fetch_add(1, Ordering::Relaxed),
                _ => failed.fetch_add(1, Ordering::Relaxed),
            };
            drop(permit);
        }));
    }
    for w in writes {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let written = ok.load(Ordering::Relaxed);
    // Let the stream drain.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop_tx.send(true);
    let mut lat: Vec<u32> = Vec::new();
    let (mut frames, mut gaps, mut closed) = (0u64, 0u64, 0usize);
    for t in tasks {
        match t.await {
            Ok(Ok(r)) => {
                frames += r.frames;
                gaps += r.gaps;
                closed += usize::from(r.closed_early);
                lat.extend(r.latencies_us);
            }
            _ => closed += 1,
        }
    }
    if let Some(s) = sampler {
        let _ = s.await;
    }
    lat.sort_unstable();
    let expected = written * connected as u64;
    let row = json!({
        "label": args.label,
        "subscribers": subs,
        "connected": connected,
        "target_rate": rate,
        "achieved_rate": (written as f64 / elapsed * 10.0).round() / 10.0,
        "writes_ok": written,
        "writes_failed": failed.load(Ordering::Relaxed),
        "frames": frames,
        "delivered": if expected == 0 { 0.0 } else { (frames as f64 / expected as f64 * 10000.0).round() / 10000.0 },
        "gaps": gaps,
        "closed_early": closed,
        "p50_ms": (percentile(&lat, 0.50) * 100.0).round() / 100.0,
        "p99_ms": (percentile(&lat, 0.99) * 100.0).round() / 100.0,
        "max_ms": (percentile(&lat, 1.0) * 100.0).round() / 100.0,
        "rss_before_mib": rss_before.map(|r| r / 1024),
        "rss_max_mib": args.pid.map(|_| rss_max.load(Ordering::Relaxed) / 1024),
    });
    Ok(row)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.max_in_flight)
        .build()?;
    eprintln!(
        "[firehose_bench] {}: creating {} accounts ...",
        args.label, args.accounts
    );
    let accounts = create_accounts(&http, &args.pds, args.accounts).await?;
    // Let account-creation events go by before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut out = match &args.json {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    };
    for &subs in &args.subscribers {
        for &rate in &args.rates {
            eprintln!(
                "[firehose_bench] {}: {subs} subscribers x {rate} events/s for {} s ...",
                args.label, args.seconds
            );
            let row = run_level(&args, &http, &accounts, subs, rate).await?;
            println!("{row}");
            if let Some(f) = out.as_mut() {
                use std::io::Write;
                writeln!(f, "{row}")?;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_scan() {
        assert_eq!(parse_time_us(b"1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(
            parse_time_us(b"2000-03-01T00:00:00Z"),
            Some(951_868_800_000_000)
        );
        assert_eq!(
            parse_time_us(b"2026-11-23T17:04:26.213000Z"),
            parse_time_us(b"2026-11-23T17:04:26.213Z")
        );
    }
}
