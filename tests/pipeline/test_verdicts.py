#!/usr/bin/env python3
"""Every verdict through a real farmd: accepted, wrong_answer, time_limit (busy
and sleeping), memory_limit, runtime_error (exit code, signal), output_limit,
non-UTF-8 output, compile error, many tests with one compile."""
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipelib import (settings, farmtest, sh, expect, submit_wait, count_stage, run)  # noqa: E402

farm = None


def t(body, i=0):
    return body["tests"][i]


def case_hello():
    b = submit_wait(farm, sh("echo hello", tests=[{"stdin": "", "expected_output": "hello\n"}]))
    expect(b["state"] == "finished" and b["verdict"] == "accepted", b)
    expect(t(b)["stdout"] == "hello\n", t(b))
    for k in ("cpu_ms", "wall_ms", "memory_kib", "exit_code", "signal"):
        expect(k in t(b), "test result lacks %s: %r" % (k, t(b)))


def case_stdin_and_args():
    b = submit_wait(farm, sh("sh main.sh", files=[{"name": "main.sh", "content": 'read x; echo $((x * $1))\n'}],
                             tests=[{"stdin": "21\n", "args": ["2"], "expected_output": "42"}]))
    expect(b["verdict"] == "accepted", b)


def case_wrong_answer():
    b = submit_wait(farm, sh("echo 4", tests=[{"expected_output": "5\n"}]))
    expect(b["state"] == "finished" and b["verdict"] == "wrong_answer", b)
    expect(t(b)["verdict"] == "wrong_answer", t(b))


def case_trailing_whitespace_default_and_exact():
    b = submit_wait(farm, sh("printf '4  \\n\\n'", tests=[{"expected_output": "4"}]))
    expect(b["verdict"] == "accepted", b)
    b = submit_wait(farm, sh("printf '4  \\n\\n'", tests=[{"expected_output": "4"}], compare="exact"))
    expect(b["verdict"] == "wrong_answer", b)


def case_time_limit_busy():
    b = submit_wait(farm, sh("while :; do :; done", limits={"run": {"cpu_ms": 400, "wall_ms": 5000}}))
    expect(b["verdict"] == "time_limit", b)
    expect(t(b).get("limit") == "cpu", t(b))


def case_time_limit_sleeping():
    b = submit_wait(farm, sh("sleep 30", limits={"run": {"cpu_ms": 1000, "wall_ms": 500}}))
    expect(b["verdict"] == "time_limit", b)
    expect(t(b).get("limit") == "wall", t(b))


def case_memory_limit():
    b = submit_wait(farm, sh("awk 'BEGIN { s = \"xxxxxxxx\"; while (1) s = s s }'",
                             limits={"run": {"memory_kib": 32768, "cpu_ms": 5000, "wall_ms": 10000}}))
    if farmtest.sandbox_accounting() != "rlimits":
        expect(b["verdict"] == "memory_limit", b)
    else:
        # No cgroups here: the limit is RLIMIT_AS per process, so the program
        # sees its allocation fail and dies of it; no cgroup names the cause.
        print("# rlimits accounting here: memory_limit cannot be named; the program "
              "could not take more than its limit")
        expect(b["verdict"] in ("runtime_error", "memory_limit"), b)
        expect(t(b)["memory_kib"] <= 32768, t(b))


def case_runtime_error_exit_code():
    b = submit_wait(farm, sh("exit 3"))
    expect(b["verdict"] == "runtime_error" and t(b)["exit_code"] == 3, b)


def case_runtime_error_signal():
    b = submit_wait(farm, sh("kill -SEGV $$"))
    expect(b["verdict"] == "runtime_error" and t(b)["signal"] == "SIGSEGV", b)


def case_output_flood():
    b = submit_wait(farm, sh("yes", limits={"run": {"output_bytes": 10000}}))
    expect(b["verdict"] == "output_limit", b)
    expect(t(b)["stdout_truncated"] is True and len(t(b)["stdout"]) <= 10000, t(b))


def case_non_utf8():
    b = submit_wait(farm, sh("printf '\\377\\376ok'"))
    expect(b["verdict"] == "accepted", b)
    expect(t(b).get("encoding") == "base64", t(b))
    expect(base64.b64decode(t(b)["stdout"]) == b"\xff\xfeok", t(b))


def case_compile_error():
    b = submit_wait(farm, sh("echo never", compile="echo broken >&2; exit 1"))
    expect(b["state"] == "compile_error", b)
    comp = b.get("compile") or (b.get("result") or {}).get("compile")
    expect(comp and "broken" in comp["stderr"] and comp["exit_code"] == 1, b)


def case_many_tests_one_compile():
    # The compile step appends a line to a file in the box; every test prints
    # that file: one line means one compile, and the box was kept for all.
    tests = [{"stdin": str(i), "expected_output": "built\n"} for i in range(12)]
    b = submit_wait(farm, sh("cat count.txt", compile="echo built >> count.txt", tests=tests))
    expect(b["verdict"] == "accepted" and len(b["tests"]) == 12, b)
    expect(count_stage(farm, b["id"], "compiling") == 1, "compile ran more than once")


def case_box_read_only_in_tests():
    b = submit_wait(farm, sh("touch /box/x 2>/dev/null && echo rw || echo ro; echo s > /scratch/f && cat /scratch/f"))
    expect(t(b)["stdout"] == "ro\ns\n", t(b))


def case_stop_on_first_failure():
    tests = [{"expected_output": "1"}, {"expected_output": "2"}, {"expected_output": "1"}]
    b = submit_wait(farm, sh("echo 1", tests=tests, stop_on_first_failure=True))
    expect(b["verdict"] == "wrong_answer" and len(b["tests"]) == 2, b)
    b = submit_wait(farm, sh("echo 1", tests=tests))
    expect(b["verdict"] == "wrong_answer" and [x["verdict"] for x in b["tests"]] ==
           ["accepted", "wrong_answer", "accepted"], b)


def main():
    global farm
    with farmtest.Farm(workers=2, settings=settings()) as f:
        farm = f
        rc = farmtest.run_cases([(n[5:], fn) for n, fn in sorted(globals().items()) if n.startswith("case_")])
    sys.exit(rc)


if __name__ == "__main__":
    main()
