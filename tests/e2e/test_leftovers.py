#!/usr/bin/env python3
"""Nothing of a run outlives it (issue 20), end to end: tests/sandbox/leftovers.c
submitted with profile "c" to a real farmd with one worker, so that every run
lands in the slot the attack used.

- hidden stdout/stderr (in flight over a unix socket, in a cycle): the test ends
  accepted with its output and the program's wall time, not a wall limit, and
  the next submission on the worker runs;
- 48 MiB of memfd pinned in flight: the next test of the slot still gets its full
  128 MiB (100 MiB fit);
- a TCP listener and an abstract unix socket kept in flight: the next test sees
  neither the port nor the name;
- inotify on stdin and /dev/null while this test hammers the host's /dev/null:
  no event reaches the run, and futimens changes nothing of the host's;
- a uevent listener while this test makes the host emit uevents: none arrives.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402,F401  (puts tests/lib on the path)
from apitest import farmtest  # noqa: E402

SRC = open(os.path.join(os.environ.get("FARM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..")),
                        "tests", "sandbox", "leftovers.c")).read()
LIMITS = {"run": {"wall_ms": 5000, "cpu_ms": 3000, "memory_kib": 131072, "file_bytes": 67108864}}


def sub(profile, tests):
    return {"profile": profile["name"], "files": [{"name": profile["file"], "content": SRC}],
            "tests": tests, "limits": LIMITS}


def short(b):
    return {"state": b.get("state"), "verdict": b.get("verdict"),
            "compile": (b.get("compile") or {}).get("stderr", "")[:400],
            "tests": [(t.get("name"), t.get("verdict"), t.get("wall_ms"), t.get("stdout"), t.get("stderr", "")[:200])
                      for t in b.get("tests", [])]}


def submit_while(farm, body, act):
    """farm.submit(body) with wait, while act(stop) works on the host from a
    thread of its own; stop (a threading.Event) is set once the run is over."""
    stop = threading.Event()
    th = threading.Thread(target=act, args=(stop,))
    th.start()
    try:
        return farm.submit(body, wait=True, timeout=600)
    finally:
        stop.set()
        th.join()


def main():
    cases = []
    with farmtest.Farm(workers=1, builders=1) as farm:
        st, body = farm.request("GET", "/v1/profiles")
        assert st == 200, (st, body)
        c = [p for p in body["profiles"] if p["name"] == "c"][0]

        def hang():
            st, b = farm.submit(sub(c, [{"name": "hide", "args": ["hide-stdio"]}]), wait=True, timeout=600)
            assert st == 200 and b["state"] == "finished", short(b)
            t = b["tests"][0]
            assert t["verdict"] == "accepted" and t["stdout"] == "hidden\n", short(b)
            assert t["wall_ms"] < LIMITS["run"]["wall_ms"], short(b)
            st, b = farm.submit(sub(c, [{"name": "next", "args": ["alloc", "1"]}]), wait=True, timeout=600)
            assert st == 200 and b["verdict"] == "accepted", short(b)
        cases.append(("hidden stdout/stderr: accepted with the program's wall time; the worker runs the next", hang))

        def pinned():
            st, b = farm.submit(sub(c, [{"name": "pin", "args": ["pin-mem", "48"]},
                                        {"name": "use", "args": ["alloc", "100"]}]), wait=True, timeout=600)
            assert st == 200 and b["state"] == "finished", short(b)
            assert [t["verdict"] for t in b["tests"]] == ["accepted", "accepted"], short(b)
            # its peak is its own 100 MiB: nothing charged before it is subtracted
            assert b["tests"][1]["memory_kib"] >= 100 * 1024, b["tests"][1]["memory_kib"]
        cases.append(("pinned memory: the next run gets its full limit", pinned))

        def sockets():
            st, b = farm.submit(sub(c, [{"name": "leave", "args": ["sock-leave", "4242", "nixfarm-e2e"]},
                                        {"name": "probe", "args": ["sock-probe", "4242", "nixfarm-e2e"]}]),
                                wait=True, timeout=600)
            assert st == 200 and b["state"] == "finished", short(b)
            out = b["tests"][1]["stdout"]
            assert "name-free" in out and "port-free" in out, short(b)
        cases.append(("sockets: the next run sees neither the name nor the port", sockets))

        def null_watch():
            before = os.stat("/dev/null")

            def hammer(stop):
                while not stop.is_set():
                    with open("/dev/null", "w") as f:
                        f.write("x")
            st, b = submit_while(farm, sub(c, [{"name": "watch", "args": ["null-watch", "500"]}]), hammer)
            after = os.stat("/dev/null")
            assert st == 200 and b["state"] == "finished", short(b)
            assert "events 0\n" in b["tests"][0]["stdout"], short(b)
            assert (before.st_mtime_ns, before.st_ino) == (after.st_mtime_ns, after.st_ino), "host /dev/null changed"
        cases.append(("/dev/null watch: no host event reaches the run; the host's timestamps stay", null_watch))
        def uevents():
            def trigger(stop):
                while not stop.is_set():
                    with open("/sys/devices/virtual/mem/full/uevent", "w") as f:
                        f.write("change")
                    stop.wait(0.01)
            st, b = submit_while(farm, sub(c, [{"name": "uevent", "args": ["uevent", "500"]}]), trigger)
            assert st == 200 and b["state"] == "finished", short(b)
            assert "uevents 0\n" in b["tests"][0]["stdout"], short(b)
        cases.append(("uevents: the host's device events do not reach the run", uevents))
        rc = farmtest.run_cases(cases)
    sys.exit(rc)


if __name__ == "__main__":
    main()
