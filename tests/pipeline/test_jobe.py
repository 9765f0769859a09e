#!/usr/bin/env python3
"""The Jobe 2.2 front through a real farmd (real Nix sets, real sandbox):
every outcome from real programs, files, every parameter, Java main-class
inference, Jobe's error texts, auth through X-API-KEY, overload, and ten runs
at once. Paths and texts as Jobe's clients (CodeRunner, testsubmit.py) use
them."""
import base64
import hashlib
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipelib import settings, farmtest, expect, db, wait_until  # noqa: E402

P = "/jobe/index.php/restapi"
JOBE_KEY = {"X-API-KEY": "2AAA7A5415B4A9B394B54BF1D2E9D"}  # what testsubmit.py sends

C_HELLO = '#include <stdio.h>\nint main(void) {\n    printf("Hello world\\n");\n    return 0;\n}\n'


def run(farm, spec, status=200, headers=None):
    hdrs = dict(JOBE_KEY)
    hdrs.update(headers or {})
    st, body = farm.request("POST", P + "/runs", {"run_spec": spec}, headers=hdrs, timeout=900)
    expect(st == status, "runs answered %s (wanted %s): %r" % (st, status, body))
    return body


def outcome(farm, spec, want, stdout=None):
    r = run(farm, spec)
    expect(r["outcome"] == want, "outcome %s, wanted %s: %r" % (r["outcome"], want, r))
    if stdout is not None:
        expect(r["stdout"] == stdout, "stdout %r, wanted %r" % (r["stdout"], stdout))
    expect(set(r) == {"run_id", "outcome", "cmpinfo", "stdout", "stderr"}, r)
    return r


def put_file(farm, content):
    fid = hashlib.md5(content).hexdigest()  # CodeRunner's ids
    st, body = farm.request("PUT", P + "/files/" + fid,
                            {"file_contents": base64.b64encode(content).decode()}, headers=JOBE_KEY)
    expect(st == 204, "PUT answered %s: %r" % (st, body))
    return fid


def unavailable_here(farm):
    """Packages this machine's package set cannot make (e.g. nodejs where it is
    not installed): /v1/health names them."""
    st, h = farm.request("GET", "/v1/health?verbose")
    return set((h.get("pkgset") or {}).get("unavailable") or []) if isinstance(h, dict) else set()


