-- 070_dashboard.sql — what the dashboard (issue 17) needs from the store.
-- IF NOT EXISTS: safe to apply again (a database rebuilt without its ledger).
--
-- depset_pins: an operator's pins. A pinned set also holds one explicit hold
-- (depsets.holders), so the builder's quota eviction, which already skips
-- held sets, never takes it; the row tells the pin from the holds of local
-- runs, so unpinning drops exactly the one hold it took. A table of its own
-- rather than a column: the depsets row stays as the builder knows it.
CREATE TABLE IF NOT EXISTS depset_pins (
    key TEXT PRIMARY KEY,
    pinned_at INTEGER NOT NULL
);

-- The charts of the last hour read the submissions finished since a time.
-- finished_at is written once per submission (at its end), so this index
-- costs one entry per finish; rows still queued or running are not in it.
CREATE INDEX IF NOT EXISTS submissions_finished ON submissions (finished_at)
    WHERE finished_at IS NOT NULL;
