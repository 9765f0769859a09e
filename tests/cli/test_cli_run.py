#!/usr/bin/env python3
"""`farm run` with no daemon: python3 and C from the offline Nix set, the
current directory copied (or bound read-only with --ro), limits enforced with
their exit codes, --json shape, and nothing left behind (boxes, mounts)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clitest  # noqa: E402
from clitest import Tmp, check, farm  # noqa: E402
import farmtest  # noqa: E402

STATE = None


def run(t, *args, **kw):
    env = {"FARM_STATE_DIR": STATE}
    return farm("run", *args, cwd=t.path, env=env, **kw)


def no_farmd_running():
    out = subprocess.run(["pgrep", "-x", "farmd"], capture_output=True, text=True).stdout
    # Other suites may run a farmd at the same time; none may use our state dir.
    for pid in out.split():
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                assert STATE.encode() not in f.read(), "a farmd uses the local state dir"
        except OSError:
            pass


def test_python3_hello_from_copied_cwd():
    with Tmp() as t:
        t.write("hi.py", "import sys\nprint('hello', sum(range(10)))\nprint('warn', file=sys.stderr)\n")
        p = check(run(t, "-P", "python3", "--", "python3", "hi.py"), 0)
        assert p.stdout == "hello 45\n", p.stdout
        assert "warn" in p.stderr and "farm run: exit 0" in p.stderr and "memory" in p.stderr, p.stderr
        no_farmd_running()


def test_c_compile_and_run_writes_stay_in_the_box():
    with Tmp() as t:
        t.write("add.c", '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);'
                         'printf("%d\\n",a+b);return 0;}\n')
        p = check(run(t, "-i", "-P", "gcc", "--", "sh", "-c", "gcc -O2 -o add add.c && ./add",
                      stdin="40 2\n"), 0)
        assert p.stdout == "42\n", p.stdout
        assert not os.path.exists(os.path.join(t.path, "add")), "the build leaked out of the box"


def test_output_streams_live():
    # The first line must be on farm's stdout while the command still sleeps
    # before its second; both lines come, exactly once, then the summary.
    # (The bash set has no `sleep`: coreutils brings it.)
    import select
    import time
    with Tmp() as t:
        env = dict(os.environ, FARM_STATE_DIR=STATE, NO_COLOR="1")
        proc = subprocess.Popen([clitest.FARM, "run", "--packages", "bash,coreutils", "--", "bash",
                                 "-c", "echo first; sleep 2; echo second"], cwd=t.path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = b"", b""
        try:
            # Generous: a cold state directory may have to build the set first.
            deadline = time.time() + 240
            open_fds = [proc.stdout, proc.stderr]
            while b"\n" not in out and open_fds and time.time() < deadline:
                ready, _, _ = select.select(open_fds, [], [], max(0.0, deadline - time.time()))
                for f in ready:
                    chunk = os.read(f.fileno(), 65536)
                    if not chunk:
                        open_fds.remove(f)
                    elif f is proc.stdout:
                        out += chunk
                    else:
                        err += chunk
            running = proc.poll() is None
            first = out
            assert first == b"first\n", (first, err)
            assert running, "the first line came only when farm ended"
            rest, err_rest = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:  # farm removes its box on SIGTERM
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        out += rest
        err += err_rest
        assert proc.returncode == 0, (proc.returncode, out, err)
        assert out == b"first\nsecond\n", out
        assert b"farm run: exit 0" in err and b"memory" in err, err


def test_exit_status_and_signal_pass_through():
    with Tmp() as t:
        check(run(t, "-q", "-P", "python3", "--", "python3", "-c", "import sys; sys.exit(7)"), 7)
        check(run(t, "-q", "-P", "python3", "--", "python3", "-c",
                  "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"), 139)
        p = check(run(t, "-P", "python3", "--", "no-such-tool"), 127)
        assert "no-such-tool" in p.stderr


def test_time_limit_is_124():
    with Tmp() as t:
        p = check(run(t, "-P", "python3", "--time", "1", "--", "python3", "-c", "while True: pass"), 124)
        assert "limit cpu" in p.stderr, p.stderr
        check(run(t, "-q", "-P", "python3", "--wall", "500ms", "--", "python3", "-c",
                  "import time; time.sleep(30)"), 124)


def test_memory_limit_is_137():
    with Tmp() as t:
        if farmtest.sandbox_accounting() != "rlimits":
            p = check(run(t, "-P", "python3", "--memory", "64M", "--", "python3", "-c",
                          "x = bytearray(400 * 1024 * 1024); print(len(x))"), 137)
        else:
            # No cgroups here: RLIMIT_AS makes the allocation fail inside
            # (MemoryError, exit 1); the promise, no 400 MiB, is the same.
            print("# rlimits accounting here: the memory limit is an allocation failure, not 137")
            p = check(run(t, "-P", "python3", "--memory", "64M", "--", "python3", "-c",
                          "x = bytearray(400 * 1024 * 1024); print(len(x))"), 1)
        assert p.stdout == "", p.stdout


def test_output_limit_and_processes():
    with Tmp() as t:
        p = check(run(t, "-q", "-P", "python3", "--output-limit", "1K", "--", "python3", "-c",
                      "print('x' * 100000)"), 141)
        assert p.stdout == "x" * 1024, len(p.stdout)  # streamed, and capped the same
        # A fork bomb under a process limit ends; the exact status depends on
        # whether the kernel refused fork (Python raises: 1) or the limit fired.
        p = run(t, "-q", "-P", "python3", "--processes", "8", "--", "python3", "-c",
                "import os\nwhile True:\n    os.fork()\n")
        assert p.returncode in (1, 126, 137), p.returncode


def test_read_only_bind_of_cwd():
    with Tmp() as t:
        t.write("data.txt", "abc\n")
        p = check(run(t, "--ro", "-P", "python3", "--", "python3", "-c",
                      "print(open('data.txt').read().strip())"), 0)
        assert p.stdout == "abc\n"
        p = run(t, "--ro", "-q", "-P", "python3", "--", "python3", "-c", "open('new', 'w')")
        assert p.returncode == 1 and "Read-only" in p.stderr, (p.returncode, p.stderr)
        assert not os.path.exists(os.path.join(t.path, "new"))


def test_json_shape():
    with Tmp() as t:
        p = check(run(t, "--json", "-P", "python3", "--", "python3", "-c", "print('o')"), 0)
        j = json.loads(p.stdout)
        for k in ("exit_code", "signal", "limit", "cpu_ms", "wall_ms", "memory_kib", "stdout", "stderr"):
            assert k in j, (k, j)
        assert j["stdout"] == "o\n" and j["exit_code"] == 0 and j["limit"] == "none"


def test_usage_errors_are_125():
    with Tmp() as t:
        check(run(t, "--", "python3"), 125)               # no packages
        check(run(t, "-P", "python3"), 125)               # no command
        p = check(run(t, "-P", "pyhton3", "--", "python3"), 125)
        assert "pyhton3" in p.stderr, p.stderr


def start_sleeper_run(t, seconds):
    """Starts `farm run` of a python3 that sleeps for seconds (a number the
    test's pgrep can tell apart) and waits until its box is there; returns
    the process and the boxes directory."""
    import time
    env = dict(os.environ, FARM_STATE_DIR=STATE, NO_COLOR="1")
    proc = subprocess.Popen([clitest.FARM, "run", "-P", "python3", "--", "python3", "-c",
                             "import time; time.sleep(%d)" % seconds], cwd=t.path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    boxes = os.path.join(STATE, "boxes")
    deadline = time.time() + 60
    while time.time() < deadline and not any(
            n.startswith("local-%d-" % proc.pid) for n in (os.listdir(boxes) if os.path.isdir(boxes) else [])):
        time.sleep(0.05)
    time.sleep(0.3)
    return proc, boxes


def assert_sleeper_gone(seconds):
    """No process of start_sleeper_run(_, seconds) is left on the host."""
    out = subprocess.run(["pgrep", "-f", "time.sleep\\(%d\\)" % seconds], capture_output=True,
                         text=True).stdout
    assert out.strip() == "", out


def test_killed_run_is_cleaned_by_the_next():
    import signal
    with Tmp() as t:
        proc, boxes = start_sleeper_run(t, 60)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert any(n.startswith("local-%d-" % proc.pid) for n in os.listdir(boxes)), "no box to clean"
        check(run(t, "-q", "-P", "python3", "--", "python3", "-c", "print(1)"), 0)
        assert os.listdir(boxes) == [], os.listdir(boxes)
        # The sandboxed sleeper died with its PID namespace.
        assert_sleeper_gone(60)


def test_sigterm_stops_the_run_and_cleans_up():
    import signal
    with Tmp() as t:
        proc, boxes = start_sleeper_run(t, 61)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 128 + signal.SIGTERM
        assert os.listdir(boxes) == [], os.listdir(boxes)
        assert_sleeper_gone(61)


def own_cgroup_dirs():
    """This process's cgroup directory in every hierarchy it is in (v1 and v2)."""
    dirs = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            names = [c[5:] if c.startswith("name=") else c for c in ctrls.split(",") if c] or ["unified"]
            for c in names + [ctrls]:
                d = "/sys/fs/cgroup/%s%s" % (c, path if path != "/" else "")
                if ctrls and os.path.isdir(d) and d not in dirs:
                    dirs.append(d)
                    break
            else:
                d = "/sys/fs/cgroup" + (path if path != "/" else "")
                if not ctrls and os.path.exists(d + "/cgroup.controllers") and d not in dirs:
                    dirs.append(d)
    assert dirs, "no cgroup directory found for this process"
    return dirs


def farm_nix_cgroups(pid):
    """farm-nix-<pid>-N directories anywhere beneath our cgroups."""
    found = []
    for base in own_cgroup_dirs():
        for root, subdirs, _ in os.walk(base):
            found += [os.path.join(root, d) for d in subdirs if d.startswith("farm-nix-%d-" % pid)]
    return found


def run_pid(t, state, *args):
    env = dict(os.environ, FARM_STATE_DIR=state, NO_COLOR="1")
    proc = subprocess.Popen([clitest.FARM, "run"] + list(args), cwd=t.path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (proc.returncode, out, err)
    return proc.pid, out


def test_local_realise_leaves_no_nix_cgroup():
    # Nix runs (a miss) each get a farm-nix-<pid>-N memory cgroup beneath ours;
    # none may outlive the run, and a hit makes none.
    with Tmp() as t, Tmp("farm-run-cg-state-") as st:
        t.write("hi.py", "print('hi')\n")
        db = os.path.join(st.path, "farm.db")
        assert not os.path.exists(db)  # a fresh state: the first run must build (a miss)
        pid, out = run_pid(t, st.path, "-q", "-P", "python3", "--", "python3", "hi.py")
        assert out == "hi\n", out
        import sqlite3
        with sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10) as c:
            rows = c.execute("SELECT state FROM depsets").fetchall()
        assert rows == [("ready",)], rows
        assert farm_nix_cgroups(pid) == [], farm_nix_cgroups(pid)
        pid, out = run_pid(t, st.path, "-q", "-P", "python3", "--", "python3", "hi.py")
        assert out == "hi\n", out
        assert farm_nix_cgroups(pid) == [], farm_nix_cgroups(pid)


def test_dead_runs_nix_cgroup_is_reaped_by_a_hit():
    # A run killed while Nix built left its cgroup behind; the next local run
    # removes it even when it is a cache hit that runs no Nix at all.
    # The hierarchy Nix runs are limited in: v1's memory controller, else
    # the v2 tree (builder/nixrun.c, own_memory_cgroup).
    dirs = own_cgroup_dirs()
    mem = [d for d in dirs if d.startswith("/sys/fs/cgroup/memory")] or \
        [d for d in dirs if os.path.exists(d + "/cgroup.controllers")]
    assert mem, dirs
    with Tmp() as t:
        check(run(t, "-q", "-P", "python3", "--", "python3", "-c", "pass"), 0)  # ready: a hit next
        dead = subprocess.Popen(["true"])
        dead.wait()
        stale = os.path.join(mem[0], "farm-nix-%d-0" % dead.pid)
        os.mkdir(stale)
        try:
            check(run(t, "-q", "-P", "python3", "--", "python3", "-c", "pass"), 0)
            assert not os.path.exists(stale), "a dead run's farm-nix cgroup survived a local run"
        finally:
            if os.path.exists(stale):
                os.rmdir(stale)


def test_nothing_left_behind():
    boxes = os.path.join(STATE, "boxes")
    left = os.listdir(boxes) if os.path.isdir(boxes) else []
    assert left == [], left
    with open("/proc/self/mountinfo") as f:
        assert STATE not in f.read(), "a box mount was left"


def main():
    global STATE
    with Tmp("farm-run-state-") as st:
        STATE = st.path
        cases = [(name, fn) for name, fn in globals().items()
                 if name.startswith("test_") and callable(fn) and name != "test_nothing_left_behind"]
        cases.append(("test_nothing_left_behind", test_nothing_left_behind))
        return farmtest.run_cases(cases)


if __name__ == "__main__":
    sys.exit(main())
