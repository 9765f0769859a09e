#!/usr/bin/env python3
"""A farm of several machines on one host (tests/multinode/netfarm.py): two
API nodes (api + health), two worker nodes and one builder node on one shared
store, each machine with its own network, mount and UTS namespaces, its own
Nix store and state dir. The builder exports every ready set to a signed
binary cache that its node serves over HTTP on the test network; the worker
nodes' Nix stores start empty and import each claimed set's closure from it
(worker.cache_url).

Under load (mixed submissions with known verdicts through both API nodes,
an SSE follower on every one of them), a whole worker node is killed (kill -9
of every process of the machine at once), then a whole API node. Nothing
accepted is lost, nothing ends twice (terminal events counted in the store),
the killed worker node's leases are requeued and run elsewhere, the other API
node keeps answering, and followers cut off with the API node resume on the
other one with Last-Event-ID and get the rest. The numbers are printed.
Then the host must be as found (links, namespaces, mounts, cgroups, temp dir).

FARM_MULTINODE_DB=<db url> runs it on another shared store (postgresql://...),
FARM_MULTINODE_DB=postgresql on a throwaway server tests/lib/pgserver.py
starts (initdb in a temp dir, a Unix socket every node reaches); the default
is one SQLite file in a directory every node binds.
"""
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netfarm  # noqa: E402
from netfarm import farmtest  # noqa: E402

TERMINAL = {"finished", "compile_error", "deps_failed", "cancelled", "internal_error"}
# Sandbox uids apart from other farms' on this host (one kernel: RLIMIT_NPROC is
# per uid): 60000-60959 is used by no other test (pipelib 63000+, farm run 61000+).
UID_BASE = 60000 + (os.getpid() % 120) * 8

# Short leases and a fast health loop: a dead node's work is back in seconds.
FAST = {"lease.ms": "2500", "lease.renew_ms": "400", "health.interval_ms": "300",
        "heartbeat.interval_ms": "300", "health.heartbeat_stale_ms": "1500", "worker.stop_grace_ms": "3000", "queue.poll_ms": "100",
        "supervisor.backoff_min_ms": "100", "api.auth": "true"}

# kind -> (submission on the busybox set, expected state, expected verdict)
KINDS = {
    "sum": ({"run": "read a b; echo $((a + b))", "tests": [{"stdin": "1 2\n", "expected_output": "3\n"}]},
            "finished", "accepted"),
    "wrong": ({"run": "echo 4", "tests": [{"expected_output": "5\n"}]}, "finished", "wrong_answer"),
    "exit3": ({"run": "exit 3"}, "finished", "runtime_error"),
    "slow": ({"run": "sleep 2; echo done", "tests": [{"expected_output": "done\n"}],
              "limits": {"run": {"wall_ms": 20000}}}, "finished", "accepted"),
    "wall": ({"run": "sleep 10", "limits": {"run": {"wall_ms": 800}}}, "finished", "time_limit"),
}
MIX = ["sum", "slow", "wrong", "slow", "exit3", "wall", "sum", "slow"]


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out (%ss) waiting for %s" % (timeout, what))


class S:
    cluster = None
    apis = []
    workers = {}
    builder = None
    token = None
    accepted = {}  # id -> (kind, api node name)
    followers = []
    lock = threading.Lock()
    killed = []
    requeued = set()
    cut = []  # followers streaming from api1 when it was killed
    load_s = 0.0
    pg = None  # a PgServer this test started
    phase_a = []
    phase_b = []
    down = set()  # API nodes the client's "load balancer" took out
    failovers = 0


def auth():
    return {"Authorization": "Bearer " + S.token}


def live_apis():
    return [a for a in S.apis if a.node.name not in S.down]


# -- load -----------------------------------------------------------------

def submit(kind, api_index):
    """POST through one API node, the other if it does not answer. Like a
    load balancer's health check, a node that failed once gets no more
    requests (the client does not know which node the test killed). Returns
    the id, or None when no node took it."""
    sub = dict(KINDS[kind][0], packages=["busybox"])
    for k in range(len(S.apis)):
        api = S.apis[(api_index + k) % len(S.apis)]
        if api.node.name in S.down:
            continue
        try:
            st, body = api.request("POST", "/v1/submissions", sub, headers=auth(), timeout=20)
        except (OSError, http.client.HTTPException):
            with S.lock:
                S.down.add(api.node.name)
                S.failovers += 1
            continue
        expect(st == 202, "%s answered %s: %r" % (api.node.name, st, body))
        with S.lock:
            S.accepted[body["id"]] = (kind, api.node.name)
        return body["id"]
    return None


