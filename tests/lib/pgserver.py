#!/usr/bin/env python3
"""pgserver — a throwaway PostgreSQL server from Debian's packages for one test run.

    with pgserver.PgServer() as pg:
        url = pg.create_database()        # "host=<socket dir> user=... dbname=t1"

    pgserver.py run -- CMD ARGS...        # CMD runs with FARM_TEST_DB_URL set
    pgserver.py serve -- CMD ARGS...      # one server for every `run` inside CMD
                                          # (FARM_TEST_PG_SHARED_URL; scripts/test.sh)

The server lives in a temporary directory: initdb there, listening on a Unix
socket in that directory only (listen_addresses = ''), no system service, no
TCP port. It is started with the run and stopped (pg_ctl stop -m immediate,
then SIGKILL of the postmaster if it lingers) and its directory removed when
the run ends, whatever the outcome: a watcher process in its own session
does both if the run itself is killed (meson's timeout ends with SIGKILL).

As root it runs initdb and postgres as an unprivileged user (postgres refuses
root): `postgres` (the Debian package makes it) or else `nobody`. The
temporary directory is handed to that user; the socket is 0777 with trust
authentication, so root's test processes connect as that user.

For nodes in other network namespaces, PgServer(listen="10.77.0.1",
allow="10.77.0.0/24") also listens on that address (port 5432 by default)
with trust authentication for that range only; pg.tcp_url(dbname) names it.

FARM_TEST_DB_URL is a libpq keyword string without dbname: a test appends
" dbname=<its own database>" after creating it (tests/unit/testdb.h,
farmtest.Farm), so cases never share a database. Durability is off
(fsync, synchronous_commit, full_page_writes): the data dies with the run.
"""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def _bin(name):
    hits = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name))
    if not hits:
        raise RuntimeError("PostgreSQL's %s is missing: install the Debian package postgresql "
                           "(scripts/install-deps.sh)" % name)
    return hits[-1]


def _run_user():
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("no unprivileged user (postgres or nobody) to run PostgreSQL as")


