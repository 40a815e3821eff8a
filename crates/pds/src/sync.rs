//! `com.atproto.sync.*` reads (checklist G): `getRepo` (full, or `since` a rev), `getRecord`
//! (proof CAR), `getBlocks`, `getLatestCommit`, `getRepoStatus`, `listRepos`. Inactive
//! repositories answer with `RepoDeactivated`/`RepoTakendown` except to their owner (#66).
//!
//! `getRepo` is served streamed ([`Pds::get_repo_stream`] in `sync_stream.rs`: bounded memory,
//! one consistent snapshot). [`Pds::get_repo`] builds the same CAR in memory (it reads every
//! block of the account once and exports only what the head commit reaches, so stale blocks
//! never leak); it stays as the reference the streamed export is checked against, and for
//! small in-process uses. The proof and block CARs are small and built in memory.

use data_model::Cid;
use repo::blockstore::BlockMap;
use repo::repo::RepoError;
use syntax::{Did, Nsid, RecordKey, RepoPath, Tid};

use crate::Pds;
use crate::accounts::AccountStatus;
use crate::error::{Error, ErrorKind, Result};
use crate::jwt::AuthContext;
use crate::ports::Millis;
use crate::repo_cache::with_fetch;

/// `getLatestCommit` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatestCommit {
    /// Head commit CID.
    pub cid: Cid,
    /// Head rev.
    pub rev: Tid,
}

/// `getRepoStatus` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoStatus {
    /// The DID.
    pub did: Did,
    /// Hosting status.
    pub active: bool,
    /// `status` when inactive.
    pub status: Option<&'static str>,
    /// Head rev (only while active, as the reference reports it).
    pub rev: Option<Tid>,
}

/// One `listRepos` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoListEntry {
    /// The DID.
    pub did: Did,
    /// Head commit CID.
    pub head: Cid,
    /// Head rev.
    pub rev: Tid,
    /// Hosting status.
    pub active: bool,
    /// `status` when inactive.
    pub status: Option<&'static str>,
}

/// `listRepos` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoList {
    /// The page.
    pub repos: Vec<RepoListEntry>,
    /// Present when there may be more.
    pub cursor: Option<String>,
}

fn car_error(e: repo::car::CarError) -> Error {
    Error::internal("writing CAR", e)
}

impl Pds {
    async fn readable_head(&self, did: &Did, viewer: Option<&AuthContext>) -> Result<LatestCommit> {
        let row = self.account_row(did).await?;
        self.check_readable(&row, viewer)?;
        let root = self.deps.repos.repo_root(did).await?.ok_or_else(|| {
            Error::new(
                ErrorKind::RepoNotFound,
                format!("Could not find repo for DID: {did}"),
            )
        })?;
        Ok(LatestCommit {
            cid: root.cid,
            rev: root.rev,
        })
    }

    /// `com.atproto.sync.getLatestCommit`.
    pub async fn get_latest_commit(
        &self,
        did: &Did,
        viewer: Option<&AuthContext>,
    ) -> Result<LatestCommit> {
        self.readable_head(did, viewer).await
    }

    /// `com.atproto.sync.getRepo` built in memory: the whole repository, or with `since` the
    /// blocks written by later commits (checklist #50, #51, #55). Returns the CAR bytes. The
    /// server uses [`Pds::get_repo_stream`], whose full export has the same bytes.
    pub async fn get_repo(
        &self,
        did: &Did,
        since: Option<&Tid>,
        viewer: Option<&AuthContext>,
    ) -> Result<Vec<u8>> {
        let head = self.readable_head(did, viewer).await?;
        let blocks = self.deps.repos.blocks_since(did, since).await?;
        match since {
            None => {
                let mut out = Vec::new();
                repo::repo::export_car(&blocks, &head.cid, &mut out)
                    .map_err(|e| Error::internal("exporting repository", e))?;
                Ok(out)
            }
            Some(_) => {
                let mut w =
                    repo::car::CarWriter::new(Vec::new(), &[head.cid]).map_err(car_error)?;
                // The commit first, then the rest in CID order.
                if let Some(commit) = blocks.get(&head.cid) {
                    w.write_block(&head.cid, commit).map_err(car_error)?;
                }
                for (cid, bytes) in blocks.iter() {
                    if *cid != head.cid {
                        w.write_block(cid, bytes).map_err(car_error)?;
                    }
                }
                w.finish().map_err(car_error)
            }
        }
    }

