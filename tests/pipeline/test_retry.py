#!/usr/bin/env python3
"""Issue 18: the farm's own failures are retried, never a verdict.
- sandbox keepers SIGKILLed at random under load: every submission still ends
  with the verdict its program must get;
- a worker slot whose setup always fails (FARM_TEST_FAIL_SLOTS, honoured by
  test builds only): its submissions move to the other worker and succeed;
- every slot failing: internal_error after queue.max_attempts, listing the
  reason of every attempt; never a test verdict internal_error."""
import os
import random
import re
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipelib import (farmtest, sh, expect, submit_nowait, worker_pids, children_of,  # noqa: E402
                     sandbox_uid_processes, wait_until, FAST_FAULTS, count_terminal_events)

KINDS = [
    ("accepted", lambda i: sh("sleep 0.1; echo %d" % i, tests=[{"expected_output": "%d" % i}])),
    ("wrong_answer", lambda i: sh("sleep 0.1; echo %d" % i, tests=[{"expected_output": "x%d" % i}])),
    ("runtime_error", lambda i: sh("sleep 0.1; exit %d" % (1 + i % 100))),
    ("time_limit", lambda i: sh("while :; do :; done", limits={"run": {"cpu_ms": 200, "wall_ms": 2000}})),
    ("accepted", lambda i: sh("cat", tests=[{"stdin": "l%d\n" % i, "expected_output": "l%d" % i},
                                            {"stdin": "m%d\n" % i, "expected_output": "m%d" % i}])),
]


def keepers(farm):
    """Sandbox keepers: children of a worker that are PID 1 of their own PID namespace."""
    found = []
    for w in worker_pids(farm):
        for k in children_of(w):
            try:
                with open("/proc/%d/status" % k) as f:
                    for line in f:
                        if line.startswith("NSpid:"):
                            if len(line.split()) >= 3 and line.split()[-1] == "1":
                                found.append(k)
                            break
            except OSError:
                pass
    return found


def metrics(farm):
    status, text = farm.request("GET", "/metrics", raw=True)
    expect(status == 200, "/metrics answered %s" % status)
    return text.decode() if isinstance(text, bytes) else text


def metric_sum(text, prefix):
    total = 0
    for line in text.splitlines():
        if line.startswith(prefix):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def get(farm, sid):
    status, body = farm.request("GET", "/v1/submissions/" + sid)
    expect(status == 200, "GET %s: %s" % (sid, status))
    return body


def case_keepers_killed_under_load():
    settings = dict(FAST_FAULTS)
    settings["queue.max_attempts"] = "6"
    with farmtest.Farm(workers=2, settings=settings) as farm:
        n = 60
        with ThreadPoolExecutor(8) as ex:
            subs = list(ex.map(lambda i: (i, KINDS[i % len(KINDS)][0],
                                          submit_nowait(farm, KINDS[i % len(KINDS)][1](i))), range(n)))
        done = threading.Event()
        kills = [0]

        def killer():
            rnd = random.Random(18)
            while not done.is_set():
                ks = keepers(farm)
                if ks and rnd.random() < 0.5:
                    try:
                        os.kill(rnd.choice(ks), signal.SIGKILL)
                        kills[0] += 1
                    except OSError:
                        pass
                done.wait(0.05 + rnd.random() * 0.3)

        t = threading.Thread(target=killer)
        t.start()
        try:
            results = [(i, want, farm.wait_finished(sid, timeout=600)) for i, want, sid in subs]
        finally:
            done.set()
            t.join()
        bad = [(i, want, b.get("state"), b.get("verdict"), b.get("error")) for i, want, b in results
               if b.get("state") != "finished" or b.get("verdict") != want]
        expect(kills[0] > 0, "no keeper was killed: the test proved nothing")
        expect(not bad, "%d wrong after %d keeper kills: %r" % (len(bad), kills[0], bad[:5]))
        for i, want, b in results:
            expect(all(t.get("verdict") != "internal_error" for t in b.get("tests", [])), b)
        m = metrics(farm)
        expect(metric_sum(m, 'farm_internal_retries_total{reason="keeper_died"}') > 0,
               "no keeper_died retry counted:\n" + m)
        wait_until(lambda: not sandbox_uid_processes(), 30, "sandbox processes to go")


def case_one_slot_always_fails():
    settings = dict(FAST_FAULTS)
    settings["lease.ms"] = "30000"
    settings["lease.renew_ms"] = "1000"
    with farmtest.Farm(workers=2, settings=settings, env={"FARM_TEST_FAIL_SLOTS": "0"}) as farm:
        ids = [submit_nowait(farm, sh("echo %d" % i, tests=[{"expected_output": "%d" % i}]))
               for i in range(8)]
        bodies = [farm.wait_finished(sid, timeout=300) for sid in ids]
        for b in bodies:
            expect(b["state"] == "finished" and b["verdict"] == "accepted", b)
            expect(count_terminal_events(farm, b["id"]) == 1, "finished more than once: %r" % b)
        m = metrics(farm)
        expect(metric_sum(m, 'farm_internal_requeues_total{reason="slot_setup",outcome="requeued"}') > 0,
               "no requeue counted: the failing slot ran nothing?\n" + m)
        expect(metric_sum(m, 'farm_internal_retries_total{reason="slot_setup"}') > 0, m)
        expect(any(b.get("attempts", 0) >= 2 for b in bodies), "no submission moved to another worker")
        expect("slot-rebuilt" in farm.logs(), "the failed slot was not rebuilt")


def case_every_slot_fails():
    settings = dict(FAST_FAULTS)
    settings["queue.max_attempts"] = "3"
    settings["lease.ms"] = "30000"
    settings["lease.renew_ms"] = "1000"
    with farmtest.Farm(workers=2, settings=settings, env={"FARM_TEST_FAIL_SLOTS": "all"}) as farm:
        sid = submit_nowait(farm, sh("echo hi", tests=[{"expected_output": "hi"}]))
        b = farm.wait_finished(sid, timeout=300)
        expect(b["state"] == "internal_error", b)
        err = b.get("error") or ""
        for k in (1, 2, 3):
            expect(re.search(r"attempt %d \([^)]*\): slot_setup: " % k, err), "attempt %d missing in %r" % (k, err))
        expect(b.get("attempts") == 3, b)
        expect(all(t.get("verdict") != "internal_error" for t in b.get("tests") or []), b)
        m = metrics(farm)
        expect(metric_sum(m, 'farm_internal_requeues_total{reason="slot_setup",outcome="gave_up"}') == 1, m)


if __name__ == "__main__":
    sys.exit(farmtest.run_cases([
        ("a slot whose setup always fails: the other worker runs it", case_one_slot_always_fails),
        ("every slot failing: internal_error after max_attempts with reasons", case_every_slot_fails),
        ("keepers SIGKILLed under load: right verdicts", case_keepers_killed_under_load),
    ]))
