//! Server-side readings from Linux `/proc`: CPU time (user + system) and resident memory of a
//! process, so a run can report CPU milliseconds per operation and RSS next to throughput.
//!
//! CPU times in `/proc/<pid>/stat` are in clock ticks of `USER_HZ`, which Linux fixes at 100
//! for user space on every mainstream architecture ([`TICKS_PER_SECOND`]).

use serde::Serialize;

/// `USER_HZ`: clock ticks per second in `/proc/<pid>/stat`.
pub const TICKS_PER_SECOND: u64 = 100;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProcSample {
    /// User + system CPU time so far, in milliseconds.
    pub cpu_ms: u64,
    /// Resident set size now, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size, KiB (`VmHWM`).
    pub hwm_kib: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`. `None` when the process is gone or the
/// files cannot be parsed (readings are best effort and never stop a run).
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ticks = parse_stat_cpu_ticks(&stat)?;
    let (rss_kib, hwm_kib) = parse_status_memory(&status)?;
    Some(ProcSample {
        cpu_ms: ticks * 1000 / TICKS_PER_SECOND,
        rss_kib,
        hwm_kib,
    })
}

/// Busy CPU time of the whole machine so far, in milliseconds summed over all cores (the
/// `cpu` line of `/proc/stat`: user + nice + system + irq + softirq + steal). Compared with
/// the server's and the load driver's own CPU, it tells how much else ran during a window.
pub fn machine_busy_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    Some(parse_machine_busy_ticks(&stat)? * 1000 / TICKS_PER_SECOND)
}

/// Busy ticks from the text of `/proc/stat` (first line, `cpu  user nice system idle iowait
/// irq softirq steal ...`).
pub fn parse_machine_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().next()?;
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 8 {
        return None;
    }
    // user, nice, system, (idle, iowait skipped), irq, softirq, steal
    Some(v[0] + v[1] + v[2] + v[5] + v[6] + v[7])
}

/// Reads this process's own CPU time in milliseconds (for the load driver's own cost).
pub fn self_cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    Some(parse_stat_cpu_ticks(&stat)? * 1000 / TICKS_PER_SECOND)
}

/// `utime + stime` (fields 14 and 15) from the text of `/proc/<pid>/stat`. The command name
/// (field 2) is in parentheses and may itself contain spaces or parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state), so field 14 is fields[11] and field 15 is fields[12].
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `(VmRSS, VmHWM)` in KiB from the text of `/proc/<pid>/status`.
pub fn parse_status_memory(status: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
