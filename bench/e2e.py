#!/usr/bin/env python3
"""bench/e2e — hello-world submissions through farmd's HTTP API (wait=true) at
several concurrencies, beside the floor measured in the same run:

  fork+exec   the same program (same store binaries) run directly
  sandbox     the same program inside `farm-sandbox` alone (when built)

Prints throughput, p50/p99 submit->result latency, and the farm's overhead as
a ratio of its p50 to the floors' p50. For C the farm compiles every
submission, so the floor is compile + run by fork+exec.

  python3 bench/e2e.py [--n 200] [--conc 1,4,16] [--langs sh,python3,c] [--workers N]

Environment: FARM_BUILD_ROOT (the build dir), FARM_SOURCE_ROOT.
Goals on the 2-core VM (issue 5): shell hello p50 <= 15 ms, >= 100 submissions/s.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# Sandbox uids of this run, apart from other farms on the host (RLIMIT_NPROC
# counts per uid).
UID = 63000 + (os.getpid() % 250) * 8
HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("FARM_SOURCE_ROOT", os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.environ["FARM_SOURCE_ROOT"], "tests", "lib"))
import farmtest  # noqa: E402

C_SRC = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
LANGS = {
    "sh": {"sub": {"packages": ["busybox"], "run": "echo hello"},
           "floor": lambda b, d: [[os.path.join(b, "echo"), "hello"]]},
    "python3": {"sub": {"profile": "python3", "files": [{"name": "main.py", "content": 'print("hello")\n'}]},
                "floor": lambda b, d: [[os.path.join(b, "python3"), os.path.join(d, "main.py")]],
                "files": {"main.py": 'print("hello")\n'}},
    "c": {"sub": {"profile": "c", "files": [{"name": "main.c", "content": C_SRC}]},
          "floor": lambda b, d: [[os.path.join(b, "gcc"), "-std=gnu17", "-O2", "-pipe", "-o",
                                  os.path.join(d, "main"), os.path.join(d, "main.c"), "-lm"],
                                 [os.path.join(d, "main")]],
          "files": {"main.c": C_SRC}},
}


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def submit_once(farm, sub):
    t0 = time.perf_counter()
    status, body = farm.submit(sub, wait=True, timeout=300)
    dt = (time.perf_counter() - t0) * 1000.0
    ok = status == 200 and isinstance(body, dict) and body.get("verdict") == "accepted"
    return dt, ok, body


def run_farm(farm, sub, n, conc):
    lat, fails = [], []
    lock = threading.Lock()
    counter = [0]

    def loop():
        while True:
            with lock:
                if counter[0] >= n:
                    return
                counter[0] += 1
            dt, ok, body = submit_once(farm, sub)
            with lock:
                lat.append(dt)
                if not ok:
                    fails.append(body)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return lat, n / wall, fails


def run_floor(cmds, n, cwd):
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        for c in cmds:
            subprocess.run(c, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        lat.append((time.perf_counter() - t0) * 1000.0)
    return lat


def sandbox_cmd(build_root, closure, box, bin_dir, argv):
    """farm-sandbox with the worker's isolation: the set's closure read-only,
    the box writable at /box, PATH on the set. None when not built."""
    exe = os.path.join(build_root, "sandbox", "farm-sandbox")
    if not os.access(exe, os.X_OK):
        return None
    cmd = [exe, "--box", box, "--uid", str(UID), "--env", "PATH=" + bin_dir]
    for p in closure:
        cmd += ["--store", p]
    return cmd + ["--"] + argv


def run_sandbox_floor(build_root, closure, box, bin_dir, cmds, n):
    full = []
    for c in cmds:
        inner = [a.replace(box, "/box") for a in c]
        sc = sandbox_cmd(build_root, closure, box, bin_dir, inner)
        if sc is None:
            return None
        full.append(sc)
    try:
        return run_floor(full, n, box)
    except subprocess.CalledProcessError as e:
        print("# farm-sandbox floor failed: %s" % e, file=sys.stderr)
        return None


def set_paths(farm, body):
    key = (body.get("depset") or {}).get("key")
    status, d = farm.request("GET", "/v1/depsets/" + key)
    if status != 200:
        raise RuntimeError("GET depset %s: %s %r" % (key, status, d))
    bin_dir = d.get("env_path") or os.path.join(d["out_paths"][0], "bin")
    return bin_dir, d.get("closure") or d["out_paths"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200, help="submissions per language and concurrency")
    ap.add_argument("--conc", default="1,4,16")
    ap.add_argument("--langs", default="sh,python3,c")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    conc = [int(x) for x in args.conc.split(",")]
    langs = args.langs.split(",")
    build_root = farmtest.BUILD_ROOT

    print("bench/e2e: %d submissions per point, workers=%d, cores=%d" % (args.n, args.workers, os.cpu_count()))
    print("%-8s %5s %9s %9s %9s | %9s %9s | %7s %7s" % (
        "lang", "conc", "subs/s", "p50 ms", "p99 ms", "fork ms", "sbox ms", "x fork", "x sbox"))
    with farmtest.Farm(workers=args.workers, builders=1, settings={"log.level": "warning", "worker.first_uid": str(UID + 1)}) as farm:
        for lang in langs:
            spec = LANGS[lang]
            n = args.n if lang != "c" else max(10, args.n // 10)
            dt, ok, body = submit_once(farm, spec["sub"])  # warm: builds the set
            if not ok:
                print("%-8s warm-up failed: %r" % (lang, body))
                continue
            bin_dir, closure = set_paths(farm, body)
            work = tempfile.mkdtemp(prefix="bench-e2e-")
            try:
                for name, content in spec.get("files", {}).items():
                    with open(os.path.join(work, name), "w") as f:
                        f.write(content)
                cmds = spec["floor"](bin_dir, work)
                floor = statistics.median(run_floor(cmds, min(n, 100), work))
                sb = run_sandbox_floor(build_root, closure, work, bin_dir, cmds, min(n, 100))
                sbm = statistics.median(sb) if sb else None
            finally:
                shutil.rmtree(work, ignore_errors=True)
            for c in conc:
                lat, tput, fails = run_farm(farm, spec["sub"], n, c)
                for f in fails[:3]:
                    print("# failed: %s" % (repr(f)[:600],))
                p50 = pct(lat, 50)
                print("%-8s %5d %9.1f %9.2f %9.2f | %9.2f %9s | %7.1f %7s%s" % (
                    lang, c, tput, p50, pct(lat, 99), floor,
                    "%.2f" % sbm if sbm else "n/a", p50 / floor,
                    "%.1f" % (p50 / sbm) if sbm else "n/a",
                    "  (%d failed)" % len(fails) if fails else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
