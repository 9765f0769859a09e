#!/usr/bin/env python3
"""The offline package set (nix/) builds, is deterministic and runs in a root
that holds ONLY the closure.

Each case builds with the farm's own nix.conf (NIX_CONF_DIR=<source>/nix) and
roots its outputs in a temporary GC-root directory that is removed at the end
(the store paths stay: they are the cache). Programs run under bwrap with only
the closure's store paths, /proc, /dev and a scratch /work bound: no /usr, no
/lib, no /bin. Sizes and times are printed as TAP comments.
"""
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SOURCE_ROOT = os.environ.get("FARM_SOURCE_ROOT",
                             os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "lib"))
import farmtest  # noqa: E402

NIX_DIR = os.path.join(SOURCE_ROOT, "nix")
GEN = None  # this machine's generated manifests: nix/regen --out TMP/gen in main()
ALL = ["busybox", "bash", "coreutils", "python3", "gcc", "tcc", "lua"]
ENV = dict(os.environ, NIX_CONF_DIR=NIX_DIR)
ENV.pop("NIX_REMOTE", None)

# Nix 2.8's collector deletes files of imports that are in flight (the add-*
# directories), leaving a valid but truncated store path; other suites run
# `nix-store --gc` on this host's store. Nix's GC takes an exclusive flock on
# gc.lock for its whole run, so holding a shared one keeps every GC out while
# this test imports and builds (Nix's own processes take it shared too).
GC_LOCK = None
TMP = None    # per-run temporary directory, made in main()
ROOTS = None  # GC roots of this run: TMP/gcroots


def note(msg):
    print("# " + msg, flush=True)


def run(args, check=True, **kw):
    res = subprocess.run(args, env=ENV, capture_output=True, text=True, **kw)
    if check and res.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (args, res.returncode, res.stdout, res.stderr[-4000:]))
    return res


def build_depset(names, root_name):
    res = run(["nix-build", os.path.join(NIX_DIR, "depset.nix"), "--argstr", "names", " ".join(names),
               "--argstr", "gen", GEN, "--out-link", os.path.join(ROOTS, root_name)])
    return res.stdout.strip().splitlines()[-1]


def closure_of(path):
    return sorted(run(["nix-store", "-qR", path]).stdout.split())


HOST_PATHS = ["share/zoneinfo", "lib/gprolog", "share/nodejs/acorn", "share/nodejs/acorn-walk",
              "share/nodejs/cjs-module-lexer", "share/nodejs/undici"]


def in_root(depset, script, extra=()):
    """Run `bash -c script` (or busybox sh when bash is not in the set) in a
    root holding only the depset's closure file list."""
    with open(os.path.join(depset, "closure")) as f:
        paths = f.read().split()
    work = tempfile.mkdtemp(prefix="work-", dir=TMP)
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session"]
    for p in paths:
        args += ["--ro-bind", p, p]
    # The host paths the worker binds from the set (daemon/worker/worker_job.c,
    # root_paths), as a run gets them: Debian's nodejs 18 aborts at start
    # without /usr/share/nodejs/cjs-module-lexer. Not bin/sh: this root shows
    # that scripts' #!/bin/sh lines were pointed into the store.
    for rel in HOST_PATHS:
        src = os.path.join(depset, rel)
        if os.path.exists(src):
            args += ["--ro-bind", os.path.realpath(src), "/usr/" + rel]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", work, "/work",
             "--chdir", "/work", "--clearenv", "--setenv", "HOME", "/work", "--setenv", "LANG", "C.UTF-8"]
    with open(os.path.join(depset, "env")) as f:  # PATH, LOCPATH
        for line in f.read().splitlines():
            k, v = line.split("=", 1)
            args += ["--setenv", k, v]
    shell = "bash" if os.path.exists(os.path.join(depset, "bin", "bash")) else "sh"
    args += [os.path.join(depset, "bin", shell), "-c", script]
    res = subprocess.run(args, capture_output=True, text=True, timeout=120)
    shutil.rmtree(work)
    if res.returncode != 0:
        raise AssertionError("in-root script failed (%d):\n%s\nstdout:\n%s\nstderr:\n%s"
                             % (res.returncode, script, res.stdout, res.stderr[-4000:]))
    return res.stdout


STATE = {}


def full_set():
    if "all" not in STATE:
        t0 = time.time()
        STATE["all"] = build_depset(ALL, "all")
        note("build of the whole set (warm imports): %.2fs" % (time.time() - t0))
    return STATE["all"]


