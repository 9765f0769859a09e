#!/usr/bin/env python3
"""bench/soak — mixed load on a real farmd while processes die by kill -9.

Closed-loop clients submit a mix (the bash and python3 profiles, programs that
fail: runtime error, wrong answer, a python exception), every submission with
a callback_url to a receiver in this process; half of the clients follow their
submission's event stream (SSE), the others poll it. Meanwhile a random
worker, builder, API or webhook process gets SIGKILL every --kill-every
seconds, and once, halfway, the supervisor itself does; farmd is then started
again on the same state directory and port. Then the same load runs on a fresh
farm with no kills, for the latency beside it.

At the end it waits for every accepted submission to end and every callback to
arrive (bounded), reads the farm's database read-only, and prints:
  accepted      submissions the API answered 202 to
  exactly once  ended, with exactly one terminal state event
  lost          accepted but never ended, or unknown to the farm  (must be 0)
  twice         more than one terminal state event                 (must be 0)
  re-run        run again after a kill (attempts > 1; allowed: a killed run is retried)
  webhooks      deliveries made (POSTs received), duplicated (a delivery id
                received more than once: allowed, delivery is at-least-once,
                receivers deduplicate on X-Farm-Delivery), lost (an ended
                submission whose callback never came; must be 0)
  latency       p50/p99 of finished_at - created_at, with kills and without
  sanitizer     ASan/UBSan/LSan reports in farmd's log, read after a SIGTERM
                stop (with the sanitizer build; must be 0)

  python3 bench/soak.py [--duration 600] [--kill-every 3] [--baseline 120] [--ci]

--ci (the 'soak' test of suite pipeline, ~1 min): a short run that fails
(exit 1, TAP) unless lost, twice, webhooks lost and sanitizer reports are 0. Loopback only;
everything it starts is stopped and removed, also on failure.
Environment: FARM_BUILD_ROOT (the build dir), FARM_SOURCE_ROOT.
"""
import argparse
import http.client
import http.server
import json
import os
import random
import signal
import sqlite3
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("FARM_SOURCE_ROOT", os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.environ["FARM_SOURCE_ROOT"], "tests", "lib"))
import farmtest  # noqa: E402

TERMINAL = {"finished", "compile_error", "deps_failed", "cancelled", "internal_error"}
# Sandbox uids of this run, apart from other farms on the host: above the
# ranges of the test suites (pipelib 63000-64999, the sandbox suite 64000..)
# and below nobody (65534).
UID = 65000 + (os.getpid() % 60) * 8
KILLABLE = ("farmd-worker", "farmd-builder", "farmd-api", "farmd-webhooks")

# (name, submission, the verdict it must end with)
MIX = [
    ("bash-ok", {"profile": "bash", "files": [{"name": "main.sh", "content": "read a; echo $((a+1))\n"}],
                 "tests": [{"stdin": "41\n", "expected_output": "42\n"}]}, "accepted"),
    ("python-ok", {"profile": "python3", "files": [{"name": "main.py", "content": "print(int(input()) * 2)\n"}],
                   "tests": [{"stdin": "21\n", "expected_output": "42\n"}]}, "accepted"),
    ("bash-exit", {"profile": "bash", "files": [{"name": "main.sh", "content": "echo no >&2; exit 3\n"}]},
     "runtime_error"),
    ("bash-wrong", {"profile": "bash", "files": [{"name": "main.sh", "content": "echo 41\n"}],
                    "tests": [{"expected_output": "42\n"}]}, "wrong_answer"),
    ("python-raise", {"profile": "python3", "files": [{"name": "main.py", "content": "raise SystemExit(1 / 0)\n"}]},
     "runtime_error"),
]


def settings(hook_url):
    return {
        "worker.first_uid": str(UID),
        "lease.ms": "2500",
        "lease.renew_ms": "400",
        "health.interval_ms": "300",
        "worker.stop_grace_ms": "4000",
        "supervisor.backoff_min_ms": "100",
        "webhook.allow_private": "true",
        "webhook.lease_ms": "3000",
        "webhook.backoff_base_ms": "200",
        "webhook.backoff_max_ms": "2000",
        "webhook.poll_ms": "100",
    }


# ---- the callback receiver ---------------------------------------------------

