//! The repository snapshot port: a consistent, read-only view of one account's repository
//! that `com.atproto.sync.getRepo` streams from in small batches (checklist #50, #55), so a
//! CAR export needs memory bounded by the batch size, not by the size of the repository.

use async_trait::async_trait;
use data_model::Cid;
use syntax::{Did, Tid};

use super::{RepoRoot, StoreResult};

/// A read-only view of one account's repository as of the moment it was opened: the head and
/// every block read through it belong to the same committed state, even while commits land
/// (a commit deletes the blocks its new head no longer reaches).
///
/// A snapshot may hold a database connection until dropped: drop it as soon as the export
/// ends.
#[async_trait]
pub trait RepoSnapshot: Send {
    /// The head at the snapshot (`None` if the account has no repository).
    fn root(&self) -> Option<&RepoRoot>;

    /// The requested blocks that exist, in one round trip (absent ones are omitted; order is
    /// unspecified). Callers pass at most a few hundred CIDs.
    async fn blocks(&mut self, cids: &[Cid]) -> StoreResult<Vec<(Cid, Vec<u8>)>>;

    /// Up to `limit` blocks written by commits with a rev greater than `since`, ordered by the
    /// CID's string form, starting after `after` (exclusive).
    async fn blocks_since_page(
        &mut self,
        since: &Tid,
        after: Option<&Cid>,
        limit: usize,
    ) -> StoreResult<Vec<(Cid, Vec<u8>)>>;
}

/// Opens [`RepoSnapshot`]s.
#[async_trait]
pub trait RepoSnapshotStore: Send + Sync {
    /// A snapshot of the account's repository (an account without a repository gets a
    /// snapshot whose [`RepoSnapshot::root`] is `None`).
    async fn repo_snapshot(&self, did: &Did) -> StoreResult<Box<dyn RepoSnapshot>>;
}