def case_imports_intact():
    # An import truncated by a concurrent GC before this test took the lock
    # (see GC_LOCK) would fail builds with "No such file": find such paths,
    # delete them with their (derivation) referrers and import them again.
    expr = ("builtins.mapAttrs (n: v: toString v) (import %s/lib/set.nix { gen = \"%s\"; }).srcs"
            % (NIX_DIR, GEN))
    srcs = json.loads(run(["nix-instantiate", "--eval", "--strict", "--json", "-E", expr]).stdout)
    bad = []
    for name, path in sorted(srcs.items()):
        if run(["nix-store", "--check-validity", path], check=False).returncode != 0:
            continue  # not imported yet
        if run(["nix-store", "--verify-path", path], check=False).returncode != 0:
            bad.append(path)
    for path in bad:
        note("repairing truncated import %s" % path)
        referrers = run(["nix-store", "-q", "--referrers-closure", path]).stdout.split()
        run(["nix-store", "--delete", "--ignore-liveness"] + referrers)
    run(["nix-instantiate", "--read-write-mode", "--eval", "--strict", "-E", expr])
    for path in bad:
        run(["nix-store", "--verify-path", path])


def case_packages_json_matches():
    with open(os.path.join(GEN, "packages.json")) as f:
        pj = json.load(f)
    expr = ("builtins.mapAttrs (n: p: { version = p.farmVersion; bins = p.farmBins; }) "
            "(import %s/packages.nix { gen = \"%s\"; })" % (NIX_DIR, GEN))
    ev = json.loads(run(["nix-instantiate", "--eval", "--strict", "--json", "-E", expr]).stdout)
    assert sorted(pj) == sorted(ev), (sorted(pj), sorted(ev))
    for name in pj:
        assert pj[name]["version"] == ev[name]["version"], name
        assert pj[name]["bins"] == ev[name]["bins"], name
    for name in ALL:
        assert name in pj, name


def case_closure_file():
    d = full_set()
    with open(os.path.join(d, "closure")) as f:
        listed = sorted(f.read().split())
    assert listed == closure_of(d), "closure file differs from nix-store -qR"
    for name in ALL:
        p = run(["nix-build", os.path.join(NIX_DIR, "packages.nix"), "--argstr", "gen", GEN, "-A", name,
                 "--out-link",
                 os.path.join(ROOTS, "pkg-" + name)]).stdout.strip()
        size = sum(int(l.split()[1]) for l in run(["nix", "path-info", "-s"] + closure_of(p)).stdout.splitlines())
        note("closure %-9s %6.1f MiB" % (name, size / 1048576.0))
    size = sum(int(l.split()[1]) for l in run(["nix", "path-info", "-s"] + listed).stdout.splitlines())
    note("closure %-9s %6.1f MiB (%d paths)" % ("all", size / 1048576.0, len(listed)))


def elf_interp(path):
    import struct
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or len(head) < 64 or head[4] != 2:
            return None
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, _, p_offset, _, _, p_filesz = struct.unpack("<IIQQQQ", f.read(40))
            if p_type == 3:
                f.seek(p_offset)
                return f.read(p_filesz).rstrip(b"\0").decode()
    return None


def case_no_host_paths():
    # No ELF in the closure may use the host's loader, and no symlink may
    # point out of the store.
    bad, elfs = [], 0
    for top in closure_of(full_set()):
        for dirpath, _, files in os.walk(top):
            for fn in files:
                p = os.path.join(dirpath, fn)
                if os.path.islink(p):
                    t = os.readlink(p)
                    if t.startswith("/") and not t.startswith("/nix/store/"):
                        bad.append("%s -> %s" % (p, t))
                    continue
                interp = elf_interp(p)
                if interp is not None:
                    elfs += 1
                    if not interp.startswith("/nix/store/"):
                        bad.append("%s: interpreter %s" % (p, interp))
    assert not bad, "\n".join(bad[:20])
    assert elfs > 20, elfs


def case_python():
    out = in_root(full_set(), "python3 -c 'import ssl, sqlite3, ctypes, ctypes.util, json, zlib, lzma, bz2, "
                  "hashlib, decimal, readline; "
                  "c = sqlite3.connect(\":memory:\"); print(c.execute(\"select 40+2\").fetchone()[0]); "
                  "print(ssl.OPENSSL_VERSION.split()[0]); "
                  "print(ctypes.CDLL(None).strlen(b\"abcd\")); print(hashlib.sha256(b\"\").hexdigest()[:8])'")
    assert out.split() == ["42", "OpenSSL", "4", "e3b0c442"], out


def case_gcc_gxx():
    out = in_root(full_set(), r"""
cat > h.c <<'EOF'
#include <stdio.h>
#include <math.h>
int main(void) { printf("c %d\n", (int)sqrt(49.0)); return 0; }
EOF
cat > h.cc <<'EOF'
#include <iostream>
#include <map>
#include <string>
int main() { std::map<std::string, int> m{{"cxx", 17}}; std::cout << "cxx " << m["cxx"] << std::endl; }
EOF
gcc -O2 -Wall -o hc h.c -lm && ./hc
g++ -O2 -std=c++17 -o hcc h.cc && ./hcc
cc -static -o hs h.c -lm && ./hs
c++ -o hcc2 h.cc && ./hcc2
""")
    assert out.split("\n")[:4] == ["c 7", "cxx 17", "c 7", "cxx 17"], out


