//! Firehose delivery benchmark client: N WebSocket subscribers on `subscribeRepos` while an
//! open-loop writer creates records at a target rate; reports delivery latency (p50/p99/max),
//! delivered fraction, gaps, achieved write rate, the server's RSS, and the CPU used by the
//! server and by this client, separately. Works against any PDS (ours or the reference): it
//! only uses `createAccount`, `createRecord` and `subscribeRepos`.
//!
//! ```text
//! cargo run --release -p firehose --example firehose_bench -- \
//!     --pds http://127.0.0.1:2583 --subscribers 1,100,1000 --rates 100,1000 --seconds 10 \
//!     [--pid SERVER_PID] [--label relay] [--accounts 32] [--json out.jsonl] [--sub-threads N]
//! ```
//!
//! Latency of one frame = the subscriber's receive time minus the event's `time` field, which
//! the server stamps when it sequences the event (ours: just before the commit transaction;
//! the reference: when its sequencer writes the row). Both processes run on this machine, so
//! the clocks agree; `time` has millisecond resolution, so figures carry up to 1 ms of
//! truncation.
//!
//! The client is built to cost the server as little CPU as possible, since they share the
//! machine: subscribers speak WebSocket themselves over plain TCP (handshake, unmasked server
//! frames, pong replies), read into one reusable buffer per connection, take one clock reading
//! per socket read, and walk only the frame header and the body keys up to `seq` and `time`
//! (both precede `blocks` in canonical key order); nothing is allocated per frame besides the
//! latency sample. All subscribers share `--sub-threads` threads, each running a
//! single-threaded runtime; the writer has one more. The default is one subscriber thread per
//! CPU: a thousand real subscribers read independently, and funnelling all their reads through
//! one thread adds that thread's own queueing to every sample (at 1,000 x 1,000 on two cores,
//! p99 ~150 ms with one thread against ~90 ms with two, same server).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};

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
    sub_threads: usize,
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
        sub_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
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
            "--sub-threads" => a.sub_threads = val()?.parse::<usize>()?.max(1),
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
        s.get(r)?.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
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

// ---------------------------------------------------------------------------------------------
// Minimal CBOR walking: just enough to find `seq` and `time` in a frame.

/// An item head at `at`: (major type, argument, position after the head).
fn head(b: &[u8], at: usize) -> Option<(u8, u64, usize)> {
    let first = *b.get(at)?;
    let info = first & 0x1f;
    let n = match info {
        0..=23 => return Some((first >> 5, u64::from(info), at + 1)),
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
    Some((first >> 5, v, at + 1 + n))
}

/// The position after the item at `at`.
fn skip(b: &[u8], at: usize, depth: u8) -> Option<usize> {
    let (major, arg, mut p) = head(b, at)?;
    match major {
        0 | 1 | 7 => Some(p),
        2 | 3 => {
            let end = p.checked_add(usize::try_from(arg).ok()?)?;
            (end <= b.len()).then_some(end)
        }
        4 | 5 => {
            let items = if major == 5 { arg.checked_mul(2)? } else { arg };
            if depth == 0 || items > b.len() as u64 {
                return None;
            }
            for _ in 0..items {
                p = skip(b, p, depth - 1)?;
            }
            Some(p)
        }
        _ => skip(b, p, depth.checked_sub(1)?), // tag
    }
}

/// `(seq, time in µs)` of an event frame: skips the header, then walks the body's keys
/// (canonical order: `ops`, `rev`, `seq`, `repo`, `time`, ... `blocks`) until both are found.
fn seq_and_time(frame: &[u8]) -> Option<(i64, i64)> {
    let body = skip(frame, 0, 4)?;
    let (major, len, mut p) = head(frame, body)?;
    if major != 5 {
        return None;
    }
    let (mut seq, mut time) = (None, None);
    for _ in 0..len {
        let (kmajor, klen, kstart) = head(frame, p)?;
        let kend = kstart.checked_add(usize::try_from(klen).ok()?)?;
        if kmajor != 3 {
            return None;
        }
        match frame.get(kstart..kend)? {
            b"seq" => {
                let (major, v, next) = head(frame, kend)?;
                seq = (major == 0).then_some(v as i64);
                p = next;
            }
            b"time" => {
                let (major, n, start) = head(frame, kend)?;
                let end = start.checked_add(usize::try_from(n).ok()?)?;
                time = if major == 3 {
                    parse_time_us(frame.get(start..end)?)
                } else {
                    None
                };
                p = end;
            }
            _ => p = skip(frame, kend, 16)?,
        }
        if let (Some(s), Some(t)) = (seq, time) {
            return Some((s, t));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Process figures from /proc.

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

/// CPU time (user + system) of a process in seconds, from `/proc/<pid>/stat` (clock ticks of
/// 1/100 s, Linux's `USER_HZ` on every mainstream architecture).
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The machine's CPU counters from `/proc/stat`'s first line: (busy, steal, total) in clock
/// ticks. Busy is everything but idle, iowait and steal; steal is the time the hypervisor
/// gave this machine's CPUs to someone else, which a VM on a shared host sees as noise.
fn machine_ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = v[..] else {
        return None;
    };
    let busy = user + nice + system + irq + softirq;
    Some((busy, steal, busy + idle + iowait + steal))
}

// ---------------------------------------------------------------------------------------------
// Subscribers: WebSocket over plain TCP, done by hand.

struct SubResult {
    latencies_us: Vec<u32>,
    frames: u64,
    bytes: u64,
    gaps: u64,
    closed_early: bool,
}

/// Reads the 101 response; returns the bytes received after it.
async fn handshake(sock: &mut TcpStream, host: &str, path: &str) -> Result<Vec<u8>, Error> {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    sock.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed during the WebSocket handshake".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 101") {
                let line = String::from_utf8_lossy(&buf[..buf.len().min(80)]).into_owned();
                return Err(format!("WebSocket upgrade refused: {line}").into());
            }
            return Ok(buf.split_off(end + 4));
        }
        if buf.len() > 16 * 1024 {
            return Err("WebSocket handshake response too long".into());
        }
    }
}

