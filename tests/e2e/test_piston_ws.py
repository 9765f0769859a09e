#!/usr/bin/env python3
"""Piston's interactive mode, WebSocket /api/v2/connect (issue 13,
docs/compat-piston.md "WebSocket"), end to end: a real farmd with workers and
a builder, a real WebSocket client (Debian's python3-websocket), real
programs. The init timeout, stdin sent line by line while the program runs,
stdout and stderr as separate live streams, signals reaching the program,
a compile error, exit codes, limits, the job in /v1, a client that leaves
(the run is cancelled), Piston's close codes for every bad message, auth."""
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402
from apitest import farmtest  # noqa: E402

import websocket  # noqa: E402  (python3-websocket)

TIMEOUT = 300  # a first run realises the set; under load that takes a while


class Session:
    """One /api/v2/connect session and what came back over it."""

    def __init__(self, farm, headers=None):
        self.farm = farm
        self.ws = websocket.create_connection("ws://127.0.0.1:%d/api/v2/connect" % farm.port,
                                              timeout=TIMEOUT, header=headers or [])
        self.messages = []
        self.close_code = None
        self.close_reason = None

    def send(self, obj):
        self.ws.send(obj if isinstance(obj, str) else json.dumps(obj))

    def recv(self):
        """The next message (a dict), or None once the server closed."""
        if self.close_code is not None:
            return None
        op, data = self.ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            self.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
            self.close_reason = data[2:].decode()
            return None
        if op in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            m = json.loads(data)
            self.messages.append(m)
            return m
        return self.recv()

    def until(self, pred):
        """Reads until pred(message) holds; returns that message."""
        while True:
            m = self.recv()
            assert m is not None, ("closed %s %r before the awaited message; got %r"
                                   % (self.close_code, self.close_reason, self.messages))
            if pred(m):
                return m

    def until_closed(self):
        while self.recv() is not None:
            pass
        self.ws.close()
        return self.close_code

    def output(self, stream):
        return "".join(m["data"] for m in self.messages
                       if m.get("type") == "data" and m.get("stream") == stream)

    def types(self):
        return [m["type"] for m in self.messages]


