#!/usr/bin/env python3
"""farm against a real farmd: submit (exit codes per verdict), --json shape,
detach + watch + status, cancel, junit, profiles/depsets, git sources at a
rev and at a bad rev, error exits (refused, unreachable, usage), config
sources (flag, FARM_URL, config file)."""
import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import Tmp, check, farm  # noqa: E402
import farmtest  # noqa: E402

F = None
URL = None

HELLO = "import sys\nfor line in sys.stdin:\n    a, b = map(int, line.split())\n    print(a + b)\n"


def remote(*args, **kw):
    return farm("--server", URL, *args, **kw)


def test_submit_accepted_with_tests_dir():
    with Tmp() as t:
        t.write("main.py", HELLO)
        t.write("tests/one.in", "1 2\n")
        t.write("tests/one.out", "3\n")
        t.write("tests/two.in", "20 22\n")
        t.write("tests/two.out", "42\n")
        p = check(remote("submit", "-P", "python3", "-r", "python3 main.py", "-t",
                         t.path + "/tests", t.path + "/main.py"), 0)
        assert re.search(r"^one\s+accepted", p.stdout, re.M), p.stdout
        assert re.search(r"^two\s+accepted", p.stdout, re.M), p.stdout
        assert "accepted (2/2 tests passed)" in p.stdout


def test_wrong_answer_exits_1_and_shows_first_failure():
    with Tmp() as t:
        t.write("main.py", HELLO)
        t.write("tests/a.in", "1 1\n")
        t.write("tests/a.out", "3\n")
        p = check(remote("submit", "-P", "python3", "-r", "python3 main.py", "-t",
                         t.path + "/tests", t.path + "/main.py"), 1)
        assert "wrong_answer" in p.stdout and "first failure: a" in p.stdout, p.stdout


def test_name_equals_path_renames():
    with Tmp() as t:
        t.write("solution.c", '#include <stdio.h>\nint main(void){puts("ok");return 0;}\n')
        p = check(remote("submit", "--json", "-p", "c", "main.c=" + t.path + "/solution.c"), 0)
        assert json.loads(p.stdout)["tests"][0]["stdout"] == "ok\n", p.stdout


def test_compile_error_exits_2_with_compiler_output():
    with Tmp() as t:
        t.write("main.c", "int main( { return 0; }\n")
        p = check(remote("submit", "-p", "c", t.path + "/main.c"), 2)
        assert "compile_error" in p.stdout and "error" in p.stdout, p.stdout


def test_runtime_limit_exit_1():
    with Tmp() as t:
        t.write("main.py", "while True:\n    pass\n")
        p = check(remote("submit", "-P", "python3", "-r", "python3 main.py", "--time", "500ms",
                         t.path + "/main.py"), 1)
        assert "time_limit" in p.stdout, p.stdout


def test_json_output_is_only_the_result():
    with Tmp() as t:
        t.write("main.py", HELLO)
        t.write("in.txt", "2 3\n")
        t.write("want.txt", "5\n")
        p = check(remote("submit", "--json", "-P", "python3", "-r", "python3 main.py", "--stdin",
                         t.path + "/in.txt", "--expect", t.path + "/want.txt", t.path + "/main.py"), 0)
        j = json.loads(p.stdout)  # the whole stdout is one JSON document
        assert re.fullmatch(r"[0-9a-f]{32}", j["id"]), j
        assert j["state"] == "finished" and j["verdict"] == "accepted", j
        assert len(j["tests"]) == 1
        t0 = j["tests"][0]
        for k in ("name", "verdict", "exit_code", "signal", "cpu_ms", "wall_ms", "memory_kib", "stdout"):
            assert k in t0, (k, t0)
        assert t0["stdout"] == "5\n" and t0["verdict"] == "accepted"


