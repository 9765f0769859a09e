-- 070_dashboard.sql — what the dashboard (issue 17) needs from the store.
--
-- pinned: an operator's pin on a dependency set. A pinned set also holds one
-- explicit hold (depsets.holders), so the builder's quota eviction, which
-- already skips held sets, never takes it; the flag tells the pin from the
-- holds of local runs, so unpinning drops exactly the one hold it took.
ALTER TABLE depsets ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;

-- The charts of the last hour read the submissions finished since a time.
-- finished_at is written once per submission (at its end), so this index
-- costs one entry per finish; rows still queued or running are not in it.
CREATE INDEX IF NOT EXISTS submissions_finished ON submissions (finished_at)
    WHERE finished_at IS NOT NULL;
