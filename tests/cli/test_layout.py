#!/usr/bin/env python3
"""The direction of dependency of DESIGN.md, checked on the source tree: cli/
takes nothing from daemon/ (JUnit rendering is common/junit.c, shared by both),
builder/ takes nothing from daemon/ or cli/,
common/ uses no process folder, sandbox/ uses nothing of the project. Looks at
#include lines and at the files each meson.build compiles."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.environ["FARM_SOURCE_ROOT"], "tests", "lib"))
import farmtest  # noqa: E402

ROOT = os.environ["FARM_SOURCE_ROOT"]
FOLDERS = ("cli", "daemon", "builder", "common", "sandbox")
REF = re.compile(r"""(?:#\s*include\s*"|['"])(?:\.\./)+(%s)/""" % "|".join(FOLDERS))


def references(folder):
    """{(file, line number, referenced folder)} for every ../<folder>/ reference."""
    found = set()
    base = os.path.join(ROOT, folder)
    for name in sorted(os.listdir(base)):
        if not (name.endswith((".c", ".h")) or name == "meson.build"):
            continue
        with open(os.path.join(base, name), encoding="utf-8", errors="replace") as f:
            for no, line in enumerate(f, 1):
                for m in REF.finditer(line):
                    if m.group(1) != folder:
                        found.add(("%s/%s" % (folder, name), no, m.group(1)))
    return found


def forbidden(folder, banned):
    bad = sorted(r for r in references(folder) if r[2] in banned)
    assert not bad, "%s/ must not use %s: %s" % (folder, ", ".join(banned), bad)


def test_cli_uses_no_daemon_file():
    forbidden("cli", ("daemon",))


def test_common_uses_no_process_folder():
    forbidden("common", ("cli", "daemon", "builder", "sandbox"))


def test_builder_uses_no_daemon_or_cli_file():
    # daemon/ and cli/ use the builder library; the reverse would be a cycle.
    forbidden("builder", ("cli", "daemon"))


def test_sandbox_uses_nothing_of_the_project():
    forbidden("sandbox", ("cli", "daemon", "builder", "common"))


def test_junit_renderer_lives_in_common():
    assert os.path.exists(os.path.join(ROOT, "common", "junit.c"))
    assert not os.path.exists(os.path.join(ROOT, "daemon", "junit_render.c"))
    with open(os.path.join(ROOT, "common", "meson.build")) as f:
        assert "'junit.c'" in f.read(), "common/meson.build does not compile junit.c"


if __name__ == "__main__":
    cases = [(n, fn) for n, fn in sorted(globals().items()) if n.startswith("test_") and callable(fn)]
    sys.exit(farmtest.run_cases(cases))
