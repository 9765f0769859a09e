-- pg/080_evalcache.sql — nixpkgs evaluation results per package-set revision;
-- see schema/080_evalcache.sql. result is JSON text, as there.
CREATE TABLE IF NOT EXISTS eval_cache (
    set_id TEXT NOT NULL,
    source TEXT NOT NULL,
    attr TEXT NOT NULL,
    ok INTEGER NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (set_id, attr)
);

CREATE INDEX IF NOT EXISTS eval_cache_source ON eval_cache (source, set_id);
