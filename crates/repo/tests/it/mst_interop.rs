//! MST interop vectors (`mst/*` in atproto-interop-tests, same across implementations): key
//! heights (checklist #42) and key prefix lengths used by prefix compression (checklist #44).

use repo::mst::{common_prefix_len, key_height};
use serde_json::Value;

fn vector(name: &str) -> String {
    let path = format!(
        "{}/../../interop-tests/atproto-interop-tests/mst/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn check_height(key: &str, height: u8) {
    assert_eq!(key_height(key.as_bytes()), height, "height of {key:?}");
}

fn check_prefix(left: &str, right: &str, len: usize) {
    assert_eq!(
        common_prefix_len(left.as_bytes(), right.as_bytes()),
        len,
        "{left:?} / {right:?}"
    );
}

#[test]
fn key_heights_json() {
    let cases: Vec<Value> = serde_json::from_str(&vector("key_heights.json")).unwrap();
    assert!(!cases.is_empty(), "mst/key_heights.json: no cases");
    for c in &cases {
        check_height(
            c["key"].as_str().unwrap(),
            c["height"].as_u64().unwrap() as u8,
        );
    }
    println!("mst/key_heights.json: {} cases", cases.len());
}

#[test]
fn common_prefix_json() {
    let cases: Vec<Value> = serde_json::from_str(&vector("common_prefix.json")).unwrap();
    assert!(!cases.is_empty(), "mst/common_prefix.json: no cases");
    for c in &cases {
        check_prefix(
            c["left"].as_str().unwrap(),
            c["right"].as_str().unwrap(),
            c["len"].as_u64().unwrap() as usize,
        );
    }
    println!("mst/common_prefix.json: {} cases", cases.len());
}

#[test]
fn example_keys_txt() {
    // Each key's second character is its height, e.g. `A3/578971` has height 3.
    let text = vector("example_keys.txt");
    let mut n = 0;
    for key in text.lines().filter(|l| !l.is_empty()) {
        let height = key.as_bytes()[1] - b'0';
        check_height(key, height);
        repo::mst::validate_key(key.as_bytes()).unwrap();
        n += 1;
    }
    assert!(n > 0, "mst/example_keys.txt: no cases");
    println!("mst/example_keys.txt: {n} cases");
}