class PgServer:
    def __init__(self, listen=None, allow=None, port=5432):
        self.listen = listen
        self.allow = allow
        self.port = port
        self.dir = None
        self.user = _run_user()
        self.username = self.user.pw_name if self.user else pwd.getpwuid(os.geteuid()).pw_name
        self.ndb = 0

    # -- processes as the server's user ----------------------------------
    def _demote(self):
        if self.user:
            os.setgid(self.user.pw_gid)
            os.setgroups([])
            os.setuid(self.user.pw_uid)

    def _run(self, args, check=True, **kw):
        env = dict(os.environ, LC_ALL="C", PGTZ="UTC")
        if self.user:
            env["HOME"] = self.dir
        return subprocess.run(args, preexec_fn=self._demote, env=env, check=check,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, **kw)

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def url(self):
        return "host=%s port=%d user=%s" % (self.dir, self.port, self.username)

    def tcp_url(self, dbname):
        """The url of database dbname over TCP (PgServer(listen=...))."""
        return "host=%s port=%d user=%s dbname=%s" % (self.listen, self.port, self.username,
                                                      dbname)

    def _watch(self):
        """Forks a watcher that stops the server and removes its directory
        once this process is gone, however it went."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(w)
                os.setsid()  # out of the test's process group and its signals
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                while os.read(r, 1):
                    pass
                if os.path.isdir(self.dir):  # the run did not stop it
                    self.stop()
            finally:
                os._exit(0)
        os.close(r)
        self._watch_fd = w
        self._watch_pid = pid

    def start(self):
        base = os.environ.get("TMPDIR", "/tmp")
        self.dir = tempfile.mkdtemp(prefix="farm-pg-", dir=base)
        self._watch()
        try:
            os.chmod(self.dir, 0o755)
            if self.user:
                os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
            r = self._run([_bin("initdb"), "-D", self.data, "-U", self.username, "--auth=trust",
                           "--no-sync", "-E", "UTF8", "--locale=C"], check=False)
            if r.returncode != 0:
                raise RuntimeError("initdb failed:\n" + r.stdout.decode(errors="replace"))
            if self.allow:
                with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
                    f.write("host all all %s trust\n" % self.allow)
            opts = ("-c listen_addresses='%s' -p %d -k %s -c fsync=off -c synchronous_commit=off "
                    "-c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB "
                    "-c unix_socket_permissions=0777" % (self.listen or "", self.port, self.dir))
            r = self._run([_bin("pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "log"),
                           "-o", opts, "-w", "-t", "120", "start"], check=False)
            if r.returncode != 0:
                raise RuntimeError("postgres did not start:\n" + r.stdout.decode(errors="replace")
                                   + self.logs())
        except BaseException:
            self.stop()
            raise
        return self

    def logs(self):
        try:
            with open(os.path.join(self.dir, "log"), "rb") as f:
                return f.read().decode("utf-8", "replace")[-8000:]
        except OSError:
            return ""

    def _postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def stop(self):
        if not self.dir:
            return
        try:
            pid = self._postmaster_pid()
            if pid:
                self._run([_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "-t", "30",
                           "stop"], check=False)
                # pg_ctl gave up or the postmaster is wedged: its children die with it.
                deadline = time.time() + 10
                while time.time() < deadline:
                    try:
                        os.kill(pid, 0)
                    except ProcessLookupError:
                        break
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        break
                    time.sleep(0.05)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            if getattr(self, "_watch_fd", None) is not None:
                os.close(self._watch_fd)  # the watcher finds nothing left to do
                self._watch_fd = None
            if getattr(self, "_watch_pid", None):
                try:
                    os.waitpid(self._watch_pid, 0)
                except ChildProcessError:
                    pass
                self._watch_pid = None

    def psql(self, sql, dbname="postgres"):
        r = self._run([_bin("psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h",
                       self.dir, "-p", str(self.port), "-U", self.username, "-d", dbname, "-c",
                       sql], check=False)
        if r.returncode != 0:
            raise RuntimeError("psql %r: %s" % (sql, r.stdout.decode(errors="replace")))
        return r.stdout.decode().strip()

    def create_database(self, prefix="t"):
        """A new empty database; returns its libpq url."""
        self.ndb += 1
        name = "%s_%d_%d" % (prefix, os.getpid(), self.ndb)
        self.psql("CREATE DATABASE %s" % name)
        return "%s dbname=%s" % (self.url, name)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def create_database(base_url, prefix="e"):
    """A new database on the server base_url (FARM_TEST_DB_URL) names, made
    with psql as that server's user; returns its url."""
    parts = dict(p.split("=", 1) for p in base_url.split())
    create_database.n = getattr(create_database, "n", 0) + 1
    name = "%s_%d_%d" % (prefix, os.getpid(), create_database.n)
    r = subprocess.run([_bin("psql"), "-X", "-q", "-h", parts["host"], "-p", parts.get("port", "5432"),
                        "-U", parts["user"], "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c",
                        "CREATE DATABASE %s" % name],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError("CREATE DATABASE failed: " + r.stdout.decode(errors="replace"))
    return "%s dbname=%s" % (base_url, name)


def main(argv):
    if len(argv) < 3 or argv[1] not in ("run", "serve") or "--" not in argv:
        sys.stderr.write("usage: pgserver.py run|serve -- CMD ARGS...\n")
        return 2
    cmd = argv[argv.index("--") + 1:]
    shared = os.environ.get("FARM_TEST_PG_SHARED_URL")
    if argv[1] == "run" and shared:
        # One server for a whole test run (`serve`): initdb costs seconds and
        # every case makes a database of its own anyway.
        os.execvpe(cmd[0], cmd, dict(os.environ, FARM_TEST_DB_URL=shared))
    pg = PgServer()
    # meson's timeout sends SIGTERM: stop the server and remove it on the way out.
    def on_term(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    try:
        pg.start()
        var = "FARM_TEST_PG_SHARED_URL" if argv[1] == "serve" else "FARM_TEST_DB_URL"
        env = dict(os.environ, **{var: pg.url})
        proc = subprocess.Popen(cmd, env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return 1
    except KeyboardInterrupt:
        return 1
    finally:
        pg.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
