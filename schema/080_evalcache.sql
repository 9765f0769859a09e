-- 080_evalcache.sql — what evaluating a nixpkgs attribute path gave, per
-- package-set revision (builder/nixpkgs_eval.c), so that a submission naming
-- `python3Packages.numpy` does not pay for nix-instantiate once it has been
-- evaluated for that revision.
--
-- set_id is the package-set id of one source at one revision (a new
-- revision is a new id, so old entries are never read again; the entries of
-- a source's older revisions are dropped when an evaluation under its new
-- id is recorded). result is JSON: {"ok": true,
-- "name", "version", "out_path", "description"} or {"ok": false, "error"}.
-- Plain SQL on purpose: the same table works in PostgreSQL.

CREATE TABLE IF NOT EXISTS eval_cache (
    set_id TEXT NOT NULL,
    source TEXT NOT NULL,
    attr TEXT NOT NULL,
    ok INTEGER NOT NULL,
    result TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (set_id, attr)
);

CREATE INDEX IF NOT EXISTS eval_cache_source ON eval_cache (source, set_id);