def case_tcc():
    out = in_root(full_set(), r"""
cat > t.c <<'EOF'
#include <stdio.h>
int main(int c, char **v) { printf("tcc %s\n", v[1]); return 0; }
EOF
tcc -run t.c run
tcc -o t t.c && ./t exe
""")
    assert out.split("\n")[:2] == ["tcc run", "tcc exe"], out


def case_lua_bash_tools():
    out = in_root(full_set(), "lua -e 'print(_VERSION, 6*7)'; bash -c 'echo bash ${BASH_VERSINFO[0]}'; "
                  "sh -c 'echo $BASH_VERSION' | cut -d. -f1; echo 3 1 2 | tr ' ' '\\n' | sort -n | xargs; "
                  "seq 3 | awk '{s+=$1} END {print s}'; busybox echo bb; "
                  "echo zipped | gzip | zcat; echo abc | egrep 'b+'")  # zcat, egrep: #!/bin/sh scripts
    assert out.split("\n")[:8] == ["Lua 5.4\t42", "bash 5", "5", "1 2 3", "6", "bb", "zipped", "abc"], out


def node_state():
    """True when this machine's set has nodejs (Debian's 18 or nodesource's
    20); else asserts that it is reported unavailable with the reason."""
    with open(os.path.join(GEN, "packages.json")) as f:
        if "nodejs" in json.load(f):
            return True
    with open(os.path.join(GEN, "unavailable.json")) as f:
        un = json.load(f)
    assert "nodejs" in un and un["nodejs"]["reason"], un
    note("nodejs unavailable here: " + un["nodejs"]["reason"])
    return False


def case_extras():
    node = node_state()
    d = build_depset(["perl"] + (["nodejs"] if node else []) +
                     ["java", "make", "sqlite3", "jq", "bc", "bash", "coreutils", "gfortran"], "extras")
    out = in_root(d, r"""
perl -MList::Util=sum -e 'print "perl ", sum(1..4), "\n"'
""" + ("""node -e 'fetch("data:,hi").then(r => r.text()).then(t => console.log("node", 6 * 7, t))'
""" if node else "") + r"""
printf 'all:\n\t@echo make ok\n' > Makefile && make
sqlite3 :memory: 'select 40 + 2'
echo '{"a": [1, 2]}' | jq -c .a
echo '2^10' | bc
cat > Main.java <<'EOF'
public class Main { public static void main(String[] a) { System.out.println("java " + (6 * 7)); } }
EOF
javac Main.java && java -Xmx64m -Xshare:auto Main
cat > f.f90 <<'EOF'
program p
  print '(A,I0)', 'fortran ', 6 * 7
end program p
EOF
gfortran -O2 -o f f.f90 && ./f
""")
    want = ["perl 10"] + (["node 42 hi"] if node else []) + ["make ok", "42", "[1,2]", "1024", "java 42",
                                                       "fortran 42"]
    assert out.split("\n")[:len(want)] == want, out


def case_clang():
    d = build_depset(["clang", "coreutils"], "clang")
    out = in_root(d, r"""
cat > h.cc <<'EOF'
#include <iostream>
#include <vector>
int main() { std::vector<int> v{6, 7}; std::cout << "clang " << v[0] * v[1] << std::endl; }
EOF
clang++ -O2 -std=c++17 -o h h.cc && ./h
printf 'int main(void) { return 3; }\n' > r.c && clang -o r r.c; ./r; echo "rc $?"
""")
    assert out.split("\n")[:2] == ["clang 42", "rc 3"], out


def case_locale():
    out = in_root(full_set(), "printf '%s' 'é' | wc -m; "
                  "python3 -c 'import locale; print(locale.setlocale(locale.LC_ALL, \"\"))'")
    assert out.split("\n")[:2] == ["1", "C.UTF-8"], out


def case_busybox_only():
    d = build_depset(["busybox"], "busybox")
    with open(os.path.join(d, "closure")) as f:
        assert len(f.read().split()) == 3  # static busybox, static bash, the set itself
    out = in_root(d, "ls / | xargs; echo hi | wc -c; readlink $(command -v sh)")
    lines = out.split("\n")
    assert lines[:2] == ["dev nix proc tmp work", "3"], out
    assert "-bash-" in lines[2], out  # bash's sh wins over busybox's


def case_unknown_name():
    res = run(["nix-instantiate", os.path.join(NIX_DIR, "depset.nix"), "--argstr", "names",
               "python3 pyhton3", "--argstr", "gen", GEN], check=False)
    assert res.returncode != 0
    assert "unknown package(s): pyhton3" in res.stderr, res.stderr


