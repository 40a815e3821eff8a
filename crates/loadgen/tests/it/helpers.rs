//! Pure helpers: durations, RFC 3339 timestamps, percentiles, /proc parsing, CAR framing,
//! loopback checks.

use std::time::Duration;

use loadgen::car::{CarError, count_blocks};
use loadgen::duration::parse_duration;
use loadgen::procfs::{parse_stat_cpu_ticks, parse_status_memory};
use loadgen::stats::{LatencySummary, percentile};
use loadgen::time::format_unix_millis;
use loadgen::xrpc::{account_handle, check_loopback_url};

#[test]
fn durations() {
    let cases: &[(&str, Option<Duration>)] = &[
        ("10s", Some(Duration::from_secs(10))),
        ("500ms", Some(Duration::from_millis(500))),
        ("2m", Some(Duration::from_secs(120))),
        ("1.5s", Some(Duration::from_millis(1500))),
        ("3", Some(Duration::from_secs(3))),
        ("0s", Some(Duration::ZERO)),
        ("-1s", None),
        ("abc", None),
        ("", None),
        ("2d", None),
        ("inf", None),
        ("90000s", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text).ok(), *want, "{text:?}");
    }
    println!("durations: {} cases", cases.len());
}

#[test]
fn timestamps() {
    let cases: &[(i64, &str)] = &[
        (0, "1970-01-01T00:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
        (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ];
    for (ms, want) in cases {
        assert_eq!(format_unix_millis(*ms), *want);
    }
    let now = loadgen::time::now_rfc3339();
    assert_eq!(now.len(), 24, "{now}");
    assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
}

#[test]
fn percentiles() {
    let sorted: Vec<u32> = (1..=100).collect();
    assert_eq!(percentile(&sorted, 50.0), 50);
    assert_eq!(percentile(&sorted, 90.0), 90);
    assert_eq!(percentile(&sorted, 99.0), 99);
    assert_eq!(percentile(&sorted, 100.0), 100);
    assert_eq!(percentile(&[7], 99.0), 7);
    assert_eq!(percentile(&[], 50.0), 0);

    let mut samples = vec![3000u32, 1000, 2000, 4000];
    let s = LatencySummary::from_micros(&mut samples);
    assert_eq!(s.count, 4);
    assert!((s.mean - 2.5).abs() < 1e-9);
    assert!((s.p50 - 2.0).abs() < 1e-9);
    assert!((s.max - 4.0).abs() < 1e-9);
    let empty = LatencySummary::from_micros(&mut []);
    assert_eq!(empty.count, 0);
}

#[test]
fn proc_parsing() {
    // A command name with spaces and a parenthesis, as the kernel allows.
    let stat = "1234 (relay (x) y) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 9 0 100 1000000 2000 18446744073709551615";
    assert_eq!(parse_stat_cpu_ticks(stat), Some(325));
    assert_eq!(parse_stat_cpu_ticks("garbage"), None);
    assert_eq!(parse_stat_cpu_ticks("1 (x) S 1 2"), None);

    let status =
        "Name:\trelay\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t9\n";
    assert_eq!(parse_status_memory(status), Some((40960, 51200)));
    assert_eq!(parse_status_memory("Name:\tx\n"), None);

    let proc_stat = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n";
    assert_eq!(
        loadgen::procfs::parse_machine_busy_ticks(proc_stat),
        Some(161)
    );
    assert_eq!(
        loadgen::procfs::parse_machine_busy_ticks("cpu0 1 2 3"),
        None
    );
    assert_eq!(loadgen::procfs::parse_machine_busy_ticks("cpu 1 2 3"), None);
    assert!(loadgen::procfs::machine_busy_ms().is_some());

    let me = loadgen::procfs::sample(std::process::id()).expect("reads /proc/self");
    assert!(me.rss_kib > 0 && me.hwm_kib >= me.rss_kib);
    assert!(
        loadgen::procfs::sample(u32::MAX).is_none(),
        "no such process"
    );
}

fn section(body: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(body.len()).expect("short test sections")];
    out.extend_from_slice(body);
    out
}

#[test]
fn car_framing() {
    let mut car = section(b"header");
    for i in 0..5u8 {
        car.extend(section(&[i; 40]));
    }
    assert_eq!(count_blocks(&car), Ok(5));
    assert_eq!(count_blocks(&section(b"header")), Err(CarError::Empty));
    assert_eq!(count_blocks(&[]), Err(CarError::Empty));
    let mut truncated = car.clone();
    truncated.truncate(car.len() - 1);
    assert!(matches!(
        count_blocks(&truncated),
        Err(CarError::Truncated(_))
    ));
    assert!(matches!(count_blocks(&[0x80]), Err(CarError::Varint(0))));
    // A 300-byte section uses a two-byte varint.
    let mut long = section(b"h");
    long.extend_from_slice(&[0xac, 0x02]);
    long.extend_from_slice(&[0u8; 300]);
    assert_eq!(count_blocks(&long), Ok(1));
    // An error page is not a CAR.
    assert!(count_blocks(br#"{"error":"RepoNotFound"}"#).is_err());
}

#[test]
fn loopback_only() {
    let ok = [
        "http://127.0.0.1:2583",
        "http://127.0.0.1:2583/",
        "http://localhost:1",
        "http://[::1]:8080",
        "http://127.1.2.3:9",
    ];
    for url in ok {
        assert!(check_loopback_url(url).is_ok(), "{url}");
    }
    assert_eq!(
        check_loopback_url("http://127.0.0.1:2583/").ok().as_deref(),
        Some("http://127.0.0.1:2583")
    );
    let refused = [
        "https://bsky.social",
        "http://10.0.0.1:2583",
        "http://192.168.1.2",
        "http://[2001:db8::1]:80",
        "ftp://127.0.0.1",
        "http://127.0.0.1:2583/xrpc",
        "not a url",
    ];
    for url in refused {
        assert!(check_loopback_url(url).is_err(), "{url}");
    }
    println!(
        "loopback_only: {} accepted, {} refused",
        ok.len(),
        refused.len()
    );
}

#[test]
fn handles() {
    assert_eq!(account_handle(7, "k3x"), "lg007-k3x.test");
    assert_eq!(account_handle(1234, "abc"), "lg1234-abc.test");
    let first_label = account_handle(999, &loadgen::xrpc::random_suffix(3));
    assert!(
        first_label
            .split('.')
            .next()
            .is_some_and(|l| (3..=18).contains(&l.len()))
    );
}
