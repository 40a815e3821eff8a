//! `Datetime`: the Lexicon `datetime` string format, parsed strictly (checklist #33).
//!
//! Spec: <https://atproto.com/specs/lexicon> ("String Formats", `datetime`): the intersection of
//! RFC 3339, ISO 8601 and WHATWG. Syntax: `YYYY-MM-DDTHH:MM:SS[.F{1,20}](Z|±HH:MM)`, uppercase
//! `T` and `Z`, exactly the digits shown (no sign, no extra padding), at most 64 characters, and
//! not the RFC 3339-only `-00:00` offset. The strict parse then rejects values that have the
//! right shape but no meaning: month 00 or 13, day 00 or past the end of the month (leap years
//! counted), hour > 23, minute > 59, second > 59 (no leap seconds), offset > 23:59, and any
//! time that falls before year 0000 once the offset is applied.
//!
//! The original text is kept for byte-exact round trips; the instant is exposed as microseconds
//! since the Unix epoch (fractional digits beyond microseconds are truncated). Calendar
//! arithmetic is done here (proleptic Gregorian, days-from-civil) so no date crate is needed.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// Maximum length of a datetime string in bytes.
const MAX_LEN: usize = 64;
/// Maximum number of fractional-second digits.
const MAX_FRACTION: usize = 20;
const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;
/// 0000-01-01T00:00:00Z in microseconds since the Unix epoch.
const MIN_MICROS: i64 = -62_167_219_200 * MICROS_PER_SEC;
/// 9999-12-31T23:59:59.999999Z in microseconds since the Unix epoch.
const MAX_MICROS: i64 = 253_402_300_800 * MICROS_PER_SEC - 1;

/// A valid Lexicon datetime such as `1985-04-12T23:20:50.123Z`, with its instant.
///
/// Equality and hashing use the exact text (`...50Z` and `...50.000Z` differ, as they do on the
/// wire); ordering is by instant first, then by text.
#[derive(Clone)]
pub struct Datetime {
    text: String,
    micros: i64,
}

/// Why a string is not a valid [`Datetime`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatetimeError {
    /// More than 64 characters.
    #[error("datetime is longer than 64 characters")]
    TooLong,
    /// The text does not have the required shape.
    #[error("datetime is malformed at byte {pos}: expected {expected}")]
    Malformed {
        /// Byte offset where the shape broke.
        pos: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// The offset is `-00:00` (RFC 3339 "unknown offset"), which ISO 8601 does not allow.
    #[error("datetime must not use \"-00:00\" as its UTC offset (use \"Z\" or \"+00:00\")")]
    NegativeZeroOffset,
    /// Month outside 01–12.
    #[error("datetime month {0:02} is out of range 01-12")]
    MonthOutOfRange(u32),
    /// Day 00, or past the end of its month.
    #[error("datetime day {day:02} does not exist in {year:04}-{month:02}")]
    DayOutOfRange {
        /// The year.
        year: u32,
        /// The month.
        month: u32,
        /// The day that does not exist.
        day: u32,
    },
    /// Hour above 23.
    #[error("datetime hour {0:02} is out of range 00-23")]
    HourOutOfRange(u32),
    /// Minute above 59.
    #[error("datetime minute {0:02} is out of range 00-59")]
    MinuteOutOfRange(u32),
    /// Second above 59.
    #[error("datetime second {0:02} is out of range 00-59 (leap seconds are not accepted)")]
    SecondOutOfRange(u32),
    /// Offset hours above 23 or minutes above 59.
    #[error("datetime UTC offset {hours:02}:{minutes:02} is out of range (at most 23:59)")]
    OffsetOutOfRange {
        /// Offset hours.
        hours: u32,
        /// Offset minutes.
        minutes: u32,
    },
    /// The instant is before 0000-01-01T00:00:00Z.
    #[error("datetime falls before year 0000 once its UTC offset is applied")]
    BeforeYearZero,
    /// A timestamp outside the years 0000–9999 cannot be written as a datetime.
    #[error("timestamp is outside the years 0000-9999")]
    TimestampOutOfRange,
}

impl DatetimeError {
    /// True when the string does not even have datetime syntax (as opposed to having the right
    /// shape but an impossible value, the `datetime_parse_invalid` class of vectors).
    pub fn is_syntax(&self) -> bool {
        matches!(
            self,
            Self::TooLong | Self::Malformed { .. } | Self::NegativeZeroOffset
        )
    }
}

