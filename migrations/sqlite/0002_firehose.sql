-- Firehose retention (issue 5). `prune_events_before` deletes a prefix of `repo_seq` (by seq)
-- older than the retention window and records here the highest seq it deleted, so a
-- subscriber's cursor into the pruned part is answered with `#info OutdatedCursor` (checklist
-- #79) even after a restart. One row (id = 1), absent until the first prune. Account deletion
-- (which removes that account's rows) does not move it.
CREATE TABLE repo_seq_pruned (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    through_seq     INTEGER NOT NULL
) STRICT;
