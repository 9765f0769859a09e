-- 071_rate_buckets.sql — the API's rate-limit token buckets (issue 16), in the
-- store so that every API process, on one machine or behind a load balancer,
-- counts one caller's requests against one bucket. Tokens are kept in
-- thousandths (integers: the same arithmetic on SQLite and PostgreSQL);
-- granted says whether the last request took a token. A bucket idle longer
-- than it takes to refill is full, so such rows are deleted now and then.
-- IF NOT EXISTS: safe to apply again (a database rebuilt without its ledger).
CREATE TABLE IF NOT EXISTS rate_buckets (
    key TEXT PRIMARY KEY,
    milli INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    granted INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
