"""The Judge0 CE 1.13.1 front end to end: a real farmd (workers, builder,
webhooks) over HTTP, driven as Judge0 clients drive Judge0
(docs/compat-judge0.md). Every status comes from a real program."""
import base64
import http.client
import http.server
import io
import json
import os
import signal
import socket
import sys
import threading
import time
import zipfile

sys.path.insert(0, os.path.join(os.environ.get("FARM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..")), "tests", "lib"))
sys.path.insert(0, os.path.dirname(__file__))
import farmtest  # noqa: E402
import apitest  # noqa: E402

UID = str(63000 + (os.getpid() % 250) * 8)
UTF8_ERROR = ("some attributes for this submission cannot be converted to UTF-8, "
              "use base64_encoded=true query parameter")
DEFAULT_FIELDS = {"token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"}
ALL_FIELDS = {
    "source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at",
    "finished_at", "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit",
    "cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit",
    "max_processes_and_or_threads", "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit", "max_file_size", "compile_output", "exit_code",
    "exit_signal", "message", "wall_time", "compiler_options", "command_line_arguments",
    "redirect_stderr_to_stdout", "callback_url", "additional_files", "enable_network", "status",
    "language"}
# Judge0 1.13.1's /config_info: every key and its JSON type
CONFIG_TYPES = {
    "maintenance_mode": bool, "enable_wait_result": bool, "enable_compiler_options": bool,
    "allowed_languages_for_compile_options": list, "enable_command_line_arguments": bool,
    "enable_submission_delete": bool, "enable_callbacks": bool, "callbacks_max_tries": int,
    "callbacks_timeout": float, "enable_additional_files": bool, "max_queue_size": int,
    "cpu_time_limit": float, "max_cpu_time_limit": float, "cpu_extra_time": float,
    "max_cpu_extra_time": float, "wall_time_limit": float, "max_wall_time_limit": float,
    "memory_limit": int, "max_memory_limit": int, "stack_limit": int, "max_stack_limit": int,
    "max_processes_and_or_threads": int, "max_max_processes_and_or_threads": int,
    "enable_per_process_and_thread_time_limit": bool,
    "allow_enable_per_process_and_thread_time_limit": bool,
    "enable_per_process_and_thread_memory_limit": bool,
    "allow_enable_per_process_and_thread_memory_limit": bool, "max_file_size": int,
    "max_max_file_size": int, "number_of_runs": int, "max_number_of_runs": int,
    "redirect_stderr_to_stdout": bool, "max_extract_size": int, "enable_batched_submissions": bool,
    "max_submission_batch_size": int, "submission_cache_duration": float,
    "use_docs_as_homepage": bool, "allow_enable_network": bool, "enable_network": bool}
STATUSES = ["In Queue", "Processing", "Accepted", "Wrong Answer", "Time Limit Exceeded",
            "Compilation Error", "Runtime Error (SIGSEGV)", "Runtime Error (SIGXFSZ)",
            "Runtime Error (SIGFPE)", "Runtime Error (SIGABRT)", "Runtime Error (NZEC)",
            "Runtime Error (Other)", "Internal Error", "Exec Format Error"]

FARM = None
PORT2 = None


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def req(method, path, body=None, headers=None, port=None, timeout=300):
    farm = FARM
    if port is None:
        return farm.request(method, path, body, headers=headers, timeout=timeout)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers=dict(headers or {}, **({"Content-Type": "application/json"} if data else {})))
        r = conn.getresponse()
        raw = r.read()
        if "json" in (r.getheader("Content-Type") or ""):
            return r.status, json.loads(raw.decode() or "null")
        return r.status, raw.decode("utf-8", "replace")
    finally:
        conn.close()


def unavailable_here():
    """Packages this machine's package set cannot make (e.g. nodejs where it is
    not installed), as /v1/health names them."""
    s, h = req("GET", "/v1/health?verbose")
    return set((h.get("pkgset") or {}).get("unavailable") or []) if isinstance(h, dict) else set()


def run(source, lang=71, query="wait=true", **fields):
    sub = {"source_code": source, "language_id": lang}
    sub.update(fields)
    status, body = req("POST", "/submissions?" + query, sub)
    expect(status == 201, "create answered %s: %r" % (status, body))
    return body


