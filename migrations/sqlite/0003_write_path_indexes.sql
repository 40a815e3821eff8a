-- Fewer indexes to maintain on the write path. Every commit inserts into repo_block, record
-- and repo_seq; each secondary index there is one more b-tree page written (to the WAL, and
-- again at checkpoint) per commit. These three served only rare queries, which now scan the
-- account's rows through the primary keys instead:
--   * repo_block_rev: `getRepo?since` (migration, sync catch-up) filters the account's blocks
--     by rev;
--   * record_rev: `listBlobs?since` joins record_blob to record by primary key, then filters
--     by rev;
--   * repo_seq_created_at: retention pruning deletes a prefix of the log by seq (see
--     0002_firehose.sql), scanning from the oldest row to the first one inside the window.
DROP INDEX repo_block_rev;
DROP INDEX record_rev;
DROP INDEX repo_seq_created_at;
