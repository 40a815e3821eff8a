-- com.atproto.sync.listRepos pages through accounts in creation order, DID breaking ties (as
-- the reference PDS): a relay paging through while accounts are created finds the new ones
-- at the end instead of missing those whose DID sorts before its cursor.
CREATE INDEX account_created_did ON account (created_at, did);
