-- 010_api_metrics.sql — counters behind GET /metrics (API work).
--
-- Counts live in the database, not in a process, so every API process reports
-- the same numbers and a restart loses none. Most are kept by triggers on the
-- queue tables, so no worker, builder or health checker has to remember to
-- count: a submission reaching a terminal state, a test result, a lease that
-- expired (the row left 'running'/'building' after its lease_expires_at), a
-- requeue, a dependency-set cache hit or miss at enqueue. The API adds its own
-- (HTTP status counts, result-cache hits) in batches through store_counters_add.
-- Names are Prometheus series without the farm_ prefix, labels included.

CREATE TABLE api_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Histogram bucket bounds in milliseconds, per histogram.
CREATE TABLE api_metric_buckets (
    metric TEXT NOT NULL,
    le INTEGER NOT NULL,
    PRIMARY KEY (metric, le)
) WITHOUT ROWID;
INSERT INTO api_metric_buckets (metric, le) VALUES
    ('run', 5), ('run', 10), ('run', 25), ('run', 50), ('run', 100), ('run', 250),
    ('run', 500), ('run', 1000), ('run', 2500), ('run', 5000), ('run', 10000),
    ('run', 30000), ('run', 60000), ('run', 120000), ('run', 300000),
    ('build', 100), ('build', 1000), ('build', 5000), ('build', 10000), ('build', 30000),
    ('build', 60000), ('build', 120000), ('build', 300000), ('build', 600000),
    ('build', 1800000);

CREATE TRIGGER api_metrics_submission_end AFTER UPDATE OF state ON submissions
WHEN OLD.state <> NEW.state
 AND NEW.state IN ('finished', 'compile_error', 'deps_failed', 'cancelled', 'internal_error')
BEGIN
    INSERT INTO api_counters (name, value)
        VALUES ('submissions_total{state="' || NEW.state || '",verdict="' ||
                COALESCE(NEW.verdict, '') || '"}', 1)
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
    INSERT INTO api_counters (name, value)
        SELECT 'run_duration_bucket{le="' || le || '"}', 1 FROM api_metric_buckets
         WHERE metric = 'run' AND NEW.started_at IS NOT NULL
           AND COALESCE(NEW.finished_at, NEW.started_at) - NEW.started_at <= le
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
    INSERT INTO api_counters (name, value)
        SELECT 'run_duration_count', 1 WHERE NEW.started_at IS NOT NULL
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
    INSERT INTO api_counters (name, value)
        SELECT 'run_duration_sum_ms', COALESCE(NEW.finished_at, NEW.started_at) - NEW.started_at
         WHERE NEW.started_at IS NOT NULL
        ON CONFLICT (name) DO UPDATE SET value = value + excluded.value;
END;

-- A row that leaves 'running' after its lease ran out was taken back by a
-- health checker (a worker's own writes are lease-checked, so they happen
-- before expiry).
CREATE TRIGGER api_metrics_submission_requeue AFTER UPDATE OF state ON submissions
WHEN OLD.state = 'running' AND NEW.state <> 'running'
BEGIN
    INSERT INTO api_counters (name, value)
        SELECT 'lease_expiries_total{kind="submission"}', 1
         WHERE OLD.lease_expires_at IS NOT NULL
           AND OLD.lease_expires_at <= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
    INSERT INTO api_counters (name, value)
        SELECT 'requeues_total{kind="submission"}', 1 WHERE NEW.state = 'queued'
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
END;

CREATE TRIGGER api_metrics_depset_end AFTER UPDATE OF state ON depsets
WHEN OLD.state = 'building' AND NEW.state <> 'building'
BEGIN
    INSERT INTO api_counters (name, value)
        SELECT 'lease_expiries_total{kind="depset"}', 1
         WHERE OLD.lease_expires_at IS NOT NULL
           AND OLD.lease_expires_at <= CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
    INSERT INTO api_counters (name, value)
        SELECT 'requeues_total{kind="depset"}', 1 WHERE NEW.state = 'queued'
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
    INSERT INTO api_counters (name, value)
        SELECT 'builds_total{state="' || NEW.state || '"}', 1 WHERE NEW.state IN ('ready', 'failed')
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
    INSERT INTO api_counters (name, value)
        SELECT 'build_duration_bucket{le="' || le || '"}', 1 FROM api_metric_buckets
         WHERE metric = 'build' AND NEW.state IN ('ready', 'failed') AND OLD.started_at IS NOT NULL
           AND COALESCE(NEW.finished_at, NEW.started_at) - COALESCE(NEW.started_at, OLD.started_at) <= le
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
    INSERT INTO api_counters (name, value)
        SELECT 'build_duration_count', 1
         WHERE NEW.state IN ('ready', 'failed') AND OLD.started_at IS NOT NULL
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
    INSERT INTO api_counters (name, value)
        SELECT 'build_duration_sum_ms',
               COALESCE(NEW.finished_at, NEW.started_at) - COALESCE(NEW.started_at, OLD.started_at)
         WHERE NEW.state IN ('ready', 'failed') AND OLD.started_at IS NOT NULL
        ON CONFLICT (name) DO UPDATE SET value = value + excluded.value;
END;

CREATE TRIGGER api_metrics_test_result AFTER INSERT ON submission_tests
BEGIN
    INSERT INTO api_counters (name, value)
        VALUES ('test_verdicts_total{verdict="' || COALESCE(NEW.verdict, '') || '"}', 1)
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
END;

-- Dependency-set cache: at enqueue, is the submission's set already ready?
CREATE TRIGGER api_metrics_depset_cache AFTER INSERT ON submissions
BEGIN
    INSERT INTO api_counters (name, value)
        VALUES ('depset_cache_total{result="' ||
                CASE WHEN (SELECT state FROM depsets WHERE key = NEW.depset_key) = 'ready'
                     THEN 'hit' ELSE 'miss' END || '"}', 1)
        ON CONFLICT (name) DO UPDATE SET value = value + 1;
END;
