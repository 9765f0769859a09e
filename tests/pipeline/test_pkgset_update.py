#!/usr/bin/env python3
"""A Debian update under a running farm (real farmd, real Nix, real HTTP).

The farm's package set is generated from this machine's dpkg data. Here the
test plays unattended-upgrades on files it controls: farmd runs in a private
mount namespace in which /usr/bin/jq and /usr/bin/bc are bind-mounted copies
of the real programs with a salt appended (an ELF runs the same with bytes
after its end), and dpkg's status file is a copy (nix.dpkg_status). So the
test can change an imported host file, with or without telling "dpkg", and
nothing of the machine changes.

  1. a jq set builds and runs: the package-set id A is in /v1/health
  2. bc's file changes and dpkg is not told: the first bc build meets Nix's
     hash mismatch; the farm regenerates the set and retries; the submission
     is accepted; the id is now B, farm_pkgset_changes_total 1, logged
  3. jq's file changes and dpkg's status changes: the next use regenerates
     before building (id C, 2 changes); a new set with jq builds from the new
     file; the ready set of step 1 is still ready and serves
  4. apt is half-way: libc6 is "install ok unpacked" in the status copy (and
     jq's file changed): the farm keeps generation C (no change in /v1/health
     or /metrics, pkgset-regen-deferred logged), a submission is accepted;
     nix/regen itself refuses that state (exit 3, nothing written)
  5. the status is final again but the test holds dpkg's lock-frontend (in
     the copy's directory): still C; the lock released: the farm regenerates
     and switches (id D, 3 changes) and a jq set builds from the new file
No submission ends deps_failed. The state, the generated sets and the copies
live in a temporary directory removed at the end; the mount namespace ends
with farmd.
"""
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import pipelib  # noqa: E402
from pipelib import expect, farmtest, submit_wait  # noqa: E402

TMP = None
FARM = None
SEEN = {}


def append(path, text):
    with open(path, "ab") as f:
        f.write(text.encode())


def health_pkgset():
    status, body = FARM.request("GET", "/v1/health")
    expect(status == 200, "health %s %r" % (status, body))
    return body["pkgset"]


def metric(name):
    status, text = FARM.request("GET", "/metrics")
    expect(status == 200, "metrics %s" % status)
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return line
    raise AssertionError("no %s in /metrics:\n%s" % (name, text))


def run_ok(packages, cmd, want):
    body = submit_wait(FARM, {"packages": packages, "run": cmd})
    expect(body.get("state") == "finished" and body.get("verdict") == "accepted",
           "%s: %s" % (packages, json.dumps(body)[:3000] + "\n" + FARM.logs()[-6000:]))
    out = body["tests"][0]["stdout"]
    expect(out == want, "%s: stdout %r, want %r" % (packages, out, want))
    return body


def depsets():
    status, body = FARM.request("GET", "/v1/depsets")
    expect(status == 200, "depsets %s" % status)
    return body["depsets"]


def case_first_set():
    run_ok(["jq"], "jq -n '1+1'", "2\n")
    p = health_pkgset()
    expect(len(p["id"]) == 64 and p["changes"] == 0, "health pkgset %r" % p)
    expect(metric("farm_pkgset_changes_total").endswith(" 0"), metric("farm_pkgset_changes_total"))
    expect(p["id"] in metric("farm_pkgset_info"), metric("farm_pkgset_info"))
    SEEN["a"] = p["id"]
    SEEN["jq_sets"] = [d["key"] for d in depsets() if d["spec"].get("packages") == ["bash", "jq"]
                       or d["spec"].get("packages") == ["jq"]]
    expect(SEEN["jq_sets"], "no jq set in %r" % depsets())


def case_changed_file_dpkg_not_told():
    append(os.path.join(TMP, "bc"), "\nchanged behind dpkg's back\n")
    run_ok(["bc"], "echo '6*7' | bc", "42\n")
    p = health_pkgset()
    expect(p["id"] != SEEN["a"] and p["changes"] == 1, "health pkgset %r (was %s)" % (p, SEEN["a"]))
    expect(metric("farm_pkgset_changes_total").endswith(" 1"), metric("farm_pkgset_changes_total"))
    logs = FARM.logs()
    expect("pkgset-changed" in logs and "hash mismatch" in logs, logs[-6000:])
    SEEN["b"] = p["id"]


def case_dpkg_update():
    append(os.path.join(TMP, "jq"), "\nnew jq from an update\n")
    append(os.path.join(TMP, "status"), "\n")
    run_ok(["jq", "coreutils"], "jq -n '2+3' && echo ok | tr a-z A-Z", "5\nOK\n")
    p = health_pkgset()
    expect(p["id"] not in (SEEN["a"], SEEN["b"]) and p["changes"] == 2, "health pkgset %r" % p)
    expect("dpkg state changed" in FARM.logs(), FARM.logs()[-4000:])
    # The set of step 1 is still ready (rooted in the store) and serves.
    states = {d["key"]: d["state"] for d in depsets()}
    for k in SEEN["jq_sets"]:
        expect(states.get(k) == "ready", "first jq set %s is %s" % (k, states.get(k)))
    run_ok(["jq"], "jq -n '1+1'", "2\n")


def write_status(libc6_state):
    """The status copy with libc6's state set (the other packages as copied)."""
    with open(os.path.join(TMP, "status.orig")) as f:
        paras = f.read().split("\n\n")
    out, seen = [], False
    for p in paras:
        if p.startswith("Package: libc6\n") and "\nArchitecture: amd64" in p:
            lines = ["Status: install ok %s" % libc6_state if l.startswith("Status: ") else l
                     for l in p.split("\n")]
            p, seen = "\n".join(lines), True
        out.append(p)
    expect(seen, "no libc6 in dpkg's status")
    # A distinct file each time (the farm compares the stat and the hash).
    SEEN["status_n"] = SEEN.get("status_n", 0) + 1
    with open(os.path.join(TMP, "status.new"), "w") as f:
        f.write("\n\n".join(out) + "\n" * SEEN["status_n"])
    os.rename(os.path.join(TMP, "status.new"), os.path.join(TMP, "status"))


