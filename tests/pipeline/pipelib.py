"""pipelib — helpers shared by the pipeline end-to-end drivers.

Each driver starts a real farmd (tests/lib/farmtest.py) and talks HTTP to it;
where a check needs to see what the workers did (how many compile steps, how
many times a submission reached a terminal state) it reads the farm's SQLite
file read-only, which the API never exposes in that detail.
"""
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("FARM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..")), "tests", "lib"))
import farmtest  # noqa: E402
from farmtest import children_of, comm  # noqa: E402,F401 (the drivers import them from here)

# Sandbox uids of this test process, apart from other farms that tests run at
# the same time (RLIMIT_NPROC counts per uid, so shared uids would interfere).
UID_BASE = 63000 + (os.getpid() % 250) * 8


def settings(extra=None):
    s = {"worker.first_uid": str(UID_BASE)}
    s.update(extra or {})
    return s


TERMINAL = {"finished", "compile_error", "deps_failed", "cancelled", "internal_error"}

# Short leases and a fast health loop, so fault tests recover in seconds.
FAST_FAULTS = {
    "worker.first_uid": str(UID_BASE),
    "lease.ms": "2500",
    "lease.renew_ms": "400",
    "health.interval_ms": "300",
    "worker.stop_grace_ms": "4000",
    "supervisor.backoff_min_ms": "100",
}


def sh(run, tests=None, compile=None, limits=None, files=None, **extra):
    """A submission on the busybox set (sh and coreutils applets)."""
    sub = {"packages": ["busybox"], "run": run}
    if tests is not None:
        sub["tests"] = tests
    if compile is not None:
        sub["compile"] = compile
    if limits is not None:
        sub["limits"] = limits
    if files is not None:
        sub["files"] = files
    sub.update(extra)
    return sub


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def submit_wait(farm, sub, timeout=300):
    status, body = farm.submit(sub, wait=True, timeout=timeout)
    expect(status in (200, 202), "submit answered %s: %r" % (status, body))
    if status == 202 or body.get("state") not in TERMINAL:
        body = farm.wait_finished(body["id"], timeout=timeout)
    return body


def submit_nowait(farm, sub):
    status, body = farm.submit(sub, wait=False)
    expect(status in (200, 201, 202), "submit answered %s: %r" % (status, body))
    return body["id"]


class _PsqlRows(list):
    def fetchone(self):
        return self[0] if self else None

    def fetchall(self):
        return list(self)


class _PsqlConn:
    """The bit of sqlite3's connection the drivers use (execute with ?
    parameters, fetchone/fetchall, close), on the farm's PostgreSQL
    database through psql. Values come back as text (None for NULL)."""

    def __init__(self, url):
        self.url = url

    def execute(self, sql, params=()):
        import subprocess
        parts = sql.split("?")
        expect(len(parts) == len(params) + 1, "parameters do not match %r" % sql)
        text = parts[0]
        for v, rest in zip(params, parts[1:]):
            if v is None:
                lit = "NULL"
            elif isinstance(v, (int, float)):
                lit = repr(v)
            else:
                lit = "'" + str(v).replace("'", "''") + "'"
            text += lit + rest
        out = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e", "-P", "null=\x1d",
             "-v", "ON_ERROR_STOP=1", self.url, "-c", text],
            check=True, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL).stdout.decode()
        rows = _PsqlRows()
        for r in out.strip("\n").split("\x1e"):
            r = r.strip("\n")
            if r:
                rows.append(tuple(None if c == "\x1d" else c for c in r.split("\x1f")))
        return rows

    def close(self):
        pass


def db(farm):
    """A read connection to the farm's store: its SQLite file, or (when the
    suite runs on PostgreSQL) its database through psql."""
    if getattr(farm, "db_url", None):
        return _PsqlConn(farm.db_url)
    path = os.path.join(farm.state_dir, "farm.db")
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    return conn


def events(farm, sid):
    """[(type, data-json-text)] of a submission, oldest first."""
    conn = db(farm)
    try:
        return list(conn.execute(
            "SELECT type, data FROM submission_events WHERE submission_id = ? ORDER BY seq", (sid,)))
    finally:
        conn.close()


def count_stage(farm, sid, stage):
    import json
    n = 0
    for typ, data in events(farm, sid):
        if typ == "stage":
            try:
                if json.loads(data).get("stage") == stage:
                    n += 1
            except ValueError:
                pass
    return n


def count_terminal_events(farm, sid):
    import json
    n = 0
    for typ, data in events(farm, sid):
        if typ == "state":
            try:
                if json.loads(data).get("state") in TERMINAL:
                    n += 1
            except ValueError:
                pass
    return n


def worker_pids(farm):
    return [p for p in children_of(farm.proc.pid) if comm(p).startswith("farmd-worker")]


def sandbox_uid_processes(first_uid=UID_BASE, count=8):
    """Processes running as a sandbox uid (what must be gone after a stop)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/status" % d) as f:
                for line in f:
                    if line.startswith("Uid:"):
                        uid = int(line.split()[1])
                        if first_uid <= uid < first_uid + count:
                            found.append(int(d))
                        break
        except OSError:
            pass
    return found


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def run(cases):
    sys.exit(farmtest.run_cases(cases))
