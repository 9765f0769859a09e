"""farmtest — start a real farmd for a test and leave nothing behind.

    with farmtest.Farm(workers=2) as farm:
        status, body = farm.request("POST", "/v1/submissions?wait=true", {...})

A Farm gets its own temporary state directory and a free loopback port, runs
`farmd` (FARM_FARMD or the build tree's daemon/farmd) in its own session, waits
for GET /v1/health, and on exit sends SIGTERM, then SIGKILL to the whole
process group, and removes the state directory. Failure to clean up is itself a
test failure: `Farm.stop()` asserts that no process of the group survives.

Environment used: FARM_BUILD_ROOT (the meson build dir, set by meson test),
FARM_SOURCE_ROOT (the source tree), FARM_TEST_DB_URL (set when the suite runs
on PostgreSQL, by tests/lib/pgserver.py: each Farm then gets a database of its
own on that server, kept across restarts, instead of <state_dir>/farm.db).
"""
import sys
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

BUILD_ROOT = os.environ.get("FARM_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SOURCE_ROOT = os.environ.get("FARM_SOURCE_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def farmd_path():
    return os.environ.get("FARM_FARMD", os.path.join(BUILD_ROOT, "daemon", "farmd"))


def farm_path():
    return os.environ.get("FARM_CLI", os.path.join(BUILD_ROOT, "cli", "farm"))


def farm_sandbox_path():
    return os.environ.get("FARM_SANDBOX", os.path.join(BUILD_ROOT, "sandbox", "farm-sandbox"))


_accounting = None


def nix_copy_with_spec(tmp, edit):
    """A copy of the source tree's nix/ in tmp/nix (without generated files)
    whose spec.json edit(spec) has changed: a package set of the test's own,
    generated from this machine's dpkg like the real one. Returns its path."""
    nix = os.path.join(tmp, "nix")
    src = os.path.join(os.environ["FARM_SOURCE_ROOT"], "nix")
    shutil.copytree(src, nix, ignore=shutil.ignore_patterns("manifests", "packages.json"))
    path = os.path.join(nix, "spec.json")
    with open(path) as f:
        spec = json.load(f)
    edit(spec)
    with open(path, "w") as f:
        json.dump(spec, f)
    return nix


def sandbox_accounting():
    """The accounting a sandbox pool really uses on this machine ("cgroup-v2",
    "cgroup-v1" or "rlimits"), as `farm-sandbox --check --json` finds it by
    making one: tests whose verdict depends on it (a memory limit is named
    only where a cgroup holds the whole tree) expect the path taken here."""
    global _accounting
    if _accounting is None:
        uid = 65000 + os.getpid() % 500
        p = subprocess.run([farm_sandbox_path(), "--uid", str(uid), "--check", "--json"],
                           capture_output=True, text=True, timeout=120)
        acct = json.loads(p.stdout).get("accounting")
        assert acct, "farm-sandbox --check made no pool: %s" % p.stdout
        _accounting = acct
    return _accounting


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid):
    """Direct children pids of pid (all of its threads)."""
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def comm(pid):
    """The process's name (farmd's children name themselves farmd-<role>-<n>); "" when gone."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


class HookServer:
    """A loopback HTTP server for the callbacks a farm sends: handler (a
    BaseHTTPRequestHandler class) answers each request on its own thread;
    url is http://127.0.0.1:<port>/hook; close() stops it."""

    def __init__(self, handler):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Farm:
    def __init__(self, workers=2, builders=1, roles=None, settings=None, state_dir=None, env=None,
                 wrapper=None):
        self.workers = workers
        self.builders = builders
        self.roles = roles
        self.settings = dict(settings or {})
        self.extra_env = dict(env or {})
        # A command farmd's argv is appended to, which must exec it in the
        # same process (e.g. unshare ... sh -c '...; exec "$0" "$@"').
        self.wrapper = list(wrapper or [])
        self.own_state = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="farmtest-")
        self.port = free_port()
        self.proc = None
        self.log_path = os.path.join(self.state_dir, "farmd.log")
        self.db_url = None
        if os.environ.get("FARM_TEST_DB_URL") and "FARM_DB_URL" not in self.extra_env:
            import pgserver
            self.db_url = pgserver.create_database(os.environ["FARM_TEST_DB_URL"], "farm")
            self.extra_env["FARM_DB_URL"] = self.db_url

    # -- lifecycle -------------------------------------------------------
    def env(self):
        env = dict(os.environ)
        env.update({
            "FARM_STATE_DIR": self.state_dir,
            "FARM_API_LISTEN": "127.0.0.1:%d" % self.port,
            "FARM_LOG_LEVEL": os.environ.get("FARM_TEST_LOG_LEVEL", "info"),
        })
        env.update(self.extra_env)
        return env

    def start(self, timeout=60):
        args = self.wrapper + [farmd_path(), "--workers", str(self.workers), "--builders",
                               str(self.builders)]
        if self.roles:
            args += ["--role", self.roles]
        for k, v in self.settings.items():
            args += ["--set", "%s=%s" % (k, v)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, env=self.env(), stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("farmd exited with %s during start-up:\n%s" % (self.proc.returncode, self.logs()))
            try:
                status, _ = self.request("GET", "/v1/health", timeout=2)
                if status in (200, 503):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("farmd did not answer /v1/health in %ss:\n%s" % (timeout, self.logs()))

    def group_alive(self):
        if self.proc is None:
            return False
        try:
            os.killpg(self.proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def kill9(self):
        """SIGKILL the whole farmd process group (a crash), without cleanup."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self._wait_group_gone(10)

    def _wait_group_gone(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline and self.group_alive():
            time.sleep(0.02)
        return not self.group_alive()

    def stop(self, grace=20):
        """SIGTERM, wait for a clean exit; SIGKILL the group if it lingers.
        Returns farmd's exit status; asserts nothing of the group is left."""
        if self.proc is None:
            return None
        rc = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        else:
            rc = self.proc.returncode
        clean = self._wait_group_gone(grace if rc is not None else 0.5)
        if not clean:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self._wait_group_gone(10)
        self.proc.wait()
        self.proc = None
        self.log.close()
        assert clean, "farmd left processes behind after SIGTERM:\n" + self.logs()
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def logs(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-20000:]
        except OSError:
            return ""

    def cleanup(self):
        try:
            if self.proc is not None:
                self.stop()
        finally:
            if self.own_state:
                # Boxes may be tmpfs mounts if a crash left them: unmount first.
                subprocess.run(["sh", "-c", "grep -o ' %s[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l" % self.state_dir],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()
        return False

    # -- HTTP ------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=120, raw=False):
        """Returns (status, parsed JSON or text). body: dict/list (sent as JSON), str or bytes."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            self.last_headers = dict(resp.getheaders())
            if raw:
                return resp.status, data
            ctype = resp.getheader("Content-Type", "")
            if "json" in ctype:
                return resp.status, json.loads(data.decode() or "null")
            return resp.status, data.decode("utf-8", "replace")
        finally:
            conn.close()

    def submit(self, sub, wait=True, headers=None, timeout=300):
        status, body = self.request("POST", "/v1/submissions" + ("?wait=true" if wait else ""),
                                    sub, headers=headers, timeout=timeout)
        return status, body

    def wait_finished(self, sid, timeout=300, headers=None):
        deadline = time.time() + timeout
        terminal = {"finished", "compile_error", "deps_failed", "cancelled", "internal_error"}
        while time.time() < deadline:
            status, body = self.request("GET", "/v1/submissions/" + sid, headers=headers)
            if status == 200 and body.get("state") in terminal:
                return body
            time.sleep(0.05)
        # Say where it stands and what the farm said last, so a failure in CI
        # (where only this output survives) can be read.
        status, body = self.request("GET", "/v1/submissions/" + sid, headers=headers)
        tail = "\n".join(self.logs().splitlines()[-30:]) if hasattr(self, "logs") else ""
        raise AssertionError("submission %s did not finish in %ss; now %s %r\nlast farmd log lines:\n%s"
                             % (sid, timeout, status, body, tail))


def run_cases(cases):
    """Tiny runner: cases is a list of (name, fn). Prints TAP, returns exit code."""
    failed = 0
    print("1..%d" % len(cases), flush=True)
    for i, (name, fn) in enumerate(cases, 1):
        t0 = time.time()
        try:
            fn()
            print("ok %d - %s (%.2fs)" % (i, name, time.time() - t0), flush=True)
        except Exception as e:  # report and go on: one failing case does not hide others
            failed += 1
            import traceback
            print("not ok %d - %s" % (i, name), flush=True)
            for line in traceback.format_exc().splitlines():
                print("# " + line, flush=True)
            # meson shows a failing TAP test's stderr, not its stdout
            sys.stderr.write("not ok %d - %s\n%s" % (i, name, traceback.format_exc()))
            sys.stderr.flush()
    print("# %d passed, %d failed" % (len(cases) - failed, failed), flush=True)
    return 1 if failed else 0
