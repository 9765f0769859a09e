#!/usr/bin/env python3
"""bench/languages — a hello world in every available language profile:
p50 of submit->result through farmd's /v1 (wait=true, warm set: the first
submission, which builds the set, is not counted), beside the floor measured
in the same run: the profile's compile and run commands executed directly
(bash -c, PATH=<the same set>/bin, a fresh temporary directory each time,
/nix/store read-only in a mount namespace of its own: unshare and two mounts
are in the floor).

  python3 bench/languages.py [--n 5] [--langs ruby,go,...]

Prints one Markdown row per profile: name, version, /v1 p50, direct p50,
ratio. Environment: FARM_BUILD_ROOT (the build dir), FARM_SOURCE_ROOT.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

UID = 63000 + (os.getpid() % 250) * 8
HERE = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("FARM_SOURCE_ROOT", os.path.dirname(HERE))
TOP = os.environ["FARM_SOURCE_ROOT"]
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import farmtest  # noqa: E402
from langprograms import PROGRAMS  # noqa: E402


def set_bin(gen, packages):
    env = dict(os.environ, NIX_CONF_DIR=os.path.join(TOP, "nix"))
    out = subprocess.run(["nix-build", os.path.join(TOP, "nix", "depset.nix"), "--argstr", "names",
                          " ".join(packages + ["bash"]), "--argstr", "gen", gen, "--no-out-link"],
                         env=env, check=True, capture_output=True, text=True).stdout.strip()
    return os.path.join(out, "bin")


def direct(binp, prof, src):
    d = tempfile.mkdtemp(prefix="bench-lang-")
    try:
        with open(os.path.join(d, prof["file"]), "w") as f:
            f.write(src)
        env = {"PATH": binp, "HOME": d, "TMPDIR": d, "LANG": "C.UTF-8"}
        t0 = time.perf_counter()
        # a compiler's chatter on stdout (ghc's "Linking main ...") is not the program's
        cmd = ("{ %s; } >&2 && " % prof["compile"] if prof["compile"] else "") + prof["run"]
        # as root the store is writable: a toolchain run straight from it would
        # leave caches there (python's __pycache__) and break the paths' hashes,
        # so the direct run sees it read-only, in a mount namespace of its own
        ro = "/bin/mount --bind /nix/store /nix/store && /bin/mount -o remount,bind,ro /nix/store && exec \"$0\" -c \"$1\""
        r = subprocess.run(["/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", ro,
                            os.path.join(binp, "bash"), cmd], cwd=d, env=env,
                           capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if r.stdout != "hello\n":
            raise RuntimeError("%s direct: %r %r" % (prof["name"], r.stdout, r.stderr[-300:]))
        return dt
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--langs", default="")
    a = ap.parse_args()
    with farmtest.Farm(workers=2, builders=1, settings={"worker.first_uid": str(UID)}) as farm:
        st, body = farm.request("GET", "/v1/profiles")
        profiles = {p["name"]: p for p in body["profiles"] if p.get("available", True)}
        # farmd's generation: FARM_NIX_PKGSET_DIR when the test setup shares one
        pkgset = os.environ.get("FARM_NIX_PKGSET_DIR") or os.path.join(farm.state_dir, "pkgset")
        gen = os.path.realpath(os.path.join(pkgset, "current"))
        want = [x for x in a.langs.split(",") if x] or sorted(profiles)
        print("| profile | version | /v1 hello p50 | direct p50 | ratio |")
        print("|---|---|---|---|---|")
        for name in want:
            if name not in profiles or name not in PROGRAMS:
                continue
            prof = profiles[name]
            src = PROGRAMS[name][0]
            sub = {"profile": name, "files": [{"name": prof["file"], "content": src}],
                   "tests": [{"expected_output": "hello\n"}]}
            st, b = farm.submit(sub, wait=True, timeout=900)  # builds the set
            if st != 200 or b.get("verdict") != "accepted":
                print("| %s | %s | failed: %s |  |  |" % (name, prof.get("version"), str(b)[:200]), flush=True)
                continue
            v1 = []
            for _ in range(a.n):
                t0 = time.perf_counter()
                st, b = farm.submit(sub, wait=True, timeout=900)
                v1.append(time.perf_counter() - t0)
                assert st == 200 and b.get("verdict") == "accepted", b
            binp = set_bin(gen, prof["packages"])
            dr = [direct(binp, prof, src) for _ in range(a.n)]
            m1, m2 = statistics.median(v1) * 1000, statistics.median(dr) * 1000
            print("| %s | %s | %.0f ms | %.0f ms | %.2f |" % (name, prof.get("version"), m1, m2, m1 / m2),
                  flush=True)


if __name__ == "__main__":
    main()