class RemoteWorker(farmtest.Farm):
    """farmd --role worker --remote URL --token T: a worker with no store of
    its own, so no live channel."""

    def __init__(self, url, token):
        super().__init__(workers=1, builders=0, roles="worker",
                         settings={"worker.first_uid": str(63000 + (os.getpid() % 250) * 8),
                                   "worker.remote_wait_ms": "1000"})
        self.url = url
        self.token = token

    def start(self, timeout=60):
        args = [farmtest.farmd_path(), "--role", "worker", "--workers", "1",
                "--remote", self.url, "--token", self.token]
        for k, v in self.settings.items():
            args += ["--set", "%s=%s" % (k, v)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, env=self.env(), stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + timeout
        while "worker-ready" not in self.logs():
            assert self.proc.poll() is None and time.time() < deadline, self.logs()
            time.sleep(0.05)
        return self


def latest_submission(farm):
    """The newest submission's id, from the farm's store: its SQLite file, or
    (the -pg run) its PostgreSQL database through psql."""
    sql = "SELECT id FROM submissions ORDER BY id DESC LIMIT 1"
    if farm.db_url:
        import pgserver
        out = subprocess.run([pgserver._bin("psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                              "-d", farm.db_url, "-c", sql], check=True, stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, timeout=60).stdout.decode().strip()
        return out or None
    db = sqlite3.connect(os.path.join(farm.state_dir, "farm.db"), timeout=30)
    try:
        row = db.execute(sql).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def stdout_of(s, want):
    return s.until(lambda m: m.get("type") == "data" and m.get("stream") == "stdout"
                   and want in s.output("stdout"))


ECHO_PY = ("import sys\n"
           "for line in sys.stdin:\n"
           "    line = line.strip()\n"
           "    if line == 'quit':\n"
           "        sys.exit(3)\n"
           "    print('got', line.upper(), flush=True)\n")


def main():
    cases = []
    with farmtest.Farm(workers=2, builders=1) as farm:
        st, runtimes = farm.request("GET", "/api/v2/runtimes")
        assert st == 200, (st, runtimes)
        py_ver = {r["language"]: r for r in runtimes}["python"]["version"]

        def init_timeout():
            s = Session(farm)
            t0 = time.time()
            assert s.until_closed() == 4001, (s.close_code, s.messages)
            assert s.close_reason == "Initialization Timeout", s.close_reason
            assert s.messages == [], s.messages
            assert time.time() - t0 >= 0.9  # Piston waits one second before closing
        cases.append(("no init within 1 s: close 4001 Initialization Timeout", init_timeout))

        def interactive_echo():
            s = Session(farm)
            s.send({"type": "init", "language": "py", "version": "3.x",
                    "files": [{"content": ECHO_PY}], "run_timeout": 60000})
            rt = s.until(lambda m: m["type"] == "runtime")
            assert rt == {"type": "runtime", "language": "python", "version": py_ver}, rt
            st_msg = s.until(lambda m: m["type"] == "stage")
            assert st_msg == {"type": "stage", "stage": "run"}, st_msg
            # each answer comes back before the next line is sent: stdin is live
            for word in ["hello", "nix", "farm"]:
                s.send({"type": "data", "stream": "stdin", "data": word + "\n"})
                stdout_of(s, "got %s\n" % word.upper())
            s.send({"type": "data", "stream": "stdin", "data": "quit\n"})
            ex = s.until(lambda m: m["type"] == "exit")
            assert ex == {"type": "exit", "stage": "run", "code": 3, "signal": None}, ex
            assert s.until_closed() == 4999, (s.close_code, s.messages)
            assert s.close_reason == "Job Completed", s.close_reason
            assert s.output("stdout") == "got HELLO\ngot NIX\ngot FARM\n", s.messages
            assert s.types()[:2] == ["runtime", "stage"], s.types()
            # the job is an ordinary submission, visible in /v1
            sid = latest_submission(farm)
            view = farm.wait_finished(sid)
            assert view["state"] == "finished" and view["verdict"] == "runtime_error", view
            assert view["tests"][0]["exit_code"] == 3, view
            assert view["tests"][0]["stdout"] == "got HELLO\ngot NIX\ngot FARM\n", view
        cases.append(("python echoes stdin lines sent one at a time; exit code 3; close 4999; "
                      "the job is in /v1", interactive_echo))

        def streams():
            s = Session(farm)
            s.send({"type": "init", "language": "bash", "version": "*",
                    "files": [{"content": "echo out1\necho err1 >&2\necho out2\nexit 0\n"}]})
            ex = s.until(lambda m: m["type"] == "exit")
            assert ex == {"type": "exit", "stage": "run", "code": 0, "signal": None}, ex
            assert s.until_closed() == 4999
            assert s.output("stdout") == "out1\nout2\n", s.messages
            assert s.output("stderr") == "err1\n", s.messages
        cases.append(("stdout and stderr arrive as their own data streams", streams))

        def utf8_across_chunks():
            # far more than one pipe read: multi-byte characters are cut
            # between chunks, and must come back whole
            text = "\u00e9\u20ac\U0001F600x" * 40000
            s = Session(farm)
            s.send({"type": "init", "language": "python", "version": "*",
                    "files": [{"content": "import sys\nsys.stdout.write(%r)\n" % text}],
                    "run_timeout": 60000})
            s.until(lambda m: m["type"] == "exit")
            assert s.until_closed() == 4999
            chunks = [m for m in s.messages if m["type"] == "data"]
            assert len(chunks) > 1, len(chunks)
            assert s.output("stdout") == text, (len(s.output("stdout")), len(text))
        cases.append(("UTF-8 text cut between output chunks arrives whole", utf8_across_chunks))

        def init_stdin_and_args():
            s = Session(farm)
            s.send({"type": "init", "language": "python", "version": py_ver,
                    "files": [{"content": "import sys\nprint(sys.argv[1:], input())"}],
                    "args": ["a", "b c"], "stdin": "given\n"})
            s.until(lambda m: m["type"] == "exit")
            assert s.until_closed() == 4999
            assert s.output("stdout") == "['a', 'b c'] given\n", s.messages
        cases.append(("init's args and stdin reach the program", init_stdin_and_args))

        def signal_to_program():
            s = Session(farm)
            prog = ("import signal, sys\n"
                    "signal.signal(signal.SIGUSR1, lambda *a: print('usr1', flush=True))\n"
                    "print('ready', flush=True)\n"
                    "for line in sys.stdin:\n    pass\n")
            s.send({"type": "init", "language": "python", "version": "*",
                    "files": [{"content": prog}], "run_timeout": 60000})
            stdout_of(s, "ready\n")
            s.send({"type": "signal", "signal": "SIGUSR1"})  # handled: the program goes on
            stdout_of(s, "usr1\n")
            s.send({"type": "signal", "signal": "SIGTERM"})  # not handled: it ends
            ex = s.until(lambda m: m["type"] == "exit")
            assert ex == {"type": "exit", "stage": "run", "code": None, "signal": "SIGTERM"}, ex
            assert s.until_closed() == 4999
        cases.append(("signals reach the running program (a handled SIGUSR1, then SIGTERM)",
                      signal_to_program))

        def compile_error():
            s = Session(farm)
            s.send({"type": "init", "language": "c", "version": "*",
                    "files": [{"name": "main.c", "content": "int main(void) { return x; }\n"}]})
            ex = s.until(lambda m: m["type"] == "exit")
            assert ex["stage"] == "compile" and ex["code"] not in (0, None), ex
            assert s.until_closed() == 4999, (s.close_code, s.messages)
            stages = [m["stage"] for m in s.messages if m["type"] == "stage"]
            assert stages == ["compile"], s.messages
            assert "error" in s.output("stderr") or "error" in s.output("stdout"), s.messages
        cases.append(("a compile error: stage compile, the compiler's output, exit, no run stage",
                      compile_error))

        def compiled_and_run():
            s = Session(farm)
            src = ('#include <stdio.h>\nint main(void){int a,b; if(scanf("%d %d",&a,&b)!=2)'
                   ' return 9; printf("%d\\n", a+b); return 0;}\n')
            s.send({"type": "init", "language": "gcc", "version": "*",
                    "files": [{"content": src}], "run_timeout": 60000})
            s.until(lambda m: m["type"] == "stage" and m["stage"] == "run")
            s.send({"type": "data", "stream": "stdin", "data": "40 2\n"})
            s.until(lambda m: m["type"] == "exit" and m["stage"] == "run")
            assert s.until_closed() == 4999
            assert s.output("stdout") == "42\n", s.messages
            seq = [(m["type"], m.get("stage")) for m in s.messages if m["type"] != "data"]
            assert seq == [("runtime", None), ("stage", "compile"), ("exit", "compile"),
                           ("stage", "run"), ("exit", "run")], seq
            comp = [m for m in s.messages if m["type"] == "exit"][0]
            assert comp["code"] == 0 and comp["signal"] is None, comp
        cases.append(("C: compile then run stages, stdin sent once running", compiled_and_run))

        def time_limit():
            s = Session(farm)
            s.send({"type": "init", "language": "python", "version": "*",
                    "files": [{"content": "import sys\nprint('waiting', flush=True)\n"
                               "sys.stdin.read()\n"}], "run_timeout": 1500})
            ex = s.until(lambda m: m["type"] == "exit")
            assert ex == {"type": "exit", "stage": "run", "code": None, "signal": "SIGKILL"}, ex
            assert s.until_closed() == 4999
            assert s.output("stdout") == "waiting\n", s.messages
        cases.append(("run_timeout still applies: a program waiting on stdin is killed (SIGKILL)",
                      time_limit))

        def output_cap():
            s = Session(farm)
            s.send({"type": "init", "language": "python", "version": "*", "run_timeout": 60000,
                    "files": [{"content": "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n"}]})
            ex = s.until(lambda m: m["type"] == "exit")
            assert ex == {"type": "exit", "stage": "run", "code": None, "signal": "SIGKILL"}, ex
            assert s.until_closed() == 4999
            out = s.output("stdout")
            # the farm's default cap (api.limits.default.run.output_bytes), no more
            assert 0 < len(out) <= 1048576 and set(out) == {"y"}, len(out)
        cases.append(("the output cap still applies: a flood is cut and killed (SIGKILL)",
                      output_cap))

        def disconnect_cancels():
            s = Session(farm)
            s.send({"type": "init", "language": "python", "version": "*",
                    "files": [{"content": "import sys\nprint('up', flush=True)\nsys.stdin.read()\n"}],
                    "run_timeout": 120000})
            stdout_of(s, "up\n")
            sid = latest_submission(farm)
            s.ws.sock.close()  # leave without a close frame
            view = farm.wait_finished(sid, timeout=120)
            assert view["state"] == "cancelled", view
        cases.append(("a client that leaves cancels its run", disconnect_cancels))

        def bad_messages():
            def session_closed_with(msgs, code, reason=None, error=None):
                s = Session(farm)
                for m in msgs:
                    s.send(m)
                got = s.until_closed()
                assert got == code, (got, s.close_reason, s.messages, msgs)
                if reason:
                    assert s.close_reason == reason, (s.close_reason, msgs)
                if error:
                    errs = [m for m in s.messages if m["type"] == "error"]
                    assert errs and error in errs[0]["message"], (s.messages, msgs)
                return s

            session_closed_with(["{not json"], 4002, "Notified Error", "not valid JSON")
            session_closed_with([{"type": "data", "stream": "stdin", "data": "x"}], 4003,
                                "Not yet initialized")
            session_closed_with([{"type": "signal", "signal": "SIGINT"}], 4003,
                                "Not yet initialized")
            session_closed_with([{"type": "init", "language": "brainfuck", "version": "*",
                                  "files": [{"content": "x"}]}], 4002, "Notified Error",
                                "brainfuck-* runtime is unknown")
            session_closed_with([{"type": "init", "language": "python", "version": "*"}], 4002,
                                "Notified Error", "files is required as an array")
            session_closed_with([{"type": "hello"}], 4002, "Notified Error",
                                "unknown message type")
            slow = {"type": "init", "language": "python", "version": "*", "run_timeout": 60000,
                    "files": [{"content": "import sys\nsys.stdin.read()\n"}]}
            s = session_closed_with([slow, slow], 4000, "Already Initialized")
            assert s.messages[0]["type"] == "runtime", s.messages
            session_closed_with([slow, {"type": "data", "stream": "stdout", "data": "x"}], 4004,
                                "Can only write to stdin")
            session_closed_with([slow, {"type": "signal", "signal": "SIGNOPE"}], 4005,
                                "Invalid signal")
            session_closed_with([slow, {"type": "data", "stream": "stdin", "data": 5}], 4002,
                                "Notified Error", "data must be a string")
        cases.append(("bad messages: not JSON, unknown runtime/type, data before init, second "
                      "init, stdout, bad signal -> Piston's close codes", bad_messages))

        def not_a_websocket():
            st, b = farm.request("GET", "/api/v2/connect")
            assert st == 400 and "WebSocket" in b["message"], (st, b)
        cases.append(("a plain GET of /api/v2/connect: 400 with Piston's {message}",
                      not_a_websocket))

        def stdin_cap():
            small = apitest.api_farm(settings={"api.max_body_bytes": "4096"})
            with small:  # the API alone: the job stays queued, stdin waits in the store
                s = Session(small)
                s.send({"type": "init", "language": "python", "version": "*",
                        "files": [{"content": "import sys\nsys.stdin.read()\n"}]})
                s.until(lambda m: m["type"] == "runtime")
                for _ in range(3):
                    s.send({"type": "data", "stream": "stdin", "data": "z" * 1500})
                assert s.until_closed() == 4002, (s.close_code, s.messages)
                err = [m for m in s.messages if m["type"] == "error"]
                assert err and "api.max_body_bytes" in err[0]["message"], s.messages
        cases.append(("stdin of a session is capped at api.max_body_bytes: error + 4002",
                      stdin_cap))

        def auth():
            farm_auth = apitest.api_farm(settings={"api.auth": "true"})
            with farm_auth:
                try:
                    websocket.create_connection(
                        "ws://127.0.0.1:%d/api/v2/connect" % farm_auth.port, timeout=60)
                    raise AssertionError("the upgrade was accepted without a token")
                except websocket.WebSocketBadStatusException as e:
                    assert e.status_code == 401, e
                tok = apitest.token(farm_auth, "ws", "submit")
                s = Session(farm_auth, headers=["Authorization: " + tok["token"]])
                assert s.until_closed() == 4001, s.close_code
        cases.append(("api.auth: no token -> 401 before the upgrade; a submit token in "
                      "Authorization is accepted", auth))

        def remote_worker_replays():
            keys = tempfile.mkdtemp(prefix="farmtest-keys-")
            cache = tempfile.mkdtemp(prefix="farmtest-cache-")
            try:
                sec, pub = os.path.join(keys, "c.sec"), os.path.join(keys, "c.pub")
                subprocess.run(["nix-store", "--generate-binary-cache-key", "farm-ws-1", sec, pub],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                a = farmtest.Farm(workers=0, builders=1, roles="api,builder,health",
                                  settings={"api.auth": "true",
                                            "cache.export_url": "file://" + cache,
                                            "cache.secret_key_file": sec})
                with a:
                    wtok = apitest.token(a, "remote", "worker")["token"]
                    stok = apitest.token(a, "client", "submit,read")["token"]
                    b = RemoteWorker("http://127.0.0.1:%d" % a.port, wtok)
                    with b:
                        s = Session(a, headers=["Authorization: " + stok])
                        s.send({"type": "init", "language": "bash", "version": "*",
                                "files": [{"content": "echo out; echo err >&2; exit 4\n"}]})
                        assert s.until_closed() == 4999, (s.close_code, s.messages, b.logs())
                        seq = [(m["type"], m.get("stage") or m.get("stream")) for m in s.messages]
                        assert seq == [("runtime", None), ("stage", "run"), ("data", "stdout"),
                                       ("data", "stderr"), ("exit", "run")], s.messages
                        assert s.output("stdout") == "out\n" and s.output("stderr") == "err\n"
                        assert s.messages[-1] == {"type": "exit", "stage": "run", "code": 4,
                                                  "signal": None}, s.messages
            finally:
                shutil.rmtree(keys, ignore_errors=True)
                shutil.rmtree(cache, ignore_errors=True)
        cases.append(("a remote worker (no live channel): the result comes as the same messages "
                      "at the end", remote_worker_replays))

        rc = farmtest.run_cases(cases)
    sys.exit(rc)


if __name__ == "__main__":
    main()