class Follower(threading.Thread):
    """Follows one submission's events over SSE, starting on one API node;
    a cut stream resumes on the next node with Last-Event-ID."""

    def __init__(self, sid, api_index):
        super().__init__(daemon=True)
        self.sid = sid
        self.at = api_index
        self.first = S.apis[api_index].node.name
        self.seqs = []
        self.nodes = []
        self.reconnects = 0
        self.current = None  # the node whose stream is open now
        self.done = False
        self.error = None

    def run(self):
        deadline = time.time() + 240
        while not self.done and time.time() < deadline:
            api = S.apis[self.at % len(S.apis)]
            try:
                self.stream(api)
            except (OSError, http.client.HTTPException, ValueError):
                pass
            if not self.done:
                self.reconnects += 1
                self.at += 1
                time.sleep(0.2)
        if not self.done:
            self.error = "never saw the end"

    def stream(self, api):
        hdrs = auth()
        if self.seqs:
            hdrs["Last-Event-ID"] = str(self.seqs[-1])
        # A machine that vanished sends no RST: a quiet stream past this is taken for a cut one.
        conn = http.client.HTTPConnection(api.host, api.port, timeout=5)
        try:
            conn.request("GET", "/v1/submissions/%s/events" % self.sid, headers=hdrs)
            resp = conn.getresponse()
            if resp.status != 200:
                raise ValueError("status %d" % resp.status)
            self.nodes.append(api.node.name)
            self.current = api.node.name
            seq, data = None, None
            while True:
                line = resp.fp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\r\n")
                if line.startswith("id:"):
                    seq = int(line[3:].strip())
                elif line.startswith("data:"):
                    data = json.loads(line[5:].strip())
                elif line == "" and seq is not None:
                    self.seqs.append(seq)
                    if data and data.get("type") == "state" and data.get("data", {}).get("state") in TERMINAL:
                        self.done = True
                        return
                    seq, data = None, None
        finally:
            self.current = None
            conn.close()


def load(seconds, during=None, follow=True):
    """Submits the mix through both API nodes (alternating) for `seconds`,
    a follower on each; calls during() once, half-way. Returns the ids."""
    ids = []
    t0 = time.time()
    fired = during is None
    k = 0
    while time.time() - t0 < seconds:
        if not fired and time.time() - t0 >= seconds / 2:
            fired = True
            during()
        sid = submit(MIX[k % len(MIX)], k % len(S.apis))
        if sid:
            ids.append(sid)
            if follow:
                f = Follower(sid, k % len(S.apis))
                f.start()
                S.followers.append(f)
        k += 1
        time.sleep(0.15)
    if not fired:
        during()
    S.load_s += time.time() - t0
    return ids


def result(sid):
    for api in live_apis():
        try:
            st, body = api.request("GET", "/v1/submissions/" + sid, headers=auth())
            if st == 200:
                return body
        except (OSError, http.client.HTTPException):
            with S.lock:
                S.down.add(api.node.name)
    return None


def wait_all(ids, timeout):
    pending = set(ids)
    deadline = time.time() + timeout
    while pending and time.time() < deadline:
        for sid in list(pending):
            b = result(sid)
            if b and b.get("state") in TERMINAL:
                pending.discard(sid)
        time.sleep(0.2)
    return pending


# -- the store's own view -----------------------------------------------------

def terminal_events(sid):
    n = 0
    for (data,) in S.cluster.store.query(
            "SELECT data FROM submission_events WHERE submission_id = ? AND type = 'state'", (sid,)):
        if json.loads(data).get("state") in TERMINAL:
            n += 1
    return n


def store_seqs(sid):
    return [int(s) for (s,) in S.cluster.store.query(
        "SELECT seq FROM submission_events WHERE submission_id = ? ORDER BY seq", (sid,))]


def running_owners(sid):
    owners = []
    for (data,) in S.cluster.store.query(
            "SELECT data FROM submission_events WHERE submission_id = ? AND type = 'state' ORDER BY seq", (sid,)):
        d = json.loads(data)
        if d.get("state") == "running":
            owners.append(d.get("owner") or "")
    return owners


