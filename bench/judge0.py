#!/usr/bin/env python3
"""bench/judge0 — the Judge0 front's cost beside /v1, in the same run on the
same farm: a Python hello world submitted

  v1-wait      POST /v1/submissions?wait=true
  j0-wait      POST /submissions?wait=true                  (Judge0 front)
  v1-poll      POST /v1/submissions, then GET /v1/submissions/{id} until done
  j0-poll      POST /submissions, then GET /submissions/{token} until done,
               as Judge0 clients do (base64_encoded=true, default fields)

in interleaved rounds, so load and cache state are the same for both. Prints
p50/p90 latency per mode and the ratio front/v1 (1.00 = the translation
costs nothing measurable). Polling sleeps poll_ms between GETs, as clients do.

  python3 bench/judge0.py [--n 40] [--poll-ms 20] [--workers 2]

Environment: FARM_BUILD_ROOT (the build dir), FARM_SOURCE_ROOT.
"""
import argparse
import base64
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("FARM_SOURCE_ROOT", os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.environ["FARM_SOURCE_ROOT"], "tests", "lib"))
import farmtest  # noqa: E402

UID = 63000 + (os.getpid() % 250) * 8
SRC = 'print("hello")\n'
V1 = {"profile": "python3", "files": [{"name": "main.py", "content": SRC}]}
J0 = {"language_id": 71, "source_code": base64.b64encode(SRC.encode()).decode()}


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def v1_wait(farm, poll_s):
    s, b = farm.request("POST", "/v1/submissions?wait=true", V1)
    assert s == 200 and b["verdict"] == "accepted", (s, b)


def j0_wait(farm, poll_s):
    s, b = farm.request("POST", "/submissions?wait=true&base64_encoded=true", J0)
    assert s == 201 and b["status"]["id"] == 3, (s, b)


def v1_poll(farm, poll_s):
    s, b = farm.request("POST", "/v1/submissions", V1)
    assert s == 202, (s, b)
    while True:
        s, g = farm.request("GET", "/v1/submissions/" + b["id"])
        if g["state"] in ("finished", "compile_error", "deps_failed", "cancelled", "internal_error"):
            assert g["verdict"] == "accepted", g
            return
        time.sleep(poll_s)


def j0_poll(farm, poll_s):
    s, b = farm.request("POST", "/submissions?base64_encoded=true", J0)
    assert s == 201, (s, b)
    while True:
        s, g = farm.request("GET", "/submissions/%s?base64_encoded=true" % b["token"])
        if g["status"]["id"] > 2:
            assert g["status"]["id"] == 3, g
            return
        time.sleep(poll_s)


MODES = [("v1-wait", v1_wait), ("j0-wait", j0_wait), ("v1-poll", v1_poll), ("j0-poll", j0_poll)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--poll-ms", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    with farmtest.Farm(workers=a.workers, settings={"worker.first_uid": str(UID)}) as farm:
        for _, fn in MODES:  # warm: the set is built, the code paths are hot
            fn(farm, a.poll_ms / 1000.0)
        times = {name: [] for name, _ in MODES}
        for _ in range(a.n):
            for name, fn in MODES:
                t0 = time.perf_counter()
                fn(farm, a.poll_ms / 1000.0)
                times[name].append((time.perf_counter() - t0) * 1000.0)
    print("%-8s %8s %8s %8s" % ("mode", "p50 ms", "p90 ms", "mean ms"))
    for name, _ in MODES:
        t = times[name]
        print("%-8s %8.1f %8.1f %8.1f" % (name, pct(t, 50), pct(t, 90), statistics.mean(t)))
    for kind in ("wait", "poll"):
        v, j = times["v1-" + kind], times["j0-" + kind]
        print("ratio j0/v1 %s: p50 %.2f, mean %.2f" % (kind, pct(j, 50) / pct(v, 50),
                                                      statistics.mean(j) / statistics.mean(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
