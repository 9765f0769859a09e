"""nixpkgs package sets end to end, offline (suite e2e).

A real farmd whose nix.sources_file names two nixpkgs sets made from
tests/nixpkgs-fixture (a nixpkgs-shaped tree: nested attribute sets, a
callPackage structure, derivations built from the farm's offline
Debian-derived set): `fixture` (a path, like a checkout) and `fixture-tar`
(a file:// tarball locked by its sha256). Nix commands go through counting
wrappers (nix.bin_dir), so the cases can prove that a second submission
runs no nix-instantiate. Checked: attribute paths (top level and nested),
the errors (unknown attribute, not a derivation, a throwing one, a bad path,
an unknown set, a failing build), keys that never mix between sets,
closures and GC roots, /v1/packages and /v1/profiles, the evaluation cache
across a restart, the quota, and export to a signed binary cache and import
from it into another store. Everything is made under one temporary
directory, removed at the end.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.join(os.environ["FARM_SOURCE_ROOT"], "tests", "lib"))
import farmtest  # noqa: E402

SOURCE = os.environ["FARM_SOURCE_ROOT"]
FIXTURE = os.path.join(SOURCE, "tests", "nixpkgs-fixture")


class Env:
    """The fixture copies, the sources file, counting Nix wrappers, a
    profiles file with a profile on the fixture set."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="farm-nixpkgs-")
        self.bin = os.path.join(self.dir, "bin")
        os.makedirs(self.bin)
        for tool in ("nix-build", "nix-store", "nix-instantiate", "nix"):
            path = os.path.join(self.bin, tool)
            real = shutil.which(tool) or "/usr/bin/" + tool
            with open(path, "w") as f:
                f.write('#!/bin/sh\necho "$*" >> %s/%s.count\nexec %s "$@"\n' % (self.bin, tool, real))
            os.chmod(path, 0o755)
        self.sources = os.path.join(self.dir, "sources.json")
        self.profiles = os.path.join(self.dir, "profiles.json")
        with open(os.path.join(SOURCE, "daemon", "request", "profiles.json")) as f:
            profiles = json.load(f)
        profiles["greet-fixture"] = {
            "description": "the fixture's greet, a nixpkgs attribute path",
            "package_set": "fixture", "packages": ["python3Packages.greet"],
            "file": "input.txt", "run": "greet"}
        with open(self.profiles, "w") as f:
            json.dump(profiles, f)

    def calls(self, tool):
        try:
            with open(os.path.join(self.bin, tool + ".count")) as f:
                return len(f.read().splitlines())
        except FileNotFoundError:
            return 0

    def settings(self, **extra):
        s = {"nix.bin_dir": self.bin, "nix.sources_file": self.sources,
             "api.profiles.file": self.profiles}
        s.update(extra)
        return s

    def write_sources(self, gen):
        """The fixture tree with offline.nix naming the offline set's
        generation gen, as a directory and as a tarball."""
        tree = os.path.join(self.dir, "nixpkgs")
        shutil.copytree(FIXTURE, tree)
        with open(os.path.join(tree, "offline.nix"), "w") as f:
            f.write('import %s/nix/lib/set.nix { gen = "%s"; }\n' % (SOURCE, gen))
        tarball = os.path.join(self.dir, "nixpkgs.tar.gz")
        with tarfile.open(tarball, "w:gz") as t:
            t.add(tree, arcname="nixpkgs-fixture")
        out = subprocess.run(["nix-prefetch-url", "--unpack", "file://" + tarball],
                             check=True, capture_output=True, text=True,
                             env=dict(os.environ, NIX_CONF_DIR=os.path.join(SOURCE, "nix")))
        sha = out.stdout.strip().splitlines()[-1]
        broken = os.path.join(self.dir, "broken-checkout")
        os.makedirs(broken)
        with open(os.path.join(broken, "default.nix"), "w") as f:
            f.write('{ ... }: throw "this checkout is broken"\n')
        with open(self.sources, "w") as f:
            json.dump({
                "fixture": {"path": tree, "packages": ["hello", "python3Packages.greet"]},
                "fixture-tar": {"tarball": "file://" + tarball, "sha256": sha},
                "fixture-broken": {"path": broken, "rev": "1"},
            }, f)
        self.tree = tree

    def cleanup(self):
        subprocess.run(["chmod", "-R", "u+w", self.dir], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


ENV = None


def gen_dir(farm):
    """The offline set's current generation (made on first use)."""
    status, body = farm.submit({"packages": ["busybox"], "run": "echo ok"}, timeout=900)
    assert status == 200 and body["verdict"] == "accepted", body
    base = os.environ.get("FARM_NIX_PKGSET_DIR") or os.path.join(farm.state_dir, "pkgset")
    return os.path.realpath(os.path.join(base, "current"))


def error_of(status, body, field):
    assert status == 422, (status, body)
    assert body["error"]["field"] == field, body
    return body["error"]["message"]


def case_attribute_paths_run(farm):
    status, body = farm.submit({"package_set": "fixture", "packages": ["hello"], "run": "hello"},
                               timeout=600)
    assert status == 200 and body["verdict"] == "accepted", body
    assert body["tests"][0]["stdout"] == "Hello from the nixpkgs fixture\n", body
    status, body = farm.submit({"package_set": "fixture", "packages": ["python3Packages.greet"],
                                "run": "greet", "tests": [{"stdin": "world\n"}]}, timeout=600)
    assert status == 200 and body["verdict"] == "accepted", body
    assert body["tests"][0]["stdout"] == "greetings, world\n", body
    # Shell syntax in a set without bash: the farm's own static sh runs it.
    status, body = farm.submit({"package_set": "fixture", "packages": ["hello"],
                                "run": "hello && echo \"two: $((1 + 1))\""})
    assert status == 200 and body["verdict"] == "accepted", body
    assert body["tests"][0]["stdout"] == "Hello from the nixpkgs fixture\ntwo: 2\n", body


def case_errors_name_the_attribute(farm):
    def sub(pk, **kw):
        b = {"package_set": "fixture", "packages": pk, "run": "true"}
        b.update(kw)
        return farm.submit(b)

    msg = error_of(*sub(["hello", "nope"]), "packages[1]")
    assert 'no package nope: no attribute "nope"' in msg, msg
    # A typo of a top-level name: answered from the set's names, no Nix run.
    before = ENV.calls("nix-instantiate")
    msg = error_of(*sub(["hellp"]), "packages[0]")
    assert 'no attribute "hellp"; closest: hello' in msg, msg
    assert ENV.calls("nix-instantiate") == before, "a typo ran nix-instantiate"
    msg = error_of(*sub(["python3Packages.nump"]), "packages[0]")
    assert 'no attribute "nump" in "python3Packages"' in msg, msg
    msg = error_of(*sub(["python3Packages"]), "packages[0]")
    assert "is not a derivation" in msg, msg
    msg = error_of(*sub(["removedPackage"]), "packages[0]")
    assert "removedPackage" in msg and "throws" in msg, msg
    msg = error_of(*sub(["a..b"]), "packages[0]")
    assert "not an attribute path" in msg, msg
    msg = error_of(*sub(["hello"], package_set="nixpkgs-nope"), "package_set")
    assert 'unknown package set "nixpkgs-nope"' in msg and "fixture" in msg, msg
    status, body = sub(["hello"], package_set=5)
    assert status == 422 and body["error"]["field"] == "package_set", body
    msg = error_of(*sub(["hello"], profile="python3"), "package_set")
    assert "runs on package set debian" in msg, msg
    # A set Nix cannot evaluate at all: the farm's fault, said as it is.
    status, body = sub(["hello"], package_set="fixture-broken")
    assert status == 500 and body["error"]["code"] == "package_set_unavailable", (status, body)
    assert "this checkout is broken" in body["error"]["message"], body
    # A derivation that fails to build: deps_failed with Nix's log.
    status, body = sub(["broken"])
    if body.get("state") != "deps_failed":
        body = farm.wait_finished(body["id"], timeout=300)
    assert body["state"] == "deps_failed", body
    assert "never builds" in json.dumps(body), body


def case_keys_never_mix(farm):
    probe = lambda b: farm.request("POST", "/v1/depsets", b)  # noqa: E731
    s1, a = probe({"packages": ["bash"]})
    s2, b = probe({"packages": ["bash"], "package_set": "fixture"})
    s3, c = probe({"packages": ["bash"], "package_set": "fixture-tar"})
    assert s1 in (200, 201) and s2 in (200, 201) and s3 in (200, 201), (a, b, c)
    assert len({a["key"], b["key"], c["key"]}) == 3, (a, b, c)
    status, body = farm.submit({"package_set": "fixture-tar", "packages": ["hello"],
                                "run": "hello"}, timeout=600)
    assert status == 200 and body["verdict"] == "accepted", body
    assert body["tests"][0]["stdout"] == "Hello from the nixpkgs fixture\n", body


def case_closure_and_gc_root(farm):
    status, body = farm.submit({"package_set": "fixture", "packages": ["hello"], "run": "hello"})
    assert status == 200 and body["verdict"] == "accepted", body
    key = body["depset"]["key"]
    status, ds = farm.request("GET", "/v1/depsets/" + key)
    assert status == 200 and ds["state"] == "ready", ds
    out = ds["out_paths"][0]
    root = os.path.join(farm.state_dir, "gcroots", key)
    assert os.path.realpath(root) == out, (root, out)
    closure = ds["closure"]
    assert out in closure, closure
    names = [p.split("-", 1)[1] for p in closure]
    assert "hello-2.12.1" in names and any(n.startswith("bash-") for n in names), names
    real = subprocess.run(["nix-store", "-qR", out], capture_output=True, text=True, check=True)
    assert sorted(real.stdout.split()) == sorted(closure), (real.stdout, closure)
    # buildenv links a directory only one package provides as a whole.
    hello = os.path.realpath(os.path.join(out, "bin", "hello"))
    assert hello.endswith("-hello-2.12.1/bin/hello") and hello.split("/bin/")[0] in closure, hello


def case_evaluation_paid_once(farm):
    before = ENV.calls("nix-instantiate")
    builds = ENV.calls("nix-build")
    for stdin in ("a\n", "b\n"):
        status, body = farm.submit({"package_set": "fixture", "packages": ["python3Packages.greet"],
                                    "run": "greet", "tests": [{"stdin": stdin}]})
        assert status == 200 and body["verdict"] == "accepted", body
    status, body = farm.submit({"profile": "greet-fixture", "tests": [{"stdin": "c\n"}]})
    assert status == 200 and body["tests"][0]["stdout"] == "greetings, c\n", body
    assert ENV.calls("nix-instantiate") == before, "a cached attribute was evaluated again"
    assert ENV.calls("nix-build") == builds, "a ready set was built again"
    # The cache is in the store: a restarted farm does not evaluate either.
    farm.restart()
    status, body = farm.submit({"package_set": "fixture", "packages": ["python3Packages.greet"],
                                "run": "greet", "tests": [{"stdin": "d\n"}]})
    assert status == 200 and body["verdict"] == "accepted", body
    assert ENV.calls("nix-instantiate") == before, "evaluated again after a restart"
    # A new revision (the tree changed) is a new id: evaluated once more.
    with open(os.path.join(ENV.tree, "README"), "w") as f:
        f.write("a change\n")
    time.sleep(2.1)  # the tree fingerprint is kept for 2 s per process
    status, body = farm.submit({"package_set": "fixture", "packages": ["hello"], "run": "hello"})
    assert status == 200 and body["verdict"] == "accepted", body
    # Its top-level names, then the attribute: two evaluations.
    assert ENV.calls("nix-instantiate") == before + 2, ENV.calls("nix-instantiate")


def case_packages_and_profiles_name_their_set(farm):
    status, body = farm.request("GET", "/v1/packages")
    assert status == 200, body
    sets = {s["name"]: s for s in body["sets"]}
    assert sets["debian"]["default"] and sets["fixture"]["kind"] == "nixpkgs", sets
    assert sets["fixture"]["id"] != sets["fixture-tar"]["id"], sets
    by = {(p["package_set"], p["name"]): p for p in body["packages"]}
    assert by[("debian", "python3")]["available"], by[("debian", "python3")]
    hello = by[("fixture", "hello")]
    assert hello["version"] == "2.12.1" and hello["available"], hello
    assert by[("fixture", "python3Packages.greet")]["description"].startswith("Greets"), by
    status, only = farm.request("GET", "/v1/packages?package_set=fixture")
    assert status == 200 and {p["package_set"] for p in only["packages"]} == {"fixture"}, only
    status, body = farm.request("GET", "/v1/packages?package_set=nope")
    assert status == 404, body
    status, body = farm.request("GET", "/v1/profiles")
    assert status == 200, body
    profs = {p["name"]: p for p in body["profiles"]}
    assert profs["python3"]["package_set"] == "debian", profs["python3"]
    g = profs["greet-fixture"]
    assert g["package_set"] == "fixture" and g["available"] and g["version"] == "1.0", g


def case_farm_run_on_a_nixpkgs_set():
    """`farm run --package-set` (no daemon) on the same sources file."""
    work = os.path.join(ENV.dir, "farm-run-work")
    os.makedirs(work)
    # The state directory inside the working directory, which farm run
    # copies into the box: the box itself is left out of the copy.
    state = os.path.join(work, "state")
    env = dict(os.environ, FARM_STATE_DIR=state, FARM_NIX_SOURCES_FILE=ENV.sources,
               NO_COLOR="1")
    out = subprocess.run([farmtest.farm_path(), "run", "-q", "--package-set", "fixture",
                          "-P", "python3Packages.greet", "-i", "--", "greet"],
                         input="from farm run\n", capture_output=True, text=True, env=env,
                         cwd=work, timeout=600)
    assert out.returncode == 0, (out.returncode, out.stdout, out.stderr)
    assert out.stdout == "greetings, from farm run\n", out
    out = subprocess.run([farmtest.farm_path(), "run", "-q", "-S", "fixture", "-P", "nope",
                          "--", "true"], capture_output=True, text=True, env=env,
                         cwd=work, timeout=600)
    assert out.returncode == 125 and 'no attribute "nope"' in out.stderr, out


def case_farm_submit_on_a_nixpkgs_set(farm):
    """`farm submit --package-set` against the running farmd."""
    work = os.path.join(ENV.dir, "farm-submit-work")
    os.makedirs(work)
    out = subprocess.run([farmtest.farm_path(), "--server", "http://127.0.0.1:%d" % farm.port,
                          "submit", "--json", "-S", "fixture", "-P", "hello", "-r", "hello"],
                         capture_output=True, text=True, cwd=work, timeout=600,
                         env=dict(os.environ, NO_COLOR="1"))
    assert out.returncode == 0, (out.returncode, out.stdout, out.stderr)
    body = json.loads(out.stdout)
    assert body["tests"][0]["stdout"] == "Hello from the nixpkgs fixture\n", body


def case_quota_evicts_a_nixpkgs_set():
    with farmtest.Farm(workers=1, builders=1,
                       settings=ENV.settings(**{"cache.quota_bytes": "1"})) as farm:
        status, body = farm.submit({"package_set": "fixture", "packages": ["hello"],
                                    "run": "hello"}, timeout=600)
        assert status == 200 and body["verdict"] == "accepted", body
        key = body["depset"]["key"]
        root = os.path.join(farm.state_dir, "gcroots", key)
        deadline = time.time() + 300  # the builder looks at the quota periodically
        while time.time() < deadline:
            status, _ = farm.request("GET", "/v1/depsets/" + key)
            if status == 404 and not os.path.lexists(root):
                break
            time.sleep(0.2)
        assert status == 404 and not os.path.lexists(root), (status, root)


def case_export_and_import_through_binary_cache():
    sec = os.path.join(ENV.dir, "cache.sec")
    pub = os.path.join(ENV.dir, "cache.pub")
    cache = os.path.join(ENV.dir, "cache")
    other = os.path.join(ENV.dir, "other-store")
    subprocess.run(["nix-store", "--generate-binary-cache-key", "farm-nixpkgs-1", sec, pub],
                   check=True)
    settings = ENV.settings(**{"cache.export_url": "file://" + cache, "cache.secret_key_file": sec})
    with farmtest.Farm(workers=1, builders=1, settings=settings) as farm:
        status, body = farm.submit({"package_set": "fixture", "packages": ["python3Packages.greet"],
                                    "run": "greet", "tests": [{"stdin": "x\n"}]}, timeout=600)
        assert status == 200 and body["verdict"] == "accepted", body
        status, ds = farm.request("GET", "/v1/depsets/" + body["depset"]["key"])
        out = ds["out_paths"][0]
        narinfo = os.path.join(cache, os.path.basename(out)[:32] + ".narinfo")
        deadline = time.time() + 120
        while not os.path.exists(narinfo) and time.time() < deadline:
            time.sleep(0.1)
        with open(narinfo) as f:
            assert "Sig: farm-nixpkgs-1:" in f.read()
    with open(pub) as f:
        key = f.read().strip()
    subprocess.run(["nix", "copy", "--from", "file://" + cache, "--to", other,
                    "--option", "trusted-public-keys", key, out],
                   check=True, env=dict(os.environ, NIX_CONF_DIR=os.path.join(SOURCE, "nix")))
    copied = other + out
    greet = os.path.realpath(os.path.join(copied, "bin", "greet"))
    assert greet.startswith("/nix/store/") and os.path.exists(other + greet), greet


def main():
    global ENV
    ENV = Env()
    try:
        farm = farmtest.Farm(workers=2, builders=1, settings=ENV.settings())
        with farm:
            ENV.write_sources(gen_dir(farm))
            cases = [
                ("attribute paths run: top level and nested (callPackage)",
                 lambda: case_attribute_paths_run(farm)),
                ("errors name the attribute, the set, the failing build",
                 lambda: case_errors_name_the_attribute(farm)),
                ("each set its own keys: debian, path and tarball sources",
                 lambda: case_keys_never_mix(farm)),
                ("closure and GC root of a nixpkgs set",
                 lambda: case_closure_and_gc_root(farm)),
                ("/v1/packages and /v1/profiles name each entry's set",
                 lambda: case_packages_and_profiles_name_their_set(farm)),
                ("evaluation paid once per revision, across a restart",
                 lambda: case_evaluation_paid_once(farm)),
            ]
            rc = farmtest.run_cases(cases + [
                ("farm run --package-set, without a daemon", case_farm_run_on_a_nixpkgs_set),
                ("farm submit --package-set", lambda: case_farm_submit_on_a_nixpkgs_set(farm)),
                ("quota evicts a nixpkgs set", case_quota_evicts_a_nixpkgs_set),
                ("export to a signed binary cache, import into another store",
                 case_export_and_import_through_binary_cache),
            ])
        return rc
    finally:
        ENV.cleanup()


if __name__ == "__main__":
    sys.exit(main())
