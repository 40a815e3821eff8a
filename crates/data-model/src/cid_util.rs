//! CID helpers: computing blessed CIDv1s and parsing CID strings.
//!
//! atproto "blessed" CIDs are CIDv1 with codec dag-cbor (0x71) or raw (0x55) and a sha2-256
//! (0x12) multihash of 32 bytes. Other CIDs may still appear as record leaf values and must be
//! carried unchanged, so parsing accepts any well-formed CIDv1; [`is_blessed`] tells the two apart.

use cid::Cid;
use multihash::Multihash;
use sha2::{Digest, Sha256};

/// Multicodec code for dag-cbor.
pub const CODEC_DAG_CBOR: u64 = 0x71;
/// Multicodec code for raw bytes (blobs).
pub const CODEC_RAW: u64 = 0x55;
/// Multihash code for sha2-256.
pub const HASH_SHA2_256: u64 = 0x12;

/// Builds a CIDv1 from a codec and a sha2-256 digest.
pub fn cid_from_sha256(codec: u64, digest: &[u8; 32]) -> Cid {
    let mh = Multihash::<64>::wrap(HASH_SHA2_256, digest).expect("32 bytes fit in 64");
    Cid::new_v1(codec, mh)
}

/// CID (dag-cbor, sha2-256) of already-encoded DAG-CBOR bytes.
pub fn cid_for_cbor(bytes: &[u8]) -> Cid {
    cid_from_sha256(CODEC_DAG_CBOR, &Sha256::digest(bytes).into())
}

/// CID (raw, sha2-256) of blob bytes.
pub fn cid_for_raw(bytes: &[u8]) -> Cid {
    cid_from_sha256(CODEC_RAW, &Sha256::digest(bytes).into())
}

/// True when `cid` is a blessed atproto CID: v1, dag-cbor or raw, sha2-256 with 32 bytes.
pub fn is_blessed(cid: &Cid) -> bool {
    cid.version() == cid::Version::V1
        && (cid.codec() == CODEC_DAG_CBOR || cid.codec() == CODEC_RAW)
        && cid.hash().code() == HASH_SHA2_256
        && cid.hash().size() == 32
}

/// Parses a CID string. Only CIDv1 strings are accepted (CIDv0 `Qm…` is rejected, as atproto
/// never uses it in new data).
pub fn parse_cid(s: &str) -> Result<Cid, cid::Error> {
    let cid = Cid::try_from(s)?;
    if cid.version() != cid::Version::V1 {
        return Err(cid::Error::InvalidCidVersion);
    }
    Ok(cid)
}
