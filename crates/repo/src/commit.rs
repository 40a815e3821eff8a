//! Commit v3 objects, unsigned and signed (checklist #35-#37, #41).
//!
//! A commit is the DAG-CBOR map `{did, version: 3, data, rev, prev, sig}` (atproto repository
//! spec, "Commit Objects"). `prev` is always present and almost always `null`. The signature is
//! over the canonical encoding of the same map *without* `sig` ([`UnsignedCommit`]), hashed with
//! SHA-256 and signed low-S by [`crypto::Keypair::sign`]. The commit CID is the dag-cbor
//! sha2-256 CIDv1 of the *signed* encoding ([`Commit::cid`]).
//!
//! [`UnsignedCommit`] exists on its own because the desktop repo engine builds commits it cannot
//! sign: it hands the relay the unsigned map, which the relay checks and signs.
//!
//! Both forms are encoded with the low-level [`cbor::Writer`] in canonical key order
//! (`did, rev, sig, data, prev, version`: length first, then bytewise) and decoded strictly:
//! non-canonical CBOR, unknown keys, missing keys (including `prev`), a version other than 3,
//! an invalid DID or TID, and a `data`/`prev` link that is not a blessed dag-cbor CID are all
//! rejected. Re-encoding a decoded commit therefore reproduces its bytes exactly, which is what
//! makes signature verification over the re-encoded unsigned form sound.

use data_model::cbor::{self, DecodeError};
use data_model::{CODEC_DAG_CBOR, Cid, cid_for_cbor, is_blessed};
use syntax::{Did, Tid};

/// The only repository format version this crate reads or writes.
pub const COMMIT_VERSION: i64 = 3;

/// Largest accepted encoded commit. A commit is a DID (at most 2 KiB), a TID, two CIDs and a
/// 64-byte signature; anything near this bound is hostile.
pub const MAX_COMMIT_SIZE: usize = 8 * 1024;

