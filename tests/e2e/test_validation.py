#!/usr/bin/env python3
"""Malformed submissions: each gets a 4xx naming the field; the daemon stays
healthy; what was accepted before is still there afterwards."""
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402
from apitest import farmtest, hello  # noqa: E402

F = {"name": "main.sh", "content": "echo hi\n"}


def sub(**kw):
    s = {"profile": "bash", "files": [F]}
    s.update(kw)
    return s


def without(key):
    s = sub()
    del s[key]
    return s


# (label, body (dict/list/str/bytes), status, field)
CASES = [
    ("empty body", b"", 400, "body"),
    ("not json", "{nope", 400, "body"),
    ("truncated json", '{"profile": "bash"', 400, "body"),
    ("duplicate keys", '{"profile": "bash", "profile": "c", "run": "x"}', 400, "body"),
    ("array body", [1, 2], 400, "body"),
    ("string body", '"hello"', 400, "body"),
    ("unknown top-level field", sub(colour="red"), 422, "colour"),
    ("no profile nor packages", {"run": "echo hi"}, 422, "profile"),
    ("unknown profile", sub(profile="brainfuck"), 422, "profile"),
    ("profile wrong type", sub(profile=3), 422, "profile"),
    ("packages not array", {"packages": "gcc", "run": "x"}, 422, "packages"),
    ("package wrong type", {"packages": ["gcc", 3], "run": "x"}, 422, "packages[1]"),
    ("unknown package", {"packages": ["bash", "pyhton3"], "run": "x"}, 422, "packages[1]"),
    ("empty package name", {"packages": [""], "run": "x"}, 422, "packages[0]"),
    ("expr without scope", {"expr": "with import <nixpkgs> {}; hello", "run": "x"}, 403, "expr"),
    ("files not array", sub(files={"a": 1}), 422, "files"),
    ("file not object", sub(files=["main.sh"]), 422, "files[0]"),
    ("file without name", sub(files=[{"content": "x"}]), 422, "files[0].name"),
    ("file without content", sub(files=[{"name": "a"}]), 422, "files[0].content"),
    ("file name wrong type", sub(files=[{"name": 7, "content": ""}]), 422, "files[0].name"),
    ("content wrong type", sub(files=[{"name": "a", "content": 7}]), 422, "files[0].content"),
    ("absolute path", sub(files=[{"name": "/etc/passwd", "content": ""}]), 422, "files[0].name"),
    ("dotdot traversal", sub(files=[{"name": "../x", "content": ""}]), 422, "files[0].name"),
    ("nested dotdot", sub(files=[{"name": "a/../../x", "content": ""}]), 422, "files[0].name"),
    ("empty file name", sub(files=[{"name": "", "content": ""}]), 422, "files[0].name"),
    ("NUL in file name", sub(files=[{"name": "a\u0000b", "content": ""}]), 422, "files[0].name"),
    ("duplicate file names", sub(files=[F, F]), 422, "files[1].name"),
    ("file and dir clash", sub(files=[{"name": "a", "content": ""}, {"name": "a/b", "content": ""}]), 422, "files[1].name"),
    ("trailing slash", sub(files=[{"name": "dir/", "content": ""}]), 422, "files[0].name"),
    ("bad encoding", sub(files=[{"name": "a", "content": "", "encoding": "utf16"}]), 422, "files[0].encoding"),
    ("bad base64", sub(files=[{"name": "a", "content": "!!!", "encoding": "base64"}]), 422, "files[0].content"),
    ("unknown file field", sub(files=[{"name": "a", "content": "", "mode": 7}]), 422, "files[0].mode"),
    ("executable not bool", sub(files=[{"name": "a", "content": "", "executable": "yes"}]), 422, "files[0].executable"),
    ("compile wrong type", sub(compile=["gcc"]), 422, "compile"),
    ("run wrong type", sub(run=5), 422, "run"),
    ("run empty", sub(run=""), 422, "run"),
    ("run missing without profile", {"packages": ["bash"]}, 422, "run"),
    ("NUL in run", sub(run="echo\u0000hi"), 422, "run"),
    ("tests not array", sub(tests={"stdin": ""}), 422, "tests"),
    ("test not object", sub(tests=["1 2"]), 422, "tests[0]"),
    ("stdin wrong type", sub(tests=[{"stdin": 5}]), 422, "tests[0].stdin"),
    ("args not array", sub(tests=[{"args": "a b"}]), 422, "tests[0].args"),
    ("arg wrong type", sub(tests=[{"args": ["a", 1]}]), 422, "tests[0].args[1]"),
    ("NUL in arg", sub(tests=[{"args": ["a\u0000"]}]), 422, "tests[0].args[0]"),
    ("expected wrong type", sub(tests=[{"expected_output": 3}]), 422, "tests[0].expected_output"),
    ("duplicate test names", sub(tests=[{"name": "a"}, {"name": "a"}]), 422, "tests[1].name"),
    ("unknown test field", sub(tests=[{"input": ""}]), 422, "tests[0].input"),
    ("test limit over max", sub(tests=[{"limits": {"cpu_ms": 10**9}}]), 422, "tests[0].limits.cpu_ms"),
    ("limits not object", sub(limits=[1]), 422, "limits"),
    ("unknown limits section", sub(limits={"runtime": {}}), 422, "limits.runtime"),
    ("unknown limit", sub(limits={"run": {"cpu_seconds": 1}}), 422, "limits.run.cpu_seconds"),
    ("limit wrong type", sub(limits={"run": {"cpu_ms": "1000"}}), 422, "limits.run.cpu_ms"),
    ("limit fractional", sub(limits={"run": {"cpu_ms": 1.5}}), 422, "limits.run.cpu_ms"),
    ("limit zero", sub(limits={"run": {"memory_kib": 0}}), 422, "limits.run.memory_kib"),
    ("limit negative", sub(limits={"compile": {"wall_ms": -1}}), 422, "limits.compile.wall_ms"),
    ("run cpu over max", sub(limits={"run": {"cpu_ms": 10**8}}), 422, "limits.run.cpu_ms"),
    ("compile memory over max", sub(limits={"compile": {"memory_kib": 10**10}}), 422, "limits.compile.memory_kib"),
    ("processes over max", sub(limits={"run": {"processes": 100000}}), 422, "limits.run.processes"),
    ("env not object", sub(env=["A=1"]), 422, "env"),
    ("env bad name", sub(env={"1A": "x"}), 422, "env.1A"),
    ("env value wrong type", sub(env={"A": 1}), 422, "env.A"),
    ("NUL in env value", sub(env={"A": "x\u0000y"}), 422, "env.A"),
    ("env value too long", sub(env={"A": "x" * 32769}), 422, "env.A"),
    ("priority wrong type", sub(priority="high"), 422, "priority"),
    ("priority out of range", sub(priority=1000), 422, "priority"),
    ("compare unknown", sub(compare="fuzzy"), 422, "compare"),
    ("stop_on_first_failure wrong type", sub(stop_on_first_failure="yes"), 422, "stop_on_first_failure"),
    ("cache wrong type", sub(cache=1), 422, "cache"),
    ("callback not http", sub(callback_url="ftp://x/y"), 422, "callback_url"),
    ("callback wrong type", sub(callback_url=5), 422, "callback_url"),
    # callback_url is checked against SSRF at submission (webhook.allow_private is off here)
    ("callback loopback", sub(callback_url="http://127.0.0.1:8080/hook"), 422, "callback_url"),
    ("callback loopback short form", sub(callback_url="http://127.1/hook"), 422, "callback_url"),
    ("callback loopback as a number", sub(callback_url="http://2130706433/hook"), 422, "callback_url"),
    ("callback private 10/8", sub(callback_url="http://10.1.2.3/hook"), 422, "callback_url"),
    ("callback private 192.168/16", sub(callback_url="https://192.168.0.10:8443/hook"), 422, "callback_url"),
    ("callback link-local metadata", sub(callback_url="http://169.254.169.254/latest/meta-data/"), 422, "callback_url"),
    ("callback IPv6 loopback", sub(callback_url="http://[::1]:9/hook"), 422, "callback_url"),
    ("callback IPv4-mapped private", sub(callback_url="http://[::ffff:192.168.1.1]/hook"), 422, "callback_url"),
    ("callback IPv6 unique local", sub(callback_url="http://[fd00::1]/hook"), 422, "callback_url"),
    ("callback localhost name", sub(callback_url="http://localhost:9/hook"), 422, "callback_url"),
    ("callback *.localhost name", sub(callback_url="http://api.LocalHost./hook"), 422, "callback_url"),
    ("callback unspecified 0.0.0.0", sub(callback_url="http://0.0.0.0:80/hook"), 422, "callback_url"),
    ("callback with credentials", sub(callback_url="http://user:pw@example.org/hook"), 422, "callback_url"),
    ("callback without host", sub(callback_url="http:///hook"), 422, "callback_url"),
    ("callback not a url", sub(callback_url="not a url"), 422, "callback_url"),
    ("callback empty", sub(callback_url=""), 422, "callback_url"),
    ("source not object", sub(source="git"), 422, "source"),
    ("source git bad scheme", sub(source={"git": {"url": "ssh://h/r", "rev": "main"}}), 422, "source.git.url"),
]