class Receiver:
    def __init__(self):
        self.lock = threading.Lock()
        self.posts = 0
        self.by_delivery = {}   # delivery id -> times received
        self.by_submission = {}  # submission id -> set of delivery ids
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(n)
                d = self.headers.get("X-Farm-Delivery", "")
                s = self.headers.get("X-Farm-Submission", "")
                with rec.lock:
                    rec.posts += 1
                    rec.by_delivery[d] = rec.by_delivery.get(d, 0) + 1
                    rec.by_submission.setdefault(s, set()).add(d)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.hooks = farmtest.HookServer(H)
        self.url = self.hooks.url

    def close(self):
        self.hooks.close()


# ---- HTTP with a farm whose API may be dead for a moment -----------------------

def call(farm, method, path, body=None, timeout=30):
    """(status, body) or (None, None) when the API did not answer."""
    try:
        return farm.request(method, path, body, timeout=timeout)
    except (OSError, http.client.HTTPException, ValueError):
        return None, None


def follow_sse(farm, sid, deadline):
    """Reads the event stream until a terminal state; reconnects after a kill.
    True when the terminal state was seen on the stream."""
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", farm.port, timeout=30)
            conn.request("GET", "/v1/submissions/%s/events" % sid)
            r = conn.getresponse()
            if r.status != 200:
                conn.close()
                time.sleep(0.2)
                continue
            for raw in r:
                line = raw.decode("utf-8", "replace").strip()
                if line.startswith("data:"):
                    try:
                        ev = json.loads(line[5:].strip())
                    except ValueError:
                        continue
                    if ev.get("type") == "state" and ev.get("data", {}).get("state") in TERMINAL:
                        conn.close()
                        return True
            conn.close()
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    return False


class Load:
    """Closed-loop clients: submit, follow to the end, submit again."""

    def __init__(self, farm_ref, hook_url, clients, until):
        self.farm_ref = farm_ref  # callable: the current Farm (it is replaced on restart)
        self.hook_url = hook_url
        self.until = until
        self.lock = threading.Lock()
        self.accepted = {}  # id -> mix name
        self.refused = 0
        self.sse_seen = self.sse_followed = 0
        self.threads = [threading.Thread(target=self.client, args=(i,), daemon=True) for i in range(clients)]

    def client(self, i):
        rnd = random.Random(i)
        sse = i % 2 == 1
        while time.time() < self.until:
            name, sub, _ = rnd.choice(MIX)
            sub = dict(sub, callback_url=self.hook_url)
            st, b = call(self.farm_ref(), "POST", "/v1/submissions", sub)
            if st != 202:
                with self.lock:
                    self.refused += 1
                time.sleep(0.2)
                continue
            sid = b["id"]
            with self.lock:
                self.accepted[sid] = name
            deadline = time.time() + 120
            if sse:
                seen = follow_sse(self.farm_ref(), sid, deadline)
                with self.lock:
                    self.sse_followed += 1
                    self.sse_seen += seen
                continue
            while time.time() < deadline:
                st, v = call(self.farm_ref(), "GET", "/v1/submissions/" + sid)
                if st == 200 and v.get("state") in TERMINAL:
                    break
                time.sleep(0.05)

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join()


# ---- killing -------------------------------------------------------------------

def kill_random(farm, rnd, kills):
    if farm.proc is None:
        return
    victims = [p for p in farmtest.children_of(farm.proc.pid) if farmtest.comm(p).startswith(KILLABLE)]
    if not victims:
        return
    p = rnd.choice(victims)
    role = farmtest.comm(p).split("-")[1]
    try:
        os.kill(p, signal.SIGKILL)
        kills[role] = kills.get(role, 0) + 1
    except ProcessLookupError:
        pass


def kill_supervisor_and_restart(farm):
    """SIGKILL to the supervisor only; its children get SIGTERM (PDEATHSIG) and
    drain. Once the group is gone, farmd starts again on the same state."""
    farm.proc.send_signal(signal.SIGKILL)
    farm.proc.wait()
    if not farm._wait_group_gone(30):
        os.killpg(farm.proc.pid, signal.SIGKILL)
        farm._wait_group_gone(10)
    farm.proc = None
    farm.log.close()
    farm.start(timeout=120)


# ---- the end -------------------------------------------------------------------