    /// `com.atproto.sync.getRecord`: a CAR proving the presence or absence of the record:
    /// the commit, the MST path, and the record block if present (checklist #58).
    pub async fn get_record_proof(
        &self,
        did: &Did,
        collection: &Nsid,
        rkey: &RecordKey,
        viewer: Option<&AuthContext>,
    ) -> Result<Vec<u8>> {
        let row = self.account_row(did).await?;
        self.check_readable(&row, viewer)?;
        let path = RepoPath::new(collection, rkey);
        let slot = self.cache.slot(did);
        let mut state = slot.state.lock().await;
        let loaded = self.loaded_repo(did, &mut state).await?;
        let head = loaded
            .repo
            .head_cid()
            .copied()
            .ok_or_else(|| Error::new(ErrorKind::RepoNotFound, "Could not find repo"))?;
        let data = loaded
            .repo
            .data()
            .copied()
            .ok_or_else(|| Error::new(ErrorKind::RepoNotFound, "Could not find repo"))?;
        let store = loaded.repo.store();
        let proof = with_fetch(&*self.deps.repos, did, &loaded.blocks, || {
            repo::mst::record_proof(store, &data, path.as_str()).map_err(RepoError::from)
        })
        .await?
        .map_err(|e| Error::internal("building record proof", e))?;
        let mut extra = vec![head];
        extra.extend(proof.value);
        let fetched = self.deps.repos.get_blocks(did, &extra).await?;
        drop(state);
        let mut w = repo::car::CarWriter::new(Vec::new(), &[head]).map_err(car_error)?;
        let commit = fetched.get(&head).ok_or_else(|| {
            Error::internal("commit block missing", RepoError::MissingBlock(head))
        })?;
        w.write_block(&head, commit).map_err(car_error)?;
        for (cid, bytes) in proof.blocks.iter() {
            w.write_block(cid, bytes).map_err(car_error)?;
        }
        if let Some(rec) = proof.value
            && let Some(bytes) = fetched.get(&rec)
        {
            w.write_block(&rec, bytes).map_err(car_error)?;
        }
        w.finish().map_err(car_error)
    }

    /// `com.atproto.sync.getBlocks`: a CAR (no roots) of exactly the requested blocks, or
    /// `BlockNotFound` if any is absent.
    pub async fn get_blocks(
        &self,
        did: &Did,
        cids: &[Cid],
        viewer: Option<&AuthContext>,
    ) -> Result<Vec<u8>> {
        let row = self.account_row(did).await?;
        self.check_readable(&row, viewer)?;
        let found: BlockMap = self.deps.repos.get_blocks(did, cids).await?;
        if let Some(missing) = cids.iter().find(|c| !found.contains(c)) {
            return Err(Error::new(
                ErrorKind::BlockNotFound,
                format!("Could not find block: {missing}"),
            ));
        }
        repo::car::write_car_to_vec(&[], found.iter()).map_err(car_error)
    }

    /// `com.atproto.sync.getRepoStatus` (checklist #61).
    pub async fn get_repo_status(&self, did: &Did) -> Result<RepoStatus> {
        let row = self.account_row(did).await?;
        let status = AccountStatus::of(&row);
        let rev = if status.is_active() {
            self.deps.repos.repo_root(did).await?.map(|r| r.rev)
        } else {
            None
        };
        Ok(RepoStatus {
            did: row.did,
            active: status.is_active(),
            status: status.status_str(),
            rev,
        })
    }

    /// `com.atproto.sync.listRepos` (checklist #62): `limit` clamped to 1..=1000 (default
    /// 500). Accounts come in creation order, DID breaking ties, as the reference: a relay that
    /// pages through while accounts are created finds the new ones at the end. The cursor is
    /// the reference's `<created_at ms>::<did>` of the previous page's last account. As the
    /// reference, every non-empty page carries a cursor, even the last one; an empty page
    /// carries none (#128).
    pub async fn list_repos(&self, limit: Option<u32>, cursor: Option<&str>) -> Result<RepoList> {
        let limit = limit.unwrap_or(500).clamp(1, 1000) as usize;
        let after = match cursor {
            None | Some("") => None,
            Some(c) => {
                Some(parse_list_cursor(c).ok_or_else(|| Error::invalid("Malformed cursor"))?)
            }
        };
        let rows = self
            .deps
            .accounts
            .list_repos(after.as_ref().map(|(at, did)| (*at, did)), limit)
            .await?;
        let next = rows
            .last()
            .map(|r| format!("{}::{}", r.created_at, r.did.as_str()));
        let repos = rows
            .into_iter()
            .map(|r| {
                let status = if r.takedown_ref.is_some() {
                    AccountStatus::Takendown
                } else if r.deactivated_at.is_some() {
                    AccountStatus::Deactivated
                } else {
                    AccountStatus::Active
                };
                RepoListEntry {
                    did: r.did,
                    head: r.head,
                    rev: r.rev,
                    active: status.is_active(),
                    status: status.status_str(),
                }
            })
            .collect();
        Ok(RepoList {
            repos,
            cursor: next,
        })
    }
}

/// A `listRepos` cursor, `<created_at ms>::<did>`.
fn parse_list_cursor(cursor: &str) -> Option<(Millis, Did)> {
    let (at, did) = cursor.split_once("::")?;
    Some((at.parse().ok()?, did.parse().ok()?))
}