def case_deterministic():
    for name in ALL:
        run(["nix-build", os.path.join(NIX_DIR, "packages.nix"), "--argstr", "gen", GEN, "-A", name,
             "--check", "--no-out-link"])


def case_cold_build():
    # A fresh chroot store: imports are re-read from the host and must match
    # the pinned hashes; then every derivation builds from scratch.
    store = tempfile.mkdtemp(prefix="store-", dir=TMP)
    try:
        t0 = time.time()
        run(["nix-build", os.path.join(NIX_DIR, "depset.nix"), "--argstr", "names", " ".join(ALL),
             "--argstr", "gen", GEN, "--store", store, "--no-out-link"])
        note("cold build of the whole set (imports included): %.2fs" % (time.time() - t0))
    finally:
        shutil.rmtree(store, ignore_errors=True)
        assert not os.path.exists(store)


def case_regen_check():
    res = run([os.path.join(NIX_DIR, "regen"), "--out", GEN, "--check"], check=False)
    assert res.returncode == 0, "nix/regen --check: manifests are stale:\n" + res.stdout + res.stderr


def case_nothing_committed_is_generated():
    # The manifests pin this machine's files: they are generated, never in the tree.
    assert not os.path.exists(os.path.join(NIX_DIR, "manifests")), "nix/manifests is back"
    assert not os.path.exists(os.path.join(NIX_DIR, "packages.json")), "nix/packages.json is back"


def case_missing_debian_package():
    # A spec whose lua needs a Debian package this machine lacks: regen marks
    # lua (and what depends on it) unavailable with the reason, keeps the rest.
    with open(os.path.join(NIX_DIR, "spec.json")) as f:
        spec = json.load(f)
    spec["packages"]["lua"]["debian"] = ["nixfarm-test-not-installed"]
    spec["packages"]["luaplus"] = {"debian": ["bc"], "deps": ["lua"], "bins": ["bc"],
                                   "description": "needs lua"}
    path = os.path.join(TMP, "spec-missing.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    out = os.path.join(TMP, "gen-missing")
    res = run([os.path.join(NIX_DIR, "regen"), "--out", out, "--spec", path])
    assert "lua unavailable" in res.stderr, res.stderr
    with open(os.path.join(out, "packages.json")) as f:
        pj = json.load(f)
    with open(os.path.join(out, "unavailable.json")) as f:
        un = json.load(f)
    assert "lua" not in pj and "luaplus" not in pj, sorted(pj)
    assert "nixfarm-test-not-installed is not installed" in un["lua"]["reason"], un
    assert un["lua"]["debian_versions"] == {"nixfarm-test-not-installed": None}, un
    assert "needs lua" in un["luaplus"]["reason"], un
    for name in ALL:
        if name != "lua":
            assert name in pj, name


def main():
    global GC_LOCK, TMP, ROOTS
    GC_LOCK = open("/nix/var/nix/gc.lock", "a")
    fcntl.flock(GC_LOCK, fcntl.LOCK_SH)
    TMP = tempfile.mkdtemp(prefix="test-nixset-")
    ROOTS = os.path.join(TMP, "gcroots")
    os.makedirs(ROOTS)
    global GEN
    GEN = os.path.join(TMP, "gen")
    try:
        t0 = time.time()
        run([os.path.join(NIX_DIR, "regen"), "--out", GEN])
        note("nix/regen --out (hashes every imported file): %.2fs" % (time.time() - t0))
        return farmtest.run_cases([
            ("imports in the store are intact", case_imports_intact),
            ("packages.json matches packages.nix", case_packages_json_matches),
            ("depset closure file equals nix-store -qR; sizes", case_closure_file),
            ("no binary uses the host loader", case_no_host_paths),
            ("python3 ssl sqlite3 ctypes in a closure-only root", case_python),
            ("gcc and g++ compile and run in a closure-only root", case_gcc_gxx),
            ("tcc -run and tcc -o in a closure-only root", case_tcc),
            ("lua, bash, sh is bash, coreutils", case_lua_bash_tools),
            ("perl, node, java, make, sqlite3, jq, bc, gfortran", case_extras),
            ("clang and clang++ in a closure-only root", case_clang),
            ("C.UTF-8 locale through the env file's LOCPATH", case_locale),
            ("busybox-only set", case_busybox_only),
            ("unknown name is a clear error", case_unknown_name),
            ("builds are deterministic (--check)", case_deterministic),
            ("cold build in a fresh store", case_cold_build),
            ("nix/regen --check is clean", case_regen_check),
            ("nothing generated is committed", case_nothing_committed_is_generated),
            ("a missing Debian package: unavailable with its reason, the rest intact",
             case_missing_debian_package),
        ])
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
        GC_LOCK.close()


if __name__ == "__main__":
    sys.exit(main())