def roles_seen(api):
    """{role: (live, stale)} as an API node's /v1/health reports the farm's processes."""
    st, h = api.request("GET", "/v1/health")
    expect(st in (200, 503), "%s /v1/health: %s %r" % (api.node.name, st, h))
    return {r: (v["live"], v["stale"]) for r, v in h["roles"].items()}


def uid_processes(first, count):
    """Pids running as one of the sandbox uids first..first+count-1."""
    found = []
    for d in os.listdir("/proc"):
        try:
            with open("/proc/%s/status" % d) as f:
                uid = int(next(l for l in f if l.startswith("Uid:")).split()[1])
        except (OSError, ValueError, StopIteration):
            continue
        if first <= uid < first + count:
            found.append(int(d))
    return found


def leases_of(node):
    return [r[0] for r in S.cluster.store.query(
        "SELECT id FROM submissions WHERE state = 'running' AND lease_owner LIKE ?", (node.name + ":%",))]


# -- setup ------------------------------------------------------------------

def shared_db_url():
    """The db url the farm shares: None for the default SQLite file."""
    want = os.environ.get("FARM_MULTINODE_DB") or None
    if want == "postgresql":
        from pgserver import PgServer  # tests/lib, on sys.path through netfarm
        S.pg = PgServer()
        S.pg.start()
        return S.pg.create_database("mn")
    return want


def setup():
    c = S.cluster = netfarm.Cluster(db_url=shared_db_url())
    keys = os.path.join(c.tmp, "keys")
    os.makedirs(keys)
    sec, pub = os.path.join(keys, "cache.sec"), os.path.join(keys, "cache.pub")
    netfarm.run(["nix-store", "--generate-binary-cache-key", "farm-multinode-1", sec, pub])
    with open(pub) as f:
        pubkey = f.read().strip()

    b = c.node("builder")
    api_nodes = [c.node("api1"), c.node("api2")]
    worker_nodes = [c.node("w1"), c.node("w2")]
    c.enter_client()  # before any thread: this process's HTTP now goes over the fabric

    cache = os.path.join(b.dir, "cache")
    os.makedirs(cache)
    S.builder = b.farm("builder", builders=1, settings=dict(
        FAST, **{"cache.export_url": "file://" + cache, "cache.secret_key_file": sec}))
    S.builder.start()
    # the builder machine serves its cache directory over HTTP, as nginx would
    b.spawn(["python3", "-m", "http.server", "8000", "--bind", b.ip, "--directory", cache], "cache-http.log")
    for n in api_nodes:
        S.apis.append(n.farm("api,health", settings=FAST).start())
    out = api_nodes[0].run([farmtest.farmd_path(), "token", "create", "--name", "multinode", "--scopes",
                            "submit,read"])
    S.token = json.loads(out)["token"]
    for i, n in enumerate(worker_nodes):
        S.workers[n.name] = n.farm("worker", workers=2, settings=dict(FAST, **{
            "worker.first_uid": str(UID_BASE + 4 * i),
            "worker.cache_url": "http://%s:8000" % b.ip,
            "worker.cache_public_key": pubkey})).start()


# -- cases ------------------------------------------------------------------

def case_fabric():
    """Every machine is where it says: its own address, hostname and an
    empty Nix store of its own; the client reaches both APIs over the fabric."""
    for name, n in S.cluster.nodes.items():
        out = n.run(["sh", "-c", "hostname; ip -4 -o addr show dev eth0; ls /nix"])
        expect(name in out.split("\n")[0] and n.ip + "/24" in out, "%s: %s" % (name, out))
    for api in S.apis:
        st, h = api.request("GET", "/v1/health")
        expect(st in (200, 503) and "live" in h, (api.node.name, st, h))
    w1 = S.cluster.nodes["w1"]
    expect(w1.run(["sh", "-c", "ls /nix/store 2>/dev/null | grep -c busybox || true"]).strip() == "0",
           "w1's Nix store is not its own: it has busybox before any import")


