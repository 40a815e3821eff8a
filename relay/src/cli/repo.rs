//! `relay repo ...`: inspect, verify and build repository CAR files with the `repo` crate.
//!
//! Output shapes (stable: the Node cross-check in `interop-tests/node/` reads them):
//! - `inspect <car>`: `{root, did, rev, data, prev, blocks, uniqueBlocks, records,
//!   missingRecords, collections: {nsid: count}}`; structural reading only (hashes and MST
//!   checked, no signature), and missing record blocks are counted rather than fatal.
//! - `verify <car> [--did-key k] [--did d]`: full verification ([`repo::repo::verify_car`]);
//!   `{ok: true, did, rev, commit, data, records, nodes, blocks, collections,
//!   signatureChecked}`.
//! - `build --records f --key-hex h --curve c --did d --rev r --out o`: one commit holding every
//!   record of the JSON file `[{collection, rkey, record}]`; writes the CAR and prints
//!   `{commit, data, rev, records, blocks}`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use crypto::{Curve, Keypair, PublicKey};
use repo::blockstore::{BlockMap, MemoryBlockStore};
use repo::car::CarReader;
use repo::commit::Commit;
use repo::mst::Mst;
use repo::repo::{Record, Repo, VerifyOptions, WriteOp, verify_car};
use serde_json::{Value as Json, json};
use syntax::{Did, Nsid, RecordKey, RepoPath, Tid};

/// `relay repo` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum RepoCommand {
    /// Print a CAR's commit, counts per collection and block count (no signature check).
    Inspect {
        /// The CAR file.
        car: PathBuf,
    },
    /// Fully verify a repository CAR: structure, completeness, and optionally key and DID.
    Verify {
        /// The CAR file.
        car: PathBuf,
        /// Check the commit signature with this did:key.
        #[arg(long)]
        did_key: Option<String>,
        /// Require the commit to be for this DID.
        #[arg(long)]
        did: Option<String>,
    },
    /// Build a repository with one commit from a JSON list of records and write it as a CAR.
    Build {
        /// JSON file: `[{"collection": ..., "rkey": ..., "record": {atproto JSON}}]`.
        #[arg(long)]
        records: PathBuf,
        /// Signing key: 32-byte private key, hex.
        #[arg(long)]
        key_hex: String,
        /// Curve of the signing key.
        #[arg(long, value_enum)]
        curve: CurveArg,
        /// Account DID.
        #[arg(long)]
        did: String,
        /// Commit rev (a TID).
        #[arg(long)]
        rev: String,
        /// Output CAR file.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `--curve` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum CurveArg {
    /// secp256k1 (`ES256K`).
    K256,
    /// NIST P-256 (`ES256`).
    P256,
}

impl From<CurveArg> for Curve {
    fn from(c: CurveArg) -> Curve {
        match c {
            CurveArg::K256 => Curve::K256,
            CurveArg::P256 => Curve::P256,
        }
    }
}

/// Runs one `relay repo` command.
pub(crate) fn run(cmd: RepoCommand) -> anyhow::Result<Json> {
    match cmd {
        RepoCommand::Inspect { car } => inspect(&car),
        RepoCommand::Verify { car, did_key, did } => {
            verify(&car, did_key.as_deref(), did.as_deref())
        }
        RepoCommand::Build {
            records,
            key_hex,
            curve,
            did,
            rev,
            out,
        } => build(&records, &key_hex, curve.into(), &did, &rev, &out),
    }
}

fn open(path: &Path) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("cannot open {}", path.display()))
}

