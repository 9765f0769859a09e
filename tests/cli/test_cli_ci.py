#!/usr/bin/env python3
"""`farm ci` on sample repositories made here: local (sandbox, no daemon) and
--remote (a real farmd, inline files or a git source), pass and fail cases,
JUnit that xml.etree parses with the right counts, exit codes."""
import json
import os
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import Tmp, check, farm  # noqa: E402
import farmtest  # noqa: E402

URL = None
STATE = None

ADD_C = ('#include <stdio.h>\nint main(void){long a,b;if(scanf("%ld %ld",&a,&b)!=2)return 3;'
         'printf("%ld\\n",a+b);return 0;}\n')


def job(steps, **extra):
    j = {"name": "sample", "packages": ["gcc"], "limits": {"cpu_ms": 5000, "memory_kib": 262144},
         "steps": steps}
    j.update(extra)
    return json.dumps(j, indent=1)


def sample_repo(path, expected_two="42\n", extra_steps=()):
    steps = [{"name": "build", "run": "gcc -O2 -o add add.c"},
             {"name": "io", "run": "./add", "tests": "tests/io"}] + list(extra_steps)
    return clitest.make_repo(path, {
        "farm.json": job(steps),
        "add.c": ADD_C,
        "tests/io/one.in": "1 2\n", "tests/io/one.out": "3\n",
        "tests/io/two.in": "40 2\n", "tests/io/two.out": expected_two,
    })


def ci(repo, *args):
    return farm("ci", "-C", repo, "--state-dir", STATE, *args)


def parse_junit(path):
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites", root.tag
    return root


def test_local_pass_writes_junit():
    with Tmp() as t:
        repo = t.path + "/repo"
        sample_repo(repo)
        junit = t.path + "/junit.xml"
        p = check(ci(repo, "--junit", junit), 0)
        assert "PASSED" in p.stdout and "local" in p.stdout, p.stdout
        root = parse_junit(junit)
        assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "0", "0"), \
            ET.tostring(root)
        names = [(s.get("name"), c.get("name")) for s in root.iter("testsuite") for c in s.iter("testcase")]
        assert names == [("build", "build"), ("io", "one"), ("io", "two")], names


def test_local_fail_exits_1_and_skips_later_steps():
    with Tmp() as t:
        repo = t.path + "/repo"
        sample_repo(repo, expected_two="41\n", extra_steps=[{"name": "after", "run": "true"}])
        junit = t.path + "/junit.xml"
        p = check(ci(repo, "--junit", junit), 1)
        assert "FAILED" in p.stdout and "two: wrong_answer" in p.stdout, p.stdout
        root = parse_junit(junit)
        assert root.get("failures") == "1" and root.get("skipped") == "1", ET.tostring(root)
        fail = [c for c in root.iter("testcase") if c.find("failure") is not None]
        assert [c.get("name") for c in fail] == ["two"]
        assert fail[0].find("failure").get("type") == "wrong_answer"
        assert fail[0].find("system-out").text == "42\n"


def test_local_build_failure_and_json_summary():
    with Tmp() as t:
        repo = t.path + "/repo"
        clitest.make_repo(repo, {"farm.json": job([{"name": "build", "run": "gcc -o add add.c"},
                                                   {"name": "io", "run": "./add", "tests": "t"}]),
                                 "add.c": "int main( {\n", "t/a.in": "1 2\n", "t/a.out": "3\n"})
        p = check(ci(repo, "--json"), 1)
        j = json.loads(p.stdout)
        assert j["passed"] is False and j["mode"] == "local", j
        assert [s["status"] for s in j["steps"]] == ["failed", "skipped"], j


def test_only_committed_files_count():
    with Tmp() as t:
        repo = t.path + "/repo"
        sample_repo(repo)
        with open(repo + "/add.c", "w") as f:      # uncommitted breakage
            f.write("syntax error\n")
        check(ci(repo), 0)


def test_bad_job_file_is_a_usage_error():
    with Tmp() as t:
        repo = t.path + "/repo"
        clitest.make_repo(repo, {"farm.json": '{"packages": ["gcc"], "steps": [{"name": "x"}]}'})
        p = check(ci(repo), 64)
        assert "steps[0]" in p.stderr, p.stderr
        repo2 = t.path + "/repo2"
        clitest.make_repo(repo2, {"README": "no job\n"})
        p = check(ci(repo2), 64)
        assert "farm.json" in p.stderr
        check(farm("ci", "-C", t.path), 66)  # not a repository


def test_remote_inline_pass_and_fail():
    with Tmp() as t:
        repo = t.path + "/repo"
        sample_repo(repo)
        junit = t.path + "/junit.xml"
        p = check(ci(repo, "--remote", URL, "--junit", junit), 0)
        assert "remote" in p.stdout and "PASSED" in p.stdout, p.stdout
        root = parse_junit(junit)
        assert root.get("failures") == "0" and int(root.get("tests")) >= 2, ET.tostring(root)
        repo2 = t.path + "/repo2"
        sample_repo(repo2, expected_two="0\n")
        p = check(ci(repo2, "--remote", URL, "--junit", junit), 1)
        root = parse_junit(junit)
        assert root.get("failures") == "1", ET.tostring(root)


def test_remote_git_source():
    with Tmp() as t:
        repo = t.path + "/repo"
        sample_repo(repo)
        p = check(ci(repo, "--remote", URL, "--git-source", repo, "--json"), 0)
        j = json.loads(p.stdout)
        assert j["mode"] == "remote" and j["passed"] and j["steps"][0]["submission"], j


def main():
    global URL, STATE
    # --git-source names a repository on this host: refused unless git.allow_local.
    with Tmp("farm-ci-state-") as st, farmtest.Farm(workers=2, settings={"git.allow_local": "true"}) as f:
        STATE = st.path
        URL = "http://127.0.0.1:%d" % f.port
        cases = [(n, fn) for n, fn in sorted(globals().items()) if n.startswith("test_") and callable(fn)]
        rc = farmtest.run_cases(cases)
        if rc:
            print("# farmd log tail:\n# " + f.logs()[-3000:].replace("\n", "\n# "))
        return rc


if __name__ == "__main__":
    sys.exit(main())