def wait_for(what, pred, timeout=120):
    """Polls /v1/health (each call is a use of the package set) until pred();
    the timeout only bounds a failing run."""
    end = time.monotonic() + timeout
    while True:
        p = health_pkgset()
        if pred(p):
            return p
        expect(time.monotonic() < end, "waited for %s; pkgset %r\n%s" % (what, p, FARM.logs()[-4000:]))
        time.sleep(0.2)


def unchanged(p):
    expect(p["id"] == SEEN["c"] and p["changes"] == 2, "pkgset changed while dpkg was busy: %r" % p)
    expect(metric("farm_pkgset_changes_total").endswith(" 2"), metric("farm_pkgset_changes_total"))
    expect(SEEN["c"] in metric("farm_pkgset_info"), metric("farm_pkgset_info"))


def case_apt_half_way():
    SEEN["c"] = health_pkgset()["id"]
    append(os.path.join(TMP, "jq"), "\njq being upgraded\n")
    write_status("unpacked")
    run_ok(["jq"], "jq -n '1+1'", "2\n")
    unchanged(health_pkgset())
    logs = FARM.logs()
    expect("pkgset-regen-deferred" in logs and "reason=dpkg-transient" in logs and
           "libc6 is install ok unpacked" in logs, logs[-4000:])
    expect("pkgset-suspicious" not in logs, logs[-4000:])
    # regen on its own refuses the state: exit 3, nothing written.
    out = os.path.join(TMP, "regen-out")
    p = subprocess.run([os.path.join(os.environ["FARM_SOURCE_ROOT"], "nix", "regen"), "--out", out,
                        "--dpkg-status", os.path.join(TMP, "status")], capture_output=True, text=True)
    expect(p.returncode == 3 and "libc6 is unpacked" in p.stderr, "regen: %d %s" % (p.returncode, p.stderr))
    expect(not os.path.exists(os.path.join(out, "packages.json")), "regen wrote a set")
    unchanged(health_pkgset())


def case_dpkg_locked_then_done():
    lock = os.open(os.path.join(TMP, "lock-frontend"), os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        write_status("installed")
        wait_for("the deferral by the lock", lambda p: "reason=dpkg-locked" in FARM.logs())
        unchanged(health_pkgset())
        run_ok(["jq"], "jq -n '1+1'", "2\n")
        unchanged(health_pkgset())
    finally:
        os.close(lock)  # releases the lock, as apt does at its end
    p = wait_for("the regeneration after apt", lambda p: p["id"] != SEEN["c"])
    expect(p["changes"] == 3 and p["id"] not in (SEEN["a"], SEEN["b"]), "pkgset %r" % p)
    expect(metric("farm_pkgset_changes_total").endswith(" 3"), metric("farm_pkgset_changes_total"))
    run_ok(["jq", "bc"], "jq -n '4+4' && echo '2^10' | bc", "8\n1024\n")
    with open(os.path.join(TMP, "pkgset", "changes")) as f:
        expect(len(f.read().splitlines()) == 4, "changes file")


def case_nothing_failed():
    status, body = FARM.request("GET", "/v1/health")
    q = body["queues"]["submissions"]
    expect(q.get("deps_failed", 0) == 0 and q.get("internal_error", 0) == 0, "queues %r" % q)


def main():
    global TMP, FARM
    TMP = tempfile.mkdtemp(prefix="farm-pkgset-update-")
    try:
        salt = os.urandom(8).hex()
        for prog in ("jq", "bc"):
            shutil.copy("/usr/bin/" + prog, os.path.join(TMP, prog))
            append(os.path.join(TMP, prog), "\nnixfarm test %s\n" % salt)
        # The copy starts from a final state: apt may be running on this
        # machine, and a package it is half-way through is left out.
        with open("/var/lib/dpkg/status") as f:
            paras = [p for p in f.read().split("\n\n") if not any(
                l.startswith("Status: ") and l.split()[-1] != "installed" and
                l.split()[-1] not in ("not-installed", "config-files") for l in p.split("\n"))]
        with open(os.path.join(TMP, "status.orig"), "w") as f:
            f.write("\n\n".join(paras))
        shutil.copy(os.path.join(TMP, "status.orig"), os.path.join(TMP, "status"))
        wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount --bind "%s/jq" /usr/bin/jq && mount --bind "%s/bc" /usr/bin/bc && '
                   'exec "$0" "$@"' % (TMP, TMP)]
        FARM = farmtest.Farm(workers=1, builders=1, wrapper=wrapper, settings=pipelib.settings({
            "nix.pkgset_dir": os.path.join(TMP, "pkgset"),
            "nix.dpkg_status": os.path.join(TMP, "status"),
        }))
        with FARM:
            return farmtest.run_cases([
                ("a set builds from the generated package set; its id is in /v1/health",
                 case_first_set),
                ("a host file changed behind dpkg: hash mismatch, regenerate, retry, accepted",
                 case_changed_file_dpkg_not_told),
                ("dpkg's state changed: a new id before the next build; the ready set serves",
                 case_dpkg_update),
                ("apt half-way (libc6 unpacked): the generation stays, submissions succeed",
                 case_apt_half_way),
                ("dpkg's lock held: the generation stays; released: regenerated and switched",
                 case_dpkg_locked_then_done),
                ("no submission failed", case_nothing_failed),
            ])
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