/// Reads `n` ASCII digits at `pos`.
fn digits(b: &[u8], pos: usize, n: usize, expected: &'static str) -> Result<u32, DatetimeError> {
    let field = b
        .get(pos..pos + n)
        .filter(|f| f.iter().all(u8::is_ascii_digit))
        .ok_or(DatetimeError::Malformed { pos, expected })?;
    Ok(field
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// Requires byte `want` at `pos`.
fn literal(b: &[u8], pos: usize, want: u8, expected: &'static str) -> Result<(), DatetimeError> {
    if b.get(pos) == Some(&want) {
        Ok(())
    } else {
        Err(DatetimeError::Malformed { pos, expected })
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Datetime {
    /// Parses the text and returns the instant in microseconds since the Unix epoch.
    fn check(s: &str) -> Result<i64, DatetimeError> {
        if s.len() > MAX_LEN {
            return Err(DatetimeError::TooLong);
        }
        let b = s.as_bytes();
        let year = digits(b, 0, 4, "a 4-digit year")?;
        literal(b, 4, b'-', "'-' after the year")?;
        let month = digits(b, 5, 2, "a 2-digit month")?;
        literal(b, 7, b'-', "'-' after the month")?;
        let day = digits(b, 8, 2, "a 2-digit day")?;
        literal(b, 10, b'T', "uppercase 'T' between date and time")?;
        let hour = digits(b, 11, 2, "a 2-digit hour")?;
        literal(b, 13, b':', "':' after the hour")?;
        let minute = digits(b, 14, 2, "a 2-digit minute")?;
        literal(b, 16, b':', "':' after the minute")?;
        let second = digits(b, 17, 2, "a 2-digit second")?;

        let mut pos = 19;
        let mut frac_micros = 0i64;
        if b.get(pos) == Some(&b'.') {
            pos += 1;
            let n = b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return Err(DatetimeError::Malformed {
                    pos,
                    expected: "at least one digit after '.'",
                });
            }
            if n > MAX_FRACTION {
                return Err(DatetimeError::Malformed {
                    pos: pos + MAX_FRACTION,
                    expected: "at most 20 fractional-second digits",
                });
            }
            for i in 0..6 {
                let d = if i < n {
                    i64::from(b[pos + i] - b'0')
                } else {
                    0
                };
                frac_micros = frac_micros * 10 + d;
            }
            pos += n;
        }

        let offset_secs: i64 = match b.get(pos) {
            Some(b'Z') => {
                pos += 1;
                0
            }
            Some(&sign @ (b'+' | b'-')) => {
                let oh = digits(b, pos + 1, 2, "2-digit offset hours")?;
                literal(b, pos + 3, b':', "':' in the UTC offset")?;
                let om = digits(b, pos + 4, 2, "2-digit offset minutes")?;
                if sign == b'-' && oh == 0 && om == 0 {
                    return Err(DatetimeError::NegativeZeroOffset);
                }
                if oh > 23 || om > 59 {
                    return Err(DatetimeError::OffsetOutOfRange {
                        hours: oh,
                        minutes: om,
                    });
                }
                pos += 6;
                let secs = i64::from(oh * 3600 + om * 60);
                if sign == b'-' { -secs } else { secs }
            }
            _ => {
                return Err(DatetimeError::Malformed {
                    pos,
                    expected: "'Z' or a UTC offset like +01:00 (a timezone is required)",
                });
            }
        };
        if pos != b.len() {
            return Err(DatetimeError::Malformed {
                pos,
                expected: "end of text after the timezone",
            });
        }

        if !(1..=12).contains(&month) {
            return Err(DatetimeError::MonthOutOfRange(month));
        }
        if day == 0 || day > days_in_month(i64::from(year), month) {
            return Err(DatetimeError::DayOutOfRange { year, month, day });
        }
        if hour > 23 {
            return Err(DatetimeError::HourOutOfRange(hour));
        }
        if minute > 59 {
            return Err(DatetimeError::MinuteOutOfRange(minute));
        }
        if second > 59 {
            return Err(DatetimeError::SecondOutOfRange(second));
        }

        let days = days_from_civil(i64::from(year), month, day);
        let secs =
            days * SECS_PER_DAY + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
        let micros = secs * MICROS_PER_SEC + frac_micros;
        if micros < MIN_MICROS {
            return Err(DatetimeError::BeforeYearZero);
        }
        Ok(micros)
    }

    fn parse_str(s: &str) -> Result<Self, DatetimeError> {
        let micros = Self::check(s)?;
        Ok(Self {
            text: s.to_owned(),
            micros,
        })
    }

    fn parse_string(s: String) -> Result<Self, DatetimeError> {
        let micros = Self::check(&s)?;
        Ok(Self { text: s, micros })
    }

    /// The current time with millisecond precision, e.g. `2024-05-01T12:00:00.123Z` (the form
    /// JavaScript's `toISOString` produces, which clients expect in `createdAt`/`indexedAt`).
    pub fn now() -> Self {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(MAX_MICROS))
            .clamp(0, MAX_MICROS);
        let millis_floor = micros - micros.rem_euclid(1000);
        Self {
            text: format_utc(millis_floor, 3),
            micros: millis_floor,
        }
    }

    /// The instant `micros` (since the Unix epoch) as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    pub fn from_timestamp_micros(micros: i64) -> Result<Self, DatetimeError> {
        if !(MIN_MICROS..=MAX_MICROS).contains(&micros) {
            return Err(DatetimeError::TimestampOutOfRange);
        }
        Ok(Self {
            text: format_utc(micros, 6),
            micros,
        })
    }

    /// Microseconds since 1970-01-01T00:00:00Z (negative before 1970).
    pub fn timestamp_micros(&self) -> i64 {
        self.micros
    }

    /// The datetime text exactly as parsed.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Gives back the owned text.
    pub fn into_string(self) -> String {
        self.text
    }
}

/// Formats an in-range instant as UTC with `precision` (3 or 6) fractional digits.
fn format_utc(micros: i64, precision: usize) -> String {
    let secs = micros.div_euclid(MICROS_PER_SEC);
    let frac = micros.rem_euclid(MICROS_PER_SEC);
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (h, m, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    let frac = if precision == 3 { frac / 1000 } else { frac };
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{frac:0precision$}Z")
}

impl PartialEq for Datetime {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Datetime {}

impl Hash for Datetime {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for Datetime {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Datetime {
    fn cmp(&self, other: &Self) -> Ordering {
        self.micros
            .cmp(&other.micros)
            .then_with(|| self.text.cmp(&other.text))
    }
}

string_type!(Datetime, DatetimeError);

#[cfg(test)]
mod tests;
