#!/usr/bin/env python3
"""The direction of dependency of docs/architecture.md, checked
on the source tree.

Every folder (recursively) that holds C sources, headers or a meson.build is an
"area" with a rule saying which other areas it may use; a folder without a rule
fails, so a new folder cannot slip past the checks. A use is an #include
(relative, or found through the include directories meson gives: common/,
sandbox/, builder/, the build root) or a path a meson.build names. The rules
are whitelists: a new edge fails until someone states it here.

    sandbox/          nothing of the project (a standalone library and tool)
    common/           no process folder: only schema/ and schema/pg/ (its migrations)
    builder/          common/ and the sandbox library, never daemon/ or cli/
    cli/              common/, builder/, sandbox/; never daemon/
    daemon/           main, supervisor, health, token: anything below, and ui/
    daemon/request/   the v1 normalizer: common/, builder/; no HTTP, no other daemon part
    daemon/api/       request/, compat/compat.h (the fronts it serves), roles.h;
                      never worker/ or webhook/
    daemon/compat/    only request/ and api/ public headers (no *_internal.h)
    daemon/worker/    roles.h, common/, builder/, sandbox/; never api/, request/,
                      compat/, webhook/
    daemon/webhook/   roles.h, common/; never api/, request/, compat/, worker/
    tests/**, bench/, scripts/**, the root meson.build: anything (they test or build it all)
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ["FARM_SOURCE_ROOT"], "tests", "lib"))
import farmtest  # noqa: E402

ROOT = os.environ.get("FARM_LAYOUT_ROOT", os.environ["FARM_SOURCE_ROOT"])

# Where `#include "x.h"` is looked up when x.h is not beside the file: the
# include directories of common_dep, sandbox_dep and builder_dep.
INCLUDE_DIRS = ("common", "sandbox", "builder")
BUILD = "<build>"  # farm-build-config.h, generated into the build root
ANY = None  # every file of the area

# area -> {area it may use: ANY or the file names it may use}
RULES = {
    "sandbox": {},
    "common": {"schema": ANY, "schema/pg": ANY, BUILD: ANY},
    "builder": {"common": ANY, "sandbox": ANY, BUILD: ANY},
    "cli": {"common": ANY, "builder": ANY, "sandbox": ANY, BUILD: ANY},
    "daemon": {
        "daemon/api": ANY,
        "daemon/request": ANY,
        "daemon/compat": ANY,
        "daemon/worker": ANY,
        "daemon/webhook": ANY,
        "common": ANY,
        "builder": ANY,
        "sandbox": ANY,
        "ui": ANY,  # the dashboard's files farmd installs and serves at /ui/
        BUILD: ANY,
    },
    "daemon/request": {"common": ANY, "builder": ANY, BUILD: ANY},
    "daemon/api": {
        "daemon": {"roles.h"},
        "daemon/request": ANY,
        "daemon/compat": {"compat.h"},
        "common": ANY,
        "builder": ANY,
        BUILD: ANY,
    },
    "daemon/compat": {
        "daemon/request": "public",
        "daemon/api": "public",
        "common": ANY,
        "builder": ANY,
        BUILD: ANY,
    },
    "daemon/worker": {"daemon": {"roles.h"}, "common": ANY, "builder": ANY, "sandbox": ANY,
                      BUILD: ANY},
    "daemon/webhook": {"daemon": {"roles.h"}, "common": ANY, BUILD: ANY},
}
# Areas that may use anything: the tests, benchmarks and build glue.
FREE = ("tests", "bench", "scripts", ".")

# No HTTP in the request normalizer; the sandbox stays on libc and the kernel.
BANNED_SYSTEM = {
    "daemon/request": ("microhttpd.h",),
    "sandbox": ("jansson.h", "sqlite3.h", "curl/curl.h", "microhttpd.h", "git2.h"),
}

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
SYSTEM = re.compile(r"^\s*#\s*include\s*<([^>]+)>")
MESON_PATH = re.compile(r"""['"]([^'"\s]*/[^'"\s]*)['"]""")


def tracked():
    """The tree's files as git sees them (what a checkout holds), else a walk."""
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, text=True,
                             check=True).stdout.split()
        if out:
            return [p for p in out if os.path.exists(os.path.join(ROOT, p))]
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for d, subdirs, names in os.walk(ROOT):
        subdirs[:] = [s for s in subdirs if not s.startswith((".", "build"))]
        found += [os.path.relpath(os.path.join(d, n), ROOT) for n in names]
    return found


FILES = tracked()
SOURCES = [p for p in FILES if p.endswith((".c", ".h")) or os.path.basename(p) == "meson.build"]


def area_of(path):
    """The area a repository path belongs to: its own folder (so a new
    sub-folder needs a rule of its own), or the top folder of a free one
    (tests/unit/x.c -> tests)."""
    d = os.path.dirname(path) or "."
    top = d.split("/")[0]
    if d not in RULES and top in FREE:
        return top
    return d