async fn subscriber(
    host: String,
    path: String,
    mut stop: watch::Receiver<bool>,
    ready: Arc<AtomicU64>,
) -> Result<SubResult, Error> {
    let mut sock = TcpStream::connect(&host).await?;
    sock.set_nodelay(true)?;
    let rest = handshake(&mut sock, &host, &path).await?;
    ready.fetch_add(1, Ordering::Relaxed);
    let mut r = SubResult {
        latencies_us: Vec::new(),
        frames: 0,
        bytes: 0,
        gaps: 0,
        closed_early: false,
    };
    let mut last_seq: Option<i64> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = rest.len();
    if len > buf.len() {
        buf.resize(len, 0);
    }
    buf[..len].copy_from_slice(&rest);
    let mut now = now_us();
    loop {
        // Every complete frame in buf[..len].
        let mut p = 0;
        while len - p >= 2 {
            let (b0, b1) = (buf[p], buf[p + 1]);
            let (payload_len, hdr) = match b1 & 0x7f {
                126 if len - p >= 4 => (u64::from(u16::from_be_bytes([buf[p + 2], buf[p + 3]])), 4),
                127 if len - p >= 10 => {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(&buf[p + 2..p + 10]);
                    (u64::from_be_bytes(n), 10)
                }
                126 | 127 => break,
                n => (u64::from(n), 2),
            };
            let total = hdr + usize::try_from(payload_len)?;
            if len - p < total {
                if total > buf.len() {
                    buf.resize(total.next_power_of_two(), 0);
                }
                break;
            }
            let payload = &buf[p + hdr..p + total];
            match b0 & 0x0f {
                0x2 => {
                    if let Some((seq, t)) = seq_and_time(payload) {
                        r.frames += 1;
                        r.bytes += payload.len() as u64;
                        r.latencies_us
                            .push((now - t).clamp(0, i64::from(u32::MAX)) as u32);
                        if let Some(l) = last_seq
                            && seq != l + 1
                        {
                            r.gaps += 1;
                        }
                        last_seq = Some(seq);
                    }
                }
                0x9 if payload.len() <= 125 => {
                    // Pong with the ping's payload, masked with a zero key.
                    let mut pong = vec![0x8a, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                    pong.extend_from_slice(payload);
                    sock.write_all(&pong).await?;
                }
                0x8 => {
                    r.closed_early = true;
                    return Ok(r);
                }
                _ => {}
            }
            p += total;
        }
        buf.copy_within(p..len, 0);
        len -= p;
        tokio::select! {
            _ = stop.changed() => return Ok(r),
            n = sock.read(&mut buf[len..]) => match n {
                Ok(0) | Err(_) => {
                    r.closed_early = true;
                    return Ok(r);
                }
                Ok(n) => {
                    len += n;
                    now = now_us();
                }
            }
        }
    }
}

/// Threads that run the subscribers, each a single-threaded runtime.
struct SubPool {
    handles: Vec<tokio::runtime::Handle>,
    _stop: std::sync::mpsc::Sender<()>,
}

impl SubPool {
    fn new(threads: usize) -> Result<SubPool, Error> {
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let stop_rx = Arc::new(std::sync::Mutex::new(stop_rx));
        let mut handles = Vec::new();
        for i in 0..threads {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(rt.handle().clone());
            let stop_rx = stop_rx.clone();
            std::thread::Builder::new()
                .name(format!("subscribers-{i}"))
                .spawn(move || {
                    rt.block_on(async move {
                        // Park until the pool is dropped (the sender goes away).
                        let _ = tokio::task::spawn_blocking(move || {
                            let _ = stop_rx.lock().map(|rx| rx.recv());
                        })
                        .await;
                    });
                })?;
        }
        Ok(SubPool {
            handles,
            _stop: stop_tx,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The writer and one level.

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

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

async fn run_level(
    args: &Args,
    pool: &SubPool,
    http: &reqwest::Client,
    accounts: &[(String, String)],
    subs: usize,
    rate: u64,
) -> Result<Value, Error> {
    let host = args
        .pds
        .split_once("://")
        .map_or(args.pds.as_str(), |(_, h)| h)
        .to_owned();
    let path = "/xrpc/com.atproto.sync.subscribeRepos".to_owned();
    let (stop_tx, stop_rx) = watch::channel(false);
    let ready = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(subs);
    for i in 0..subs {
        let handle = &pool.handles[i % pool.handles.len()];
        tasks.push(handle.spawn(subscriber(
            host.clone(),
            path.clone(),
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
    let server_pid = args.pid.map(|p| p.to_string());
    let cpu = || {
        (
            cpu_secs("self"),
            server_pid.as_deref().and_then(cpu_secs),
            Instant::now(),
            machine_ticks(),
        )
    };
    let cpu_start = cpu();
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
    let cpu_end = cpu();
    let _ = stop_tx.send(true);
    let mut lat: Vec<u32> = Vec::new();
    let (mut frames, mut bytes, mut gaps, mut closed) = (0u64, 0u64, 0u64, 0usize);
    // Why subscribers failed (the first few, deduplicated), so an anomaly can be explained.
    let mut errors: Vec<String> = Vec::new();
    for t in tasks {
        let failure = match t.await {
            Ok(Ok(r)) => {
                frames += r.frames;
                bytes += r.bytes;
                gaps += r.gaps;
                closed += usize::from(r.closed_early);
                lat.extend(r.latencies_us);
                continue;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("subscriber task failed: {e}"),
        };
        closed += 1;
        if errors.len() < 5 && !errors.contains(&failure) {
            errors.push(failure);
        }
    }
    for e in &errors {
        eprintln!("[firehose_bench] {}: a subscriber failed: {e}", args.label);
    }
    if let Some(s) = sampler {
        let _ = s.await;
    }
    lat.sort_unstable();
    let wall = cpu_end.2.duration_since(cpu_start.2).as_secs_f64();
    let pct = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if wall > 0.0 => Some(round1((b - a) / wall * 100.0)),
        _ => None,
    };
    let server_cpu = pct(cpu_start.1, cpu_end.1);
    // Shares of all the machine's CPU time over the window (100 = every core, all the time).
    let machine = match (cpu_start.3, cpu_end.3) {
        (Some((b0, s0, t0)), Some((b1, s1, t1))) if t1 > t0 => {
            let total = (t1 - t0) as f64;
            Some((
                round1((b1 - b0) as f64 / total * 100.0),
                round1((s1 - s0) as f64 / total * 100.0),
            ))
        }
        _ => None,
    };
    let expected = written * connected as u64;
    let row = json!({
        "label": args.label,
        "subscribers": subs,
        "connected": connected,
        "client_threads": args.sub_threads,
        "target_rate": rate,
        "achieved_rate": round1(written as f64 / elapsed),
        "writes_ok": written,
        "writes_failed": failed.load(Ordering::Relaxed),
        "frames": frames,
        "avg_frame_bytes": bytes.checked_div(frames).unwrap_or(0),
        "delivered": if expected == 0 { 0.0 } else { (frames as f64 / expected as f64 * 10000.0).round() / 10000.0 },
        "gaps": gaps,
        "closed_early": closed,
        "subscriber_errors": errors,
        "p50_ms": (percentile(&lat, 0.50) * 100.0).round() / 100.0,
        "p99_ms": (percentile(&lat, 0.99) * 100.0).round() / 100.0,
        "max_ms": (percentile(&lat, 1.0) * 100.0).round() / 100.0,
        "rss_before_mib": rss_before.map(|r| r / 1024),
        "rss_max_mib": args.pid.map(|_| rss_max.load(Ordering::Relaxed) / 1024),
        "cpu_window_s": round1(wall),
        "server_cpu_pct": server_cpu,
        "client_cpu_pct": pct(cpu_start.0, cpu_end.0),
        "machine_busy_pct": machine.map(|m| m.0),
        "machine_steal_pct": machine.map(|m| m.1),
        "server_us_per_frame": server_cpu.filter(|_| frames > 0).map(|c| round1(c / 100.0 * wall * 1e6 / frames as f64)),
    });
    Ok(row)
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let pool = SubPool::new(args.sub_threads)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args, pool))
}

async fn run(args: Args, pool: SubPool) -> Result<(), Error> {
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
            let row = run_level(&args, &pool, &http, &accounts, subs, rate).await?;
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
    use data_model::Value as Cbor;

    use super::*;

    fn map(entries: &[(&str, Cbor)]) -> Cbor {
        Cbor::Map(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

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
        // `seq` inside `ops` and the key's bytes inside `blocks` must not be mistaken for it.
        let body = data_model::cbor::encode(&map(&[
            ("ops", Cbor::List(vec![map(&[("seq", Cbor::Integer(9))])])),
            ("repo", Cbor::String("did:plc:x".into())),
            ("time", Cbor::String("1970-01-01T00:00:01.250Z".into())),
            ("blocks", Cbor::Bytes(b"cseq".repeat(20))),
        ]));
        let frame = firehose::event_frame(pds::ports::EventKind::Commit, 300, &body).unwrap();
        assert_eq!(seq_and_time(&frame), Some((300, 1_250_000)));
    }
}
