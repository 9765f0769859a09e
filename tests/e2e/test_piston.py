#!/usr/bin/env python3
"""The Piston v2 front end to end (issue 13, docs/compat-piston.md): a real
farmd with workers and a builder, real programs, plain HTTP as Piston's
clients speak it. Runtimes and aliases, every semver range form, every
execute field, every status, Piston's error texts, the text/plain body
piston-client sends, packages, and auth through Authorization."""
import base64
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402
from apitest import farmtest  # noqa: E402

SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
STAGE_KEYS = {"stdout", "stderr", "output", "code", "signal", "message", "status", "cpu_time",
              "wall_time", "memory"}
# what piston-client (npm) posts for client.execute(language, code): its defaults
CLIENT_DEFAULTS = {"args": ["1", "2", "3"], "stdin": "", "compile_timeout": 10000,
                   "run_timeout": 3000, "compile_memory_limit": -1, "run_memory_limit": -1}


def main():
    cases = []
    with farmtest.Farm(workers=2, builders=1) as farm:

        def post(body, ctype="application/json", path="/api/v2/execute", method="POST",
                 headers=None):
            import json
            h = {"Content-Type": ctype}
            h.update(headers or {})
            return farm.request(method, path, json.dumps(body), headers=h, timeout=600)

        def execute(body, ctype="application/json"):
            st, b = post(body, ctype)
            assert st == 200, (st, b)
            assert "run" in b and set(b["run"]) == STAGE_KEYS, b
            return b

        st, runtimes = farm.request("GET", "/api/v2/runtimes")
        assert st == 200, (st, runtimes)
        by_lang = {r["language"]: r for r in runtimes}
        py_ver = by_lang["python"]["version"]

        def runtimes_shape():
            for r in runtimes:
                assert set(r) <= {"language", "version", "aliases", "runtime"}, r
                assert SEMVER.match(r["version"]), r
                assert isinstance(r["aliases"], list), r
            want = {"python": ["py", "py3", "python3"], "c": ["gcc"], "c++": ["cpp", "g++"],
                    "bash": ["sh"]}
            for lang, aliases in want.items():
                assert lang in by_lang, (lang, runtimes)
                assert set(aliases) <= set(by_lang[lang]["aliases"]), by_lang[lang]
            assert by_lang["c"]["runtime"] == "gcc" and by_lang["c++"]["runtime"] == "gcc"
            assert "runtime" not in by_lang["python"]
            if "javascript" in by_lang:
                assert {"js", "node-js", "node-javascript"} <= set(by_lang["javascript"]["aliases"])
            if "perl" in by_lang:
                assert "pl" in by_lang["perl"]["aliases"]
        cases.append(("GET /api/v2/runtimes: canonical names, Piston's aliases, plain semver, "
                      "runtime for gcc", runtimes_shape))

        prog = ("import sys\nprint('args', sys.argv[1:])\nprint('stdin', repr(sys.stdin.read()))\n"
                "print('err', file=sys.stderr)\n")

        hello = {"python": "print('hello', 6*7)", "bash": "echo hello $((6*7))",
                 "c": '#include <stdio.h>\nint main(void){printf("hello %d\\n", 6*7);}',
                 "c++": '#include <iostream>\nint main(){std::cout << "hello " << 6*7 << std::endl;}',
                 "javascript": "console.log('hello', 6*7)", "perl": 'print "hello ", 6*7, "\\n";',
                 "lua": "print('hello ' .. 6*7)",
                 # the languages scripts/install-languages.sh adds
                 "ruby": 'puts "hello #{6*7}"', "php": '<?php echo "hello ", 6*7, "\\n";',
                 "go": 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello", 6*7) }',
                 "rust": 'fn main() { println!("hello {}", 6*7); }',
                 "ocaml": 'Printf.printf "hello %d\\n" (6*7);;',
                 "lisp": '(format t "hello ~a~%" (* 6 7))',
                 "nasm64": ("section .data\nmsg db 'hello 42', 10\nsection .text\nglobal _start\n"
                            "_start:\nmov rax, 1\nmov rdi, 1\nmov rsi, msg\nmov rdx, 9\nsyscall\n"
                            "mov rax, 60\nxor rdi, rdi\nsyscall\n"),
                 "pascal": "begin\n  writeln('hello ', 6*7);\nend.",
                 "d": 'import std.stdio;\nvoid main() { writeln("hello ", 6*7); }',
                 "clojure": '(println "hello" (* 6 7))',
                 "csharp": 'class P { static void Main() { System.Console.WriteLine("hello " + 6*7); } }',
                 "haskell": 'main = putStrLn ("hello " ++ show (6*7))',
                 "kotlin": 'fun main() { println("hello " + 6*7) }',
                 "scala": 'object Main { def main(a: Array[String]): Unit = println("hello " + 6*7) }',
                 "groovy": 'println "hello " + 6*7',
                 "cobol": ("IDENTIFICATION DIVISION.\nPROGRAM-ID. MAIN.\nDATA DIVISION.\n"
                           "WORKING-STORAGE SECTION.\n01 N PIC 99.\nPROCEDURE DIVISION.\n"
                           "    COMPUTE N = 6 * 7.\n    DISPLAY \"hello \" N.\n    STOP RUN.\n"),
                 "rscript": 'cat(paste("hello", 6*7), "\\n", sep = "")',
                 "octave": 'printf("hello %d\\n", 6*7)'}
        compiled = {"c", "c++", "go", "rust", "ocaml", "nasm64", "pascal", "d", "csharp", "haskell",
                    "kotlin", "cobol"}

        def every_runtime():
            assert set(by_lang) <= set(hello), "a runtime without a smoke program: %s" % sorted(by_lang)
            for lang, rt in by_lang.items():
                for name in [lang] + rt["aliases"]:
                    body = {"language": name, "version": rt["version"],
                            "files": [{"content": hello[lang]}]}
                    if lang == "scala":  # the script runner compiles at run time
                        body.update(run_timeout=60000, run_cpu_time=60000)
                    b = execute(body)
                    assert b["language"] == lang and b["version"] == rt["version"], (name, b)
                    assert b["run"]["stdout"] == "hello 42\n", (name, b)
                    assert ("compile" in b) == (lang in compiled), (name, b)
        cases.append(("execute: every runtime of the set, under its name and each alias", every_runtime))

        def python_text_plain():
            b = execute({"language": "py3", "version": "3.x", "files": [{"content": prog}],
                         "stdin": "1 2", "args": ["a b", "c"]}, ctype="text/plain")
            assert b["language"] == "python" and b["version"] == py_ver, b
            assert "compile" not in b, b
            r = b["run"]
            assert r["stdout"] == "args ['a b', 'c']\nstdin '1 2\\n'\n", r
            assert r["stderr"] == "err\n", r
            assert sorted(r["output"]) == sorted(r["stdout"] + r["stderr"]), r
            assert r["code"] == 0 and r["signal"] is None and r["status"] is None, r
            assert r["message"] is None, r
            assert isinstance(r["cpu_time"], int) and isinstance(r["wall_time"], int), r
            assert isinstance(r["memory"], int) and r["memory"] > 0 and r["memory"] % 1024 == 0, r
        cases.append(("execute: alias, 3.x, text/plain body, stdin newline appended, args as argv",
                      python_text_plain))

        def client_defaults():
            body = dict(CLIENT_DEFAULTS, language="python", version="*",
                        files=[{"content": "import sys; print(sys.argv[1:])"}])
            b = execute(body, ctype="text/plain")
            assert b["run"]["stdout"] == "['1', '2', '3']\n", b
        cases.append(("execute: piston-client's request with its defaults is accepted as is",
                      client_defaults))

        def ranges():
            major, minor, patch = py_ver.split(".")
            ok = ["*", major, major + ".x", "^%s.%s" % (major, minor), py_ver, "~%s.%s" % (major, minor),
                  ">=%s <%d" % (major, int(major) + 1), "1 || %s" % major, "x.x.x"]
            for rng in ok:
                b = execute({"language": "python", "version": rng, "files": [{"content": "print(1)"}]})
                assert b["version"] == py_ver and b["run"]["stdout"] == "1\n", (rng, b)
            bad = [str(int(major) + 1), "^%s.%d" % (major, int(minor) + 1), "<%s" % major,
                   "%s.%s.%d" % (major, minor, int(patch) + 1), "banana"]
            for rng in bad:
                st, b = post({"language": "python", "version": rng, "files": [{"content": "print(1)"}]})
                assert st == 400 and b == {"message": "python-%s runtime is unknown" % rng}, (rng, st, b)
        cases.append(("execute: semver ranges (*, N, N.x, ^, ~, exact, compound, ||) and unknown "
                      "versions", ranges))

        def error_texts():
            f = [{"content": "x"}]
            want = [
                ({}, "language is required as a string"),
                ({"language": 5, "version": "*", "files": f}, "language is required as a string"),
                ({"language": "python", "files": f}, "version is required as a string"),
                ({"language": "python", "version": "*"}, "files is required as an array"),
                ({"language": "python", "version": "*", "files": "x"}, "files is required as an array"),
                ({"language": "python", "version": "*", "files": [{"content": "x"}, {"name": "a"}]},
                 "files[1].content is required as a string"),
                ({"language": "brainfuck", "version": "*", "files": f}, "brainfuck-* runtime is unknown"),
                ({"language": "python", "version": "*",
                  "files": [{"content": "eA==", "encoding": "base64"}]},
                 "files must include at least one utf8 encoded file"),
                ({"language": "python", "version": "*", "files": f, "run_timeout": "1"},
                 "If specified, run_timeout must be a number"),
                ({"language": "python", "version": "*", "files": f, "run_timeout": 10 ** 9},
                 "run_timeout cannot exceed the configured limit of 120000"),
                ({"language": "python", "version": "*", "files": f, "run_cpu_time": -3},
                 "run_cpu_time must be non-negative"),
                ({"language": "python", "version": "*", "files": [{"content": "x", "name": "../../etc/x"}]},
                 'File path "../../etc/x" tries to escape parent directory'),
            ]
            for body, msg in want:
                st, b = post(body)
                assert st == 400 and b == {"message": msg}, (body, st, b)
            st, b = farm.request("POST", "/api/v2/execute", "{not json",
                                 headers={"Content-Type": "text/plain"})
            assert st == 400 and set(b) == {"message"}, (st, b)
        cases.append(("execute: Piston's 400 {message} texts", error_texts))

        def c_compile_run():
            src = "#include <stdio.h>\nint main(int c, char **v){printf(\"%d %s\\n\", c, v[1]); return 0;}\n"
            b = execute({"language": "gcc", "version": "*", "files": [{"name": "m.c", "content": src}],
                         "args": ["x"]})
            assert b["language"] == "c" and "compile" in b, b
            assert b["compile"]["code"] == 0 and b["compile"]["status"] is None, b
            assert b["run"]["stdout"] == "2 x\n", b
            bad = execute({"language": "c++", "version": "*", "files": [{"content": "int main( {"}]})
            assert bad["compile"]["status"] == "RE" and bad["compile"]["code"] != 0, bad
            assert bad["run"] == bad["compile"], bad
            assert "error" in bad["run"]["output"], bad
        cases.append(("execute: compiled language has compile; after a compile failure run is "
                      "a copy of compile", c_compile_run))

        def compile_limits():
            src = "int main(void){return 0;}\n"
            b = execute({"language": "c", "version": "*", "files": [{"content": src}],
                         "compile_cpu_time": 1, "compile_memory_limit": 256 * 1024 * 1024,
                         "compile_timeout": 60000})
            assert b["compile"]["status"] == "TO" and b["compile"]["signal"] == "SIGKILL", b
            assert b["run"] == b["compile"], b
            b = execute({"language": "c", "version": "*", "files": [{"content": src}],
                         "compile_memory_limit": 4 * 1024 * 1024})
            assert b["compile"]["status"] in ("SG", "RE"), b
            assert b["run"] == b["compile"], b
        cases.append(("execute: compile_cpu_time, compile_memory_limit, compile_timeout reach "
                      "the compile stage", compile_limits))

        def statuses():
            def sh(code, **extra):
                return execute(dict({"language": "bash", "version": "*",
                                     "files": [{"content": code}]}, **extra))["run"]
            r = sh("exit 3")
            assert r["status"] == "RE" and r["code"] == 3 and r["signal"] is None, r
            assert r["message"] == "Exited with error status 3", r
            r = sh("kill -SEGV $$")
            assert r["status"] == "SG" and r["code"] is None and r["signal"] == "SIGSEGV", r
            r = sh("sleep 60", run_timeout=300)
            assert r["status"] == "TO" and r["signal"] == "SIGKILL" and r["code"] is None, r
            r = sh("head -c 3000000 /dev/zero | tr '\\0' a")
            assert r["status"] == "OL" and r["signal"] == "SIGKILL", r
            assert r["message"] == "stdout length exceeded", r
            r = sh("head -c 3000000 /dev/zero | tr '\\0' a >&2")
            assert r["status"] == "EL" and r["signal"] == "SIGKILL", r
            r = sh("while :; do :; done", run_cpu_time=200, run_timeout=60000)
            assert r["status"] == "TO" and r["signal"] == "SIGKILL", r
            assert r["message"] == "Time limit exceeded", r
            assert r["cpu_time"] >= 200, r
        cases.append(("execute: statuses RE, SG, TO, OL, EL with code/signal/message", statuses))

        def memory_limit():
            r = execute({"language": "python", "version": "*", "run_memory_limit": 64 * 1024 * 1024,
                         "files": [{"content": "x = bytearray(256*1024*1024)\nprint(len(x))"}]})["run"]
            assert r["status"] in ("SG", "RE") and r["stdout"] == "", r
        cases.append(("execute: run_memory_limit in bytes is enforced", memory_limit))

        def files():
            b = execute({"language": "bash", "version": "*", "files": [
                {"content": "cat file1.code; cat lib/x.txt; od -An -tx1 bin/d.bin; ls\n"},
                {"content": "one\n"},
                {"name": "lib/../lib/x.txt", "content": base64.b64encode(b"two\n").decode(),
                 "encoding": "base64"},
                {"name": "/bin/d.bin", "content": "00ff7f", "encoding": "hex"}]})
            out = b["run"]["stdout"]
            assert out.startswith("one\ntwo\n 00 ff 7f\n"), b
            assert "file0.code" in out and "file1.code" in out, b
        cases.append(("execute: files utf8/base64/hex, default names, sub-directories", files))

        # Each write waits until the farm has read the previous one (FIONREAD on
        # the pipe drops to 0), so the write order is known without any timing.
        interleave = ("import os, fcntl, struct, termios\n"
                      "def drained(fd):\n"
                      "    while struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, b'\\0' * 4))[0]:\n"
                      "        os.sched_yield()\n"
                      "for i in range(4):\n"
                      "    for fd, tag in ((1, 'out'), (2, 'err')):\n"
                      "        os.write(fd, ('%s%d\\n' % (tag, i)).encode())\n"
                      "        drained(fd)\n")

        def interleaved():
            r = execute({"language": "python", "version": "*", "files": [{"content": interleave}]})["run"]
            assert r["stdout"] == "out0\nout1\nout2\nout3\n", r
            assert r["stderr"] == "err0\nerr1\nerr2\nerr3\n", r
            assert r["output"] == "out0\nerr0\nout1\nerr1\nout2\nerr2\nout3\nerr3\n", r
            loc = farm.last_headers.get("Location", "")
            st, v = farm.request("GET", loc)
            order = v["tests"][0]["output_order"]
            assert order[:2] == [["stdout", 5], ["stderr", 5]] and len(order) == 8, order
        cases.append(("execute: output interleaves stdout and stderr in write order "
                      "(the sandbox's order record, v1 output_order)", interleaved))

        def not_utf8():
            r = execute({"language": "bash", "version": "*",
                         "files": [{"content": "printf 'a\\377b\\n'"}]})["run"]
            assert r["stdout"] == "a\ufffdb\n" and r["output"] == r["stdout"], r
        cases.append(("execute: output that is not UTF-8 shows U+FFFD, as Node does", not_utf8))

        def packages():
            st, lst = farm.request("GET", "/api/v2/packages")
            assert st == 200 and isinstance(lst, list) and lst, (st, lst)
            for p in lst:
                assert set(p) == {"language", "language_version", "installed"}, p
            py = [p for p in lst if p["language"] == "python"][0]
            assert py["installed"] is True, py  # the executions above built its set
            st, b = post({"language": "lua", "version": "*"}, path="/api/v2/packages")
            assert st == 200 and b["language"] == "lua" and SEMVER.match(b["version"]), (st, b)
            st, lst = farm.request("GET", "/api/v2/packages")
            assert [p for p in lst if p["language"] == "lua"][0]["installed"] is True, lst
            st, b = post({"language": "lua", "version": "*"}, path="/api/v2/packages",
                         method="DELETE")
            assert st == 200 and b["language"] == "lua", (st, b)
            st, lst = farm.request("GET", "/api/v2/packages")
            assert [p for p in lst if p["language"] == "lua"][0]["installed"] is False, lst
            st, b = post({"language": "brainfuck", "version": "*"}, path="/api/v2/packages")
            assert st == 404 and b == {"message": "Requested package brainfuck-* does not exist"}, (st, b)
        cases.append(("packages: list, install (built now), uninstall (root dropped), unknown",
                      packages))

        def in_v1():
            b = execute({"language": "sh", "version": "*", "files": [{"content": "echo hi"}]})
            loc = farm.last_headers.get("Location", "")
            assert loc.startswith("/v1/submissions/"), farm.last_headers
            st, v = farm.request("GET", loc)
            assert st == 200 and v["state"] == "finished", v
            assert v["tests"][0]["stdout"] == b["run"]["stdout"] == "hi\n", (v, b)
        cases.append(("execute: the job is an ordinary submission, visible in /v1", in_v1))

        def auth():
            other = apitest.api_farm(settings={"api.auth": "true"})
            with other:
                tok = apitest.token(other, "piston", "read,submit")
                st, b = other.request("GET", "/api/v2/runtimes")
                assert st == 401 and set(b) == {"message"}, (st, b)
                st, b = other.request("GET", "/api/v2/runtimes",
                                      headers={"Authorization": tok["token"]})
                assert st == 200 and isinstance(b, list), (st, b)
                st, b = other.request("GET", "/api/v2/runtimes", headers=apitest.bearer(tok))
                assert st == 200, (st, b)
                st, b = other.request("POST", "/api/v2/packages", '{"language":"lua","version":"*"}',
                                      headers={"Authorization": tok["token"]})
                assert st == 403 and set(b) == {"message"}, (st, b)
        cases.append(("auth: Authorization token (bare or Bearer), 401/403 as {message}", auth))

        def switches():
            port = farmtest.free_port()
            other = apitest.api_farm(settings={"compat.piston.listen": "127.0.0.1:%d" % port})
            with other:
                import http.client
                import json
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("GET", "/api/v2/runtimes")
                resp = conn.getresponse()
                body = json.loads(resp.read())
                assert resp.status == 200 and isinstance(body, list) and body, (resp.status, body)
                conn.request("GET", "/v1/health")
                resp = conn.getresponse()
                resp.read()
                assert resp.status == 404, resp.status  # the front's own listener serves only it
                conn.close()
            off = apitest.api_farm(settings={"compat.piston.enabled": "false"})
            with off:
                st, b = off.request("GET", "/api/v2/runtimes")
                assert st == 404, (st, b)
        cases.append(("config: compat.piston.listen serves only the front; enabled=false: 404",
                      switches))

        rc = farmtest.run_cases(cases)
    sys.exit(rc)


if __name__ == "__main__":
    main()