def case_closure_from_cache():
    """The first busybox run: built on the builder node, exported signed,
    imported over HTTP by whichever worker node claims it; then the other
    worker node imports it too (both run work)."""
    sid = submit("sum", 0)
    body = S.apis[0].wait_finished(sid, timeout=300, headers=auth())
    expect(body["state"] == "finished" and body["verdict"] == "accepted", body)
    expect('msg="exported"' in S.builder.logs(), "the builder did not export:\n" + S.builder.logs())
    expect(any('msg="closure-imported" id=%s' % sid in f.logs() for f in S.workers.values()),
           "no worker node imported the set for %s" % sid)
    # enough parallel work that the other node claims some too
    ids = [submit("slow", k) for k in range(6)]
    expect(not wait_all(ids, 180), "warm-up runs did not finish")
    for name, f in S.workers.items():
        expect("closure-imported" in f.logs(), "%s imported nothing from the cache:\n%s" % (name, f.logs()[-3000:]))
        out = S.cluster.nodes[name].run(["sh", "-c", "ls /nix/store | grep -c busybox"])
        expect(int(out.strip()) >= 1, "%s: busybox not in its store" % name)
    http_log = open(os.path.join(S.cluster.nodes["builder"].dir, "cache-http.log")).read()
    expect(".narinfo" in http_log and "/nar/" in http_log, "the cache was not fetched over HTTP:\n" + http_log)


def case_kill_worker_node():
    """Load through both APIs; kill -9 the whole of w1 while it holds leases."""
    w1 = S.cluster.nodes["w1"]

    def kill():
        held = wait_until(lambda: leases_of(w1), 60, "w1 to hold a lease")
        expect(w1.kill9(), "w1 survived kill -9")
        # its sandboxes too, wherever their cgroups were
        wait_until(lambda: not uid_processes(UID_BASE, 2), 20, "w1's sandboxed programs to be gone")
        S.requeued.update(held)
        S.killed.append("w1 (worker node: %d leases held)" % len(held))

    ids = load(10, during=kill)
    S.phase_a = ids
    pending = wait_all(ids + list(S.requeued), 240)
    expect(not pending, "%d submissions never ended after w1 died: %s" % (len(pending), sorted(pending)[:5]))
    for sid in S.requeued:
        body = result(sid)
        expect(body["state"] == "finished" and body.get("attempts", 0) >= 2, "w1's lease %s: %r" % (sid, body))
        owners = running_owners(sid)
        expect(any(o.startswith("w1:") for o in owners) and owners[-1].startswith("w2:"),
               "%s: not run again on w2 after w1 died (owners %r)" % (sid, owners))
    # what the failure looks like to an operator: w1's workers stale, w2's live
    wait_until(lambda: roles_seen(S.apis[1]).get("worker") == (2, 2), 30,
               "api2's /v1/health to show 2 live and 2 stale workers (now %r)" % (roles_seen(S.apis[1]),))


def case_kill_api_node():
    """Load with SSE followers; kill -9 the whole of api1. api2 keeps
    answering, submitters fail over, cut followers resume on api2."""
    api1 = S.cluster.nodes["api1"]
    before = len(S.followers)

    def kill():
        S.cut = [f for f in S.followers if f.current == "api1" and not f.done]
        expect(api1.kill9(), "api1 survived kill -9")
        S.killed.append("api1 (API node)")
        st, h = S.apis[1].request("GET", "/v1/health")
        expect(st in (200, 503), "api2 does not answer after api1 died: %s" % st)

    ids = load(8, during=kill)
    S.phase_b = ids
    pending = wait_all(ids, 240)
    expect(not pending, "%d submissions never ended after api1 died" % len(pending))
    for f in S.followers[before:] + S.cut:
        f.join(120)
    wait_until(lambda: roles_seen(S.apis[1]).get("api") == (1, 1), 30,
               "api2's /v1/health to show api1 stale (now %r)" % (roles_seen(S.apis[1]),))
    # the followers whose stream api1 held when it died: each must end on
    # api2 (whether they saw every event is case_nothing_lost_nothing_twice's)
    expect(S.cut, "no follower had a stream open on api1 when it died")
    stuck = [(f.sid, f.nodes, f.error) for f in S.cut if not f.done or f.nodes[-1] != "api2"]
    expect(not stuck, "followers cut off with api1 that did not end on api2: %r" % stuck[:5])


