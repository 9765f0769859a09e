-- 060_compat_files.sql — files a compatibility front's clients upload under
-- their own ids (Jobe's PUT /files/{id}), mapped onto content-addressed blobs.
--
-- The bytes live in blobs (stored once by SHA-256); a row here names them for
-- one front. Rows expire: expires_at is pushed forward whenever a run uses
-- the file, and lookups ignore expired rows (a client then uploads again, as
-- CodeRunner does after a 404). Expired rows are deleted on the next upload.
-- IF NOT EXISTS: safe to apply again (a database rebuilt without its ledger).

CREATE TABLE IF NOT EXISTS compat_files (
    front TEXT NOT NULL,
    file_id TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs (sha256),
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (front, file_id)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS compat_files_expiry ON compat_files (expires_at);
