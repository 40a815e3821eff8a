//! Account migration, receiving side (checklist #100): `com.atproto.repo.importRepo` replaces
//! the account's repository with a verified CAR from the old PDS, re-signed with this
//! account's key, `com.atproto.repo.listMissingBlobs` lists the blobs its records reference
//! that have not been uploaded yet, and `com.atproto.identity.submitPlcOperation` forwards the
//! user's signed PLC operation once it points the DID here.
//!
//! The CAR is verified fully (structure, DID, completeness; the old signature is not checked:
//! the new commit is ours) off the async threads. Records are indexed as they are; lexicon
//! validation is not re-run on imported data, as the reference does not.

use bytes::Bytes;
use data_model::Cid;
use repo::commit::UnsignedCommit;
use repo::mst::Mst;
use repo::repo::{RepoError, VerifyOptions};
use syntax::{AtIdentifier, AtUri, Nsid, RecordKey};

use crate::accounts::AccountStatus;
use crate::error::{Error, ErrorKind, Result};
use crate::jwt::AuthContext;
use crate::ports::{Conflict, RepoReplace, StoreError};
use crate::records::CommitRef;
use crate::{Pds, events, now_ms};

/// `listMissingBlobs` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingBlobs {
    /// `(blob CID, a record referencing it)`.
    pub blobs: Vec<(Cid, AtUri)>,
    /// Present when there may be more.
    pub cursor: Option<String>,
}

type ImportedRecords = Vec<(Nsid, RecordKey, Cid, Vec<Cid>)>;

fn bad_car(e: impl std::fmt::Display) -> Error {
    Error::invalid(format!("Invalid repository CAR: {e}"))
}