def terminal_counts_pg(farm, ids):
    """terminal_counts on the farm's PostgreSQL database: one psql query."""
    import subprocess
    states = ", ".join("'%s'" % s for s in sorted(TERMINAL))
    sql = ("SELECT s.id, s.state, s.attempts, s.created_at, COALESCE(s.finished_at, -1), "
           "(SELECT COUNT(*) FROM submission_events e WHERE e.submission_id = s.id AND "
           "e.type = 'state' AND (e.data::json ->> 'state') IN (%s)) FROM submissions s" % states)
    text = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1",
                           farm.db_url, "-c", sql], check=True, stdout=subprocess.PIPE,
                          stdin=subprocess.DEVNULL).stdout.decode()
    want = set(ids)
    out = {}
    for line in text.splitlines():
        sid, state, attempts, created, finished, n = line.split("|")
        if sid in want:
            out[sid] = (state, int(n), int(attempts), int(created),
                        None if finished == "-1" else int(finished))
    return out


def terminal_counts(farm, ids):
    """id -> (state, terminal events, attempts, created_at, finished_at) from the database."""
    if getattr(farm, "db_url", None):
        return terminal_counts_pg(farm, ids)
    conn = sqlite3.connect("file:%s?mode=ro" % os.path.join(farm.state_dir, "farm.db"), uri=True, timeout=30)
    out = {}
    try:
        for sid in ids:
            row = conn.execute("SELECT state, attempts, created_at, finished_at FROM submissions WHERE id = ?",
                               (sid,)).fetchone()
            if row is None:
                continue
            n = 0
            for (data,) in conn.execute("SELECT data FROM submission_events WHERE submission_id = ? AND type = 'state'",
                                        (sid,)):
                try:
                    n += json.loads(data).get("state") in TERMINAL
                except ValueError:
                    pass
            out[sid] = (row[0], n, row[1], row[2], row[3])
    finally:
        conn.close()
    return out


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def wait_all_ended(farm, ids, bound):
    deadline = time.time() + bound
    while time.time() < deadline:
        c = terminal_counts(farm, ids)
        if all(sid in c and c[sid][0] in TERMINAL for sid in ids):
            return c
        time.sleep(0.5)
    return terminal_counts(farm, ids)


def wait_hooks(rec, ids, bound):
    deadline = time.time() + bound
    while time.time() < deadline:
        with rec.lock:
            if all(sid in rec.by_submission for sid in ids):
                return
        time.sleep(0.2)


def run_phase(label, duration, kill_every, clients, with_kills, seed):
    rec = Receiver()
    holder = {}
    farm = farmtest.Farm(workers=2, builders=1, settings=settings(rec.url))
    holder["farm"] = farm
    kills = {}
    try:
        farm.start(timeout=120)
        # The profiles' dependency sets are built once before the clock runs.
        for name, sub, _ in MIX[:2]:
            farm.submit(sub, wait=True, timeout=600)
        t0 = time.time()
        load = Load(lambda: holder["farm"], rec.url, clients, t0 + duration)
        load.start()
        rnd = random.Random(seed)
        sup_at = t0 + duration / 2
        sup_killed = False
        while time.time() < t0 + duration:
            time.sleep(kill_every if with_kills else 0.5)
            if not with_kills or time.time() >= t0 + duration:
                continue
            if not sup_killed and time.time() >= sup_at:
                kill_supervisor_and_restart(farm)
                kills["supervisor"] = 1
                sup_killed = True
            else:
                kill_random(farm, rnd, kills)
        load.join()
        ids = list(load.accepted)
        c = wait_all_ended(farm, ids, 300)
        ended = [s for s in ids if s in c and c[s][0] in TERMINAL]
        wait_hooks(rec, ended, 120)
        with rec.lock:
            made = rec.posts
            dup = sum(1 for n in rec.by_delivery.values() if n > 1)
            hook_lost = sum(1 for s in ended if s not in rec.by_submission)
            hook_twice = sum(1 for s in ended if len(rec.by_submission.get(s, ())) > 1)
        lat = [c[s][4] - c[s][3] for s in ended if c[s][3] is not None and c[s][4] is not None]
        wrong_verdict = gave_up = 0
        for s in ended:
            if c[s][0] != "finished":  # internal_error after lease.max attempts, each killed
                gave_up += 1
                continue
            st, v = call(farm, "GET", "/v1/submissions/" + s)
            want = next(m[2] for m in MIX if m[0] == load.accepted[s])
            if st == 200 and v.get("verdict") != want:
                wrong_verdict += 1
        # stopped first, so what the processes report at exit (leaks) is in the log too
        farm.stop()
        try:
            with open(farm.log_path, "rb") as f:
                log = f.read().decode("utf-8", "replace")
        except OSError:
            log = ""
        san = [line for line in log.splitlines()
               if "ERROR: AddressSanitizer" in line or "ERROR: LeakSanitizer" in line or "runtime error:" in line]
        for line in san[:5]:
            print("# sanitizer: " + line, flush=True)
        return {
            "label": label, "duration": duration, "accepted": len(ids), "refused": load.refused,
            "once": sum(1 for s in ended if c[s][1] == 1),
            "lost": len(ids) - len(ended),
            "twice": sum(1 for s in ended if c[s][1] > 1),
            "rerun": sum(1 for s in ended if (c[s][2] or 0) > 1),
            "wrong_verdict": wrong_verdict, "gave_up": gave_up,
            "hooks_made": made, "hooks_dup": dup, "hooks_lost": hook_lost, "hooks_twice": hook_twice,
            "sse_followed": load.sse_followed, "sse_seen": load.sse_seen,
            "sanitizer": len(san),
            "p50": pct(lat, 50), "p99": pct(lat, 99), "kills": kills,
        }
    finally:
        farm.cleanup()
        rec.close()


