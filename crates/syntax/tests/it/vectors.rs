//! Every line of every file in `interop-tests/atproto-interop-tests/syntax/` is accepted or
//! rejected as the file name says (checklist #23, #25, #27, #28, #30, #32, #33). The vectors are
//! the same across implementations. Reading rule from the vendored README: split on `\r?\n`,
//! skip empty lines and lines starting with `#`, never trim.
//!
//! `*_syntax_valid.txt` must parse; `*_syntax_invalid.txt` must fail with a syntax error;
//! `*_parse_invalid.txt` has the right shape but no meaning, so it must fail the strict parse
//! with a non-syntax error.

use std::path::PathBuf;
use syntax::{
    AtIdentifier, AtUri, CidString, Datetime, Did, Handle, Language, Nsid, RecordKey, Tid, Uri,
};

/// How a vector's parse went: Ok, or Err(message, is the error a syntax error).
type Outcome = Result<(), (String, bool)>;

fn err<E: std::fmt::Display>(e: E) -> (String, bool) {
    (e.to_string(), true)
}

/// One `check` per file kind: parse `case` with the type that kind names.
fn check(kind: &str, case: &str) -> Outcome {
    match kind {
        "atidentifier" => case.parse::<AtIdentifier>().map(drop).map_err(err),
        "aturi" => case.parse::<AtUri>().map(drop).map_err(err),
        "cid" => case.parse::<CidString>().map(drop).map_err(err),
        "datetime" => case
            .parse::<Datetime>()
            .map(drop)
            .map_err(|e| (e.to_string(), e.is_syntax())),
        "did" => case.parse::<Did>().map(drop).map_err(err),
        "handle" => case.parse::<Handle>().map(drop).map_err(err),
        "language" => case
            .parse::<Language>()
            .map(drop)
            .map_err(|e| (e.to_string(), e.is_syntax())),
        "nsid" => case.parse::<Nsid>().map(drop).map_err(err),
        "recordkey" => case.parse::<RecordKey>().map(drop).map_err(err),
        "tid" => case.parse::<Tid>().map(drop).map_err(err),
        "uri" => case.parse::<Uri>().map(drop).map_err(err),
        other => panic!("no parser for vector kind {other:?}: add one to check()"),
    }
}

/// Case counts from the vendored README's inventory, so a reading mistake cannot hide.
const EXPECTED_COUNTS: &[(&str, usize)] = &[
    ("did_syntax_valid.txt", 24),
    ("did_syntax_invalid.txt", 18),
    ("handle_syntax_valid.txt", 71),
    ("handle_syntax_invalid.txt", 48),
    ("nsid_syntax_valid.txt", 25),
    ("nsid_syntax_invalid.txt", 27),
    ("tid_syntax_valid.txt", 4),
    ("tid_syntax_invalid.txt", 9),
    ("recordkey_syntax_valid.txt", 16),
    ("recordkey_syntax_invalid.txt", 11),
    ("aturi_syntax_valid.txt", 23),
    ("aturi_syntax_invalid.txt", 72),
    ("atidentifier_syntax_valid.txt", 11),
    ("atidentifier_syntax_invalid.txt", 22),
    ("datetime_syntax_valid.txt", 35),
    ("datetime_syntax_invalid.txt", 45),
    ("datetime_parse_invalid.txt", 7),
    ("cid_syntax_valid.txt", 8),
    ("cid_syntax_invalid.txt", 10),
    ("language_syntax_valid.txt", 18),
    ("language_syntax_invalid.txt", 7),
    ("language_parse_invalid.txt", 4),
    ("uri_syntax_valid.txt", 9),
    ("uri_syntax_invalid.txt", 12),
];

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop-tests/atproto-interop-tests/syntax")
}

/// The cases in one file, by the upstream rule (`_utils.ts`): split on `\r?\n`, keep lines that
/// are non-empty and do not start with `#`. No trimming.
fn cases(text: &str) -> Vec<&str> {
    text.split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
}

#[test]
fn every_vector_file_is_accepted_or_rejected_as_named() {
    let mut names: Vec<String> = std::fs::read_dir(vector_dir())
        .expect("vector dir")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    names.sort();
    assert_eq!(names.len(), EXPECTED_COUNTS.len(), "files: {names:?}");

    let mut failures = Vec::new();
    for name in &names {
        let text = std::fs::read_to_string(vector_dir().join(name)).unwrap();
        let cases = cases(&text);
        println!("syntax/{name}: {} cases", cases.len());
        assert!(!cases.is_empty(), "{name} has no cases");
        let expected = EXPECTED_COUNTS
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} is not in EXPECTED_COUNTS"));
        assert_eq!(cases.len(), expected.1, "case count of {name}");

        let (kind, class) = name
            .trim_end_matches(".txt")
            .split_once('_')
            .unwrap_or_else(|| panic!("unexpected file name {name}"));
        for case in cases {
            let outcome = check(kind, case);
            let ok = matches!(
                (class, &outcome),
                ("syntax_valid", Ok(()))
                    | ("syntax_invalid", Err((_, true)))
                    | ("parse_invalid", Err((_, false)))
            );
            if !ok {
                failures.push(format!("{name}: {case:?} -> {outcome:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// checklist #28: the letter-first TIDs that the monorepo's copy of the vectors adds (README note).
#[test]
fn letter_first_tids_are_valid() {
    let extra = ["a222222222222", "j222222222222", "azzzzzzzzzzzz"];
    for tid in extra {
        let parsed: Tid = tid.parse().unwrap_or_else(|e| panic!("{tid}: {e}"));
        assert_eq!(parsed.as_str(), tid);
        assert_eq!(Tid::from_u64(parsed.as_u64()), parsed);
    }
    println!("syntax/extra letter-first TIDs: {} cases", extra.len());
}

// Every valid vector round-trips byte for byte through as_str(), except handles (lowercased).
#[test]
fn valid_vectors_round_trip() {
    let dir = vector_dir();
    let mut n = 0;
    for (file, f) in [
        (
            "did_syntax_valid.txt",
            (|s| s.parse::<Did>().map(|v| v.to_string()).ok()) as fn(&str) -> Option<String>,
        ),
        ("nsid_syntax_valid.txt", |s| {
            s.parse::<Nsid>().map(|v| v.to_string()).ok()
        }),
        ("aturi_syntax_valid.txt", |s| {
            s.parse::<AtUri>().map(|v| v.to_string()).ok()
        }),
        ("datetime_syntax_valid.txt", |s| {
            s.parse::<Datetime>().map(|v| v.to_string()).ok()
        }),
        ("language_syntax_valid.txt", |s| {
            s.parse::<Language>().map(|v| v.to_string()).ok()
        }),
        ("uri_syntax_valid.txt", |s| {
            s.parse::<Uri>().map(|v| v.to_string()).ok()
        }),
        ("handle_syntax_valid.txt", |s| {
            s.parse::<Handle>()
                .ok()
                .filter(|h| h.as_str() == s.to_ascii_lowercase())
                .map(|_| s.to_owned())
        }),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        for case in cases(&text) {
            assert_eq!(f(case).as_deref(), Some(case), "{file}");
            n += 1;
        }
    }
    println!("syntax/round trips: {n} cases");
}
