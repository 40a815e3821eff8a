//! Markdown rendering of run reports (one table per workload; JSON is the serde form of the
//! report structs themselves).

use crate::create_records::CreateRecordsReport;
use crate::get_repo::GetRepoReport;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.digits$}"))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "-".to_owned(), |k| format!("{:.0}", k as f64 / 1024.0))
}

/// A markdown table (header + one row per report) for `create-records` runs.
pub fn create_records_table(reports: &[CreateRecordsReport]) -> String {
    let mut out = String::from(
        "| server | concurrency | ops/s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU ms/op | loadgen CPU ms/op | server RSS MiB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let l = &r.latency_ms;
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} | {} |\n",
            r.label,
            r.concurrency,
            r.ops_per_s,
            l.p50,
            l.p90,
            l.p99,
            l.max,
            r.errors,
            opt(r.server.as_ref().and_then(|s| s.cpu_ms_per_op), 2),
            opt(r.loadgen_cpu_ms_per_op, 2),
            mib(r.server.as_ref().map(|s| s.rss_kib_after)),
        ));
    }
    out
}

/// A markdown table (header + one row per report) for `get-repo` runs.
pub fn get_repo_table(reports: &[GetRepoReport]) -> String {
    let mut out = String::from(
        "| server | records | CAR MB | blocks | getRepo median ms | min ms | max ms | MB/s | server CPU ms/download | seed records/s |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        out.push_str(&format!(
            "| {} | {} | {:.2} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.0} |\n",
            r.label,
            r.records,
            r.car_bytes as f64 / 1e6,
            r.car_blocks,
            r.ms.median,
            r.ms.min,
            r.ms.max,
            r.median_mb_per_s,
            opt(r.server_cpu_ms_per_download, 1),
            r.seed_records_per_s,
        ));
    }
    out
}
