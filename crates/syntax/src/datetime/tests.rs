//! Unit tests for `Datetime`: instants, calendar edge cases, formatting, error messages.

use super::{Datetime, DatetimeError, MAX_MICROS, MIN_MICROS, civil_from_days, days_from_civil};

fn micros(s: &str) -> i64 {
    s.parse::<Datetime>().unwrap().timestamp_micros()
}

#[test]
fn instants() {
    assert_eq!(micros("1970-01-01T00:00:00Z"), 0);
    assert_eq!(micros("1970-01-01T00:00:00.000001Z"), 1);
    assert_eq!(micros("1969-12-31T23:59:59.999999Z"), -1);
    assert_eq!(micros("1985-04-12T23:20:50.123Z"), 482_196_050_123_000);
    assert_eq!(
        micros("1985-04-12T23:20:50.123-07:00"),
        micros("1985-04-13T06:20:50.123Z")
    );
    assert_eq!(
        micros("1985-04-12T23:20:50.1234567891Z"),
        482_196_050_123_456,
        "truncated to micros"
    );
    assert_eq!(micros("0000-01-01T00:00:00.000Z"), MIN_MICROS);
    assert_eq!(micros("9999-12-31T23:59:59.999999Z"), MAX_MICROS);
    assert_eq!(
        micros("2000-02-29T00:00:00Z") + 86_400_000_000,
        micros("2000-03-01T00:00:00Z")
    );
}

#[test]
fn civil_round_trip() {
    for days in (-800_000..3_000_000).step_by(997) {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
    }
}

#[test]
fn keeps_text_and_orders_by_instant() {
    let a: Datetime = "1985-04-12T23:20:50Z".parse().unwrap();
    let b: Datetime = "1985-04-12T23:20:50.000Z".parse().unwrap();
    assert_ne!(a, b);
    assert_eq!(a.timestamp_micros(), b.timestamp_micros());
    assert_eq!(b.as_str(), "1985-04-12T23:20:50.000Z");
    let later: Datetime = "1985-04-12T22:20:51-01:00".parse().unwrap();
    assert!(a < later && b < later);
}

#[test]
fn formatting() {
    let dt = Datetime::from_timestamp_micros(482_196_050_123_456).unwrap();
    assert_eq!(dt.as_str(), "1985-04-12T23:20:50.123456Z");
    assert_eq!(dt.as_str().parse::<Datetime>().unwrap(), dt);
    let dt = Datetime::from_timestamp_micros(MIN_MICROS).unwrap();
    assert_eq!(dt.as_str(), "0000-01-01T00:00:00.000000Z");
    assert_eq!(
        Datetime::from_timestamp_micros(MAX_MICROS + 1).unwrap_err(),
        DatetimeError::TimestampOutOfRange
    );
    let now = Datetime::now();
    assert_eq!(now.as_str().len(), 24, "{now}");
    let reparsed: Datetime = now.as_str().parse().unwrap();
    assert_eq!(reparsed.timestamp_micros(), now.timestamp_micros());
}

#[test]
fn errors_say_what_is_wrong() {
    let err = |s: &str| s.parse::<Datetime>().unwrap_err();
    assert_eq!(
        err("1985-04-12t23:20:50Z"),
        DatetimeError::Malformed {
            pos: 10,
            expected: "uppercase 'T' between date and time"
        }
    );
    assert_eq!(
        err("1985-04-12T23:20:50.123").to_string(),
        "datetime is malformed at byte 23: expected 'Z' or a UTC offset like +01:00 (a timezone is required)"
    );
    assert_eq!(
        err("1985-04-12T23:20:50.Z").to_string(),
        "datetime is malformed at byte 20: expected at least one digit after '.'"
    );
    assert_eq!(
        err("1985-04-12T23:20:50-00:00"),
        DatetimeError::NegativeZeroOffset
    );
    assert_eq!(
        err("1985-13-12T23:20:50Z"),
        DatetimeError::MonthOutOfRange(13)
    );
    assert_eq!(
        err("2023-02-29T00:00:00Z").to_string(),
        "datetime day 29 does not exist in 2023-02"
    );
    assert!("2024-02-29T00:00:00Z".parse::<Datetime>().is_ok());
    assert_eq!(
        err("1985-04-12T24:00:00Z"),
        DatetimeError::HourOutOfRange(24)
    );
    assert_eq!(
        err("1985-04-12T23:60:00Z"),
        DatetimeError::MinuteOutOfRange(60)
    );
    assert_eq!(
        err("1985-04-12T23:59:60Z"),
        DatetimeError::SecondOutOfRange(60)
    );
    assert_eq!(
        err("1985-04-12T23:59:59+24:00"),
        DatetimeError::OffsetOutOfRange {
            hours: 24,
            minutes: 0
        }
    );
    assert_eq!(
        err("0000-01-01T00:00:00+01:00"),
        DatetimeError::BeforeYearZero
    );
    assert_eq!(
        err(&format!("1985-04-12T23:20:50.{}Z", "1".repeat(44))),
        DatetimeError::TooLong
    );
    assert!(err("1985-04-12T23:20:50.123456789012345678901Z").is_syntax());
    assert!(!err("1985-00-12T23:20:50.123Z").is_syntax());
}
