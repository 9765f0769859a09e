-- 002_inline_events.sql — a submission's state events live in its own row.
--
-- Every queue transaction (enqueue, claim, finish, park, wake, requeue)
-- already rewrites the submission's row; appending its "state" event to a
-- separate table wrote one more b-tree page per commit (a quarter of a
-- cycle's pages). So the small, bounded state events (a few per attempt)
-- are kept as a JSON array in submissions.events, written by the same
-- statement that changes the state where the store can. Events that can be
-- large or many (test results, the worker's own, cancel requests, a failed
-- set's log) stay rows, now of submission_event_rows. Both share one seq:
-- event_seq is the seq of the row's last inline event, and the next seq is
-- 1 + the larger of it and the last row's seq (so a test result's event does
-- not rewrite the submission; rows written before this file count too).
-- The view submission_events shows both as before, for readers outside the
-- store (test drivers, sqlite3 at a shell); the store itself reads the two
-- sources and merges them by seq.
-- Order-independent of the other files (the ledger may apply it after 020).

ALTER TABLE submissions ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE submissions ADD COLUMN events TEXT; -- JSON array [{seq, type, data, at}]

ALTER TABLE submission_events RENAME TO submission_event_rows;

CREATE VIEW submission_events (submission_id, seq, type, data, at) AS
    SELECT submission_id, seq, type, data, at FROM submission_event_rows
    UNION ALL
    SELECT s.id, e.value ->> 'seq', e.value ->> 'type',
           CASE WHEN json_type(e.value, '$.data') = 'null' THEN NULL ELSE e.value -> 'data' END,
           e.value ->> 'at'
      FROM submissions s, json_each(s.events) e;
