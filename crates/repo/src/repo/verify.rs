//! Import and full verification of a repository CAR (checklist #41, #47, #50-#52, #56).
//!
//! [`verify_car`] reads every section (hash-checked against its CID), then:
//! 1. takes `roots[0]` as the commit and decodes it strictly (exact field set, version 3,
//!    blessed `data`/`prev` links);
//! 2. checks the commit's DID against the expected one, if given (contamination guard, #56);
//! 3. checks the signature against the given key, if any;
//! 4. loads and checks every MST node (hash, strict encoding, key order, heights, prefix
//!    compression, blessed links, size limits; #47, #48);
//! 5. checks every record the tree references is present, at most 1 MiB, and strict DAG-CBOR
//!    with a map at the top (completeness, #51);
//! 6. keeps only the blocks the repository uses: commit, nodes, records. Extra, duplicated or
//!    out-of-order blocks are tolerated and dropped (#52).
//!
//! All sections are held in memory while checking (bounded by
//! [`VerifyOptions::max_total_bytes`]), since a CAR may list blocks in any order.

use std::collections::BTreeMap;
use std::io::Read;

use data_model::Cid;
use syntax::{Did, Tid};

use super::export::{Visit, walk};
use super::{RepoError, check_record_bytes};
use crate::blockstore::{BlockMap, BlockStore};
use crate::car::{CarLimits, CarReader};
use crate::commit::Commit;
use crate::mst::Mst;

/// What to check beyond structure.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Check the commit signature with this key (the `#atproto` key of the DID document).
    pub key: Option<crypto::PublicKey>,
    /// Require the commit to be for this DID.
    pub did: Option<Did>,
    /// CAR reader limits (hash verification should stay on).
    pub car_limits: CarLimits,
    /// Largest total of block bytes accepted from the CAR.
    pub max_total_bytes: u64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            key: None,
            did: None,
            car_limits: CarLimits::default(),
            max_total_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// A repository that passed [`verify_car`].
#[derive(Debug, Clone)]
pub struct VerifiedRepo {
    /// The commit CID (`roots[0]`).
    pub commit_cid: Cid,
    /// The decoded commit.
    pub commit: Commit,
    /// Exactly the blocks the repository uses: commit, MST nodes, records.
    pub blocks: BlockMap,
    /// Number of records (MST entries).
    pub record_count: u64,
    /// Number of records per collection, in collection order.
    pub collections: BTreeMap<String, u64>,
    /// Number of MST nodes.
    pub node_count: u64,
    /// Number of sections read from the CAR (duplicates and extras included).
    pub car_blocks: u64,
    /// Whether the signature was checked (a key was given).
    pub signature_checked: bool,
}

impl VerifiedRepo {
    /// The commit's DID.
    pub fn did(&self) -> &Did {
        self.commit.did()
    }

    /// The commit's rev.
    pub fn rev(&self) -> &Tid {
        self.commit.rev()
    }

    /// The MST root.
    pub fn data(&self) -> &Cid {
        self.commit.data()
    }
}

/// Reads and fully verifies a repository CAR (see the module docs).
pub fn verify_car<R: Read>(input: R, opts: &VerifyOptions) -> Result<VerifiedRepo, RepoError> {
    let mut reader = CarReader::with_limits(input, opts.car_limits)?;
    let commit_cid = *reader.roots().first().ok_or(RepoError::NoRoot)?;
    let mut all = BlockMap::new();
    let mut car_blocks = 0u64;
    let mut total = 0u64;
    while let Some((cid, bytes)) = reader.next_block()? {
        car_blocks += 1;
        total += bytes.len() as u64;
        if total > opts.max_total_bytes {
            return Err(RepoError::TooLarge);
        }
        all.insert(cid, bytes);
    }
    verify_blocks(all, commit_cid, car_blocks, opts)
}

/// Verifies a repository held in `blocks` with head `commit_cid` (steps 1-6 of the module docs).
pub fn verify_blocks(
    mut all: BlockMap,
    commit_cid: Cid,
    car_blocks: u64,
    opts: &VerifyOptions,
) -> Result<VerifiedRepo, RepoError> {
    let commit_bytes = all
        .remove(&commit_cid)
        .ok_or(RepoError::MissingBlock(commit_cid))?;
    let commit = Commit::decode(&commit_bytes)?;
    if let Some(expected) = &opts.did
        && expected != commit.did()
    {
        return Err(RepoError::DidMismatch {
            expected: expected.clone(),
            found: commit.did().clone(),
        });
    }
    if let Some(key) = &opts.key {
        commit.verify(key)?;
    }

    // Structure: every node loaded and checked by the MST loader; every record present and valid.
    let tree = Mst::load(&all, commit.data())?;
    let mut record_count = 0u64;
    let mut collections: BTreeMap<String, u64> = BTreeMap::new();
    for item in tree.iter(&all) {
        let (key, cid) = item?;
        let bytes = all.get(&cid).ok_or_else(|| RepoError::MissingRecord {
            path: key.to_owned(),
            cid,
        })?;
        check_record_bytes(key, bytes)?;
        record_count += 1;
        let collection = key.split_once('/').map_or(key, |(c, _)| c);
        match collections.get_mut(collection) {
            Some(n) => *n += 1,
            None => {
                collections.insert(collection.to_owned(), 1);
            }
        }
    }

    // Keep only the used blocks (moved, not copied).
    let mut used = Vec::new();
    let mut node_count = 0u64;
    walk(&all, commit.data(), |v| {
        match v {
            Visit::Node(cid, _) => {
                node_count += 1;
                used.push(*cid);
            }
            Visit::Record(cid, _) => used.push(*cid),
        }
        Ok(())
    })?;
    let mut kept = BlockMap::new();
    for cid in used {
        if let Some(bytes) = all.remove(&cid) {
            kept.insert(cid, bytes);
        }
    }
    kept.insert(commit_cid, commit_bytes);
    drop(all);
    Ok(VerifiedRepo {
        commit_cid,
        commit,
        blocks: kept,
        record_count,
        collections,
        node_count,
        car_blocks,
        signature_checked: opts.key.is_some(),
    })
}

/// Verifies a repository already in a store (no CAR): the same checks as [`verify_car`]
/// except that the used blocks are not collected.
pub fn verify_store<S: BlockStore + ?Sized>(
    store: &S,
    commit_cid: &Cid,
    opts: &VerifyOptions,
) -> Result<(Commit, u64), RepoError> {
    let bytes = store
        .get(commit_cid)?
        .ok_or(RepoError::MissingBlock(*commit_cid))?;
    let commit = Commit::decode(&bytes)?;
    if let Some(expected) = &opts.did
        && expected != commit.did()
    {
        return Err(RepoError::DidMismatch {
            expected: expected.clone(),
            found: commit.did().clone(),
        });
    }
    if let Some(key) = &opts.key {
        commit.verify(key)?;
    }
    let tree = Mst::load(store, commit.data())?;
    let mut n = 0u64;
    for item in tree.iter(store) {
        let (key, cid) = item?;
        let bytes = store.get(&cid)?.ok_or_else(|| RepoError::MissingRecord {
            path: key.to_owned(),
            cid,
        })?;
        check_record_bytes(key, &bytes)?;
        n += 1;
    }
    Ok((commit, n))
}
