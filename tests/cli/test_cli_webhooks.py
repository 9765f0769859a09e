#!/usr/bin/env python3
"""Webhooks through a real farmd: a local receiver that fails, times out, then
succeeds -> exactly one successful delivery, three attempts recorded, the
per-host breaker opened and recovered; a restart mid-retry resumes; a loopback
callback is refused at submission unless webhook.allow_private; the body is
signed; the submission's view lists the delivery and its attempts."""
import hashlib
import hmac
import http.server
import json
import os
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import Tmp, check, farm  # noqa: E402
import farmtest  # noqa: E402

SECRET = "e2e-secret"
BASE = {"webhook.secret": SECRET, "webhook.allow_private": "true", "webhook.timeout_ms": "700",
        "webhook.connect_timeout_ms": "700", "webhook.backoff_base_ms": "50",
        "webhook.backoff_max_ms": "2000", "webhook.breaker_failures": "2",
        "webhook.breaker_cooldown_ms": "400", "webhook.lease_ms": "3000", "webhook.poll_ms": "50"}


class Receiver:
    """Answers request i by script[i]: 'F' 500, 'T' stalls past the farm's
    timeout, 'S' 200 (past the script: 200). Records every request."""

    def __init__(self, script):
        self.script = script
        self.requests = []
        self.successes = 0
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    i = len(outer.requests)
                    outer.requests.append((dict(self.headers), body))
                    mode = outer.script[i] if i < len(outer.script) else "S"
                if mode == "T":
                    time.sleep(2.5)
                    return  # the farm gave up long ago; close without answering
                code = 500 if mode == "F" else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if code == 200:
                    with outer.lock:
                        outer.successes += 1

        self.hooks = farmtest.HookServer(H)
        self.url = self.hooks.url

    def close(self):
        self.hooks.close()


def db(f):
    c = sqlite3.connect("file:%s/farm.db?mode=ro" % f.state_dir, uri=True, timeout=10)
    c.row_factory = sqlite3.Row
    return c


def delivery(f, sid):
    with db(f) as c:
        d = c.execute("SELECT * FROM webhook_deliveries WHERE submission_id = ?", (sid,)).fetchall()
        assert len(d) == 1, "expected one delivery row, got %d" % len(d)
        att = c.execute("SELECT status, error, attempt FROM webhook_attempts WHERE delivery_id = ? "
                        "ORDER BY at, id", (d[0]["id"],)).fetchall()
        return dict(d[0]), [dict(a) for a in att]


