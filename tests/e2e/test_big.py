#!/usr/bin/env python3
"""Submissions at the size limits, through a real farmd (under ASan in CI):
api.max_tests distinct tests, each with its own stdin and expected output, and
api.max_files distinct files. Each test's output must be its own: a blob hash
read from a moved array (issue 10: 40 tests answered 500) mixes them up or
crashes the API."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402
from apitest import farmtest  # noqa: E402

MAX_TESTS = 1000  # api.max_tests default (common/config_keys.def)
MAX_FILES = 256   # api.max_files default


def tests_of(n):
    # stdin i, expected 2*i+1: every stdin and every expected output is distinct
    return [{"name": "t%d" % i, "stdin": "%d\n" % i, "expected_output": "%d\n" % (2 * i + 1)}
            for i in range(n)]


def main():
    cases = []
    prog = {"name": "main.sh", "content": "read a; echo $((2*a+1))\n"}
    with farmtest.Farm(workers=2, builders=1) as farm:
        def many_tests(n):
            def run():
                sub = {"profile": "bash", "files": [prog], "tests": tests_of(n)}
                st, b = farm.submit(sub, wait=False)
                assert st == 202, (st, b)
                b = farm.wait_finished(b["id"], timeout=1200)
                assert b["state"] == "finished", b.get("state")
                assert len(b["tests"]) == n, len(b["tests"])
                for i, t in enumerate(b["tests"]):
                    assert t["name"] == "t%d" % i, t["name"]
                    assert t["verdict"] == "accepted" and t["stdout"] == "%d\n" % (2 * i + 1), t
                assert b["verdict"] == "accepted", b["verdict"]
            return run
        cases.append(("40 tests, each its own stdin and expected output", many_tests(40)))
        cases.append(("api.max_tests (%d) tests, each its own stdin and expected output" % MAX_TESTS,
                      many_tests(MAX_TESTS)))

        def one_too_many():
            sub = {"profile": "bash", "files": [prog], "tests": tests_of(MAX_TESTS + 1)}
            st, b = farm.submit(sub, wait=False)
            apitest.check_error(st, b, 422, "tests", "max_tests + 1")
        cases.append(("api.max_tests + 1 tests is a 422 naming tests", one_too_many))

        def max_files():
            files = [{"name": "d/f%03d" % i, "content": "line %d\n" % i} for i in range(MAX_FILES - 1)]
            files.append({"name": "main.sh",  # bash builtins only: the profile has no cat
                          "content": "for f in d/f*; do while IFS= read -r l; do echo \"$l\"; done < \"$f\"; done\n"})
            want = "".join("line %d\n" % i for i in range(MAX_FILES - 1))
            sub = {"profile": "bash", "files": files,
                   "tests": [{"name": "all", "expected_output": want}]}
            st, b = farm.submit(sub, wait=True, timeout=600)
            assert st == 200 and b["state"] == "finished", (st, b.get("state"), b)
            assert b["verdict"] == "accepted", b["tests"][0]
            files.append({"name": "x", "content": "x"})
            st, b = farm.submit(sub, wait=False)
            apitest.check_error(st, b, 422, "files", "max_files + 1")
        cases.append(("api.max_files (%d) distinct files; one more is a 422" % MAX_FILES, max_files))
        rc = farmtest.run_cases(cases)
    sys.exit(rc)


if __name__ == "__main__":
    main()