def cases_for(farm):
    cases = []
    node = "nodejs" not in unavailable_here(farm)
    if not node:
        print("# nodejs is unavailable on this machine: its runs are checked to be refused "
              "as an unknown language; the 17 outcome is then covered by test_jobe's unit cases")

    def node_or_refused(spec, want, stdout=None):
        if node:
            return outcome(farm, spec, want, stdout)
        st, body = farm.request("POST", P + "/runs", {"run_spec": spec}, headers=JOBE_KEY)
        expect(st == 400 and body == "Language 'nodejs' is not known", (st, body))
        return None

    def languages():
        st, body = farm.request("GET", P + "/languages", headers=JOBE_KEY)
        expect(st == 200, body)
        langs = dict(body)
        expect(all(isinstance(p, list) and len(p) == 2 for p in body), body)
        for want in ("c", "cpp", "python3", "java") + (("nodejs",) if node else ()):
            expect(want in langs and langs[want][0].isdigit(), body)
        # exactly what the package set has: nothing it cannot run is offered
        expect(node or "nodejs" not in langs, body)
    cases.append(("GET /languages lists [id, version] pairs of what the package set has", languages))

    def listed(lang):
        st, body = farm.request("GET", P + "/languages", headers=JOBE_KEY)
        expect(st == 200, body)
        return lang in dict(body)

    def success():
        r = outcome(farm, {"language_id": "c", "sourcecode": C_HELLO, "sourcefilename": "test.c"}, 15,
                    "Hello world\n")
        expect(r["run_id"] is None and r["cmpinfo"] == "" and r["stderr"] == "", r)
        # without the trailing slash (CodeRunner) and with it (testsubmit.py)
        st, r2 = farm.request("POST", P + "/runs/", {"run_spec": {"language_id": "python3",
                              "sourcecode": "print(input()[::-1])", "input": "abc\n"}}, headers=JOBE_KEY,
                              timeout=900)
        expect(st == 200 and r2["outcome"] == 15 and r2["stdout"] == "cba\n", r2)
    cases.append(("15: success, on /runs and /runs/", success))

    def set_packages():
        st, body = farm.request("GET", "/v1/packages")
        expect(st == 200, body)
        return {p["name"]: p for p in body["packages"] if p.get("available", True)}

    # Jobe's other languages: listed exactly when the set has their packages
    # (octave is not installed by CI, php and pascal are), with the version the
    # toolchain itself reports; each one's hello, compile error and runtime
    # error as Jobe's task decides them.
    more = {"php": ("php", "tzdata"), "pascal": ("fpc", "gcc"), "octave": ("octave",)}

    def more_languages():
        st, body = farm.request("GET", P + "/languages", headers=JOBE_KEY)
        expect(st == 200, body)
        langs = dict(body)
        have = set_packages()
        for lang, pkgs in more.items():
            expect((lang in langs) == all(p in have for p in pkgs), (lang, body, sorted(have)))
            if lang != "octave":  # debian-languages.txt: php and pascal are installed by CI
                expect(lang in langs or pkgs[0] in unavailable_here(farm), (lang, body))
        probes = {"php": "<?php echo PHP_VERSION;",
                  "pascal": "begin write({$I %FPCVERSION%}); end.\n",
                  "octave": "printf('%s', version());\n"}
        for lang in more:
            if lang not in langs:
                print("# %s: not in this machine's set; checked to be refused" % lang)
                r = run(farm, {"language_id": lang, "sourcecode": probes[lang]}, 400)
                expect(r == "Language '%s' is not known" % lang, r)
                continue
            r = outcome(farm, {"language_id": lang, "sourcecode": probes[lang]}, 15)
            expect(r["stdout"] == langs[lang], (lang, r, langs[lang]))
    cases.append(("php, pascal, octave: listed when the set has them, with the toolchain's own version",
                  more_languages))

    def php():
        if not listed("php"):
            return
        outcome(farm, {"language_id": "php", "sourcecode": "<?php\n$s = trim(fgets(STDIN));\necho \"Hello $s\\n\";\n",
                       "input": "world\n"}, 15, "Hello world\n")
        # dates work: the set's tzdata gives PHP its zoneinfo, so nothing warns on stderr
        r = outcome(farm, {"language_id": "php", "sourcecode": "<?php\necho date('Y', 0), \"\\n\";\n"}, 15, "1970\n")
        expect(r["stderr"] == "", r)
        # `php -l` decides: its stdout, a blank line, its stderr
        r = outcome(farm, {"language_id": "php", "sourcecode": "<?php\necho 'a'\necho 'b';\n"}, 11)
        expect(r["cmpinfo"].startswith("Errors parsing prog.php\n\n") and "syntax error" in r["cmpinfo"]
               and "line 3" in r["cmpinfo"] and r["stdout"] == "", r)
        r = outcome(farm, {"language_id": "php", "sourcecode": "<?php\necho \"before\\n\";\nnosuch();\n"}, 12, "before\n")
        expect("Call to undefined function nosuch()" in r["stderr"], r)
        # Jobe's default --no-php-ini, replaced by interpreterargs
        outcome(farm, {"language_id": "php", "parameters": {"interpreterargs": ["-d precision=3"]},
                       "sourcecode": "<?php echo M_PI, \"\\n\";"}, 15, "3.14\n")
    cases.append(("php: hello with input, dates, php -l compile error, runtime error, interpreterargs", php))

    def pascal():
        if not listed("pascal"):
            return
        outcome(farm, {"language_id": "pascal", "sourcecode": "program hello;\nvar s: string;\nbegin\n  readln(s);\n  writeln('Hello ', s);\nend.\n",
                       "input": "world\n"}, 15, "Hello world\n")
        # fpc's messages from its error file, read only when no executable appeared
        r = outcome(farm, {"language_id": "pascal", "sourcecode": "program bad;\nbegin\n  writeln(x);\nend.\n"}, 11)
        expect("prog.pas(3,11) Error: Identifier not found \"x\"" in r["cmpinfo"].replace("'", '"'), r)
        # a warning alone is no compile error for Pascal (an executable appeared)
        r = outcome(farm, {"language_id": "pascal", "sourcecode": "program w;\nvar i: integer;\nbegin\n  writeln(i);\nend.\n"}, 15)
        expect(r["cmpinfo"] == "", r)
        # a range-checked array access past its end: a runtime error on stderr
        r = outcome(farm, {"language_id": "pascal", "parameters": {"compileargs": ["-vew -Se", "-Cr"]},
                           "sourcecode": "program r;\nvar a: array[1..3] of integer; i: integer;\nbegin\n  i := 7;\n  a[i] := 1;\n  writeln(a[1]);\nend.\n"}, 12)
        expect("Runtime error 201" in r["stderr"], r)
    cases.append(("pascal: hello with input, compile error from fpc's error file, warnings pass, runtime error", pascal))

    def octave():
        if not listed("octave"):
            return
        outcome(farm, {"language_id": "octave", "sourcecode": "s = input('', 's');\nprintf('Hello %s\\n', s);\n",
                       "input": "world\n"}, 15, "Hello world\n")
        # CodeRunner's name: run as is, beside its .m copy
        outcome(farm, {"language_id": "octave", "sourcefilename": "__tester__.octave",
                       "sourcecode": "disp(exist('__tester__.octave.m', 'file') > 0)\n"}, 15, "1\n")
        # Octave has no compile step: a syntax error is a runtime error, as under Jobe
        r = outcome(farm, {"language_id": "octave", "sourcecode": "x = [1 2 3\ndisp(x)\n"}, 12)
        expect("parse error" in r["stderr"] and r["cmpinfo"] == "", r)
        r = outcome(farm, {"language_id": "octave", "sourcecode": "disp('before')\ny = nosuchvar + 1\n"}, 12, "before\n")
        expect(r["stderr"].startswith("error: 'nosuchvar' undefined") and r["stderr"].endswith("\n")
               and "octave_execution_exception" not in r["stderr"], r)
    cases.append(("octave: hello with input, the .m copy, parse error and runtime error (12)", octave))

    def compile_errors():
        r = outcome(farm, {"language_id": "c", "sourcecode": "int main(void) { return x; }\n"}, 11)
        expect("x" in r["cmpinfo"] and r["stdout"] == "", r)
        # a warning alone (no -Werror) is still a compile error, and the program does not run
        r = outcome(farm, {"language_id": "c", "parameters": {"compileargs": ["-Wall"]},
                           "sourcecode": '#include <stdio.h>\nint main(void) { int unused; puts("ran"); return 0; }\n'},
                    11)
        expect("unused" in r["cmpinfo"] and r["stdout"] == "", r)
        outcome(farm, {"language_id": "python3", "sourcecode": "print('x'\n"}, 11)
        outcome(farm, {"language_id": "cpp", "sourcecode": "int main() { return y; }\n"}, 11)
        outcome(farm, {"language_id": "java", "sourcecode": "public class A { public static void main(String[] a) { int x = } }"}, 11)
    cases.append(("11: compile errors and warnings, nothing run", compile_errors))

    def runtime_errors():
        r = outcome(farm, {"language_id": "python3", "sourcecode": "import sys\nsys.stderr.write('careful\\n')\nprint('done')\n"}, 12, "done\n")
        expect(r["stderr"] == "careful\n", r)
        # the exit code alone is ignored, as Jobe does
        outcome(farm, {"language_id": "python3", "sourcecode": "import sys\nprint('bye')\nsys.exit(3)\n"}, 15, "bye\n")
        outcome(farm, {"language_id": "c", "sourcecode": "#include <stddef.h>\nint main(void) { volatile int *p = NULL; return *p; }\n"}, 12)
        node_or_refused({"language_id": "nodejs", "sourcecode": "s = 'unterminated\n", "parameters": {"memorylimit": 1000000}}, 12)
    cases.append(("12: any stderr, a signal; exit codes ignored", runtime_errors))

    def time_limit():
        r = outcome(farm, {"language_id": "c", "parameters": {"cputime": 1},
                           "sourcecode": '#include <stdio.h>\nint main(void) { fprintf(stderr, "spin\\n"); for (;;) ; }\n'}, 13)
        expect(r["stderr"] == "", r)
        # endless output is truncated, not killed: the program runs into its time limit
        outcome(farm, {"language_id": "c", "parameters": {"cputime": 1},
                       "sourcecode": '#include <stdio.h>\nint main(void) { for (;;) printf("Hello"); }\n'}, 13)
    cases.append(("13: time limit (stderr cleared), also for endless output", time_limit))

    def memory():
        # Jobe limits address space: a 2 GB malloc fails under the default limit
        outcome(farm, {"language_id": "c", "sourcecode": '#include <stdio.h>\n#include <stdlib.h>\n'
                       'int main(void) { char *p = malloc(2000000000); puts(p ? "malloc worked" : "Memory limit worked"); return 0; }\n'},
                15, "Memory limit worked\n")
        # memory that is really used past the limit ends as 17 (the memory cgroup)
        node_or_refused({"language_id": "nodejs", "parameters": {"memorylimit": 200},
                       "sourcecode": "const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));\n"}, 17)
    cases.append(("memorylimit: address space (2 GB malloc fails); 17 when it is used up", memory))

    def illegal_syscall():
        # a 32-bit system call from a 64-bit program: the seccomp filter kills the process
        outcome(farm, {"language_id": "c", "sourcecode": 'int main(void) { int r; __asm__ volatile("int $0x80" : "=a"(r) : "a"(20)); return r; }\n'}, 19)
    cases.append(("19: illegal system call", illegal_syscall))

    def overload_magic():
        r = outcome(farm, {"language_id": "python3", "sourcecode": "!** TESTING OVERLOAD EXCEPTION **!",
                           "sourcefilename": "test.py"}, 21, "")
        expect(r["run_id"] == 0 and r["stderr"] == "" and r["cmpinfo"] == "", r)
    cases.append(("21: Jobe's magic overload source", overload_magic))

    def non_utf8():
        outcome(farm, {"language_id": "c", "sourcecode": '#include <stdio.h>\nint main(void) { printf("Hello world\\n\\01\\006\\300\\311\\n"); return 0; }\n'},
                15, "Hello world\n\\x01\\x06\\xc0\\xc9\n")
        outcome(farm, {"language_id": "python3", "sourcecode": "print('Un rôle délétère')\n"}, 15, "Un rôle délétère\n")
    cases.append(("output that is not UTF-8 comes back as \\xNN; UTF-8 as it is", non_utf8))

    def files():
        data = b"The first file\nLine 2\n"
        fid = put_file(farm, data)
        st, _ = farm.request("HEAD", P + "/files/" + fid, headers=JOBE_KEY)
        expect(st == 204, st)
        st, _ = farm.request("HEAD", P + "/files/" + "0" * 32, headers=JOBE_KEY)
        expect(st == 404, st)
        spec = {"language_id": "python3", "sourcecode": "print(open('data.txt').read(), end='')\nopen('out.txt', 'w').write('w')\nprint(open('out.txt').read())\n",
                "file_list": [[fid, "data.txt"]]}
        outcome(farm, spec, 15, data.decode() + "w\n")
        outcome(farm, spec, 15, data.decode() + "w\n")  # the upload is reused
        bid = put_file(farm, bytes(range(256)))
        outcome(farm, {"language_id": "python3", "sourcecode": "print(len(open('b.bin','rb').read()))",
                       "file_list": [[bid, "b.bin"]]}, 15, "256\n")
        r = run(farm, {"language_id": "python3", "sourcecode": "print(1)", "file_list": [["nosuchfileid", "file1"]]}, 404)
        expect(r == "One or more of the specified files is missing/unavailable", r)
        st, r = farm.request("PUT", P + "/files/" + "a" * 20, {"file_contents": "not base64!"}, headers=JOBE_KEY)
        expect(st == 400 and r == "put: contents of file %s are not valid base-64" % ("a" * 20), (st, r))
        st, r = farm.request("PUT", P + "/files/" + "a" * 20, {"contents": "eA=="}, headers=JOBE_KEY)
        expect(st == 400 and r == "put: missing file_contents parameter", (st, r))
    cases.append(("files: PUT 204, HEAD 204/404, used and reused by runs, 404 and 400 texts", files))

    def parameters():
        # compileargs and linkargs are lists of words joined into the command line
        outcome(farm, {"language_id": "c", "parameters": {"compileargs": ["-Wall -Werror", "-std=c11"], "linkargs": ["-lm"]},
                       "sourcecode": '#include <math.h>\n#include <stdio.h>\nint main(void) { volatile double x = 2; printf("%.3f\\n", sqrt(x)); return 0; }\n'},
                15, "1.414\n")
        outcome(farm, {"language_id": "python3", "parameters": {"interpreterargs": ['-c "print(\\"Blah\\")"']},
                       "sourcecode": "print('not me')"}, 15, "Blah\n")
        outcome(farm, {"language_id": "python3", "parameters": {"runargs": ["Arg1", "Arg2 Arg3"]},
                       "sourcecode": "import sys\nprint(sys.argv[1:])"}, 15, "['Arg1', 'Arg2', 'Arg3']\n")
        # numprocs: forks past the limit fail
        outcome(farm, {"language_id": "c", "parameters": {"numprocs": 10},
                       "sourcecode": '#include <stdio.h>\n#include <unistd.h>\nint main(void) { int ok = 0;\n'
                       'for (int i = 0; i < 100; i++) { int p = fork(); if (p == 0) { for (;;) ; } if (p > 0) ok++; }\n'
                       'printf("%s\\n", ok >= 5 && ok <= 10 ? "limited" : "not limited"); return 0; }\n'},
                15, "limited\n")
        # disklimit: a file past it cannot be written
        outcome(farm, {"language_id": "python3", "parameters": {"disklimit": 1},
                       "sourcecode": "try:\n    open('big', 'wb').write(b'x' * 3000000)\n    print('wrote')\nexcept OSError:\n    print('refused')\n"},
                15, "refused\n")
        # streamsize: output is cut at it, the program is not killed
        r = outcome(farm, {"language_id": "python3", "parameters": {"streamsize": 0.5},
                           "sourcecode": "import sys\nsys.stdout.write('y' * 2000000)\nsys.stdout.flush()\nsys.stderr.write('')\n"}, 15)
        expect(r["stdout"] == "y" * 524288, len(r["stdout"]))
        # cputime: a longer limit lets a longer run finish
        outcome(farm, {"language_id": "python3", "parameters": {"cputime": 1},
                       "sourcecode": "n = 0\nwhile True:\n    n += 1\n"}, 13)
        # unknown keys are ignored
        outcome(farm, {"language_id": "c", "sourcecode": C_HELLO, "parameters": {"whatever": 1}, "colour": "red"},
                15, "Hello world\n")
    cases.append(("parameters: compile/link/interpreter/run args, numprocs, disklimit, streamsize, cputime", parameters))

    def java():
        prog = 'import java.util.*;\npublic class Thing {\n    public static void main(String[] args) {\n        System.out.println("Hello from " + Thing.class.getName());\n    }\n}\n'
        outcome(farm, {"language_id": "java", "sourcecode": prog}, 15, "Hello from Thing\n")
        outcome(farm, {"language_id": "java", "sourcecode": prog, "sourcefilename": "Thing.java"}, 15, "Hello from Thing\n")
        # main_class picks another class of the same file
        two = 'public class Outer {\n    public static void main(String[] a) { System.out.println("outer"); }\n}\nclass Inner {\n    public static void main(String[] a) { System.out.println("inner"); }\n}\n'
        outcome(farm, {"language_id": "java", "sourcecode": two, "parameters": {"main_class": "Inner"}}, 15, "inner\n")
        outcome(farm, {"language_id": "java", "sourcecode": 'public class U { public static void main(String[] a) { System.out.println("Un rôle délétère"); } }'},
                15, "Un rôle délétère\n")
    cases.append(("Java: main class inferred, given by name, by main_class; UTF-8", java))

    def cpp_node():
        outcome(farm, {"language_id": "cpp", "sourcecode": '#include <iostream>\nint main() { std::cout << "hi" << std::endl; }\n'}, 15, "hi\n")
        node_or_refused({"language_id": "nodejs", "sourcecode": "console.log('Hello world!');\n"}, 15, "Hello world!\n")
    cases.append(("cpp and nodejs", cpp_node))

    def error_texts():
        for spec, text in [
            ({"language_id": "python3"}, "run_spec is missing the required attribute 'sourcecode'"),
            ({"sourcecode": "x"}, "run_spec is missing the required attribute 'language_id'"),
            ({"language_id": "nosuchlanguage", "sourcecode": "x"}, "Language 'nosuchlanguage' is not known"),
            ({"language_id": "c", "sourcecode": "x", "parameters": {"cputime": 151}},
             "cputime exceeds maximum allowed on this Jobe server (120 secs)"),
            ({"language_id": "c", "sourcecode": "x", "sourcefilename": "a/b.c"}, "The sourcefilename for the run_spec is illegal"),
            ({"language_id": "c", "sourcecode": "x", "file_list": [["x", "y"]]},
             "Invalid file specifier: Array\n(\n    [0] => x\n    [1] => y\n)\n"),
        ]:
            r = run(farm, spec, 400)
            expect(r == text, "%r, wanted %r" % (r, text))
        st, r = farm.request("POST", P + "/runs", "not json", headers=JOBE_KEY)
        expect(st == 400 and isinstance(r, str), (st, r))
    cases.append(("400s carry Jobe's texts as a JSON string", error_texts))

    def garbage():
        bodies = [
            {"run_spec": "x"}, {"run_spec": []}, {"run_spec": None},
            {"run_spec": {"language_id": 3, "sourcecode": "x"}},
            {"run_spec": {"language_id": "c", "sourcecode": 7}},
            {"run_spec": {"language_id": "C" * 100000, "sourcecode": "x"}},
            {"run_spec": {"language_id": "c", "sourcecode": "x", "parameters": "cputime"}},
            {"run_spec": {"language_id": "c", "sourcecode": "x", "parameters": {"compileargs": 5}}},
            {"run_spec": {"language_id": "c", "sourcecode": "x", "parameters": {"runargs": [[1]]}}},
            {"run_spec": {"language_id": "c", "sourcecode": "x", "file_list": {"a": 1}}},
            {"run_spec": {"language_id": "c", "sourcecode": "x", "file_list": [["a" * 500, "b"]]}},
            {"run_spec": {"language_id": "c", "sourcecode": "x", "file_list": [[1, 2, 3, 4]]}},
            {"run_spec": {"language_id": "c", "sourcecode": "x", "sourcefilename": 12}},
            {"run_spec": {"language_id": "c", "sourcecode": "x", "input": {"a": 1}}},
        ]
        for b in bodies:
            st, r = farm.request("POST", P + "/runs", b, headers=JOBE_KEY)
            expect(st == 400 and isinstance(r, str), (b, st, r))
        for path, body in [("/files/x", {"file_contents": "eA=="}), ("/files/abc-defgh12", {"file_contents": "eA=="}),
                           ("/files/abcdefgh12", [1]), ("/files/abcdefgh12", "zz")]:
            st, r = farm.request("PUT", P + path, body, headers=JOBE_KEY)
            expect(st in (400, 404) and isinstance(r, str), (path, st, r))
        st, _ = farm.request("GET", "/v1/health")
        expect(st == 200, st)
        expect("Sanitizer" not in farm.logs() and "runtime error:" not in farm.logs(), farm.logs())
    cases.append(("bad input gets a 400 string, never a crash", garbage))

    def visible_in_v1():
        r = outcome(farm, {"language_id": "c", "sourcecode": C_HELLO, "debug": True}, 15)
        st, sub = farm.request("GET", "/v1/submissions/" + r["run_id"])
        expect(st == 200 and sub["state"] == "finished", (st, sub))
    cases.append(("debug: run_id is the submission, visible in /v1", visible_in_v1))

    def ten_at_once():
        results = [None] * 10
        def one(i):
            try:
                results[i] = run(farm, {"language_id": "c", "sourcecode": C_HELLO.replace("world", "w%d" % i)})
            except Exception as e:  # noqa: BLE001
                results[i] = e
        ts = [threading.Thread(target=one, args=(i,)) for i in range(10)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for i, r in enumerate(results):
            expect(isinstance(r, dict) and r["outcome"] == 15 and r["stdout"] == "Hello w%d\n" % i, r)
    cases.append(("ten runs at once all succeed", ten_at_once))
    return cases


def overload_cases():
    """One worker, a short overload wait: a run that finds the worker busy is
    answered 21 and its submission cancelled."""
    def case():
        with farmtest.Farm(workers=1, settings=settings({"compat.jobe.overload_wait_ms": "300"})) as farm:
            # warm the set so the first run does not wait on a build
            outcome(farm, {"language_id": "python3", "sourcecode": "print(1)"}, 15)
            first = {}
            t = threading.Thread(target=lambda: first.update(r=run(farm, {
                "language_id": "python3", "parameters": {"cputime": 30},
                "sourcecode": "import time\ntime.sleep(1000)\n"})))
            t.start()
            def running():
                conn = db(farm)
                try:
                    row = conn.execute("SELECT id FROM submissions WHERE state = 'running'").fetchone()
                    return row and row[0]
                finally:
                    conn.close()
            busy = wait_until(running, 300, "the first run to be running")
            r = outcome(farm, {"language_id": "python3", "sourcecode": "print(2)"}, 21, "")
            conn = db(farm)
            try:
                states = [s for (s,) in conn.execute("SELECT state FROM submissions ORDER BY created_at")]
            finally:
                conn.close()
            expect(states[-1] == "cancelled", states)
            st, _ = farm.request("DELETE", "/v1/submissions/" + busy)
            expect(st in (200, 202), st)
            t.join()
            expect(first["r"]["outcome"] in (12, 13, 20), first)
    return [("21: every worker busy past compat.jobe.overload_wait_ms", case)]


def auth_cases():
    def case():
        with farmtest.Farm(workers=1, settings=settings({"api.auth": "true"})) as farm:
            out = subprocess.run([farmtest.farmd_path(), "token", "create", "--name", "jobe", "--scopes", "submit,read"],
                                 env=farm.env(), capture_output=True, text=True, check=True).stdout
            tok = json.loads(out)["token"]
            st, body = farm.request("GET", P + "/languages", headers=JOBE_KEY)
            expect(st == 401 and isinstance(body, str), (st, body))
            st, body = farm.request("GET", P + "/languages", headers={"X-API-KEY": tok})
            expect(st == 200 and isinstance(body, list), (st, body))
            r = run(farm, {"language_id": "c", "sourcecode": C_HELLO}, headers={"X-API-KEY": tok})
            expect(r["outcome"] == 15, r)
    return [("api.auth on: a farm token in X-API-KEY is accepted, a Jobe key is not", case)]


def main():
    farm = farmtest.Farm(workers=2, settings=settings({"compat.jobe.overload_wait_ms": "600000"}))
    try:
        farm.start()
        rc = farmtest.run_cases(cases_for(farm) + overload_cases() + auth_cases())
    finally:
        farm.cleanup()
    sys.exit(rc)


main()