def report(k, b):
    print("# soak: %ds of mixed load, kill -9 every few seconds (%s)" % (
        k["duration"], ", ".join("%s %d" % kv for kv in sorted(k["kills"].items()))))
    print("#   accepted by the API     %d (refused or unanswered while the API was down: %d)" % (
        k["accepted"], k["refused"]))
    print("#   finished exactly once   %d" % k["once"])
    print("#   lost                    %d" % k["lost"])
    print("#   run to completion twice %d" % k["twice"])
    print("#   re-run after a kill     %d (attempts > 1)" % k["rerun"])
    print("#   wrong verdict           %d (finished with another verdict than the program's)" % k["wrong_verdict"])
    print("#   gave up (internal_error) %d (killed on every attempt)" % k["gave_up"])
    print("#   webhooks: made %d, duplicated %d (same delivery id again), lost %d, two delivery ids for one submission %d"
          % (k["hooks_made"], k["hooks_dup"], k["hooks_lost"], k["hooks_twice"]))
    print("#   sanitizer reports       %d (ASan/UBSan/LSan lines in farmd's log)" % k["sanitizer"])
    print("#   SSE followers           %d, saw the end on the stream: %d" % (k["sse_followed"], k["sse_seen"]))
    if b:
        print("#   latency p50/p99 (ms)    %s/%s with kills, %s/%s without (%d accepted in %ds); p50 ratio %.2f" % (
            k["p50"], k["p99"], b["p50"], b["p99"], b["accepted"], b["duration"],
            (k["p50"] / b["p50"]) if b["p50"] else float("nan")))
    else:
        print("#   latency p50/p99 (ms)    %s/%s with kills" % (k["p50"], k["p99"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=600)
    ap.add_argument("--kill-every", type=float, default=3.0)
    ap.add_argument("--baseline", type=int, default=None, help="seconds of the same load without kills")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--ci", action="store_true")
    a = ap.parse_args()
    if a.ci:
        print("1..1", flush=True)
    baseline = a.baseline if a.baseline is not None else min(a.duration, 120)
    k = run_phase("kills", a.duration, a.kill_every, a.clients, True, a.seed)
    b = run_phase("baseline", baseline, a.kill_every, a.clients, False, a.seed) if baseline > 0 else None
    report(k, b)
    bad = []
    for key in ("lost", "twice", "hooks_lost", "wrong_verdict", "sanitizer"):
        if k[key]:
            bad.append("%s=%d" % (key, k[key]))
    if b:
        for key in ("lost", "twice", "hooks_lost", "wrong_verdict", "hooks_dup", "sanitizer"):
            if b[key]:
                bad.append("baseline %s=%d" % (key, b[key]))
    if not k["accepted"] or not k["kills"].get("supervisor"):
        bad.append("no load or no supervisor kill")
    if a.ci:
        print(("not ok 1 - soak under kill -9: " + ", ".join(bad)) if bad else
              "ok 1 - soak under kill -9: nothing lost, nothing finished twice", flush=True)
    elif bad:
        print("# FAILED: " + ", ".join(bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