fn inspect(path: &Path) -> anyhow::Result<Json> {
    let mut reader = CarReader::new(open(path)?)?;
    let roots = reader.roots().to_vec();
    let mut blocks = BlockMap::new();
    let mut sections = 0u64;
    while let Some((cid, bytes)) = reader.next_block()? {
        sections += 1;
        blocks.insert(cid, bytes);
    }
    let root = roots.first().context("CAR header has no root")?;
    let commit_bytes = blocks
        .get(root)
        .context("the root (commit) block is not in the CAR")?;
    let commit = Commit::decode(commit_bytes).context("the root block is not a valid commit")?;
    let tree = Mst::load(&blocks, commit.data())?;
    let mut collections: BTreeMap<String, u64> = BTreeMap::new();
    let (mut records, mut missing) = (0u64, 0u64);
    for item in tree.iter(&blocks) {
        let (key, cid) = item?;
        records += 1;
        if !blocks.contains(&cid) {
            missing += 1;
        }
        let collection = key.split_once('/').map_or(key, |(c, _)| c);
        *collections.entry(collection.to_owned()).or_default() += 1;
    }
    Ok(json!({
        "root": root.to_string(),
        "did": commit.did().as_str(),
        "rev": commit.rev().as_str(),
        "data": commit.data().to_string(),
        "prev": commit.prev().map(|c| c.to_string()),
        "blocks": sections,
        "uniqueBlocks": blocks.len(),
        "records": records,
        "missingRecords": missing,
        "collections": collections,
    }))
}

fn verify(path: &Path, did_key: Option<&str>, did: Option<&str>) -> anyhow::Result<Json> {
    let key = did_key
        .map(|k| PublicKey::from_did_key(k).with_context(|| format!("invalid --did-key {k:?}")))
        .transpose()?;
    let did = did
        .map(|d| {
            d.parse::<Did>()
                .with_context(|| format!("invalid --did {d:?}"))
        })
        .transpose()?;
    let opts = VerifyOptions {
        key,
        did,
        ..VerifyOptions::default()
    };
    let file = open(path)?;
    let v =
        verify_car(file, &opts).with_context(|| format!("{} does not verify", path.display()))?;
    Ok(json!({
        "ok": true,
        "did": v.did().as_str(),
        "rev": v.rev().as_str(),
        "commit": v.commit_cid.to_string(),
        "data": v.data().to_string(),
        "records": v.record_count,
        "nodes": v.node_count,
        "blocks": v.car_blocks,
        "collections": v.collections,
        "signatureChecked": v.signature_checked,
    }))
}

/// Parses the `--records` file into write ops.
fn read_records(path: &Path) -> anyhow::Result<Vec<WriteOp>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let json: Json = serde_json::from_str(&text).context("records file is not JSON")?;
    let Json::Array(items) = json else {
        bail!("records file must be a JSON array of {{collection, rkey, record}}");
    };
    let mut writes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = |name: &str| {
            item.get(name)
                .with_context(|| format!("record #{i}: missing {name:?}"))
        };
        let collection: Nsid = field("collection")?
            .as_str()
            .with_context(|| format!("record #{i}: collection is not a string"))?
            .parse()
            .with_context(|| format!("record #{i}: invalid collection"))?;
        let rkey: RecordKey = field("rkey")?
            .as_str()
            .with_context(|| format!("record #{i}: rkey is not a string"))?
            .parse()
            .with_context(|| format!("record #{i}: invalid rkey"))?;
        let value = data_model::json::from_json(field("record")?)
            .with_context(|| format!("record #{i}: not valid atproto JSON"))?;
        let record = Record::from_value(&value).with_context(|| format!("record #{i}"))?;
        writes.push(WriteOp::Create {
            path: RepoPath::new(&collection, &rkey),
            record,
        });
    }
    Ok(writes)
}

fn build(
    records: &Path,
    key_hex: &str,
    curve: Curve,
    did: &str,
    rev: &str,
    out: &Path,
) -> anyhow::Result<Json> {
    let key_bytes = hex::decode(key_hex.trim()).context("--key-hex is not hex")?;
    let key = Keypair::from_private_bytes(curve, &key_bytes).context("invalid private key")?;
    let did: Did = did
        .parse()
        .with_context(|| format!("invalid --did {did:?}"))?;
    let rev: Tid = rev
        .parse()
        .with_context(|| format!("invalid --rev {rev:?}"))?;
    let writes = read_records(records)?;
    let (repo, commit) = Repo::create(MemoryBlockStore::new(), did, &writes, rev, &key)?;
    let file = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut w = BufWriter::new(file);
    let stats = repo.export_car(&mut w)?;
    w.flush()
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(json!({
        "commit": commit.cid.to_string(),
        "data": commit.data().to_string(),
        "rev": commit.rev().as_str(),
        "records": writes.len(),
        "blocks": stats.blocks,
    }))
}
