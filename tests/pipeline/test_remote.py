#!/usr/bin/env python3
"""Remote workers: farm A runs api+builder+health with no local worker and
exports its sets to a signed file:// binary cache; farm B is
`farmd --role worker --remote <A> --token T` with its own state directory.
Submissions to A are run by B over the HTTP lease protocol: accepted and
wrong answers, a kill -9 of B mid-run (A's health checker requeues, a new B
finishes it exactly once), a bad token (refused, said in B's log), and a
stale owner's writes (409)."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipelib import (farmtest, sh, expect, submit_wait, submit_nowait, count_terminal_events,  # noqa: E402
                     events, sandbox_uid_processes, wait_until, FAST_FAULTS, UID_BASE)

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello, world"); return 0; }\n'


class RemoteWorker(farmtest.Farm):
    """farmd --role worker --remote URL --token T, in its own state dir and
    session. It serves no API, so it is ready when its log says so."""

    def __init__(self, url, token, settings=None):
        super().__init__(workers=1, builders=0, roles="worker", settings=settings)
        self.url = url
        self.token = token

    def start(self, timeout=60, wait_ready=True):
        args = [farmtest.farmd_path(), "--role", "worker", "--workers", "1",
                "--remote", self.url, "--token", self.token]
        for k, v in self.settings.items():
            args += ["--set", "%s=%s" % (k, v)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, env=self.env(), stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        if wait_ready:
            wait_until(lambda: "worker-ready" in self.logs() or self.proc.poll() is not None,
                       timeout, "the remote worker to start")
            expect(self.proc.poll() is None, "remote worker exited:\n" + self.logs())
        return self


class Setup:
    farm = None
    cache_dir = None
    keys_dir = None
    worker_token = None
    submit_token = None
    pubkey = None


S = Setup()


def token(farm, name, scopes):
    out = subprocess.run([farmtest.farmd_path(), "token", "create", "--name", name, "--scopes", scopes],
                         env=farm.env(), capture_output=True, text=True, check=True).stdout
    import json
    return json.loads(out)["token"]


def auth(tok):
    return {"Authorization": "Bearer " + tok}


def setup():
    S.keys_dir = tempfile.mkdtemp(prefix="farmtest-keys-")
    S.cache_dir = tempfile.mkdtemp(prefix="farmtest-cache-")
    sec = os.path.join(S.keys_dir, "cache.sec")
    pub = os.path.join(S.keys_dir, "cache.pub")
    subprocess.run(["nix-store", "--generate-binary-cache-key", "farm-remote-1", sec, pub],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(pub) as f:
        S.pubkey = f.read().strip()
    settings = dict(FAST_FAULTS)
    # a remote worker silent for 1.5 s (B beats every 200 ms) is taken for dead
    settings.update({"health.heartbeat_stale_ms": "1500", "heartbeat.interval_ms": "200"})
    # a small body cap, so a remote finish can exceed it (see case_result_too_large)
    settings.update({"api.auth": "true", "api.max_body_bytes": "262144",
                     "cache.export_url": "file://" + S.cache_dir,
                     "cache.secret_key_file": sec})
    S.farm = farmtest.Farm(workers=1, builders=1, roles="api,builder,health", settings=settings)
    S.farm.start()
    S.worker_token = token(S.farm, "remote-worker", "worker")
    S.submit_token = token(S.farm, "client", "submit,read")


def teardown():
    try:
        if S.farm:
            S.farm.cleanup()
    finally:
        for d in (S.cache_dir, S.keys_dir):
            if d:
                shutil.rmtree(d, ignore_errors=True)


def remote_worker(lease_ms="2500"):
    return RemoteWorker("http://127.0.0.1:%d" % S.farm.port, S.worker_token,
                        settings={"worker.first_uid": str(UID_BASE), "lease.ms": lease_ms,
                                  "lease.renew_ms": "400", "worker.stop_grace_ms": "4000",
                                  "worker.remote_wait_ms": "1000", "heartbeat.interval_ms": "200",
                                  "supervisor.backoff_min_ms": "100"})


def get(sid):
    status, body = S.farm.request("GET", "/v1/submissions/" + sid, headers=auth(S.submit_token))
    expect(status == 200, "GET %s: %s %r" % (sid, status, body))
    return body


def submit(sub):
    status, body = S.farm.submit(sub, wait=False, headers=auth(S.submit_token))
    expect(status in (200, 201, 202), "submit answered %s: %r" % (status, body))
    return body["id"]


def running_owners(sid):
    import json
    owners = []
    for typ, data in events(S.farm, sid):
        d = json.loads(data)
        if typ == "state" and d.get("state") == "running":
            owners.append(d.get("owner"))
    return owners


def case_hello_profile():
    with remote_worker() as b:
        sid = submit({"profile": "c", "files": [{"name": "main.c", "content": HELLO_C}],
                      "tests": [{"expected_output": "hello, world\n"}]})
        body = S.farm.wait_finished(sid, timeout=300, headers=auth(S.submit_token))
        expect(body["state"] == "finished" and body["verdict"] == "accepted", body)
        expect(body["tests"][0]["stdout"] == "hello, world\n", body)
        expect(body["compile"]["exit_code"] == 0, body)
        owners = running_owners(sid)
        expect(owners and all(o and o.startswith("remote:") for o in owners),
               "not run by the remote worker: owners %r" % owners)
        expect('msg="finished" id=%s' % sid in b.logs(), "B's log does not show it:\n" + b.logs())
        # B's heartbeat reached A: A counts a live worker although it runs none.
        status, h = S.farm.request("GET", "/v1/health")
        expect(h["live"]["workers"] >= 1, h)
        expect("remote=http://127.0.0.1" in b.logs(), b.logs())


def case_wrong_answer_and_blobs():
    with remote_worker():
        sub = sh("cat in.txt; read x; echo \"$x\"",
                 files=[{"name": "in.txt", "content": "from a file\n"}],
                 tests=[{"name": "right", "stdin": "two\n", "expected_output": "from a file\ntwo\n"},
                        {"name": "wrong", "stdin": "three\n", "expected_output": "four\n"}])
        sid = submit(sub)
        body = S.farm.wait_finished(sid, timeout=300, headers=auth(S.submit_token))
        expect(body["state"] == "finished" and body["verdict"] == "wrong_answer", body)
        expect([t["verdict"] for t in body["tests"]] == ["accepted", "wrong_answer"], body)
        expect(body["tests"][1]["stdout"] == "from a file\nthree\n", body)
        expect(count_terminal_events(S.farm, sid) == 1, "finished more than once")


def case_kill9_requeued_and_finished_once():
    b = remote_worker()
    try:
        b.start()
        sid = submit(sh("sleep 3; echo done", tests=[{"expected_output": "done\n"}],
                        limits={"run": {"wall_ms": 20000, "cpu_ms": 5000}}))
        wait_until(lambda: get(sid)["state"] == "running", 120, "running on B")
        time.sleep(0.5)
        b.kill9()
        # nobody renews: A's health checker requeues it once the lease runs out
        wait_until(lambda: get(sid)["state"] == "queued", 60, "A to requeue the dead worker's lease")
        wait_until(lambda: not sandbox_uid_processes(), 20, "the killed worker's sandbox to go")
        b.proc = None
        b.log.close()
        b.start()
        body = S.farm.wait_finished(sid, timeout=120, headers=auth(S.submit_token))
        expect(body["state"] == "finished" and body["verdict"] == "accepted", body)
        expect(body.get("attempts", 0) >= 2, "attempts %r: not retried" % body.get("attempts"))
        expect(count_terminal_events(S.farm, sid) == 1, "finished more than once")
        owners = running_owners(sid)
        expect(len(owners) >= 2 and len(set(owners)) >= 2, "owners %r" % owners)
    finally:
        b.cleanup()


def case_silent_remote_worker_expired_by_heartbeats():
    """B's lease is an hour long, so only A's health checker, seeing B's
    heartbeats stop, can take the work back (issue 21)."""
    b = remote_worker(lease_ms="3600000")
    try:
        b.start()
        sid = submit(sh("sleep 3; echo done", tests=[{"expected_output": "done\n"}],
                        limits={"run": {"wall_ms": 20000, "cpu_ms": 5000}}))
        wait_until(lambda: get(sid)["state"] == "running", 120, "running on B")
        b.kill9()
        wait_until(lambda: get(sid)["state"] == "queued", 120, "A to expire the silent worker's item")
        expect("dead-remote-worker-lease-expired" in S.farm.logs(), "not expired from missed heartbeats")
        wait_until(lambda: not sandbox_uid_processes(), 20, "the killed worker's sandbox to go")
        b.proc = None
        b.log.close()
        b.start()
        body = S.farm.wait_finished(sid, timeout=120, headers=auth(S.submit_token))
        expect(body["state"] == "finished" and body["verdict"] == "accepted", body)
        expect(body.get("attempts", 0) >= 2, "attempts %r: not retried" % body.get("attempts"))
        expect(count_terminal_events(S.farm, sid) == 1, "finished more than once")
    finally:
        b.cleanup()


def case_remote_release_failed():
    """A failure of the farm's own on B (every step of its slot fails, a
    fault of the test build) is given back over HTTP with its reason; with no
    other worker it ends internal_error after max_attempts, listing them."""
    b = remote_worker(lease_ms="30000")
    b.extra_env["FARM_TEST_FAIL_SLOTS"] = "all"
    try:
        b.start()
        sid = submit(sh("echo hi", tests=[{"expected_output": "hi"}]))
        body = S.farm.wait_finished(sid, timeout=300, headers=auth(S.submit_token))
        expect(body["state"] == "internal_error", body)
        kinds = [a["kind"] for a in body["attempt_reasons"]]
        expect(len(kinds) == body["attempts"] == 3 and set(kinds) == {"slot_setup"}, body)
        expect(all(a["owner"].startswith("remote:") for a in body["attempt_reasons"]), body)
        st, b2 = S.farm.request("POST", "/v1/leases/%s/release" % sid,
                                {"owner": "remote:x:1:worker-0", "kind": "Bad Kind"},
                                headers=auth(S.worker_token))
        expect(st == 422 and b2["error"]["field"] == "kind", (st, b2))
    finally:
        b.cleanup()


def case_lease_taken_is_dropped():
    """B stopped (SIGSTOP) past its lease: A requeues, and when B wakes its
    renew gets 409, it drops the work, and the row is still finished once."""
    b = remote_worker()
    try:
        b.start()
        sid = submit(sh("sleep 2; echo done", tests=[{"expected_output": "done\n"}],
                        limits={"run": {"wall_ms": 20000, "cpu_ms": 5000}}))
        wait_until(lambda: get(sid)["state"] == "running", 120, "running on B")
        workers = [p for p in farmtest.children_of(b.proc.pid) if farmtest.comm(p).startswith("farmd-worker")]
        expect(len(workers) == 1, "workers %r" % workers)
        os.kill(workers[0], signal.SIGSTOP)
        try:
            wait_until(lambda: get(sid)["state"] == "queued", 60, "A to requeue the stopped worker's lease")
        finally:
            os.kill(workers[0], signal.SIGCONT)
        body = S.farm.wait_finished(sid, timeout=120, headers=auth(S.submit_token))
        expect(body["state"] == "finished" and body["verdict"] == "accepted", body)
        expect(count_terminal_events(S.farm, sid) == 1, "finished more than once")
        # whichever comes first after SIGCONT, the renew or the test result,
        # gets 409 and B drops the work: "lease-lost" or "dropped"
        wait_until(lambda: ('msg="lease-lost" id=%s' % sid in b.logs() or
                            'msg="dropped" id=%s' % sid in b.logs()), 10, "B to notice the lost lease")
    finally:
        b.cleanup()


def case_bad_token_refused():
    for tok, status in (("nft_not-a-real-token", "401"), (S.submit_token, "403")):
        b = RemoteWorker("http://127.0.0.1:%d" % S.farm.port, tok,
                         settings={"worker.first_uid": str(UID_BASE)})
        try:
            b.start(wait_ready=False)
            wait_until(lambda: b.proc.poll() is not None, 30, "the refused worker to stop")
            logs = b.logs()
            expect('msg="remote-refused" status=%s' % status in logs, "log does not say 401/403:\n" + logs)
            expect("remote-worker-refused" in logs, logs)
            expect(b.proc.returncode != 0, "exit status %r" % b.proc.returncode)
        finally:
            b.cleanup()


def case_stale_owner_gets_409():
    h = auth(S.worker_token)
    sid = submit(sh("echo hi"))

    def claim(owner):
        st, body = S.farm.request("POST", "/v1/leases/claim", {"owner": owner, "lease_ms": 1000, "wait_ms": 5000},
                                  headers=h)
        expect(st == 200, "claim: %s %r" % (st, body))
        return body

    first = wait_until(lambda: claim("remote:test:1:stale")["claimed"], 120, "a claim")
    expect(first["id"] == sid, first)
    # the claim names the farm's signed cache with the key the builder signs with
    st, again = S.farm.request("POST", "/v1/leases/claim", {"owner": "remote:test:1:other", "wait_ms": 0}, headers=h)
    expect(st == 200 and again["claimed"] is None, again)
    expect(again["cache"] == {"url": "file://" + S.cache_dir, "public_key": S.pubkey}, again["cache"])
    # the lease runs out, A requeues it, and another owner claims it
    second = wait_until(lambda: claim("remote:test:2:fresh")["claimed"], 60, "the requeued row")
    expect(second["id"] == sid and second["attempts"] >= 2, second)
    result = {"compile": None, "tests": [], "verdict": "accepted"}
    for verb, body in (("renew", {"owner": "remote:test:1:stale"}),
                       ("events", {"owner": "remote:test:1:stale", "type": "stage", "data": {"stage": "x"}}),
                       ("tests", {"owner": "remote:test:1:stale", "index": 0, "result": {"verdict": "accepted"}}),
                       ("finish", {"owner": "remote:test:1:stale", "state": "finished", "verdict": "accepted",
                                   "result": result})):
        st, ans = S.farm.request("POST", "/v1/leases/%s/%s" % (sid, verb), body, headers=h)
        expect(st == 409 and ans["error"]["code"] == "lease_lost", "%s: %s %r" % (verb, st, ans))
    st, ans = S.farm.request("POST", "/v1/leases/%s/finish" % sid,
                             {"owner": "remote:test:2:fresh", "state": "finished", "verdict": "accepted",
                              "result": result}, headers=h)
    expect(st == 200 and ans["finished"] is True, "%s %r" % (st, ans))
    st, ans = S.farm.request("POST", "/v1/leases/%s/finish" % sid,
                             {"owner": "remote:test:2:fresh", "state": "finished", "verdict": "accepted",
                              "result": result}, headers=h)
    expect(st == 409, "a second finish: %s %r" % (st, ans))
    expect(count_terminal_events(S.farm, sid) == 1, "finished more than once")
    # a worker token cannot name a local worker's lease
    st, ans = S.farm.request("POST", "/v1/leases/%s/finish" % sid,
                             {"owner": "vm:123:worker-0", "state": "finished", "result": result}, headers=h)
    expect(st == 422 and ans["error"]["field"] == "owner", "%s %r" % (st, ans))
    # the worker scope is needed for the lease protocol, and only it
    st, ans = S.farm.request("POST", "/v1/leases/claim", {"owner": "x"}, headers=auth(S.submit_token))
    expect(st == 403, "%s %r" % (st, ans))


def case_cancel_reaches_remote_worker():
    """A client's cancel reaches B through renew (410): B stops the test and
    finishes the submission as cancelled."""
    with remote_worker() as b:
        sid = submit(sh("sleep 60", limits={"run": {"wall_ms": 90000, "cpu_ms": 5000}}))
        wait_until(lambda: get(sid)["state"] == "running", 120, "running on B")
        st, body = S.farm.request("DELETE", "/v1/submissions/" + sid, headers=auth(S.submit_token))
        expect(st in (200, 202), "cancel: %s %r" % (st, body))
        body = S.farm.wait_finished(sid, timeout=60, headers=auth(S.submit_token))
        expect(body["state"] == "cancelled", body)
        expect('msg="lease-lost" id=%s reason=cancelled' % sid in b.logs(), b.logs())
        expect(count_terminal_events(S.farm, sid) == 1, "finished more than once")


def case_sigterm_releases_lease():
    """SIGTERM past worker.stop_grace_ms: B gives the lease back over HTTP
    (no attempt counted), exits cleanly, and a new B finishes the work."""
    b = remote_worker()
    b.settings["worker.stop_grace_ms"] = "500"
    try:
        b.start()
        sid = submit(sh("sleep 4; echo done", tests=[{"expected_output": "done\n"}],
                        limits={"run": {"wall_ms": 20000, "cpu_ms": 5000}}))
        wait_until(lambda: get(sid)["state"] == "running", 120, "running on B")
        rc = b.stop()
        expect(rc == 0, "B's exit status %r after SIGTERM:\n%s" % (rc, b.logs()))
        body = get(sid)
        expect(body["state"] == "queued" and body.get("attempts") == 0, body)  # not counted
        expect(count_terminal_events(S.farm, sid) == 0, "ended although released")
        b.start()
        body = S.farm.wait_finished(sid, timeout=120, headers=auth(S.submit_token))
        expect(body["state"] == "finished" and body["verdict"] == "accepted", body)
        expect(count_terminal_events(S.farm, sid) == 1, "finished more than once")
    finally:
        b.cleanup()


def case_claim_long_polls():
    """A claim with wait_ms and nothing queued waits that long and answers
    null; one waiting when work arrives gets it."""
    import threading
    h = auth(S.worker_token)
    t0 = time.time()
    st, body = S.farm.request("POST", "/v1/leases/claim", {"owner": "remote:test:3:idle", "wait_ms": 1500},
                              headers=h)
    expect(st == 200 and body["claimed"] is None, "%s %r" % (st, body))
    expect(time.time() - t0 >= 1.4, "an empty long poll answered before wait_ms")
    got = {}

    def waiter():
        got["answer"] = S.farm.request("POST", "/v1/leases/claim",
                                       {"owner": "remote:test:3:waiting", "wait_ms": 20000}, headers=h)
    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.3)
    sid = submit(sh("echo hi"))
    th.join(60)
    expect(not th.is_alive(), "the long poll did not answer")
    st, body = got["answer"]
    expect(st == 200 and body["claimed"] and body["claimed"]["id"] == sid, "%s %r" % (st, body))
    st, ans = S.farm.request("POST", "/v1/leases/%s/release" % sid, {"owner": "remote:test:3:waiting"}, headers=h)
    expect(st == 200 and ans["released"] is True, "%s %r" % (st, ans))
    st, ans = S.farm.request("POST", "/v1/leases/%s/release" % sid, {"owner": "remote:test:3:waiting"}, headers=h)
    expect(st == 409, "a second release: %s %r" % (st, ans))
    # leave nothing queued for the next case
    st, _ = S.farm.request("DELETE", "/v1/submissions/" + sid, headers=auth(S.submit_token))
    expect(st in (200, 202), st)


def case_result_too_large():
    """A result bigger than A's api.max_body_bytes (413): B finishes without
    the outputs instead of failing the finish until the lease runs out."""
    with remote_worker() as b:
        sid = submit(sh("head -c 150000 /dev/zero | tr '\\0' a", tests=[{}, {}]))
        body = S.farm.wait_finished(sid, timeout=120, headers=auth(S.submit_token))
        expect(body["state"] == "finished" and body["verdict"] == "accepted",
               {k: body.get(k) for k in ("state", "verdict", "error")})
        expect(all(t["stdout_truncated"] for t in body["tests"]), "outputs not flagged truncated")
        expect('msg="result-too-large" id=%s' % sid in b.logs(), "B did not say so")
        expect(count_terminal_events(S.farm, sid) == 1, "finished more than once")


def main():
    try:
        setup()
        rc = farmtest.run_cases([
            ("hello world in a profile, run by the remote worker", case_hello_profile),
            ("wrong answer; files, stdin and expected output fetched over HTTP", case_wrong_answer_and_blobs),
            ("kill -9 of the remote worker: requeued by A, finished once by a new one", case_kill9_requeued_and_finished_once),
            ("a remote worker whose lease was taken drops the work", case_lease_taken_is_dropped),
            ("a silent remote worker's item is expired from its missed heartbeats",
             case_silent_remote_worker_expired_by_heartbeats),
            ("a remote worker's own failures go back over HTTP with their reasons", case_remote_release_failed),
            ("a bad token is refused and the worker says so", case_bad_token_refused),
            ("a stale owner's writes get 409", case_stale_owner_gets_409),
            ("a cancel reaches the remote worker (410) and ends the run", case_cancel_reaches_remote_worker),
            ("SIGTERM: the remote worker gives its lease back and exits cleanly", case_sigterm_releases_lease),
            ("claims long-poll: an empty one waits, a waiting one gets new work", case_claim_long_polls),
            ("a result larger than the API takes is finished without outputs", case_result_too_large),
        ])
    finally:
        teardown()
    sys.exit(rc)


if __name__ == "__main__":
    main()
