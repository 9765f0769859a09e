-- 001_init.sql — the foundation's tables: queues with leases, blobs, heartbeats,
-- tokens, webhook deliveries, settings. Times are milliseconds since the epoch.
-- Applied once by the migration runner in common/store_migrate.c inside one
-- transaction; PRAGMA user_version is set by the runner, not here.

-- Dependency sets: one row per distinct canonical spec (key = SHA-256 of it).
CREATE TABLE depsets (
    key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'building', 'ready', 'failed')),
    lease_owner TEXT,
    lease_expires_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    out_paths TEXT,          -- JSON array of store paths
    closure TEXT,            -- JSON array: every store path needed at run time
    closure_bytes INTEGER NOT NULL DEFAULT 0,
    root TEXT,               -- GC root path
    log TEXT,                -- build log tail
    error TEXT,
    holders INTEGER NOT NULL DEFAULT 0,  -- explicit holds (local runs); running
                                         -- submissions are counted, not stored
    last_used_at INTEGER,                -- updated at most once a second
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX depsets_claim ON depsets (created_at) WHERE state = 'queued';
CREATE INDEX depsets_lease ON depsets (lease_expires_at) WHERE state = 'building';
-- No index on last_used_at: it changes at every claim and finish, and the
-- eviction scan over ready sets is rare and small.

-- Submissions: seq gives FIFO order inside one priority.
CREATE TABLE submissions (
    seq INTEGER PRIMARY KEY,  -- no AUTOINCREMENT: it costs a page write per insert
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'waiting_deps', 'running', 'finished', 'compile_error',
                         'deps_failed', 'cancelled', 'internal_error')),
    priority INTEGER NOT NULL DEFAULT 0,
    request TEXT NOT NULL,   -- normalized request JSON (docs/contracts.md)
    depset_key TEXT NOT NULL, -- no foreign key: evicted sets leave history rows alone
    n_tests INTEGER NOT NULL DEFAULT 0,
    verdict TEXT,
    result TEXT,             -- result JSON written by the worker at finish
    error TEXT,              -- why we failed (internal_error, deps_failed)
    lease_owner TEXT,
    lease_expires_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    token_id TEXT,
    callback_url TEXT,
    cache_key TEXT,
    created_at INTEGER NOT NULL,
    queued_at INTEGER,
    started_at INTEGER,
    finished_at INTEGER
);
-- Every index here is written by enqueue, claim or finish, the three hot
-- transactions, so each is partial: a row is in an index only while a query
-- needs it there. Ids are time-ordered (store_submissions.c), so inserts
-- into the id index and the event table append instead of touching a random page.
-- One index serves the claim (state = 'queued', in priority/FIFO order) and
-- the lease scan (state = 'running', few rows): a claim moves the entry within
-- one small index, usually inside one page.
CREATE INDEX submissions_queue ON submissions (state, priority DESC, seq)
    WHERE state IN ('queued', 'running');
CREATE INDEX submissions_waiting ON submissions (depset_key) WHERE state = 'waiting_deps';
CREATE INDEX submissions_cache ON submissions (cache_key, finished_at)
    WHERE state = 'finished' AND cache_key IS NOT NULL;
CREATE INDEX submissions_token ON submissions (token_id, created_at) WHERE token_id IS NOT NULL;

CREATE TABLE submission_tests (
    submission_id TEXT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    name TEXT,
    result TEXT NOT NULL,    -- JSON object
    verdict TEXT,
    PRIMARY KEY (submission_id, idx)
) WITHOUT ROWID;

CREATE TABLE submission_events (
    submission_id TEXT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT,               -- JSON
    at INTEGER NOT NULL,
    PRIMARY KEY (submission_id, seq)
) WITHOUT ROWID;

-- Content-addressed: the same input used by a thousand submissions is stored once.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE heartbeats (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    host TEXT,
    pid INTEGER,
    started_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    current_item TEXT
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL DEFAULT '[]', -- JSON array
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    lease_owner TEXT,
    lease_expires_at INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_submission ON webhook_deliveries (submission_id);

CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    status INTEGER,          -- HTTP status, NULL when no answer
    error TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, at);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT
);