def test_detach_watch_status_junit():
    with Tmp() as t:
        t.write("main.py", "print('hi')\n")
        p = check(remote("submit", "-d", "-P", "python3", "-r", "python3 main.py", t.path + "/main.py"), 0)
        sid = p.stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{32}", sid), p.stdout
        p = check(remote("watch", sid), 0)
        assert "accepted" in p.stdout
        p = check(remote("status", "--json", sid), 0)
        assert json.loads(p.stdout)["state"] == "finished"
        p = check(remote("junit", sid), 0)
        root = ET.fromstring(p.stdout)
        assert root.tag == "testsuites" and root.get("failures") == "0", p.stdout
        cases = root.findall("./testsuite/testcase")
        assert len(cases) == 1 and cases[0].find("system-out").text == "hi\n"


def test_cancel_queued_or_running():
    with Tmp() as t:
        t.write("main.py", "import time\ntime.sleep(30)\n")
        p = check(remote("submit", "-d", "-P", "python3", "-r", "python3 main.py", t.path + "/main.py"), 0)
        sid = p.stdout.strip()
        check(remote("cancel", sid), 0)
        deadline = time.time() + 60
        while time.time() < deadline:
            p = remote("status", sid)
            if p.returncode != 6:
                break
            time.sleep(0.2)
        check(p, 4, "status of a cancelled submission")
        assert "cancelled" in p.stdout


def test_profiles_and_depsets():
    p = check(remote("profiles", "--json"), 0)
    json.loads(p.stdout)
    p = check(remote("profiles"), 0)
    assert "python3" in p.stdout
    p = check(remote("depsets", "--json"), 0)
    json.loads(p.stdout)
    p = check(remote("depsets"), 0)
    assert "ready" in p.stdout and "python3" in p.stdout, p.stdout


def test_git_source_at_rev_and_bad_rev():
    with Tmp() as t:
        repo = t.path + "/repo"
        c1 = clitest.make_repo(repo, {"app/main.py": "print('one')\n"})
        with open(repo + "/app/main.py", "w") as f:
            f.write("print('two')\n")
        clitest.git(repo, "commit", "-q", "-am", "two")
        p = check(remote("submit", "--json", "-P", "python3", "-r", "python3 main.py", "--git", repo,
                         "--rev", c1, "--subdir", "app"), 0)
        assert json.loads(p.stdout)["tests"][0]["stdout"] == "one\n", p.stdout
        p = check(remote("submit", "--json", "-P", "python3", "-r", "python3 main.py", "--git",
                         "file://" + repo, "--rev", "main", "--subdir", "app"), 0)
        assert json.loads(p.stdout)["tests"][0]["stdout"] == "two\n", p.stdout
        p = remote("submit", "--json", "-P", "python3", "-r", "python3 main.py", "--git", repo,
                   "--rev", "no-such-branch")
        assert p.returncode not in (0, 64, 69), (p.returncode, p.stdout, p.stderr)
        text = p.stdout + p.stderr
        assert "no-such-branch" in text, text
        # The submitter's mistake, not the farm's: compile_error with the reason.
        view = json.loads(p.stdout)
        assert view["state"] == "compile_error", view
        assert "no-such-branch" in view["compile"]["stderr"], view


