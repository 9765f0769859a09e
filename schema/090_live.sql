-- 090_live.sql — the live channel of an interactive run (Piston's WebSocket
-- /api/v2/connect): the API process that holds the client's socket and the
-- worker process that runs the submission exchange chunks through this table.
--
-- dir 'in' (API -> worker): kind 'stdin' (bytes for the program's stdin) or
-- 'signal' (data = a signal name such as "SIGINT").
-- dir 'out' (worker -> API): kind 'stdout' or 'stderr' (bytes as the sandbox
-- read them), 'stage' (data = "compile" or "run") and 'exit' (data = JSON
-- {"stage", "code", "signal"}).
-- seq orders every chunk; each side reads the other side's rows after the
-- last seq it has seen. The API deletes a submission's rows when its session
-- ends; rows older than a day are deleted with them (an API that died).
-- IF NOT EXISTS: safe to apply again (a database rebuilt without its ledger).

CREATE TABLE IF NOT EXISTS live_chunks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    submission_id TEXT NOT NULL,
    dir TEXT NOT NULL CHECK (dir IN ('in', 'out')),
    kind TEXT NOT NULL,
    data BLOB NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS live_chunks_by_submission ON live_chunks (submission_id, dir, seq);
CREATE INDEX IF NOT EXISTS live_chunks_by_age ON live_chunks (created_at);
