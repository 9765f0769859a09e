#!/usr/bin/env python3
"""Every language profile available on this machine, through a real farmd.

For each profile that GET /v1/profiles reports available: a hello world, a
stdin-to-stdout program (reads one line, writes "got <line>"), a compile
error where the profile compiles, and a runtime error (a non-zero exit or a
signal). A profile without programs here fails the suite (a new profile must
come with its proof). The languages debian-languages.txt marks "ci" (scripts/
test.sh installs them) must be available: the suite fails if one is not,
instead of testing less. pylint and numpy (packages, not profiles) are run: pylint on a bad and a
clean file, numpy with a LAPACK call.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipelib import settings, farmtest, expect, submit_wait  # noqa: E402

TOP = os.environ.get("FARM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))

sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
from langprograms import PROGRAMS  # noqa: E402

# Entries of debian-languages.txt that are packages a submission adds, not profiles.
PACKAGES = {"pylint", "numpy"}

# Input of the stdin test; prolog's program reads a term, so it gets one.
STDIN = {"prolog": "abc.\n", "prolog-gnu": "abc.\n"}
STDOUT = {"prolog": "got abc\n", "prolog-gnu": "got abc\n"}


def ci_languages():
    """Profile names that debian-languages.txt marks "ci"."""
    names = []
    with open(os.path.join(TOP, "debian-languages.txt")) as f:
        for line in f:
            w = line.split()
            if w and not w[0].startswith("#") and len(w) > 1 and w[1] == "ci":
                names.append(w[0])
    return names


def profile_list(farm):
    status, body = farm.request("GET", "/v1/profiles")
    expect(status == 200, (status, body))
    ps = body.get("profiles", body) if isinstance(body, dict) else body
    return {p["name"]: p for p in ps}


def run(farm, profile, src, stdin="", expected=None):
    p = farm.profiles[profile]
    test = {"stdin": stdin}
    if expected is not None:
        test["expected_output"] = expected
    return submit_wait(farm, {"profile": profile, "files": [{"name": p["file"], "content": src}],
                              "tests": [test]}, timeout=900)


def hello_case(farm, profile):
    def case():
        b = run(farm, profile, PROGRAMS[profile][0], expected="hello\n")
        expect(b["state"] == "finished" and b["verdict"] == "accepted", b)
    return case


def echo_case(farm, profile):
    def case():
        b = run(farm, profile, PROGRAMS[profile][1], STDIN.get(profile, "abc\n"),
                expected=STDOUT.get(profile, "got abc\n"))
        expect(b["state"] == "finished" and b["verdict"] == "accepted", b)
    return case


def compile_error_case(farm, profile):
    def case():
        b = run(farm, profile, PROGRAMS[profile][2])
        expect(b["state"] == "compile_error", b)
        c = b["compile"]
        expect(c["exit_code"] != 0 and (c["stderr"] or c["stdout"]).strip(), c)
    return case


def runtime_error_case(farm, profile):
    def case():
        b = run(farm, profile, PROGRAMS[profile][3])
        expect(b["state"] == "finished" and b["verdict"] == "runtime_error", b)
        t = b["tests"][0]
        expect(t["exit_code"] != 0 or t["signal"], t)
    return case


def pylint_case(farm):
    """pylint is a package (not a profile): python3 plus pylint, as Jobe's
    clients run it: an undefined name is reported (E0602, non-zero exit), a
    clean file passes."""
    def case():
        # pylint starts astroid's whole inference engine: more than the
        # default wall limit on a loaded machine.
        base = {"packages": ["python3", "pylint"], "run": "pylint --disable=C,R --score=n main.py",
                "limits": {"run": {"cpu_ms": 30000, "wall_ms": 60000}}}
        bad = dict(base, files=[{"name": "main.py", "content": "print(undefined_name)\n"}])
        b = submit_wait(farm, bad, timeout=900)
        t = b["tests"][0]
        expect(b["state"] == "finished" and t["exit_code"] != 0 and "E0602" in t["stdout"], b)
        good = dict(base, files=[{"name": "main.py", "content": "print(1)\n"}],
                    tests=[{"expected_output": ""}])
        b = submit_wait(farm, good, timeout=900)
        expect(b["state"] == "finished" and b["verdict"] == "accepted", b)
    return case


def numpy_case(farm):
    """numpy is a package: python3 plus numpy finds it, BLAS/LAPACK included."""
    def case():
        src = ("import numpy as np\n"
               "print(np.arange(6).reshape(2, 3).sum(), np.linalg.inv(np.array([[2.0, 0], [0, 4]]))[1][1])\n")
        b = submit_wait(farm, {"packages": ["python3", "numpy"], "run": "python3 main.py",
                               "files": [{"name": "main.py", "content": src}],
                               "tests": [{"expected_output": "15 0.25\n"}]}, timeout=900)
        expect(b["state"] == "finished" and b["verdict"] == "accepted", b)
    return case


def php_time_case(farm):
    """PHP's date functions read /usr/share/zoneinfo: the profile's set has
    tzdata, which the worker binds there, so there is no start-up warning on
    stderr and a zone name resolves."""
    def case():
        src = ('<?php echo date_default_timezone_get(), " ",\n'
               '  (new DateTime("2024-07-01 12:00", new DateTimeZone("Europe/Paris")))->format("T"), "\\n";\n')
        b = run(farm, "php", src, expected="UTC CEST\n")
        t = b["tests"][0]
        expect(b["verdict"] == "accepted" and t["stderr"] == "", b)
    return case


def bin_sh_case(farm):
    """A C program's system() runs /bin/sh: the set's own sh, bound there."""
    def case():
        src = '#include <stdlib.h>\nint main(void) { return system("echo sh-ok") != 0; }\n'
        b = run(farm, "c", src, expected="sh-ok\n")
        expect(b["state"] == "finished" and b["verdict"] == "accepted", b)
    return case


def unavailable_packages(farm):
    status, body = farm.request("GET", "/v1/health")
    expect(status == 200, (status, body))
    return set((body.get("pkgset") or {}).get("unavailable") or [])


def main():
    with farmtest.Farm(workers=2, builders=2, settings=settings()) as farm:
        farm.profiles = profile_list(farm)
        available = sorted(n for n, p in farm.profiles.items() if p.get("available", True))
        ci = ci_languages()
        cases = [("every profile has programs here",
                  lambda: expect(not set(farm.profiles) - set(PROGRAMS),
                                 sorted(set(farm.profiles) - set(PROGRAMS)))),
                 ("every ci language is available",
                  lambda: expect(set(ci) - PACKAGES <= set(available),
                                 {n: farm.profiles.get(n, {}).get("unavailable", "no such profile")
                                  for n in set(ci) - PACKAGES - set(available)})),
                 ("every ci package is available",
                  lambda: expect(not (set(ci) & PACKAGES & unavailable_packages(farm)),
                                 set(ci) & PACKAGES & unavailable_packages(farm)))]
        missing = unavailable_packages(farm)
        if "pylint" not in missing:
            cases.append(("python3 with pylint", pylint_case(farm)))
        if "numpy" not in missing:
            cases.append(("python3 with numpy", numpy_case(farm)))
        if "php" in available:
            cases.append(("php: time zones from tzdata, no start-up warning", php_time_case(farm)))
        cases.append(("c: system() runs the set's sh at /bin/sh", bin_sh_case(farm)))
        for name in available:
            if name not in PROGRAMS:
                continue
            cases.append(("%s hello" % name, hello_case(farm, name)))
            cases.append(("%s stdin to stdout" % name, echo_case(farm, name)))
            if farm.profiles[name].get("compile") and PROGRAMS[name][2]:
                cases.append(("%s compile error" % name, compile_error_case(farm, name)))
            cases.append(("%s runtime error" % name, runtime_error_case(farm, name)))
        rc = farmtest.run_cases(cases)
    sys.exit(rc)


if __name__ == "__main__":
    main()