def wait_delivery(f, sid, states=("delivered", "failed"), timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            d, att = delivery(f, sid)
            if d["state"] in states:
                return d, att
        except (AssertionError, sqlite3.OperationalError):
            pass
        time.sleep(0.05)
    raise AssertionError("delivery of %s did not reach %s:\n%s" % (sid, states, f.logs()[-3000:]))


def submit(f, recv, t):
    t.write("main.py", "print('hi')\n")
    p = check(farm("--server", "http://127.0.0.1:%d" % f.port, "submit", "--json", "-P", "python3",
                   "-r", "python3 main.py", "--callback", recv.url, t.path + "/main.py"), 0)
    return json.loads(p.stdout)["id"]


def check_signature(headers, body):
    ts = headers["X-Farm-Timestamp"]
    want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Farm-Signature"], want), (headers, want)


def test_fail_timeout_success_breaker():
    recv = Receiver("FTS")
    try:
        with Tmp() as t, farmtest.Farm(workers=1, settings=BASE) as f:
            sid = submit(f, recv, t)
            d, att = wait_delivery(f, sid)
            assert d["state"] == "delivered", (d, att)
            assert [a["status"] for a in att] == [500, None, 200], att
            assert d["attempts"] == 3
            time.sleep(0.3)
            assert len(recv.requests) == 3 and recv.successes == 1, (len(recv.requests), recv.successes)
            with db(f) as c:
                h = c.execute("SELECT state, failures FROM webhook_hosts").fetchall()
            assert [tuple(r) for r in h] == [("closed", 0)], [tuple(r) for r in h]
            assert "webhook-breaker-open" in f.logs(), "the breaker never opened"
            headers, body = recv.requests[2]
            check_signature(headers, body)
            j = json.loads(body)
            assert j["id"] == sid and j["state"] == "finished" and j["verdict"] == "accepted", j
            assert "request" not in j and headers["X-Farm-Delivery"] == d["id"]
            assert headers["X-Farm-Event"] == "submission.finished"
            # The submission's GET view lists the delivery and its attempts.
            status, view = f.request("GET", "/v1/submissions/" + sid)
            assert status == 200 and "webhooks" in view, (status, view)
            assert len(view["webhooks"]) == 1, view["webhooks"]
            w = view["webhooks"][0]
            assert w["id"] == d["id"] and w["url"] == recv.url, (w, d)
            assert w["state"] == "delivered" and w["attempts"] == 3 and w["last_status"] == 200, w
            assert [a["status"] for a in w["attempt_log"]] == [500, None, 200], w["attempt_log"]
            assert w["attempt_log"][1]["error"], w["attempt_log"]  # the timeout says why
            assert w["delivered_at"] is not None, w
            # The callback body is the view without the deliveries.
            assert "webhooks" not in j, j
            # A submission without a callback_url shows an empty list.
            p = check(farm("--server", "http://127.0.0.1:%d" % f.port, "submit", "--json",
                           "-P", "python3", "-r", "python3 main.py", t.path + "/main.py"), 0)
            plain = json.loads(p.stdout)
            status, view = f.request("GET", "/v1/submissions/" + plain["id"])
            assert status == 200 and view["webhooks"] == [], view
    finally:
        recv.close()


def test_restart_mid_retry_resumes():
    recv = Receiver("FS")
    settings = dict(BASE)
    settings["webhook.backoff_base_ms"] = "3000"  # the retry waits long enough to restart
    try:
        with Tmp() as t, farmtest.Farm(workers=1, settings=settings) as f:
            sid = submit(f, recv, t)
            d, att = wait_delivery(f, sid, states=("pending",))
            deadline = time.time() + 30
            while not att and time.time() < deadline:
                time.sleep(0.05)
                d, att = delivery(f, sid)
            assert d["state"] == "pending" and [a["status"] for a in att] == [500], (d, att)
            f.restart()
            d, att = wait_delivery(f, sid)
            assert d["state"] == "delivered" and [a["status"] for a in att] == [500, 200], (d, att)
            time.sleep(0.2)
            assert recv.successes == 1 and len(recv.requests) == 2, len(recv.requests)
    finally:
        recv.close()


def test_loopback_refused_without_allow_private():
    recv = Receiver("S")
    settings = dict(BASE)
    settings["webhook.allow_private"] = "false"
    try:
        with Tmp() as t, farmtest.Farm(workers=1, settings=settings) as f:
            t.write("main.py", "print('hi')\n")
            p = farm("--server", "http://127.0.0.1:%d" % f.port, "submit", "--json", "-P", "python3",
                     "-r", "python3 main.py", "--callback", recv.url, t.path + "/main.py")
            # Refused at submission (422 naming callback_url): nothing queued, nothing sent.
            check(p, 65)
            assert "callback_url" in p.stdout + p.stderr, (p.stdout, p.stderr)
            assert "webhook.allow_private" in p.stdout + p.stderr, (p.stdout, p.stderr)
            with db(f) as c:
                assert c.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0
                assert c.execute("SELECT COUNT(*) FROM webhook_deliveries").fetchone()[0] == 0
            time.sleep(0.2)
            assert recv.requests == []
    finally:
        recv.close()


if __name__ == "__main__":
    cases = [(n, fn) for n, fn in sorted(globals().items()) if n.startswith("test_") and callable(fn)]
    sys.exit(farmtest.run_cases(cases))
