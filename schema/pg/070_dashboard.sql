-- pg/070_dashboard.sql — what the dashboard (issue 17) needs from the store;
-- see schema/070_dashboard.sql for why a pin is a row and one hold.
CREATE TABLE IF NOT EXISTS depset_pins (
    key TEXT PRIMARY KEY,
    pinned_at BIGINT NOT NULL
);

-- The charts of the last hour read the submissions finished since a time.
CREATE INDEX IF NOT EXISTS submissions_finished ON submissions (finished_at)
    WHERE finished_at IS NOT NULL;