class GitHttp:
    """Smart HTTP for the repositories under root, through `git http-backend`
    (CGI), as a forge serves them."""

    def __init__(self, root):
        import http.server
        import subprocess
        import threading

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def cgi(self):
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = {"GIT_PROJECT_ROOT": root, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
                       "QUERY_STRING": query, "REQUEST_METHOD": self.command,
                       "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                       "CONTENT_LENGTH": str(len(body)), "PATH": os.environ["PATH"]}
                if self.headers.get("Content-Encoding"):
                    env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
                out = subprocess.run(["git", "http-backend"], input=body, env=env,
                                     capture_output=True).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                status = 200
                headers = []
                for line in head.decode().split("\r\n"):
                    k, _, v = line.partition(":")
                    if k.lower() == "status":
                        status = int(v.split()[0])
                    elif k:
                        headers.append((k, v.strip()))
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = cgi
            do_POST = cgi

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_git_source_over_http():
    with Tmp() as t:
        work = t.path + "/work"
        c1 = clitest.make_repo(work, {"main.py": "print('over http')\n"})
        clitest.git(t.path, "clone", "-q", "--bare", work, t.path + "/srv/app.git")
        srv = GitHttp(t.path + "/srv")
        try:
            p = check(remote("submit", "--json", "-P", "python3", "-r", "python3 main.py", "--git",
                             srv.url + "/app.git", "--rev", c1), 0)
            assert json.loads(p.stdout)["tests"][0]["stdout"] == "over http\n", p.stdout
            p = remote("submit", "--json", "-P", "python3", "-r", "python3 main.py", "--git",
                       srv.url + "/missing.git", "--rev", "main")
            assert p.returncode not in (0, 64), (p.returncode, p.stdout, p.stderr)
            assert "missing.git" in p.stdout + p.stderr, p.stdout + p.stderr
        finally:
            srv.close()


def test_errors_have_their_exit_codes():
    with Tmp() as t:
        t.write("main.py", "print(1)\n")
        p = check(remote("submit", "-P", "pyhton3", "-r", "python3 main.py", t.path + "/main.py"), 65)
        assert "pyhton3" in p.stderr, p.stderr
        check(farm("--server", "http://127.0.0.1:%d" % farmtest.free_port(), "status", "0" * 32), 69)
        check(remote("status", "not-an-id"), 64)
        check(remote("nosuchverb"), 64)
        check(remote("submit", "-P", "python3", "-r", "x", t.path + "/missing.py"), 66)
        check(remote("status", "f" * 32), 65)


def test_server_from_env_and_config_file():
    with Tmp() as t:
        sid_p = check(farm("profiles", "--json", env={"FARM_URL": URL}), 0)
        json.loads(sid_p.stdout)
        cfg = t.write("config.json", json.dumps({"server": URL}))
        check(farm("--config", cfg, "profiles"), 0)
        os.makedirs(t.path + "/xdg/farm")
        t.write("xdg/farm/config.json", json.dumps({"server": URL}))
        check(farm("depsets", env={"XDG_CONFIG_HOME": t.path + "/xdg"}), 0)
        bad = t.write("bad.json", "{nope")
        check(farm("--config", bad, "profiles"), 64)


def test_tokens_from_flag_env_and_config():
    import subprocess
    with Tmp() as t, farmtest.Farm(workers=1, settings={"api.auth": "true"}) as f:
        def token(name, scopes):
            out = subprocess.run([farmtest.farmd_path(), "token", "create", "--name", name,
                                  "--scopes", scopes], env=f.env(), capture_output=True, text=True,
                                 timeout=60)
            assert out.returncode == 0, out.stderr
            return json.loads(out.stdout)["token"]
        sub, reader = token("ci", "submit,read"), token("ro", "read")
        url = "http://127.0.0.1:%d" % f.port
        p = check(farm("--server", url, "profiles"), 77)
        assert "token" in p.stderr.lower(), p.stderr
        check(farm("--server", url, "--token", sub, "profiles"), 0)
        check(farm("profiles", env={"FARM_URL": url, "FARM_TOKEN": sub}), 0)
        cfg = t.write("c.json", json.dumps({"server": url, "token": sub}))
        check(farm("--config", cfg, "depsets"), 0)
        t.write("main.py", "print(1)\n")
        check(farm("--server", url, "--token", reader, "submit", "-P", "python3", "-r",
                   "python3 main.py", t.path + "/main.py"), 77)
        check(farm("--server", url, "--token", sub, "submit", "-q", "-P", "python3", "-r",
                   "python3 main.py", t.path + "/main.py"), 0)


def main():
    global F, URL
    # The git source tests use repositories on this host and a git server on
    # loopback: both refused by default (git.allow_local, git.allow_private).
    with farmtest.Farm(workers=2, settings={"git.allow_local": "true",
                                            "git.allow_private": "true"}) as farm_:
        F = farm_
        URL = "http://127.0.0.1:%d" % farm_.port
        cases = [(name, fn) for name, fn in sorted(globals().items())
                 if name.startswith("test_") and callable(fn)]
        rc = farmtest.run_cases(cases)
        if rc:
            print("# farmd log tail:\n# " + farm_.logs()[-4000:].replace("\n", "\n# "))
        return rc


if __name__ == "__main__":
    sys.exit(main())