/// Why bytes are not a valid commit, or a signature does not verify.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Not strict DAG-CBOR, or a field has the wrong CBOR type.
    #[error("commit is not valid DAG-CBOR")]
    Cbor(#[from] DecodeError),
    /// Larger than [`MAX_COMMIT_SIZE`].
    #[error("commit is larger than {MAX_COMMIT_SIZE} bytes")]
    TooLarge,
    /// A required key is absent.
    #[error("commit is missing the `{0}` field")]
    MissingField(&'static str),
    /// A key that a commit may not have (in an unsigned commit this includes `sig`).
    #[error("commit has an unexpected field `{0}`")]
    UnknownField(String),
    /// `version` is not 3.
    #[error("unsupported commit version {0} (expected 3)")]
    UnsupportedVersion(i64),
    /// `did` is not a syntactically valid DID.
    #[error("commit did is invalid")]
    InvalidDid(#[from] syntax::DidError),
    /// `rev` is not a syntactically valid TID.
    #[error("commit rev is invalid")]
    InvalidRev(#[from] syntax::TidError),
    /// `data` or `prev` links to something other than a blessed dag-cbor CID (checklist #41).
    #[error("commit `{field}` link {cid} is not a blessed dag-cbor CID")]
    NotBlessed {
        /// Which field.
        field: &'static str,
        /// The offending link.
        cid: Cid,
    },
    /// The signature does not verify against the given key.
    #[error("commit signature does not verify")]
    BadSignature(#[from] crypto::CryptoError),
}

/// A commit without its signature: exactly what gets signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedCommit {
    /// The account DID, as given (atproto requires it normalised).
    pub did: Did,
    /// CID of the MST root.
    pub data: Cid,
    /// Revision: a TID, strictly greater than the previous commit's (checklist #38).
    pub rev: Tid,
    /// Link to the previous commit: encoded always, almost always `None` (checklist #35).
    pub prev: Option<Cid>,
}

/// A signed commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Every field but the signature.
    pub unsigned: UnsignedCommit,
    /// The signature bytes (64-byte compact `r‖s` when produced by this crate; any length is
    /// decoded, and [`Commit::verify`] rejects what is not a valid signature).
    pub sig: Vec<u8>,
}

fn check_blessed(field: &'static str, cid: &Cid) -> Result<(), CommitError> {
    if is_blessed(cid) && cid.codec() == CODEC_DAG_CBOR {
        Ok(())
    } else {
        Err(CommitError::NotBlessed { field, cid: *cid })
    }
}

impl UnsignedCommit {
    /// A new unsigned commit with `prev: null`, the norm for v3 repositories.
    pub fn new(did: Did, data: Cid, rev: Tid) -> Self {
        UnsignedCommit {
            did,
            data,
            rev,
            prev: None,
        }
    }

    fn write_fields(&self, sig: Option<&[u8]>) -> Vec<u8> {
        let mut w = cbor::Writer::with_capacity(64 + self.did.as_str().len() + 2 * 40 + 70);
        w.map(if sig.is_some() { 6 } else { 5 });
        w.text("did");
        w.text(self.did.as_str());
        w.text("rev");
        w.text(self.rev.as_str());
        if let Some(sig) = sig {
            w.text("sig");
            w.bytes(sig);
        }
        w.text("data");
        w.link(&self.data);
        w.text("prev");
        w.nullable_link(self.prev.as_ref());
        w.text("version");
        w.int(COMMIT_VERSION);
        w.into_bytes()
    }

    /// The canonical DAG-CBOR encoding of the map without `sig`: the bytes that get signed.
    pub fn encode(&self) -> Vec<u8> {
        self.write_fields(None)
    }

    /// Decodes an unsigned commit strictly: a `sig` key is rejected as unknown.
    pub fn decode(bytes: &[u8]) -> Result<Self, CommitError> {
        let (unsigned, sig) = decode_fields(bytes)?;
        if sig.is_some() {
            return Err(CommitError::UnknownField("sig".to_owned()));
        }
        Ok(unsigned)
    }

    /// Signs with the account's signing key (SHA-256, low-S; checklist #36).
    pub fn sign(self, key: &crypto::Keypair) -> Commit {
        let sig = key.sign(&self.encode()).to_vec();
        Commit {
            unsigned: self,
            sig,
        }
    }

    /// Attaches a signature produced elsewhere (it is not checked here; see [`Commit::verify`]).
    pub fn with_signature(self, sig: Vec<u8>) -> Commit {
        Commit {
            unsigned: self,
            sig,
        }
    }
}

impl Commit {
    /// The canonical DAG-CBOR encoding of the signed commit: the block stored in CARs.
    pub fn encode(&self) -> Vec<u8> {
        self.unsigned.write_fields(Some(&self.sig))
    }

    /// Decodes a signed commit strictly (checklist #35, #41).
    pub fn decode(bytes: &[u8]) -> Result<Self, CommitError> {
        let (unsigned, sig) = decode_fields(bytes)?;
        let sig = sig.ok_or(CommitError::MissingField("sig"))?;
        Ok(Commit { unsigned, sig })
    }

    /// The commit CID: dag-cbor sha2-256 CIDv1 of the signed encoding (checklist #37).
    pub fn cid(&self) -> Cid {
        cid_for_cbor(&self.encode())
    }

    /// The block for this commit: its CID and encoded bytes.
    pub fn to_block(&self) -> (Cid, Vec<u8>) {
        let bytes = self.encode();
        (cid_for_cbor(&bytes), bytes)
    }

    /// Checks the signature against `key` (strict: 64-byte compact, low-S).
    pub fn verify(&self, key: &crypto::PublicKey) -> Result<(), CommitError> {
        key.verify(&self.unsigned.encode(), &self.sig)?;
        Ok(())
    }

    /// The account DID.
    pub fn did(&self) -> &Did {
        &self.unsigned.did
    }

    /// The MST root.
    pub fn data(&self) -> &Cid {
        &self.unsigned.data
    }

    /// The revision.
    pub fn rev(&self) -> &Tid {
        &self.unsigned.rev
    }

    /// The previous commit link (usually `None`).
    pub fn prev(&self) -> Option<&Cid> {
        self.unsigned.prev.as_ref()
    }
}

/// Decodes the commit map, with or without `sig`.
fn decode_fields(bytes: &[u8]) -> Result<(UnsignedCommit, Option<Vec<u8>>), CommitError> {
    if bytes.len() > MAX_COMMIT_SIZE {
        return Err(CommitError::TooLarge);
    }
    let mut r = cbor::Reader::new(bytes);
    let n = r.read_map_len()?;
    let mut did = None;
    let mut rev = None;
    let mut sig = None;
    let mut data = None;
    let mut prev: Option<Option<Cid>> = None;
    let mut version = None;
    let mut last_key: Option<&str> = None;
    for _ in 0..n {
        let key = r.read_text()?;
        if let Some(last) = last_key
            && cbor::key_order(last, key) != std::cmp::Ordering::Less
        {
            return Err(DecodeError::MapKeyOrder.into());
        }
        last_key = Some(key);
        match key {
            "did" => did = Some(r.read_text()?),
            "rev" => rev = Some(r.read_text()?),
            "sig" => sig = Some(r.read_bytes()?.to_vec()),
            "data" => data = Some(r.read_link()?),
            "prev" => prev = Some(r.read_nullable_link()?),
            "version" => version = Some(r.read_i64()?),
            other => return Err(CommitError::UnknownField(other.to_owned())),
        }
    }
    r.finish()?;
    let version = version.ok_or(CommitError::MissingField("version"))?;
    if version != COMMIT_VERSION {
        return Err(CommitError::UnsupportedVersion(version));
    }
    let did: Did = did.ok_or(CommitError::MissingField("did"))?.parse()?;
    let rev: Tid = rev.ok_or(CommitError::MissingField("rev"))?.parse()?;
    let data = data.ok_or(CommitError::MissingField("data"))?;
    check_blessed("data", &data)?;
    let prev = prev.ok_or(CommitError::MissingField("prev"))?;
    if let Some(p) = &prev {
        check_blessed("prev", p)?;
    }
    Ok((
        UnsignedCommit {
            did,
            data,
            rev,
            prev,
        },
        sig,
    ))
}