def poll(token, query="", timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, body = req("GET", "/submissions/%s?%s" % (token, query))
        expect(status == 200, "GET answered %s: %r" % (status, body))
        if body["status"]["id"] > 2:
            return body
        time.sleep(0.1)
    raise AssertionError("%s did not finish" % token)


def status_of(body, want, label):
    expect(body["status"]["id"] == want and body["status"]["description"] == STATUSES[want - 1],
           "%s: status %r, want %d: %r" % (label, body.get("status"), want, body))


# ---- information ----

def case_information():
    s, langs = req("GET", "/languages")
    expect(s == 200 and isinstance(langs, list), langs)
    names = [l["name"] for l in langs]
    expect(names == sorted(names), "not sorted by name: %r" % names)
    ids = {l["id"]: l["name"] for l in langs}
    node = "nodejs" not in unavailable_here()
    for want in (71, 50, 54, 62, 46, 64, 85, 43, 89) + ((63,) if node else ()):
        expect(want in ids, "language %d missing: %r" % (want, ids))
    # only what the package set can run is offered
    expect(node or 63 not in ids, "JavaScript offered without nodejs: %r" % ids)
    expect(ids[71].startswith("Python (3.") and ids[71].endswith(")"), ids[71])
    expect(ids[50].startswith("C (GCC ") and ids[54].startswith("C++ (GCC "), ids)
    expect(set(langs[0]) == {"id", "name"}, langs[0])
    s, alls = req("GET", "/languages/all")
    expect(s == 200 and all(set(l) == {"id", "name", "is_archived"} for l in alls), alls)
    s, py = req("GET", "/languages/71")
    expect(s == 200 and py["source_file"] == "script.py" and py["compile_cmd"] is None
           and "script.py" in py["run_cmd"] and py["is_archived"] is False, py)
    s, java = req("GET", "/languages/62")
    expect(java["source_file"] == "Main.java" and "java Main" in java["run_cmd"], java)
    s, c = req("GET", "/languages/50")
    expect(c["source_file"] == "main.c" and c["run_cmd"] == "./a.out" and "%s" in c["compile_cmd"], c)
    s, _ = req("GET", "/languages/9999")
    expect(s == 404, s)
    s, st = req("GET", "/statuses")
    expect(st == [{"id": i + 1, "description": d} for i, d in enumerate(STATUSES)], st)
    s, about = req("GET", "/about")
    expect(about["version"] == "1.13.1" and set(about) == {"version", "homepage", "source_code", "maintainer"}, about)
    s, v = req("GET", "/version")
    expect(s == 200 and v == "1.13.1", v)
    s, si = req("GET", "/system_info")
    expect(s == 200 and "CPU(s)" in si and "Mem" in si, si)
    s, w = req("GET", "/workers")
    expect(s == 200 and w[0]["queue"] == "1.13.1" and
           set(w[0]) == {"queue", "size", "available", "idle", "working", "paused", "failed"}, w)
    expect(w[0]["available"] >= 1, "no live worker counted: %r" % w)


def case_sdk_startup_and_polling():
    # The official Python SDK: /config_info (every key, its type), /about
    # (its version picks the language table), /languages, then create + poll.
    s, cfg = req("GET", "/config_info")
    expect(s == 200, cfg)
    expect(set(cfg) == set(CONFIG_TYPES), "keys differ: %r" % (set(cfg) ^ set(CONFIG_TYPES)))
    for k, t in CONFIG_TYPES.items():
        expect(type(cfg[k]) is t, "%s is %r, want %s" % (k, cfg[k], t.__name__))
    s, about = req("GET", "/about")
    expect(about["version"] == "1.13.1", about)
    s, langs = req("GET", "/languages")
    expect(any(l["id"] == 71 for l in langs), langs)
    src = base64.b64encode(b"print(int(input()) * 2)\n").decode()
    s, b = req("POST", "/submissions?base64_encoded=true&wait=false",
               {"source_code": src, "language_id": 71, "stdin": base64.b64encode(b"21").decode()})
    expect(s == 201 and set(b) == {"token"}, b)
    first = req("GET", "/submissions/%s?base64_encoded=true&fields=*" % b["token"])[1]
    expect(first["status"]["id"] in (1, 2, 3), first)
    done = poll(b["token"], "base64_encoded=true&fields=*")
    status_of(done, 3, "sdk")
    expect(base64.b64decode(done["stdout"]) == b"42\n", done)
    expect(set(done) == ALL_FIELDS, set(done) ^ ALL_FIELDS)


# ---- statuses from real programs ----

C_PROGS = {
    7: "int main(void){volatile int *p = 0; *p = 1; return 0;}",
    8: "#include <signal.h>\nint main(void){raise(SIGXFSZ); return 0;}",
    9: "int main(void){volatile int z = 0; return 10 / z;}",
    10: "#include <stdlib.h>\nint main(void){abort();}",
    12: "#include <signal.h>\nint main(void){raise(SIGUSR1); return 0;}",
}


def case_statuses_from_programs():
    b = run("print(input())", stdin="hi", fields=None, query="wait=true&fields=*")
    status_of(b, 3, "accepted")
    expect(b["stdout"] == "hi\n" and b["exit_code"] == 0 and b["stderr"] is None, b)
    status_of(run("print('a')", expected_output="b\n"), 4, "wrong answer")
    status_of(run("print('a  ')\n", expected_output="a\n\n"), 3, "trailing whitespace ignored")
    tle = run("while True: pass", cpu_time_limit=1, query="wait=true&fields=*")
    status_of(tle, 5, "time limit")
    expect(tle["message"].startswith("Time limit exceeded"), tle)
    ce = run("int main(void) { return x; }", lang=50, query="wait=true&fields=*")
    status_of(ce, 6, "compilation error")
    expect("error" in ce["compile_output"] and ce["stdout"] is None and ce["exit_code"] is None, ce)
    for sid, src in C_PROGS.items():
        b = run(src, lang=50, query="wait=true&fields=*")
        status_of(b, sid, "C program for status %d" % sid)
        expect(b["exit_code"] == 0 and isinstance(b["exit_signal"], int), b)
        expect(b["message"] == "Caught fatal signal %d" % b["exit_signal"], b)
    big = run("print('y' * 100000)", max_file_size=1, query="wait=true&fields=*")
    status_of(big, 8, "stdout past max_file_size")
    expect(big["exit_signal"] == 25, big)
    # the memory limit: the OOM kill where a cgroup holds the tree (12, signal
    # 9), a failed allocation (MemoryError, NZEC) where only rlimits apply
    oom = run("x = bytearray(400 * 1024 * 1024)\nprint(len(x))", memory_limit=65536,
              query="wait=true&fields=*")
    if farmtest.sandbox_accounting().startswith("cgroup"):
        status_of(oom, 12, "out of memory")
        expect(oom["exit_signal"] == 9, oom)
    else:
        status_of(oom, 11, "out of memory (rlimits)")
    nz = run("import sys; sys.exit(3)", query="wait=true&fields=*")
    status_of(nz, 11, "nzec")
    expect(nz["exit_code"] == 3 and nz["exit_signal"] is None and nz["message"] == "Exited with error status 3", nz)
    exe = run(base64.b64encode(b"\x00\x01\x02 not an executable\n").decode(), lang=44,
              query="wait=true&base64_encoded=true")
    status_of(exe, 14, "exec format error")


def case_internal_error_status():
    # 13 only for a submission that ended internal_error: its worker stopped
    # (SIGSTOP) mid-run, so its lease runs out with queue.max_attempts=1.
    settings = {"worker.first_uid": str(int(UID) + 4), "queue.max_attempts": "1",
                "lease.ms": "2500", "lease.renew_ms": "400", "health.interval_ms": "300",
                "supervisor.backoff_min_ms": "100"}
    with farmtest.Farm(workers=1, settings=settings) as farm:
        s, b = farm.request("POST", "/submissions", {"source_code": "import time; time.sleep(15)",
                                                     "language_id": 71, "wall_time_limit": 20})
        tok = b["token"]
        deadline = time.time() + 240
        while time.time() < deadline:
            st = farm.request("GET", "/submissions/" + tok)[1]["status"]["id"]
            if st == 2:
                break
            time.sleep(0.1)
        time.sleep(0.5)
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        victims = []
        for p in pids:
            try:
                with open("/proc/%s/comm" % p) as f:
                    comm = f.read().strip()
                with open("/proc/%s/stat" % p) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if comm.startswith("farmd-worker") and ppid == farm.proc.pid:
                victims.append(int(p))
        expect(len(victims) == 1 and st == 2, "workers: %r, status %s" % (victims, st))
        os.kill(victims[0], signal.SIGSTOP)
        try:
            deadline = time.time() + 120
            body = None
            while time.time() < deadline:
                body = farm.request("GET", "/submissions/%s?fields=*" % tok)[1]
                if body["status"]["id"] > 2:
                    break
                time.sleep(0.2)
        finally:
            os.kill(victims[0], signal.SIGCONT)
        status_of(body, 13, "internal error")
        expect(body["message"], body)


# ---- encodings and fields ----

def case_base64_both_ways():
    src = "print('x' * 100)\nimport sys; sys.stderr.write('e')\n"
    b = run(base64.b64encode(src.encode()).decode(), query="wait=true&base64_encoded=true&fields=*",
            stdin=base64.b64encode(b"in").decode())
    status_of(b, 3, "base64")
    lines = b["stdout"].split("\n")
    expect(b["stdout"].endswith("\n") and all(len(l) == 60 for l in lines[:-2]) and lines[-1] == "", b["stdout"])
    expect(base64.b64decode(b["stdout"]) == b"x" * 100 + b"\n", b["stdout"])
    expect(base64.b64decode(b["stderr"]) == b"e" and b["stderr"].endswith("\n"), b)
    expect(base64.b64decode(b["source_code"]).decode() == src, b)
    expect(base64.b64decode(b["stdin"]) == b"in", b)
    # message is base64 too
    nz = run(base64.b64encode(b"exit(2)").decode(), query="wait=true&base64_encoded=true")
    expect(base64.b64decode(nz["message"]) == b"Exited with error status 2", nz)


def case_utf8_error():
    src = "import sys; sys.stdout.buffer.write(b'\\xff\\xfe')"
    s, b = req("POST", "/submissions?wait=true", {"source_code": src, "language_id": 71})
    expect(s == 201 and b["error"] == UTF8_ERROR and len(b["token"]) == 36, b)
    s, g = req("GET", "/submissions/" + b["token"])
    expect(s == 400 and g == {"error": UTF8_ERROR}, g)
    s, g = req("GET", "/submissions/%s?base64_encoded=true" % b["token"])
    expect(s == 200 and base64.b64decode(g["stdout"]) == b"\xff\xfe", g)


def case_fields():
    b = run("print(1)", query="wait=true")
    expect(set(b) == DEFAULT_FIELDS, b)
    s, g = req("GET", "/submissions/%s?fields=stdout,status_id,language" % b["token"])
    expect(set(g) == {"stdout", "status_id", "language"} and g["status_id"] == 3, g)
    expect(g["language"]["id"] == 71 and g["language"]["name"].startswith("Python"), g)
    s, g = req("GET", "/submissions/%s?fields=*" % b["token"])
    expect(set(g) == ALL_FIELDS, set(g) ^ ALL_FIELDS)
    expect(isinstance(g["time"], str) and isinstance(g["wall_time"], str) and isinstance(g["memory"], int), g)
    expect(g["cpu_time_limit"] == "5.0" and g["memory_limit"] == 128000 and g["number_of_runs"] == 1, g)
    for k in ("created_at", "finished_at"):
        v = g[k]
        expect(len(v) == 24 and v[10] == "T" and v[19] == "." and v.endswith("Z"), v)
    expect(g["stdin"] is None and g["expected_output"] is None, g)  # not given: null
    e1 = run("print(1)", stdin="", query="wait=true&fields=stdin")
    expect(e1 == {"stdin": ""}, e1)
    s, e = req("GET", "/submissions/%s?fields=stdout,bogus,nope" % b["token"])
    expect(s == 400 and e == {"error": "invalid fields: [bogus, nope]"}, e)
    s, e = req("POST", "/submissions?fields=zzz", {"source_code": "print(1)", "language_id": 71})
    expect(s == 400 and e == {"error": "invalid fields: [zzz]"}, e)
    s, e = req("GET", "/submissions/00000000-0000-0000-0000-000000000000")
    expect(s == 404, e)


# ---- options ----

def case_options():
    b = run("import sys; print(sys.argv[1:])", command_line_arguments="a b;c", query="wait=true")
    expect(b["stdout"] == "['a', 'bc']\n", b)
    b = run('#include <stdio.h>\nint main(void){printf("%d\\n", X); return 0;}', lang=50,
            compiler_options="-DX=42 -O2")
    expect(b["stdout"] == "42\n", b)
    b = run("import sys; print('o'); sys.stdout.flush(); sys.stderr.write('e\\n')",
            redirect_stderr_to_stdout=True)
    expect(b["stdout"] == "o\ne\n" and b["stderr"] is None, b)
    b = run("print(input())", stdin="r", number_of_runs=3, query="wait=true&fields=*")
    status_of(b, 3, "runs")
    expect(b["number_of_runs"] == 3 and b["stdout"] == "r\n", b)
    sid = b["token"].replace("-", "")
    s, v1 = FARM.request("GET", "/v1/submissions/" + sid)
    expect(s == 200 and len(v1["tests"]) == 3 and v1["meta"]["front"] == "judge0", v1)
    s, m = FARM.request("GET", "/metrics")
    expect("farm_submissions_accepted" in m or "accepted" in m, "metrics")


def case_form_body():
    import urllib.parse
    body = urllib.parse.urlencode({"source_code": "print('f o+rm')", "language_id": "71"})
    conn = http.client.HTTPConnection("127.0.0.1", FARM.port, timeout=300)
    try:
        conn.request("POST", "/submissions?wait=true", body=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        b = json.loads(r.read())
    finally:
        conn.close()
    expect(r.status == 201 and b["stdout"] == "f o+rm\n", b)


def zip_b64(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o755 << 16)
            z.writestr(info, data)
    return base64.b64encode(buf.getvalue()).decode()


def case_additional_files_and_multifile():
    b = run("print(open('data.txt').read().strip())",
            additional_files=zip_b64({"data.txt": "from the zip\n"}))
    expect(b["stdout"] == "from the zip\n", b)
    b = run("", lang=89, additional_files=zip_b64({
        "main.c": '#include <stdio.h>\nint main(void){puts("multi");return 0;}\n',
        "compile": "gcc -o prog main.c\n", "run": "./prog\n"}))
    expect(b["stdout"] == "multi\n", b)
    s, e = req("POST", "/submissions", {"language_id": 71, "source_code": "1",
                                        "additional_files": base64.b64encode(b"not a zip").decode()})
    expect(s == 422 and "additional_files" in e, e)


def case_languages_run():
    progs = {
        54: '#include <iostream>\nint main(){std::cout << "cpp" << std::endl;}',
        62: 'public class Main { public static void main(String[] a) { System.out.println("java"); } }',
        63: 'console.log("js")',
        46: 'echo bash',
        64: 'print("lua")',
        85: 'print "perl\\n";',
        43: 'plain',
        82: 'select "sql";',
    }
    want = {54: "cpp\n", 62: "java\n", 63: "js\n", 46: "bash\n", 64: "lua\n", 85: "perl\n",
            43: "plain", 82: "sql\n"}
    if "nodejs" in unavailable_here():
        # refused as Judge0 refuses a language it does not have
        s, e = req("POST", "/submissions?wait=true", {"source_code": progs.pop(63), "language_id": 63})
        expect(s == 422 and "language_id" in e, (s, e))
    for lang, src in progs.items():
        b = run(src, lang=lang, query="wait=true&fields=*", memory_limit=512000, wall_time_limit=20)
        expect(b["status"]["id"] == 3 and b["stdout"] == want[lang],
               "language %d: %r" % (lang, b))


# The languages the package set gains (scripts/install-languages.sh): every
# one the front offers here runs its hello world under its CE id.
LANGUAGE_HELLOS = {
 45: "section .data\nmsg db 'hello', 10\nsection .text\nglobal _start\n_start:\nmov rax, 1\nmov rdi, 1\nmov rsi, msg\nmov rdx, 6\nsyscall\nmov rax, 60\nxor rdi, rdi\nsyscall\n",
 55: '(format t "hello~%")\n',
 56: 'import std.stdio;\nvoid main() { writeln("hello"); }\n',
 60: 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello") }\n',
 65: 'print_endline "hello";;\n',
 67: "begin\n  writeln('hello');\nend.\n",
 68: '<?php echo "hello\\n";\n',
 72: 'puts "hello"\n',
 73: 'fn main() { println!("hello"); }\n',
 74: 'console.log("hello");\n',
 79: '#import <stdio.h>\nint main(void) { printf("hello\\n"); return 0; }\n',
 86: '(println "hello")\n',
 51: 'class P { static void Main() { System.Console.WriteLine("hello"); } }\n',
 61: 'main = putStrLn "hello"\n',
 66: 'disp("hello")\n',
 77: 'IDENTIFICATION DIVISION.\nPROGRAM-ID. MAIN.\nPROCEDURE DIVISION.\n    DISPLAY "hello".\n    STOP RUN.\n',
 78: 'fun main() { println("hello") }\n',
 80: 'cat("hello\\n")\n',
 81: 'object Main { def main(a: Array[String]): Unit = println("hello") }\n',
 88: 'println "hello"\n',
 69: ':- initialization(main).\nmain :- write(hello), nl.\n',
}


def case_more_languages_run():
    s, langs = req("GET", "/languages")
    offered = {l["id"] for l in langs}
    ran = 0
    for lid, src in LANGUAGE_HELLOS.items():
        if lid not in offered:
            continue
        b = run(src, lang=lid, query="wait=true&fields=*", memory_limit=512000,
                wall_time_limit=20, cpu_time_limit=10)
        expect(b["status"]["id"] == 3 and b["stdout"] == "hello\n", "language %d: %r" % (lid, b))
        ran += 1
    print("# %d of %d further languages offered and run here" % (ran, len(LANGUAGE_HELLOS)))


# ---- validation ----

def case_validation():
    def errors(body, query=""):
        s, e = req("POST", "/submissions" + query, body)
        expect(s == 422, "want 422: %s %r" % (s, e))
        return e
    e = errors({})
    expect(e["language_id"] == ["can't be blank"] and e["source_code"] == ["can't be blank"], e)
    e = errors({"source_code": "x", "language_id": 12345})
    expect(e == {"language_id": ["language with id 12345 doesn't exist"]}, e)
    e = errors({"source_code": "x", "language_id": "71", "cpu_time_limit": 16, "cpu_extra_time": -1,
                "wall_time_limit": 0.5, "memory_limit": 1000, "stack_limit": 999999,
                "max_processes_and_or_threads": 0, "max_file_size": 5000, "number_of_runs": 21})
    expect(e == {"cpu_time_limit": ["must be less than or equal to 15.0"],
                 "cpu_extra_time": ["must be greater than or equal to 0"],
                 "wall_time_limit": ["must be greater than or equal to 1"],
                 "memory_limit": ["must be greater than or equal to 2048"],
                 "stack_limit": ["must be less than or equal to 128000"],
                 "max_processes_and_or_threads": ["must be greater than 0"],
                 "max_file_size": ["must be less than or equal to 4096"],
                 "number_of_runs": ["must be less than or equal to 20"]}, e)
    e = errors({"source_code": "x", "language_id": 71, "memory_limit": "lots"})
    expect(e == {"memory_limit": ["is not a number"]}, e)
    e = errors({"source_code": "x", "language_id": 71, "enable_network": True})
    expect(e == {"enable_network": ["enabling network is not allowed"]}, e)
    e = errors({"source_code": "x", "language_id": 71, "compiler_options": "-O2"})
    expect(e == {"compiler_options": ["setting compiler options is only allowed for compiled languages"]}, e)
    e = errors({"source_code": "x", "language_id": 50, "compiler_options": "x" * 513})
    expect(e == {"compiler_options": ["is too long (maximum is 512 characters)"]}, e)
    e = errors({"source_code": "x", "language_id": 71, "enable_per_process_and_thread_time_limit": True})
    expect(e == {"enable_per_process_and_thread_time_limit": ["this option cannot be enabled"]}, e)
    e = errors({"source_code": "x", "language_id": 71, "callback_url": "ftp://nowhere"})
    expect(list(e) == ["callback_url"], e)
    s, e = req("POST", "/submissions", "not json at all")
    expect(s == 400, e)


def case_bad_input_never_crashes():
    bodies = [[], 1, "x", None, {"language_id": [71]}, {"language_id": {"a": 1}, "source_code": {}},
              {"language_id": 71, "source_code": "x", "stdin": ["a"]},
              {"language_id": 71, "source_code": "x", "number_of_runs": "1e400"},
              {"language_id": 1e300, "source_code": "x"}, {"language_id": -5, "source_code": "x"},
              {"language_id": 71, "source_code": "x", "cpu_time_limit": float("1e308")},
              {"language_id": 71, "source_code": "x", "additional_files": "%%%"},
              {"language_id": 89, "additional_files": zip_b64({"a": "b"})},
              {"language_id": 71, "source_code": "x", "redirect_stderr_to_stdout": {"x": 1}},
              {"language_id": 71, "source_code": "\u0000x", "stdin": "\u0000"}]
    for b in bodies:
        for path in ("/submissions", "/submissions?base64_encoded=true", "/submissions/batch"):
            payload = {"submissions": [b]} if path.endswith("batch") else b
            if not isinstance(payload, (dict, list)):
                payload = json.dumps(payload)
            s, e = req("POST", path, payload)
            expect(s in (201, 400, 422), "%s %r answered %s: %r" % (path, b, s, e))
    s, e = req("POST", "/submissions/batch", {"submissions": {"a": 1}})
    expect(s == 400, e)
    for path in ("/submissions/" + "a" * 300, "/submissions/batch?tokens=" + "," * 50,
                 "/submissions/batch?tokens=,,x", "/languages/abc", "/languages/-1",
                 "/submissions?page=abc&per_page=-", "/submissions?fields=,,,*"):
        s, e = req("GET", path)
        expect(s in (200, 400, 404), "%s answered %s: %r" % (path, s, e))
    s, _ = req("GET", "/about")
    expect(s == 200, "the front stopped answering")


# ---- batches ----

def case_batches():
    s, out = req("POST", "/submissions/batch", {"submissions": [
        {"source_code": "print(1)", "language_id": 71},
        {"source_code": "print(2)", "language_id": 99999},
        {"source_code": "print(3)", "language_id": 71}]})
    expect(s == 201 and "token" in out[0] and out[1] == {"language_id": ["language with id 99999 doesn't exist"]}
           and "token" in out[2], out)
    s, out2 = req("POST", "/submissions/batch", {"submissions": [{"language_id": 71}]})
    expect(s == 422 and out2 == [{"source_code": ["can't be blank"]}], out2)
    s, e = req("POST", "/submissions/batch", {"submissions": [{"source_code": "1", "language_id": 71}] * 21})
    expect(s == 400 and e == {"error": "number of submissions in a batch should be less than or equal to 20"}, e)
    s, e = req("POST", "/submissions/batch", {"submissions": []})
    expect(s == 400 and e == {"error": "there should be at least one submission in a batch"}, e)
    for t in (out[0]["token"], out[2]["token"]):
        poll(t)
    unknown = "00000000-0000-4000-8000-000000000000"
    s, got = req("GET", "/submissions/batch?tokens=%s,%s,%s&fields=stdout,token" % (out[0]["token"], unknown, out[2]["token"]))
    expect(s == 200 and [g and g["stdout"] for g in got["submissions"]] == ["1\n", None, "3\n"], got)
    s, e = req("GET", "/submissions/batch?tokens=" + ",".join([unknown] * 21))
    expect(s == 400, e)
    s, e = req("GET", "/submissions/batch")
    expect(s == 400 and e == {"error": "there should be at least one submission in a batch"}, e)


def case_list_and_delete():
    s, page = req("GET", "/submissions?per_page=2&page=1")
    expect(s == 200 and len(page["submissions"]) == 2, page)
    expect(set(page["meta"]) == {"current_page", "next_page", "prev_page", "total_pages", "total_count"}, page)
    expect(page["meta"]["current_page"] == 1 and page["meta"]["prev_page"] is None and page["meta"]["total_count"] >= 2, page)
    s, e = req("GET", "/submissions?page=0")
    expect(s == 400 and e == {"error": "invalid page: 0"}, e)
    b = run("print('gone')")
    s, d = req("DELETE", "/submissions/" + b["token"])
    expect(s == 200 and base64.b64decode(d["stdout"]) == b"gone\n", d)


# ---- CORS, own listener, callbacks ----

def case_cors_and_own_listener():
    conn = http.client.HTTPConnection("127.0.0.1", FARM.port, timeout=30)
    conn.request("OPTIONS", "/submissions", headers={"Origin": "https://ide.example",
                                                     "Access-Control-Request-Method": "POST",
                                                     "Access-Control-Request-Headers": "content-type,x-auth-token"})
    r = conn.getresponse()
    r.read()
    expect(r.status in (200, 204) and r.getheader("Access-Control-Allow-Origin") == "*", r.getheaders())
    expect("POST" in r.getheader("Access-Control-Allow-Methods"), r.getheaders())
    expect("x-auth-token" in r.getheader("Access-Control-Allow-Headers").lower(), r.getheaders())
    conn.close()
    s, _ = req("GET", "/languages")
    expect(FARM.last_headers.get("Access-Control-Allow-Origin") == "*", FARM.last_headers)
    s, about = req("GET", "/about", port=PORT2)
    expect(s == 200 and about["version"] == "1.13.1", about)
    s, _ = req("GET", "/v1/health", port=PORT2)
    expect(s == 404, "the front's own listener served /v1/health")


class Receiver(http.server.BaseHTTPRequestHandler):
    got = []

    def do_PUT(self):
        n = int(self.headers.get("Content-Length", "0"))
        Receiver.got.append((self.command, json.loads(self.rfile.read(n))))
        self.send_response(200)
        self.end_headers()

    do_POST = do_PUT

    def log_message(self, *a):
        pass


def case_callback():
    srv = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = "http://127.0.0.1:%d/hook" % srv.server_address[1]
        b = run("print('called back')", query="", callback_url=url)
        deadline = time.time() + 120
        while time.time() < deadline and not Receiver.got:
            time.sleep(0.1)
        expect(Receiver.got, "no callback arrived")
        method, body = Receiver.got[0]
        expect(method == "PUT" and set(body) == DEFAULT_FIELDS and body["token"] == b["token"], body)
        expect(base64.b64decode(body["stdout"]) == b"called back\n" and body["status"]["id"] == 3, body)
    finally:
        srv.shutdown()
        srv.server_close()


# ---- auth (API role only: submissions stay queued) ----

def case_auth_and_queued():
    with apitest.api_farm(settings={"api.auth": "true"}) as farm:
        submit = apitest.token(farm, "j0-submit", "submit")
        read = apitest.token(farm, "j0-read", "read")
        admin = apitest.token(farm, "j0-admin", "submit,read,admin")
        body = {"source_code": "print(1)", "language_id": 71}
        s, b = farm.request("POST", "/submissions", body, raw=True)
        expect(s == 401 and b == b"", (s, b))
        s, b = farm.request("POST", "/submissions", body, headers={"X-Auth-Token": "nft_wrong"}, raw=True)
        expect(s == 401 and b == b"", (s, b))
        s, b = farm.request("POST", "/submissions", body, headers={"X-Auth-Token": read["token"]}, raw=True)
        expect(s == 403 and b == b"", (s, b))
        s, b = farm.request("POST", "/submissions", body, headers={"X-Auth-Token": submit["token"]})
        expect(s == 201 and "token" in b, b)
        tok = b["token"]
        s, g = farm.request("GET", "/submissions/" + tok, headers={"X-Auth-Token": submit["token"]})
        status_of(g, 1, "queued")
        s, l = farm.request("GET", "/submissions", headers={"X-Auth-Token": submit["token"]}, raw=True)
        expect(s == 403 and l == b"", (s, l))
        s, l = farm.request("GET", "/submissions", headers={"X-Auth-Token": submit["token"], "X-Auth-User": admin["token"]})
        expect(s == 200 and l["meta"]["total_count"] == 1, l)
        s, d = farm.request("DELETE", "/submissions/" + tok, headers={"X-Auth-User": admin["token"]})
        expect(s == 400 and d == {"error": "submission cannot be deleted because its status is 1 (In Queue)"}, d)
        # the same submission through /v1
        s, v = farm.request("GET", "/v1/submissions/" + tok.replace("-", ""), headers=apitest.bearer(admin))
        expect(s == 200 and v["state"] == "queued" and v["meta"]["language_id"] == 71, v)
        s, _ = farm.request("GET", "/languages", raw=True)
        expect(s == 401, s)


def case_switched_off():
    own = farmtest.free_port()
    with apitest.api_farm(settings={"compat.judge0.enabled": "false",
                                    "compat.judge0.listen": "127.0.0.1:%d" % own}) as farm:
        s, b = farm.request("GET", "/about")
        expect(s == 404 and "error" in b and isinstance(b["error"], dict), (s, b))
        s, _ = farm.request("GET", "/v1/health")
        expect(s == 200, s)
        try:
            socket.create_connection(("127.0.0.1", own), timeout=5).close()
            listening = True
        except OSError:
            listening = False
        expect(not listening, "a disabled front listened on its own port")


def main():
    global FARM, PORT2
    PORT2 = farmtest.free_port()
    settings = {"worker.first_uid": UID, "webhook.allow_private": "true",
                "compat.judge0.listen": "127.0.0.1:%d" % PORT2}
    cases = [
        ("information endpoints", case_information),
        ("the official SDK's start-up and polling", case_sdk_startup_and_polling),
        ("every status from a real program", case_statuses_from_programs),
        ("base64 in and out (60-character lines)", case_base64_both_ways),
        ("output that is not UTF-8", case_utf8_error),
        ("fields, timestamps, unknown token", case_fields),
        ("arguments, compiler options, stderr redirect, runs; seen in /v1 and /metrics", case_options),
        ("additional_files and the multi-file program", case_additional_files_and_multifile),
        ("a form-encoded body", case_form_body),
        ("the languages run", case_languages_run),
        ("the languages the package set gained run under their CE ids", case_more_languages_run),
        ("validation texts and bounds", case_validation),
        ("bad input gets an answer, never a crash", case_bad_input_never_crashes),
        ("batches", case_batches),
        ("list and delete", case_list_and_delete),
        ("CORS and the front's own listener", case_cors_and_own_listener),
        ("callback_url gets Judge0's PUT", case_callback),
        # these two start farms of their own
        ("auth headers, 401/403 with empty bodies, a queued submission", case_auth_and_queued),
        ("internal error (13) from a stopped worker's lost lease", case_internal_error_status),
        ("compat.judge0.enabled=false: no Judge0 paths, no listener of its own", case_switched_off),
    ]
    with farmtest.Farm(workers=2, settings=settings) as farm:
        FARM = farm
        return farmtest.run_cases(cases)


if __name__ == "__main__":
    sys.exit(main())
