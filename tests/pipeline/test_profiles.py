#!/usr/bin/env python3
"""Hello world in every profile through a real farmd (real Nix sets)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipelib import settings, farmtest, expect, submit_wait  # noqa: E402

PROGRAMS = {
    "python3": ("main.py", 'print("hello")\n'),
    "c": ("main.c", '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'),
    "cpp": ("main.cpp", '#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n'),
    "c-tcc": ("main.c", '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'),
    "lua": ("main.lua", 'print("hello")\n'),
    "bash": ("main.sh", 'echo hello\n'),
}


def make_case(farm, profile):
    def case():
        name, src = PROGRAMS[profile]
        b = submit_wait(farm, {"profile": profile, "files": [{"name": name, "content": src}],
                               "tests": [{"expected_output": "hello\n"}]}, timeout=900)
        expect(b["state"] == "finished" and b["verdict"] == "accepted", b)
    return case


def c_case(farm, src, state, verdict, check=None, limits=None):
    def case():
        sub = {"profile": "c", "files": [{"name": "main.c", "content": src}]}
        if limits:
            sub["limits"] = limits
        b = submit_wait(farm, sub, timeout=900)
        expect(b["state"] == state and b.get("verdict") == verdict, b)
        if check:
            check(b)
    return case


def main():
    with farmtest.Farm(workers=2, builders=2, settings=settings()) as farm:
        status, profiles = farm.request("GET", "/v1/profiles")
        names = set(PROGRAMS)
        cases = [("profiles listed", lambda: expect(status == 200 and names <= set(
            p["name"] if isinstance(p, dict) and "name" in p else p
            for p in (profiles.get("profiles", profiles) if isinstance(profiles, dict) else profiles)), profiles))]
        cases += [("hello " + p, make_case(farm, p)) for p in PROGRAMS]
        cases += [
            ("c compile error", c_case(farm, "int main(void) { return x; }\n", "compile_error", None,
                                       lambda b: expect("error" in b["compile"]["stderr"], b["compile"]))),
            ("c segfault", c_case(farm, "int main(void) { volatile int *p = 0; return *p; }\n",
                                  "finished", "runtime_error",
                                  lambda b: expect(b["tests"][0]["signal"] == "SIGSEGV", b))),
            # With cgroups the tree is killed and the verdict names memory; with
            # rlimits (no usable cgroup here) malloc fails and the program says so.
            ("c memory bomb", c_case(farm, "#include <stdlib.h>\n#include <string.h>\nint main(void) {\n"
                                     "  for (;;) { char *p = malloc(1 << 20); if (!p) return 3; memset(p, 1, 1 << 20); }\n}\n",
                                     "finished",
                                     "memory_limit" if farmtest.sandbox_accounting() != "rlimits" else "runtime_error",
                                     None if farmtest.sandbox_accounting() != "rlimits" else
                                     lambda b: expect(b["tests"][0]["exit_code"] == 3, b),
                                     limits={"run": {"memory_kib": 65536}})),
            ("c exit code", c_case(farm, "int main(void) { return 42; }\n", "finished", "runtime_error",
                                   lambda b: expect(b["tests"][0]["exit_code"] == 42, b))),
        ]
        rc = farmtest.run_cases(cases)
    sys.exit(rc)


if __name__ == "__main__":
    main()
