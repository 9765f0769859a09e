-- 040_attempt_reasons.sql — why each attempt of a submission failed (issue 18).
--
-- A step that fails for the farm's own reasons (the sandbox keeper died, slot
-- or cgroup setup failed, a mount failed, a store write failed) is retried once
-- in a fresh slot by the worker; when the retry fails too, the worker releases
-- the row with the attempt counted (store_submission_release_failed) and the
-- reason is appended here. A lease that expires appends its reason as well.
-- When the last attempt fails, `error` lists every entry of this array.
--   attempt_reasons: JSON array of {"attempt", "owner", "kind", "message", "at"}
--   last_failed_slot: the worker slot (owner without its pid) that failed last;
--     claims by that slot skip the row for queue.retry_elsewhere_ms, so the
--     next attempt runs on another worker when there is one.
ALTER TABLE submissions ADD COLUMN attempt_reasons TEXT;
ALTER TABLE submissions ADD COLUMN last_failed_slot TEXT;

-- Requeues and final failures by reason kind, for /metrics.
CREATE TRIGGER attempt_reasons_metrics AFTER UPDATE OF attempt_reasons ON submissions
WHEN NEW.attempt_reasons IS NOT NULL
 AND json_array_length(NEW.attempt_reasons) > json_array_length(COALESCE(OLD.attempt_reasons, '[]'))
BEGIN
    INSERT INTO api_counters (name, value)
        VALUES ('internal_requeues_total{reason="' ||
                json_extract(NEW.attempt_reasons, '$[#-1].kind') || '",outcome="' ||
                CASE WHEN NEW.state = 'internal_error' THEN 'gave_up' ELSE 'requeued' END ||
                '"}', 1)
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
END;
