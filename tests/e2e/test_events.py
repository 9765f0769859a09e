#!/usr/bin/env python3
"""With real workers: ?wait=true answers the finished result; the SSE stream
gives every event in order (live and replayed alike) and closes at the
terminal state; cache=true reuses an identical finished result."""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402
from apitest import farmtest  # noqa: E402

SLOW = {"profile": "bash", "packages": ["coreutils"], "files": [{"name": "main.sh", "content": "sleep 0.2; read x; echo $((x*2))\n"}],
        "tests": [{"name": "a", "stdin": "1\n", "expected_output": "2\n"},
                  {"name": "b", "stdin": "2\n", "expected_output": "5\n"},
                  {"name": "c", "stdin": "3\n", "expected_output": "6\n"}]}


def read_sse(port, sid, headers=None, timeout=120):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", "/v1/submissions/%s/events" % sid, headers=headers or {})
    r = conn.getresponse()
    assert r.status == 200, r.status
    body = r.read().decode()  # returns once the server closes the stream
    conn.close()
    events = []
    for block in body.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line.startswith(":"):
                continue
            k, _, v = line.partition(": ")
            fields[k] = v
        if "data" in fields:
            ev = json.loads(fields["data"])
            assert int(fields["id"]) == ev["seq"] and fields["event"] == ev["type"], fields
            events.append(ev)
    return events


def check_order(events):
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    assert events[0]["type"] == "state" and events[0]["data"]["state"] == "queued", events[0]
    last = events[-1]
    assert last["type"] == "state" and last["data"]["state"] == "finished", last
    states = [e["data"]["state"] for e in events if e["type"] == "state"]
    assert "running" in states, states
    run_at = next(i for i, e in enumerate(events) if e["type"] == "state" and e["data"]["state"] == "running")
    tests = [e for e in events if e["type"] == "test"]
    assert len(tests) == 3, [e["type"] for e in events]
    assert all(events.index(t) > run_at for t in tests)
    idx = [t["data"].get("index", t["data"].get("idx")) for t in tests]
    assert idx == sorted(idx), idx


def main():
    cases = []
    with farmtest.Farm(workers=2, builders=1, settings={"lease.renew_ms": "300"}) as farm:
        def wait_result():
            st, b = farm.submit(SLOW, wait=True)
            assert st == 200 and b["state"] == "finished", (st, b)
            assert b["verdict"] == "wrong_answer", b
            assert [t["verdict"] for t in b["tests"]] == ["accepted", "wrong_answer", "accepted"], b["tests"]
            assert b["depset"]["state"] == "ready" and b["attempts"] == 1
            for k in ("created_at", "queued_at", "started_at", "finished_at"):
                assert isinstance(b[k], int), k
        cases.append(("?wait=true answers 200 with the finished result", wait_result))

        def sse_live_and_replay():
            st, b = farm.submit(SLOW, wait=False)
            assert st == 202
            live = {}
            th = threading.Thread(target=lambda: live.setdefault("ev", read_sse(farm.port, b["id"])))
            th.start()
            th.join(120)
            assert not th.is_alive(), "stream did not close at the terminal state"
            check_order(live["ev"])
            replay = read_sse(farm.port, b["id"])
            assert [(e["seq"], e["type"]) for e in replay] == [(e["seq"], e["type"]) for e in live["ev"]]
            # resume after an event id
            tail = read_sse(farm.port, b["id"], headers={"Last-Event-ID": str(replay[1]["seq"])})
            assert [e["seq"] for e in tail] == [e["seq"] for e in replay[2:]], tail
        cases.append(("SSE: live stream in order, closes at the end; replay equal; resume", sse_live_and_replay))

        def result_cache():
            sub = {"profile": "bash", "files": [{"name": "main.sh", "content": "echo cached-%f\n" % time.time()}],
                   "cache": True}
            st, first = farm.submit(sub, wait=True)
            assert st == 200 and first["state"] == "finished" and "cached" not in first, first
            st, second = farm.submit(sub, wait=True)
            assert st == 200 and second.get("cached") is True and second["id"] == first["id"], second
            st, third = farm.submit(dict(sub, cache=False), wait=True)
            assert st == 200 and third["id"] != first["id"]
            changed = dict(sub, limits={"run": {"cpu_ms": 1234}})
            st, fourth = farm.submit(changed, wait=True)
            assert st == 200 and fourth["id"] != first["id"] and "cached" not in fourth
            st, text = farm.request("GET", "/metrics")
            assert 'farm_result_cache_total{result="hit"} 1' in text, text
        cases.append(("cache=true returns an identical earlier result", result_cache))

        def many_waiters():
            results = {}

            def one(i):
                s = {"profile": "bash", "files": [{"name": "main.sh", "content": "echo %d\n" % i}],
                     "tests": [{"expected_output": "%d\n" % i}]}
                results[i] = farm.submit(s, wait=True)
            ths = [threading.Thread(target=one, args=(i,)) for i in range(40)]
            for t in ths:
                t.start()
            for t in ths:
                t.join(300)
            assert len(results) == 40
            for i, (st, b) in results.items():
                assert st == 200 and b["verdict"] == "accepted", (i, st, b)
        cases.append(("40 concurrent ?wait=true calls all get their own result", many_waiters))

        def cancel_running():
            s = {"profile": "bash", "packages": ["coreutils"], "files": [{"name": "main.sh", "content": "sleep 60\n"}],
                 "limits": {"run": {"wall_ms": 90000}}}
            st, b = farm.submit(s, wait=False)
            assert st == 202
            deadline = time.time() + 60
            while time.time() < deadline:
                st, v = farm.request("GET", "/v1/submissions/" + b["id"])
                if v["state"] == "running":
                    break
                time.sleep(0.05)
            assert v["state"] == "running", v
            st, v = farm.request("DELETE", "/v1/submissions/" + b["id"])
            assert st == 202 and v["cancel_requested"] is True, (st, v)
            final = farm.wait_finished(b["id"], timeout=60)
            assert final["state"] == "cancelled", final
            events = read_sse(farm.port, b["id"])
            assert events[-1]["data"]["state"] == "cancelled", events[-1]
            st, v = farm.request("DELETE", "/v1/submissions/" + b["id"])
            assert st == 409, (st, v)
        cases.append(("DELETE of a running submission: 202, then it ends cancelled", cancel_running))

        def metrics_after_runs():
            st, text = farm.request("GET", "/metrics")
            assert 'farm_submissions_total{state="finished",verdict="accepted"}' in text, text
            assert 'farm_test_verdicts_total{verdict="wrong_answer"}' in text
            assert 'farm_live_processes{role="worker"} 2' in text, text
            assert 'farm_depset_cache_total{result="hit"}' in text
            st, h = farm.request("GET", "/v1/health")
            assert h["live"]["workers"] == 2 and h["live"]["builders"] == 1, h
        cases.append(("metrics and health see workers, verdicts, cache", metrics_after_runs))
        rc = farmtest.run_cases(cases)
    sys.exit(rc)


if __name__ == "__main__":
    main()
