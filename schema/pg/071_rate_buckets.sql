-- pg/071_rate_buckets.sql — the API's rate-limit token buckets; see
-- schema/071_rate_buckets.sql.
CREATE TABLE IF NOT EXISTS rate_buckets (
    key TEXT PRIMARY KEY,
    milli BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    granted BIGINT NOT NULL DEFAULT 1
);