impl Pds {
    /// `com.atproto.repo.importRepo` (full-access sessions only): see the module docs.
    pub async fn import_repo(&self, auth: &AuthContext, car: Bytes) -> Result<CommitRef> {
        auth.require_full_access()?;
        let row = self.account_row(&auth.did).await?;
        if row.takedown_ref.is_some() {
            return Err(Error::new(
                ErrorKind::AccountTakedown,
                "Account has been taken down",
            ));
        }
        let did = auth.did.clone();
        let opts = VerifyOptions {
            did: Some(did.clone()),
            ..VerifyOptions::default()
        };
        let (verified, records) = tokio::task::spawn_blocking(move || {
            let verified = repo::repo::verify_car(car.as_ref(), &opts).map_err(bad_car)?;
            let records = index_records(&verified.blocks, verified.data())?;
            Ok::<_, Error>((verified, records))
        })
        .await
        .map_err(|e| Error::internal("import task failed", e))??;

        let slot = self.cache.slot(&did);
        let mut state = slot.state.lock().await;
        let loaded = self.loaded_repo(&did, &mut state).await?;
        let prev = loaded
            .repo
            .head_cid()
            .copied()
            .ok_or_else(|| Error::new(ErrorKind::RepoNotFound, "Could not find repo"))?;
        let floor = match loaded.repo.rev() {
            Some(current) if current > verified.rev() => *current,
            _ => *verified.rev(),
        };
        let rev = self.clock.next_after(&floor);
        if loaded.key.is_none() {
            loaded.key = Some(self.signing_keypair(&did).await?);
        }
        let key = loaded
            .key
            .as_ref()
            .ok_or_else(|| Error::internal("signing key not loaded", RepoError::NoHead))?;
        let commit = UnsignedCommit::new(did.clone(), *verified.data(), rev).sign(key);
        let (cid, commit_bytes) = commit.to_block();
        let mut blocks = verified.blocks;
        blocks.remove(&verified.commit_cid);
        blocks.insert(cid, commit_bytes.clone());
        let now = now_ms();
        let event = if AccountStatus::of(&row).is_active() {
            Some(events::sync(&did, &cid, &commit_bytes, &rev, now)?)
        } else {
            None
        };
        let res = self
            .deps
            .repos
            .replace_repo(RepoReplace {
                did: did.clone(),
                prev,
                cid,
                rev,
                blocks,
                records,
                event,
                now,
            })
            .await;
        // Whatever happened, the working copy is not the stored head any more.
        *state = None;
        drop(state);
        let applied = match res {
            Ok(a) => a,
            Err(StoreError::Conflict(Conflict::HeadMoved)) => {
                return Err(Error::internal(
                    "repository head moved during import",
                    StoreError::Conflict(Conflict::HeadMoved),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        self.notify(applied.seq);
        for blob in applied.orphaned_blobs {
            self.delete_blob_bytes(&did, &blob).await;
        }
        Ok(CommitRef { cid, rev })
    }

    /// `com.atproto.identity.submitPlcOperation` (full-access sessions only): `operation` is
    /// the signed PLC operation JSON (signed by a rotation key the directory accepts, e.g. the
    /// old PDS's via `signPlcOperation`). It must make this server the account's PDS: our
    /// rotation key listed, the account's signing key as `#atproto`, our endpoint as
    /// `#atproto_pds`, and the account's handle first in `alsoKnownAs`. Then it is submitted
    /// to the directory and an `#identity` event emitted.
    pub async fn submit_plc_operation(
        &self,
        auth: &AuthContext,
        operation: &serde_json::Value,
    ) -> Result<()> {
        auth.require_full_access()?;
        if auth.did.method() != "plc" {
            return Err(Error::invalid("Only did:plc accounts use PLC operations"));
        }
        let row = self.account_row(&auth.did).await?;
        let op = identity::SignedOperation::from_json(operation)
            .map_err(|e| Error::invalid(format!("Invalid PLC operation: {e}")))?;
        let fields = op
            .operation()
            .fields()
            .ok_or_else(|| Error::invalid("A tombstone cannot be submitted here"))?;
        let ours = self.config.plc_rotation_key.public_key().to_did_key();
        if !fields.rotation_keys.contains(&ours) {
            return Err(Error::invalid(
                "Rotation keys do not include this server's rotation key",
            ));
        }
        let key = self.signing_keypair(&auth.did).await?;
        if fields.atproto_signing_key() != Some(key.public_key().to_did_key().as_str()) {
            return Err(Error::invalid("Incorrect signing key"));
        }
        let endpoint = fields.pds_endpoint().map(|e| e.trim_end_matches('/'));
        if endpoint != Some(self.config.public_url.trim_end_matches('/')) {
            return Err(Error::invalid("Incorrect endpoint on atproto_pds service"));
        }
        if fields.handle().as_ref() != Some(&row.handle) {
            return Err(Error::invalid("Incorrect handle in alsoKnownAs"));
        }
        self.deps
            .plc
            .submit(&auth.did, &op)
            .await
            .map_err(|e| match e {
                crate::plc::PlcClientError::Rejected(msg) => {
                    Error::invalid(format!("PLC directory rejected the operation: {msg}"))
                }
                other => Error::new(ErrorKind::UpstreamFailure, "PLC directory unavailable")
                    .with_source(other),
            })?;
        let seq = self
            .deps
            .events
            .append_event(events::identity(&auth.did, Some(&row.handle), now_ms()))
            .await?;
        self.notify(Some(seq));
        Ok(())
    }

    /// `com.atproto.repo.listMissingBlobs`: `limit` clamped to 1..=1000 (default 500).
    pub async fn list_missing_blobs(
        &self,
        auth: &AuthContext,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<MissingBlobs> {
        let limit = limit.unwrap_or(500).clamp(1, 1000) as usize;
        let cursor = match cursor {
            None | Some("") => None,
            Some(c) => {
                Some(data_model::parse_cid(c).map_err(|_| Error::invalid("Invalid cursor"))?)
            }
        };
        let rows = self
            .deps
            .blobs
            .list_missing_blobs(&auth.did, cursor.as_ref(), limit)
            .await?;
        let next = (rows.len() == limit)
            .then(|| rows.last().map(|r| r.0.to_string()))
            .flatten();
        let authority = AtIdentifier::from(auth.did.clone());
        Ok(MissingBlobs {
            blobs: rows
                .into_iter()
                .map(|(cid, c, k)| (cid, AtUri::for_record(&authority, &c, &k)))
                .collect(),
            cursor: next,
        })
    }
}

/// Every record of the verified repository with the blobs it references.
fn index_records(blocks: &repo::blockstore::BlockMap, data: &Cid) -> Result<ImportedRecords> {
    let tree = Mst::load(blocks, data).map_err(bad_car)?;
    let mut out = Vec::new();
    for item in tree.iter(blocks) {
        let (key, cid) = item.map_err(bad_car)?;
        let (collection, rkey) = key
            .split_once('/')
            .ok_or_else(|| bad_car(format!("bad record path {key:?}")))?;
        let collection: Nsid = collection.parse().map_err(bad_car)?;
        let rkey: RecordKey = rkey.parse().map_err(bad_car)?;
        let bytes = blocks
            .get(&cid)
            .ok_or_else(|| bad_car(format!("record {key} is missing")))?;
        let value = data_model::cbor::decode(bytes).map_err(bad_car)?;
        let blobs = value.blob_refs().into_iter().map(|b| b.cid).collect();
        out.push((collection, rkey, cid, blobs));
    }
    Ok(out)
}