def resolve(src, ref, via_include_dirs):
    """The repository path ref names from src, or None (a system or generated file)."""
    cand = os.path.normpath(os.path.join(os.path.dirname(src), ref))
    if not cand.startswith("..") and os.path.exists(os.path.join(ROOT, cand)):
        return cand
    if via_include_dirs:
        if ref == "farm-build-config.h":
            return BUILD + "/" + ref
        for inc in INCLUDE_DIRS:
            cand = os.path.normpath(os.path.join(inc, ref))
            if os.path.exists(os.path.join(ROOT, cand)):
                return cand
    return None


def uses(src):
    """[(line number, repository path used)] of one file."""
    found = []
    with open(os.path.join(ROOT, src), encoding="utf-8", errors="replace") as f:
        for no, line in enumerate(f, 1):
            if src.endswith("meson.build"):
                if line.lstrip().startswith("#"):
                    continue
                refs = [(m.group(1), False) for m in MESON_PATH.finditer(line)]
            else:
                m = INCLUDE.match(line)
                refs = [(m.group(1), True)] if m else []
            for ref, via in refs:
                target = resolve(src, ref, via)
                if target:
                    found.append((no, target))
    return found


def allowed(src_area, target):
    if target.startswith(BUILD + "/"):
        t_area, name = BUILD, target.split("/", 1)[1]
    elif os.path.isdir(os.path.join(ROOT, target)):
        t_area, name = target, ""  # a whole folder (meson's install_subdir)
    else:
        t_area, name = area_of(target), os.path.basename(target)
    if t_area == src_area or src_area in FREE:
        return True
    rule = RULES.get(src_area, {})
    if t_area not in rule:
        return False
    files = rule[t_area]
    if files is ANY:
        return True
    if files == "public":
        return name.endswith(".h") and not name.endswith("_internal.h")
    return name in files


def violations(area=None):
    bad = []
    for src in SOURCES:
        a = area_of(src)
        if area is not None and a != area:
            continue
        for no, target in uses(src):
            if not allowed(a, target):
                bad.append("%s:%d uses %s" % (src, no, target))
        for banned in BANNED_SYSTEM.get(a, ()):
            with open(os.path.join(ROOT, src), encoding="utf-8", errors="replace") as f:
                for no, line in enumerate(f, 1):
                    m = SYSTEM.match(line)
                    if m and m.group(1) == banned:
                        bad.append("%s:%d includes <%s>" % (src, no, banned))
    return bad


def check_area(area):
    bad = violations(area)
    assert not bad, "%s/ breaks its rule (tests/cli/test_layout.py):\n  %s" % (
        area, "\n  ".join(bad))


def test_every_folder_has_a_rule():
    folders = sorted({area_of(p) for p in SOURCES})
    missing = [f for f in folders if f not in RULES and f not in FREE]
    assert not missing, "folders without a layout rule: %s" % missing
    # and every rule names a folder that exists, so a move cannot leave a rule idle
    idle = [a for a in RULES if not any(area_of(p) == a for p in SOURCES)]
    assert not idle, "rules for folders that hold no source: %s" % idle


def test_sandbox_uses_nothing_of_the_project():
    check_area("sandbox")


def test_common_uses_no_process_folder():
    check_area("common")


def test_builder_uses_no_daemon_or_cli_file():
    # daemon/ and cli/ use the builder library; the reverse would be a cycle.
    check_area("builder")


def test_cli_uses_no_daemon_file():
    check_area("cli")


def test_daemon_root_uses_only_its_parts():
    check_area("daemon")


def test_request_has_no_http_and_no_other_daemon_part():
    check_area("daemon/request")


def test_api_never_uses_worker_or_webhook():
    check_area("daemon/api")


def test_compat_uses_only_request_and_api_public_headers():
    check_area("daemon/compat")


def test_worker_never_uses_api_request_compat_webhook():
    check_area("daemon/worker")


def test_webhook_uses_only_common():
    check_area("daemon/webhook")


def test_daemon_file_names_are_unique_in_the_tree():
    # daemon/junit.c beside common/junit.c, daemon/box.c beside sandbox/box.c:
    # a name that means two files sends a reader to the wrong one.
    by_name = {}
    for p in SOURCES:
        if p.endswith((".c", ".h")) and area_of(p) not in FREE:
            by_name.setdefault(os.path.basename(p), []).append(p)
    clash = sorted(v for v in by_name.values()
                   if len(v) > 1 and any(p.startswith("daemon/") for p in v))
    assert not clash, "file names used twice: %s" % clash


def test_junit_renderer_lives_in_common():
    assert os.path.exists(os.path.join(ROOT, "common", "junit.c"))
    with open(os.path.join(ROOT, "common", "meson.build")) as f:
        assert "'junit.c'" in f.read(), "common/meson.build does not compile junit.c"


if __name__ == "__main__":
    cases = [(n, fn) for n, fn in sorted(globals().items()) if n.startswith("test_") and callable(fn)]
    sys.exit(farmtest.run_cases(cases))
