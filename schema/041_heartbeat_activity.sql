-- 041_heartbeat_activity.sql — what each process is doing and since when
-- (issue 21). Every role refreshes its heartbeat row every heartbeat.interval_ms;
-- a worker running a submission sets deadline_at, the time by which its run
-- must have ended (every step's wall limit); the health checker kills a run
-- past deadline_at + health.stuck_grace_ms and /v1/health reports it.
--   doing: "idle", "running submission <id>", "building set <key>", "serving", ...
--   doing_since: when doing last changed (ms since the epoch)
--   deadline_at: NULL when nothing bounded is in progress
ALTER TABLE heartbeats ADD COLUMN doing TEXT;
ALTER TABLE heartbeats ADD COLUMN doing_since INTEGER;
ALTER TABLE heartbeats ADD COLUMN deadline_at INTEGER;
