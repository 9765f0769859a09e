"""The builder role inside a real farmd, through HTTP (suite builder).

Each case starts its own farmd (tests/lib/farmtest.py) whose package set is a
salted copy of tests/builder/fixture (so its builds are cold) and whose Nix
commands go through counting wrappers, then checks what a client sees:
twenty concurrent submissions of one set build it once; a failing set ends
its submissions deps_failed with the log; a set can be listed and evicted;
a builder killed with SIGKILL mid-build is restarted and the set still gets
built. Everything (state dir, GC roots, wrappers) is removed at the end.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.environ["FARM_SOURCE_ROOT"], "tests", "lib"))
import farmtest  # noqa: E402

FIXTURE = os.path.join(os.environ["FARM_SOURCE_ROOT"], "tests", "builder", "fixture")
NAMES = ["bash", "big", "busybox", "fail", "hello", "noisy", "slow"]


class Fixture:
    """A salted package set and counting nix wrappers in a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="farm-builder-e2e-")
        self.nix = os.path.join(self.dir, "nix")
        self.bin = os.path.join(self.dir, "bin")
        os.makedirs(self.nix)
        os.makedirs(self.bin)
        for f in ("packages.nix", "depset.nix", "nix.conf"):
            shutil.copy(os.path.join(FIXTURE, f), self.nix)
        salt = uuid.uuid4().hex
        with open(os.path.join(self.nix, "salt"), "w") as f:
            f.write(salt)
        with open(os.path.join(self.nix, "packages.json"), "w") as f:
            json.dump({n: ({"salt": salt} if n == "hello" else {}) for n in NAMES}, f)
        for tool in ("nix-build", "nix-store", "nix"):
            path = os.path.join(self.bin, tool)
            with open(path, "w") as f:
                f.write('#!/bin/sh\necho $$ >> %s/%s.count\nexec /usr/bin/%s "$@"\n'
                        % (self.bin, tool, tool))
            os.chmod(path, 0o755)

    def calls(self, tool):
        try:
            with open(os.path.join(self.bin, tool + ".count")) as f:
                return len(f.read().splitlines())
        except FileNotFoundError:
            return 0

    def settings(self):
        return {"nix.dir": self.nix, "nix.bin_dir": self.bin, "lease.ms": "3000",
                "lease.renew_ms": "500", "health.interval_ms": "300"}

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def farm_with(fx, builders=2):
    return farmtest.Farm(workers=1, builders=builders, settings=fx.settings())


def case_twenty_concurrent_submissions_one_build():
    fx = Fixture()
    try:
        with farm_with(fx) as farm:
            results = [None] * 20

            def one(i):
                results[i] = farm.submit({"packages": ["hello"], "run": "hello"}, timeout=240)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for status, body in results:
                assert status == 200, (status, body)
                assert body["state"] == "finished" and body["verdict"] == "accepted", body
                assert body["tests"][0]["stdout"] == "hello from the fixture\n", body
            assert fx.calls("nix-build") == 1, fx.calls("nix-build")
            keys = {body["depset"]["key"] for _, body in results}
            assert len(keys) == 1, keys
    finally:
        fx.cleanup()


