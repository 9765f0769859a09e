-- 020_webhooks.sql — the webhook outbox (CLI/CI work): the row that promises a
-- delivery is written by a trigger in the same transaction that ends a
-- submission with a callback_url, so a crash between "finished" and "POST"
-- cannot lose the callback. The webhook role (daemon/webhook.c) drains it.

-- Per-delivery details the role keeps; deliveries table is the foundation's.
ALTER TABLE webhook_deliveries ADD COLUMN last_status INTEGER;
ALTER TABLE webhook_deliveries ADD COLUMN delivered_at INTEGER;
ALTER TABLE webhook_attempts ADD COLUMN duration_ms INTEGER;
ALTER TABLE webhook_attempts ADD COLUMN attempt INTEGER;

-- Per-host circuit breaker, shared by every webhook process and kept across
-- restarts: 'closed' (deliver), 'open' (hold deliveries until open_until),
-- 'half_open' (one probe in flight, claimed by probe_owner).
CREATE TABLE webhook_hosts (
    host TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    failures INTEGER NOT NULL DEFAULT 0,    -- consecutive failures
    opened INTEGER NOT NULL DEFAULT 0,      -- times opened in a row (for the cool-down)
    open_until INTEGER,
    updated_at INTEGER NOT NULL
);

CREATE INDEX webhook_deliveries_lease ON webhook_deliveries (lease_expires_at)
    WHERE state = 'pending';

-- Terminal states, once: entering one from a non-terminal state enqueues.
CREATE TRIGGER submissions_webhook_on_update
AFTER UPDATE OF state ON submissions
WHEN NEW.callback_url IS NOT NULL AND NEW.callback_url != ''
    AND NEW.state IN ('finished', 'compile_error', 'deps_failed', 'cancelled', 'internal_error')
    AND OLD.state NOT IN ('finished', 'compile_error', 'deps_failed', 'cancelled', 'internal_error')
BEGIN
    INSERT INTO webhook_deliveries (id, submission_id, url, state, attempts, next_attempt_at,
                                    created_at)
    VALUES (lower(hex(randomblob(16))), NEW.id, NEW.callback_url, 'pending', 0,
            CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER),
            CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
END;

-- A submission inserted already terminal (e.g. answered from the result cache).
CREATE TRIGGER submissions_webhook_on_insert
AFTER INSERT ON submissions
WHEN NEW.callback_url IS NOT NULL AND NEW.callback_url != ''
    AND NEW.state IN ('finished', 'compile_error', 'deps_failed', 'cancelled', 'internal_error')
BEGIN
    INSERT INTO webhook_deliveries (id, submission_id, url, state, attempts, next_attempt_at,
                                    created_at)
    VALUES (lower(hex(randomblob(16))), NEW.id, NEW.callback_url, 'pending', 0,
            CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER),
            CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER));
END;