def case_nothing_lost_nothing_twice():
    """Every accepted id ended once with its kind's verdict; every follower
    saw exactly the store's events of its submission, in order."""
    lost, wrong, twice = [], [], []
    for sid, (kind, _) in S.accepted.items():
        body = result(sid)
        if not body or body.get("state") not in TERMINAL:
            lost.append(sid)
            continue
        _, state, verdict = KINDS[kind]
        if body["state"] != state or body.get("verdict") != verdict:
            wrong.append((sid, kind, body["state"], body.get("verdict"), body.get("error")))
        if terminal_events(sid) != 1:
            twice.append(sid)
    # every row of the store, not only the ones whose answer reached us
    rows = S.cluster.store.query("SELECT id FROM submissions")
    twice += [r[0] for r in rows if r[0] not in S.accepted and terminal_events(r[0]) > 1]
    attempts = S.cluster.store.query("SELECT COALESCE(SUM(attempts), 0) FROM submissions")[0][0]
    gaps = []
    for f in S.followers:
        f.join(60)
        if f.error or f.seqs != store_seqs(f.sid):
            gaps.append((f.sid, f.error, f.nodes, f.seqs, store_seqs(f.sid)))
    resumed = sum(1 for f in S.followers if f.reconnects and len(set(f.nodes)) > 1)
    print("# load held: %d submissions accepted through 2 API nodes (%d in %.0f s of load under kills, "
          "%d failed over), %d SSE followers (%d resumed on the other node, %d of them cut off by the kill), "
          "%d attempts in the store"
          % (len(S.accepted), len(S.phase_a) + len(S.phase_b), S.load_s, S.failovers, len(S.followers),
             resumed, len(S.cut), int(attempts)), flush=True)
    extra = int(attempts) - len(rows)
    print("# nodes killed: %d (%s); w1's leases requeued and finished elsewhere: %d; "
          "claims beyond one per submission: %d"
          % (len(S.killed), "; ".join(S.killed), len(S.requeued), extra), flush=True)
    print("# lost %d, duplicated %d, wrong verdicts %d, followers with gaps %d"
          % (len(lost), len(twice), len(wrong), len(gaps)), flush=True)
    expect(not lost, "lost: %r" % lost[:10])
    expect(not twice, "ended more than once: %r" % twice[:10])
    expect(not wrong, "wrong outcomes: %r" % wrong[:10])
    expect(not gaps, "followers that missed or repeated events: %r" % gaps[:3])
    expect(len(S.killed) == 2 and S.requeued, "the kills did not happen as planned: %r" % S.killed)


def case_teardown():
    """Everything of the test ends and the host is as found."""
    problems = S.cluster.teardown()
    S.cluster = None
    expect(not problems, "the host is not as found: %s" % "; ".join(problems))
    print("# host clean: no link, namespace, mount, cgroup, process or temp dir left", flush=True)


def main():
    def on_term(*_):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
    rc = 1
    try:
        try:
            setup()
        except Exception:
            import traceback
            print("1..1\nnot ok 1 - setup: five machines of one farm\n# %s"
                  % traceback.format_exc().replace("\n", "\n# "), flush=True)
            sys.stderr.write(traceback.format_exc())
            for n in (S.cluster.nodes.values() if S.cluster else []):
                for f in n.farms:
                    sys.stderr.write("--- %s farmd log:\n%s\n" % (n.name, f.logs()[-4000:]))
            return 1
        rc = farmtest.run_cases([
            ("five machines on a private fabric, each with its own address, hostname and Nix store", case_fabric),
            ("worker nodes import the set's closure from the builder's signed cache over HTTP",
             case_closure_from_cache),
            ("kill -9 of a whole worker node under load: its leases are requeued and run on the other",
             case_kill_worker_node),
            ("kill -9 of a whole API node under load: the other answers, SSE followers resume there",
             case_kill_api_node),
            ("nothing accepted is lost, nothing ends twice, followers saw every event once",
             case_nothing_lost_nothing_twice),
            ("teardown: no process, link, namespace, mount, cgroup or temp dir is left", case_teardown),
        ])
    finally:
        if S.cluster:  # setup failed, or a signal came: the host still goes back as found
            problems = S.cluster.teardown()
            if problems:
                sys.stderr.write("host not clean: %s\n" % problems)
                rc = 1
        if S.pg:
            S.pg.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())
