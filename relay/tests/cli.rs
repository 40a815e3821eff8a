//! End-to-end tests of `relay repo build|verify|inspect` through the real binary: JSON on
//! stdout, errors on stderr, non-zero exit on failure.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

const K256_KEY_HEX: &str = "9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c";
const DID: &str = "did:plc:clitestclitestclitest234";
const REV: &str = "3n2y3ep2g222b";

fn relay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relay"))
        .args(args)
        .output()
        .expect("run relay")
}

fn json_out(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "relay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("relay-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

#[test]
fn build_verify_inspect() {
    let records: Vec<Value> = (0..30)
        .map(|i| {
            let (collection, rkey) = if i == 0 {
                ("app.bsky.actor.profile", "self".to_owned())
            } else {
                ("app.bsky.feed.post", format!("post{i}"))
            };
            json!({
                "collection": collection,
                "rkey": rkey,
                "record": {"$type": collection, "text": format!("post {i}"), "createdAt": "2026-01-01T00:00:00.000Z"}
            })
        })
        .collect();
    let records_path = tmp("records.json");
    std::fs::write(&records_path, serde_json::to_vec(&records).expect("json")).expect("write");
    let car = tmp("repo.car");
    let built = json_out(&relay(&[
        "repo",
        "build",
        "--records",
        records_path.to_str().unwrap(),
        "--key-hex",
        K256_KEY_HEX,
        "--curve",
        "k256",
        "--did",
        DID,
        "--rev",
        REV,
        "--out",
        car.to_str().unwrap(),
    ]));
    assert_eq!(built["rev"], REV);
    assert_eq!(built["records"], 30);

    let key = crypto::Keypair::from_private_bytes(
        crypto::Curve::K256,
        &hex::decode(K256_KEY_HEX).unwrap(),
    )
    .unwrap();
    let did_key = key.public_key().to_did_key();
    let v = json_out(&relay(&[
        "repo",
        "verify",
        car.to_str().unwrap(),
        "--did-key",
        &did_key,
        "--did",
        DID,
    ]));
    assert_eq!(v["ok"], true);
    assert_eq!(v["commit"], built["commit"]);
    assert_eq!(v["data"], built["data"]);
    assert_eq!(v["records"], 30);
    assert_eq!(v["signatureChecked"], true);

    let i = json_out(&relay(&["repo", "inspect", car.to_str().unwrap()]));
    assert_eq!(i["root"], built["commit"]);
    assert_eq!(i["collections"]["app.bsky.feed.post"], 29);
    assert_eq!(i["collections"]["app.bsky.actor.profile"], 1);
    assert_eq!(i["missingRecords"], 0);

    // Failures: wrong DID, wrong key, garbage file. Exit non-zero, message on stderr, no panic.
    let other = crypto::Keypair::generate(crypto::Curve::K256)
        .public_key()
        .to_did_key();
    for args in [
        vec![
            "repo",
            "verify",
            car.to_str().unwrap(),
            "--did",
            "did:plc:someoneelse",
        ],
        vec!["repo", "verify", car.to_str().unwrap(), "--did-key", &other],
        vec!["repo", "verify", records_path.to_str().unwrap()],
        vec!["repo", "inspect", "/nonexistent/file.car"],
    ] {
        let out = relay(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("error: "),
            "{args:?}"
        );
    }
}