# Git sources the farm must not fetch for a stranger (git.allow_local,
# git.allow_private off): (url, the setting that would allow it)
GIT_REFUSED = [
    ("file:///etc", "git.allow_local"),
    ("/root/x", "git.allow_local"),
    ("http://127.0.0.1/x.git", "git.allow_private"),
    ("http://10.0.0.1/x.git", "git.allow_private"),
    ("http://[::1]/x", "git.allow_private"),
    ("http://localhost/x", "git.allow_private"),
    ("https://169.254.169.254:443/x.git", "git.allow_private"),
    ("http://2130706433/x.git", "git.allow_private"),
]
for _url, _setting in GIT_REFUSED:
    CASES.append(("git source %s" % _url, sub(source={"git": {"url": _url, "rev": "main"}}), 422,
                  "source.git.url"))
CASES.append(("git source host unreadable", sub(source={"git": {"url": "http://%31%32%37.0.0.1/x",
                                                                 "rev": "main"}}), 422, "source.git.url"))


def main():
    farm = apitest.api_farm(settings={"api.max_body_bytes": "65536"})
    with farm:
        # accepted before the storm: must survive it
        st, before = farm.submit(hello(), wait=False)
        assert st == 202, (st, before)

        def make(label, body, status, field):
            def run():
                st, resp = farm.request("POST", "/v1/submissions", body,
                                        headers={"Content-Type": "application/json"})
                apitest.check_error(st, resp, status, field, label)
            return ("%s -> %d %s" % (label, status, field), run)

        cases = [make(*c) for c in CASES]

        def huge_body():
            st, resp = farm.request("POST", "/v1/submissions",
                                    sub(files=[{"name": "a", "content": "x" * 200000}]))
            apitest.check_error(st, resp, 413, "body", "huge body")
        cases.append(("huge body -> 413 body", huge_body))

        def announced_huge_body():
            # 10 GB announced: answered before the body is read, connection closed
            import socket
            s = socket.create_connection(("127.0.0.1", farm.port), timeout=30)
            try:
                s.sendall(b"POST /v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 10000000000\r\n\r\n")
                # no body sent at all: the answer must come from the headers alone
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            finally:
                s.close()
            assert data.startswith(b"HTTP/1.1 413"), data[:200]
            assert b'"field":"body"' in data, data
        cases.append(("10 GB announced -> 413 before reading it", announced_huge_body))

        def endless_chunked_body():
            # No length announced: the farm must stop reading once far past
            # the cap (it answers 413 and closes), not drop bytes forever.
            import socket
            s = socket.create_connection(("127.0.0.1", farm.port), timeout=30)
            chunk = b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n"
            sent, closed = 0, False
            try:
                s.sendall(b"POST /v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n")
                while sent < (256 << 20) and not closed:
                    try:
                        s.sendall(chunk)
                        sent += 65536
                    except OSError:
                        closed = True
                if not closed:
                    try:
                        closed = s.recv(4096)[:12] == b"HTTP/1.1 413"
                    except OSError:
                        pass
            finally:
                s.close()
            assert closed, "the farm read %d bytes of an endless body without closing" % sent
            st, h = farm.request("GET", "/v1/health")
            # An API-only farm with work queued is "failing" (no worker), 503:
            # what counts here is that the API answers and its database works.
            assert st in (200, 503) and h["database_writable"] and h["live"]["api"] >= 1, (st, h)
        cases.append(("endless chunked body -> connection closed", endless_chunked_body))

        def batch_item_named():
            st, resp = farm.request("POST", "/v1/submissions/batch",
                                    {"submissions": [hello(), sub(files=[{"name": "../a", "content": ""}])]})
            apitest.check_error(st, resp, 422, "submissions[1].files[0].name", "batch")
        cases.append(("batch names the item", batch_item_named))

        def valid_forms_accepted():
            for body in [sub(), sub(files=[{"name": "b.bin", "content": base64.b64encode(b"\x00\xff").decode(), "encoding": "base64"}]),
                         {"packages": ["bash"], "run": "echo hi"},
                         sub(tests=[{"stdin": "1\n", "args": ["a"], "expected_output": "1\n", "limits": {"cpu_ms": 100}}]),
                         sub(env={"LANG": "C.UTF-8"}, priority=5, compare="exact", stop_on_first_failure=True, cache=False,
                             callback_url="https://ci.example.org:8443/hooks/farm?x=1",
                             files=[{"name": "src/x/main.sh", "content": ""}])]:
                st, resp = farm.submit(body, wait=False)
                assert st == 202, (body, st, resp)
        cases.append(("valid variants are accepted", valid_forms_accepted))

        def callback_refusal_says_why():
            st, resp = farm.submit(sub(callback_url="http://127.0.0.1:1/hook"), wait=False)
            apitest.check_error(st, resp, 422, "callback_url", "loopback callback")
            assert resp["error"]["code"] == "forbidden_address", resp
            assert "webhook.allow_private" in resp["error"]["message"], resp
            st, resp = farm.submit(sub(callback_url="gopher://example.org/"), wait=False)
            apitest.check_error(st, resp, 422, "callback_url", "gopher callback")
            assert resp["error"]["code"] == "invalid_value", resp
        cases.append(("a refused callback_url says why (code, setting)", callback_refusal_says_why))

        def private_callback_allowed_by_setting():
            with apitest.api_farm(settings={"webhook.allow_private": "true"}) as open_farm:
                for url in ("http://127.0.0.1:1/hook", "http://localhost:9/hook", "http://[::1]:9/h",
                            "http://10.1.2.3/hook"):
                    st, resp = open_farm.submit(sub(callback_url=url), wait=False)
                    assert st == 202, (url, st, resp)
                    st, v = open_farm.request("GET", "/v1/submissions/" + resp["id"])
                    assert st == 200 and v["callback_url"] == url, (url, v)
                # the form is still checked
                st, resp = open_farm.submit(sub(callback_url="ftp://127.0.0.1/x"), wait=False)
                apitest.check_error(st, resp, 422, "callback_url", "ftp with allow_private")
        cases.append(("webhook.allow_private accepts loopback and private callbacks",
                      private_callback_allowed_by_setting))

        def git_refusal_says_why():
            for url, setting in GIT_REFUSED:
                st, resp = farm.submit(sub(source={"git": {"url": url, "rev": "main"}}), wait=False)
                apitest.check_error(st, resp, 422, "source.git.url", url)
                want = "forbidden_source" if setting == "git.allow_local" else "forbidden_address"
                assert resp["error"]["code"] == want, (url, resp)
                assert setting in resp["error"]["message"], (url, resp)
            # a public host (or a name, resolved and checked when fetched) is accepted
            st, resp = farm.submit(sub(source={"git": {"url": "https://example.org/x.git", "rev": "main"}}),
                                   wait=False)
            assert st == 202, (st, resp)
        cases.append(("a refused git source says why (code, setting)", git_refusal_says_why))

        def local_repo_refused_then_allowed():
            import subprocess
            import tempfile
            with tempfile.TemporaryDirectory(prefix="farm-e2e-git-") as d:
                subprocess.run(["git", "-c", "init.defaultBranch=main", "init", "-q", d], check=True)
                with open(os.path.join(d, "main.sh"), "w") as f:
                    f.write("echo from-git\n")
                subprocess.run(["git", "-C", d, "add", "-A"], check=True)
                subprocess.run(["git", "-C", d, "-c", "user.name=t", "-c", "user.email=t@t", "commit",
                                "-q", "-m", "c"], check=True)
                body = {"profile": "bash", "source": {"git": {"url": d, "rev": "main"}}}
                st, resp = farm.submit(body, wait=False)
                apitest.check_error(st, resp, 422, "source.git.url", "local repository")
                assert "git.allow_local" in resp["error"]["message"], resp
                st, resp = farm.submit(dict(body, source={"git": {"url": "file://" + d, "rev": "main"}}),
                                       wait=False)
                apitest.check_error(st, resp, 422, "source.git.url", "local file:// repository")
                with apitest.api_farm(settings={"git.allow_local": "true"}) as open_farm:
                    st, resp = open_farm.submit(body, wait=False)
                    assert st == 202, (st, resp)
                    # the other setting stays off
                    st, resp = open_farm.submit(sub(source={"git": {"url": "http://127.0.0.1/x.git",
                                                                    "rev": "main"}}), wait=False)
                    apitest.check_error(st, resp, 422, "source.git.url", "loopback with allow_local")
        cases.append(("a local repository is refused unless git.allow_local", local_repo_refused_then_allowed))

        def private_git_allowed_by_setting():
            with apitest.api_farm(settings={"git.allow_private": "true"}) as open_farm:
                for url, setting in GIT_REFUSED:
                    st, resp = open_farm.submit(sub(source={"git": {"url": url, "rev": "main"}}), wait=False)
                    if setting == "git.allow_private":
                        assert st == 202, (url, st, resp)
                    else:
                        apitest.check_error(st, resp, 422, "source.git.url", url)
            with apitest.api_farm(settings={"git.allow_private": "true", "git.allow_local": "true"}) as both:
                for url, _ in GIT_REFUSED:
                    st, resp = both.submit(sub(source={"git": {"url": url, "rev": "main"}}), wait=False)
                    assert st == 202, (url, st, resp)
        cases.append(("git.allow_private / git.allow_local accept what they name", private_git_allowed_by_setting))

        def still_healthy():
            st, h = farm.request("GET", "/v1/health")
            # API only: "failing" for want of workers, never for the database
            assert st in (200, 503) and h["database_writable"] and h["live"]["api"] >= 1, (st, h)
            assert not any("database" in r for r in h["reasons"]), h
            st, again = farm.request("GET", "/v1/submissions/" + before["id"])
            assert st == 200 and again["id"] == before["id"] and again["state"] == "queued", (st, again)
            # nothing invalid was queued: the valid ones only (1 + 5 + 1 public git source above)
            q = h["queues"]["submissions"]
            assert q["queued"] + q["waiting_deps"] == 7, q
        cases.append(("daemon healthy, accepted work kept, nothing invalid queued", still_healthy))
        rc = farmtest.run_cases(cases)
    sys.exit(rc)


if __name__ == "__main__":
    main()
