//! Parsing of human durations on the command line: `10s`, `500ms`, `2m`, `1.5s` (a bare number
//! is seconds).

use std::time::Duration;

/// Parses `<number><unit>` with unit `ms`, `s` or `m` (none: seconds). Rejects negative,
/// non-finite and absurdly long (> 1 day) values.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (examples: 10s, 500ms, 2m)"))?;
    let secs = value * scale;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!(
            "invalid duration {text:?}: must be a non-negative number"
        ));
    }
    if secs > 86_400.0 {
        return Err(format!("duration {text:?} is longer than a day"));
    }
    Ok(Duration::from_secs_f64(secs))
}
