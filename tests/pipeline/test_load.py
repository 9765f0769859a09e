#!/usr/bin/env python3
"""200 concurrent submissions, mixed verdicts, all finish with the right one."""
import os
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipelib import settings, farmtest, sh, expect, submit_nowait  # noqa: E402

KINDS = [
    ("accepted", lambda i: sh("echo %d" % i, tests=[{"expected_output": "%d" % i}])),
    ("wrong_answer", lambda i: sh("echo %d" % i, tests=[{"expected_output": "x%d" % i}])),
    ("runtime_error", lambda i: sh("exit %d" % (1 + i % 100))),
    ("accepted", lambda i: sh("cat", tests=[{"stdin": "line %d\n" % i, "expected_output": "line %d" % i}])),
]


def case_200_concurrent():
    with farmtest.Farm(workers=2, settings=settings()) as farm:
        n = 200

        def one(i):
            want, make = KINDS[i % len(KINDS)]
            sid = submit_nowait(farm, make(i))
            return i, want, sid

        with ThreadPoolExecutor(32) as ex:
            subs = list(ex.map(one, range(n)))

        def check(item):
            i, want, sid = item
            body = farm.wait_finished(sid, timeout=600)
            return i, want, body

        with ThreadPoolExecutor(16) as ex:
            results = list(ex.map(check, subs))
        bad = [(i, want, b.get("state"), b.get("verdict")) for i, want, b in results
               if b.get("state") != "finished" or b.get("verdict") != want]
        expect(not bad, "%d wrong: %r" % (len(bad), bad[:10]))
        for i, want, b in results:
            if want == "runtime_error":
                expect(b["tests"][0]["exit_code"] == 1 + i % 100, b)


if __name__ == "__main__":
    sys.exit(farmtest.run_cases([("200 concurrent submissions", case_200_concurrent)]))