def case_failing_set_ends_deps_failed_with_log_then_evict():
    fx = Fixture()
    try:
        with farm_with(fx) as farm:
            status, body = farm.submit({"packages": ["fail"], "run": "true"}, timeout=240)
            sid = body.get("id")
            if body.get("state") not in ("deps_failed",):
                body = farm.wait_finished(sid, timeout=120)
            assert body["state"] == "deps_failed", body
            assert "this package always fails" in json.dumps(body), body

            status, body = farm.submit({"packages": ["busybox"], "run": "echo ok"}, timeout=240)
            assert status == 200 and body["verdict"] == "accepted", body
            key = body["depset"]["key"]
            status, listing = farm.request("GET", "/v1/depsets")
            assert status == 200, listing
            root = os.path.join(farm.state_dir, "gcroots", key)
            assert os.path.islink(root), root
            # Held: a submission of the set is running -> 409, nothing removed.
            status, body = farm.submit({"packages": ["busybox"], "run": "busybox sleep 120",
                                        "limits": {"run": {"wall_ms": 60000}}}, wait=False)
            assert status == 202, (status, body)
            held = body["id"]
            deadline = time.time() + 120
            while time.time() < deadline:
                status, view = farm.request("GET", "/v1/submissions/" + held)
                if view.get("state") == "running":
                    break
                time.sleep(0.05)
            assert view.get("state") == "running", view
            status, ev = farm.request("DELETE", "/v1/depsets/" + key)
            assert status == 409 and ev["error"]["code"] == "held", (status, ev)
            assert "held" in ev["error"]["message"], ev
            assert os.path.islink(root), "a held set lost its GC root"
            status, ds = farm.request("GET", "/v1/depsets/" + key)
            assert status == 200 and ds["state"] == "ready", (status, ds)
            status, _ = farm.request("DELETE", "/v1/submissions/" + held)
            assert status in (200, 202), status
            assert farm.wait_finished(held, timeout=120)["state"] == "cancelled"
            # Unheld: evicted, root gone; a second DELETE finds nothing.
            status, ev = farm.request("DELETE", "/v1/depsets/" + key)
            assert status == 200, (status, ev)
            assert not os.path.lexists(root), "the GC root survived eviction"
            status, ev = farm.request("DELETE", "/v1/depsets/" + key)
            assert status == 404 and ev["error"]["code"] == "not_found", (status, ev)
            # Building: a slow set is refused with 409 until it is done.
            status, slow = farm.request("POST", "/v1/depsets", {"packages": ["slow"]})
            assert status == 201, (status, slow)
            status, ev = farm.request("DELETE", "/v1/depsets/" + slow["key"])
            assert status == 409 and ev["error"]["code"] == "building", (status, ev)
            status, ds = farm.request("GET", "/v1/depsets/" + slow["key"])
            assert status == 200 and ds["state"] in ("queued", "building", "ready"), ds
    finally:
        fx.cleanup()


def case_ready_sets_exported_to_signed_binary_cache():
    fx = Fixture()
    try:
        sec = os.path.join(fx.dir, "cache.sec")
        pub = os.path.join(fx.dir, "cache.pub")
        cache = os.path.join(fx.dir, "cache")
        subprocess.run(["nix-store", "--generate-binary-cache-key", "farm-e2e-1", sec, pub],
                       check=True)
        settings = fx.settings()
        settings.update({"cache.export_url": "file://" + cache, "cache.secret_key_file": sec})
        with farmtest.Farm(workers=1, builders=1, settings=settings) as farm:
            status, body = farm.submit({"packages": ["hello"], "run": "hello"}, timeout=240)
            assert status == 200 and body["verdict"] == "accepted", body
            status, ds = farm.request("GET", "/v1/depsets/" + body["depset"]["key"])
            assert status == 200, ds
            out = (ds.get("depset") or ds)["out_paths"][0]
            narinfo = os.path.join(cache, os.path.basename(out)[:32] + ".narinfo")
            deadline = time.time() + 60
            while not os.path.exists(narinfo) and time.time() < deadline:
                time.sleep(0.1)
            with open(narinfo) as f:
                text = f.read()
            assert "Sig: farm-e2e-1:" in text and "Compression: zstd" in text, text
    finally:
        fx.cleanup()


def children_named(parent, name):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == parent and comm.startswith(name):
            out.append(int(pid))
    return out


def case_builder_killed_mid_build_is_replaced():
    fx = Fixture()
    try:
        with farm_with(fx, builders=1) as farm:
            status, body = farm.submit({"packages": ["slow"], "run": "echo built"}, wait=False)
            assert status == 202, (status, body)
            sid = body["id"]
            deadline = time.time() + 60
            while fx.calls("nix-build") < 1 and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(0.7)
            victims = children_named(farm.proc.pid, "farmd-builder")
            assert victims, "no builder child found"
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            body = farm.wait_finished(sid, timeout=180)
            assert body["state"] == "finished" and body["verdict"] == "accepted", body
            assert body["tests"][0]["stdout"] == "built\n", body
            assert fx.calls("nix-build") >= 2, fx.calls("nix-build")
    finally:
        fx.cleanup()


if __name__ == "__main__":
    sys.exit(farmtest.run_cases([
        ("twenty concurrent submissions of one set: one nix-build",
         case_twenty_concurrent_submissions_one_build),
        ("failing set -> deps_failed with its log; list and evict a set",
         case_failing_set_ends_deps_failed_with_log_then_evict),
        ("ready sets are exported to a signed zstd binary cache",
         case_ready_sets_exported_to_signed_binary_cache),
        ("builder killed mid-build: restarted, the set still builds",
         case_builder_killed_mid_build_is_replaced),
    ]))
