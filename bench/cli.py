#!/usr/bin/env python3
"""bench/cli.py — `farm run` against its floor and a peer, in the same run.

Runs `python3 -c pass` N times each way and prints the mean wall time per run
and the ratios:
  floor: the set's python3 exec'd directly (no isolation at all)
  peer:  bubblewrap with --unshare-all (namespaces, no cgroups, no limits)
  farm:  `farm run -P python3 -- python3 -c pass` (realise lookup, sandbox
         pool set-up, box tmpfs with a copy of the cwd, limits, teardown)
No daemon is started. Numbers are printed, nothing is asserted."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("FARM_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "..", "build"))
FARM = os.path.join(BUILD, "cli", "farm")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 30


def mean_ms(cmd, env=None, cwd=None):
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    t0 = time.perf_counter()
    for _ in range(N):
        subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t0) / N * 1000


def main():
    state = tempfile.mkdtemp(prefix="bench-cli-state-")
    work = tempfile.mkdtemp(prefix="bench-cli-cwd-")
    os.chmod(work, 0o755)
    with open(os.path.join(work, "main.py"), "w") as f:
        f.write("print('hi')\n")
    env = dict(os.environ, FARM_STATE_DIR=state)
    try:
        out = subprocess.run([FARM, "run", "--json", "-P", "python3", "--", "python3", "-c",
                              "import sys; print(sys.executable)"], env=env, cwd=work,
                             capture_output=True, text=True, check=True).stdout
        py = json.loads(out)["stdout"].strip()
        farm = mean_ms([FARM, "run", "-q", "-P", "python3", "--", "python3", "-c", "pass"], env=env, cwd=work)
        farm_ro = mean_ms([FARM, "run", "-q", "--ro", "-P", "python3", "--", "python3", "-c", "pass"],
                          env=env, cwd=work)
        floor = mean_ms([py, "-c", "pass"])
        rows = [("floor (direct exec)", floor), ("farm run", farm), ("farm run --ro", farm_ro)]
        if shutil.which("bwrap"):
            peer = mean_ms(["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                            "--unshare-all", "--die-with-parent", py, "-c", "pass"])
            rows.insert(1, ("peer (bwrap --unshare-all)", peer))
        print("farm run, python3 -c pass, mean of %d runs" % N)
        for name, ms in rows:
            print("  %-28s %8.1f ms  x%.2f of floor" % (name, ms, ms / floor))
        if shutil.which("bwrap"):
            print("  farm run / bwrap: x%.2f" % (farm / peer))
    finally:
        subprocess.run(["sh", "-c", "grep -o ' %s[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l" % state],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
