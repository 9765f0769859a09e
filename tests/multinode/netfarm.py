"""netfarm — several "machines" of one farm on one host, for tests.

A Fabric is a private Ethernet: a bridge in a network namespace of its own
(held by one `sleep`), so no link of the test ever sits in the host's
namespace and all of them go when the holders die. A Node is one machine on
it: network, mount and UTS namespaces of its own (held by one `sleep`; every
process of the node enters them with nsenter), eth0 on the bridge with an
address of the fabric's /24, a Nix store of its own (a directory bound on
/nix in its mount namespace), its own state dir and HOME, and, for a SQLite
store, the shared store's directory bound into it as a machine mounts a
network share. Every process of a node runs in the node's cgroups (one per
hierarchy, beneath the test's own), which is how kill9() finds every one of
them, sandboxes included: freeze, SIGKILL all, thaw.

The shared store is a db url (SharedStore.of):
  sqlite:<dir>/farm.db or a bare path  one SQLite file (WAL) in a directory
                                       every node binds (one kernel, so WAL's
                                       shared memory works across nodes)
  postgresql://...                     a server every node reaches (db.url)
Its query() reads what the API never shows (events, attempts) for the
exactly-once checks.

Teardown (Cluster.teardown) runs whatever failed before it, and
HostState.diff() says what the host has now that it had not at the start:
links, network namespaces, mounts, cgroups beneath the test's own.
"""
import ctypes
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("FARM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..")), "tests", "lib"))
import farmtest  # noqa: E402

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """preexec_fn: a holder dies with the test, so a killed test leaves no namespace."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def setns_net(path):
    """Moves this process (it must have one thread) into the network namespace at path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode, (p.stderr or p.stdout).strip()))
    return p.stdout


# -- the shared store -----------------------------------------------------

class SharedStore:
    """The farm's one store, named by a db url; see the module comment."""

    @staticmethod
    def of(url):
        # a libpq url, or a libpq keyword string ("host=/tmp/... dbname=...")
        if url.startswith(("postgresql://", "postgres://")) or "=" in url.split(None, 1)[0]:
            return PgStore(url)
        return SqliteStore(url[len("sqlite:"):] if url.startswith("sqlite:") else url)


class SqliteStore(SharedStore):
    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.share = os.path.dirname(self.path)

    def node_env(self, node):
        """The store as node sees it: the share bound at <node>/shared."""
        return {"FARM_DB_PATH": os.path.join(node.share_mount, os.path.basename(self.path))}

    def query(self, sql, args=()):
        conn = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=30)
        try:
            return list(conn.execute(sql, args))
        finally:
            conn.close()


class PgStore(SharedStore):
    share = None

    def __init__(self, url):
        self.url = url

    def node_env(self, node):
        return {"FARM_DB_URL": self.url}

    def query(self, sql, args=()):
        # psql's own quoting: the checks pass only ids the store made
        for a in args:
            sql = sql.replace("?", "'%s'" % str(a).replace("'", "''"), 1)
        out = run(["psql", "-X", "-A", "-t", "-F", "\t", "-d", self.url, "-c", sql])
        return [tuple(line.split("\t")) for line in out.splitlines() if line]


# -- cgroups ----------------------------------------------------------------

def _own_hierarchies():
    """(controllers, directory of this process's cgroup) for each mounted hierarchy."""
    out = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctl, path = line.rstrip("\n").split(":", 2)
            if ctl == "":
                mnt = "/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.procs") else "/sys/fs/cgroup/unified"
            elif ctl.startswith("name="):
                mnt = "/sys/fs/cgroup/" + ctl[5:]
            else:
                mnt = "/sys/fs/cgroup/" + ctl.split(",")[0]
            if os.path.isdir(mnt):
                out.append((ctl, mnt + path.rstrip("/")))
    return out


def _mkcg(d):
    os.mkdir(d)
    # a v1 cpuset group takes no task before it has cpus and mems
    for k in ("cpuset.cpus", "cpuset.mems"):
        if os.path.exists(os.path.join(d, k)):
            with open(os.path.join(os.path.dirname(d), k)) as f:
                v = f.read().strip()
            with open(os.path.join(d, k), "w") as f:
                f.write(v)


def _rmcg_tree(d):
    for root, dirs, _ in os.walk(d, topdown=False):
        for x in dirs:
            try:
                os.rmdir(os.path.join(root, x))
            except OSError:
                pass
    try:
        os.rmdir(d)
    except OSError:
        pass


class Cgroups:
    """One directory per hierarchy, beneath the test's own cgroup there."""

    def __init__(self, dirs):
        self.dirs = dirs  # [(controllers, path)]

    @classmethod
    def for_test(cls, name):
        dirs = []
        for ctl, base in _own_hierarchies():
            d = os.path.join(base, name)
            try:
                _mkcg(d)
                dirs.append((ctl, d))
            except OSError:
                pass  # a hierarchy this process may not write; the others hold the node
        if not dirs:
            raise RuntimeError("no cgroup hierarchy where the test may make a group")
        return cls(dirs)

    def child(self, name):
        dirs = []
        for ctl, d in self.dirs:
            _mkcg(os.path.join(d, name))
            dirs.append((ctl, os.path.join(d, name)))
        return Cgroups(dirs)

    def join_prefix(self):
        """A command prefix that moves itself into these groups, then execs the rest."""
        return ["sh", "-c", 'for d in ' + " ".join("'%s'" % d for _, d in self.dirs) +
                '; do echo $$ >"$d/cgroup.procs"; done 2>/dev/null; exec "$@"', "sh"]

    def procs(self):
        pids = set()
        for _, d in self.dirs:
            for root, _, files in os.walk(d):
                if "cgroup.procs" in files:
                    try:
                        with open(os.path.join(root, "cgroup.procs")) as f:
                            pids.update(int(x) for x in f.read().split())
                    except OSError:
                        pass
        return pids

    def _freeze(self, on):
        for ctl, d in self.dirs:
            try:
                if "freezer" in ctl.split(","):
                    with open(os.path.join(d, "freezer.state"), "w") as f:
                        f.write("FROZEN" if on else "THAWED")
                elif ctl == "" and os.path.exists(os.path.join(d, "cgroup.freeze")):
                    with open(os.path.join(d, "cgroup.freeze"), "w") as f:
                        f.write("1" if on else "0")
            except OSError:
                pass

    def kill_all(self, timeout=20):
        """SIGKILL every process in the groups at once (frozen first, so none
        sees the others die or forks past the kill). True when all are gone."""
        self._freeze(True)
        try:
            for p in self.procs():
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            self._freeze(False)
        deadline = time.time() + timeout
        while time.time() < deadline:
            left = self.procs()
            if not left:
                return True
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        return not self.procs()

    def remove(self):
        for _, d in self.dirs:
            _rmcg_tree(d)

    def exist(self):
        return [d for _, d in self.dirs if os.path.isdir(d)]


# -- the host, before and after -------------------------------------------

class HostState:
    """What the host has that the test could leave behind."""

    def __init__(self, tmp, link_prefix):
        self.tmp = tmp
        self.prefix = link_prefix
        self.links = self._links()
        self.netns = self._netns()

    @staticmethod
    def _links():
        return set(l.split(":")[1].strip().split("@")[0] for l in run(["ip", "-o", "link", "show"]).splitlines())

    @staticmethod
    def _netns():
        return set(run(["ip", "netns", "list"]).split())

    def diff(self, cgroups):
        """Sentences naming what is left; [] when the host is as found. Call
        it in the host's network namespace."""
        left = []
        # only names the test makes: another test on the host may add links meanwhile
        new_links = [l for l in self._links() - self.links if l.startswith(self.prefix) or l in ("br0", "eth0")]
        if new_links:
            left.append("links: %s" % sorted(new_links))
        new_ns = self._netns() - self.netns
        if new_ns:
            left.append("network namespaces: %s" % sorted(new_ns))
        with open("/proc/mounts") as f:
            mounts = [l for l in f if self.tmp in l]
        if mounts:
            left.append("mounts: %s" % mounts)
        if cgroups.exist():
            left.append("cgroups: %s" % cgroups.exist())
        if os.path.exists(self.tmp):
            left.append("temp dir %s" % self.tmp)
        return left


def free_subnet():
    """A 10.213.x.0/24 that no address or route of the host uses (the
    fabric is private, but a clash would make the test's logs lie)."""
    used = run(["ip", "-4", "-o", "addr"]) + run(["ip", "-4", "route"])
    start = os.getpid() % 200
    for k in range(200):
        x = 20 + (start + k) % 200
        if "10.213.%d." % x not in used:
            return "10.213.%d" % x
    raise RuntimeError("no free 10.213.x.0/24 on this host")


# -- fabric and nodes -------------------------------------------------------

class Holder:
    """One process holding a node's namespaces: unshare FLAGS sh -c SCRIPT,
    where SCRIPT ends by printing 'ready' and exec'ing sleep."""

    def __init__(self, cgroups, flags, script, env=None):
        args = cgroups.join_prefix() + ["unshare"] + flags + ["sh", "-c", script]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=env, preexec_fn=_die_with_parent)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            self.proc.kill()
            _, err = self.proc.communicate()
            raise RuntimeError("namespace holder failed: %s" % err.strip())
        self.pid = self.proc.pid

    def nsenter(self, *which):
        return ["nsenter", "-t", str(self.pid)] + list(which) + ["--"]

    def reap(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


class Fabric:
    def __init__(self, cgroups, subnet, link_prefix):
        self.subnet = subnet
        self.prefix = link_prefix
        self.cg = cgroups.child("fabric")
        self.holder = Holder(self.cg, ["--net"],
                             "ip link set lo up && ip link add br0 type bridge && ip link set br0 up && "
                             "echo ready && exec sleep infinity")

    def plug(self, node):
        """A veth pair: one end on the bridge, the other node's eth0 with its address."""
        ns = self.holder.nsenter("-n")
        v = "%s%s" % (self.prefix, node.index)
        run(ns + ["ip", "link", "add", v, "type", "veth", "peer", "name", "eth0", "netns", str(node.holder.pid)])
        run(ns + ["ip", "link", "set", v, "master", "br0", "up"])
        inn = node.holder.nsenter("-n")
        run(inn + ["ip", "addr", "add", node.ip + "/24", "dev", "eth0"])
        run(inn + ["ip", "link", "set", "eth0", "up"])

    def kill(self):
        self.cg.kill_all()
        self.holder.reap()


class Node:
    """One machine of the farm (see the module comment). farm(...) makes the
    farmd of it; spawn(...) any other process in it."""

    def __init__(self, cluster, name, index):
        self.cluster = cluster
        self.name = name
        self.index = index
        self.ip = "%s.%d" % (cluster.fabric.subnet, 10 + index)
        self.dir = os.path.join(cluster.tmp, name)
        self.state_dir = os.path.join(self.dir, "state")
        self.share_mount = os.path.join(self.dir, "shared")
        self.home = os.path.join(self.dir, "home")
        for d in (self.state_dir, os.path.join(self.dir, "nix"), self.share_mount, self.home):
            os.makedirs(d)
        self.cg = cluster.cgroups.child(name)
        share = cluster.store.share or ""
        # Nix picks a build user (nixbld*) by a lock file in its userpool
        # directory, and kills whatever that user runs before a build: stores
        # on one kernel must share those locks, or a node's build and the
        # host's (another test's) kill each other's builders.
        script = ('set -e; mkdir -p /nix/var/nix/userpool "$N/nix/var/nix/userpool"; '
                  'mount --bind /nix/var/nix/userpool "$N/nix/var/nix/userpool"; '
                  'mount --rbind "$N/nix" /nix; '
                  '[ -z "$S" ] || mount --bind "$S" "$N/shared"; '
                  'hostname "$H"; ip link set lo up; echo ready; exec sleep infinity')
        env = dict(os.environ, N=self.dir, S=share, H=name)
        self.holder = Holder(self.cg, ["--net", "--mount", "--uts", "--propagation", "private"], script, env)
        cluster.fabric.plug(self)
        self.farms = []
        self.procs = []
        self.killed = False

    def env(self):
        """What every process of the node gets: its HOME (Nix's caches are
        per machine) and the shared store as the node reaches it."""
        env = {"HOME": self.home, "XDG_CACHE_HOME": os.path.join(self.home, ".cache")}
        env.update(self.cluster.store.node_env(self))
        return env

    def wrapper(self):
        return self.cg.join_prefix() + self.holder.nsenter("-n", "-m", "-u")

    def farm(self, roles, workers=0, builders=0, settings=None):
        f = NodeFarm(self, roles, workers, builders, settings)
        self.farms.append(f)
        return f

    def spawn(self, args, log_name):
        log = open(os.path.join(self.dir, log_name), "ab")
        p = subprocess.Popen(self.wrapper() + args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                             env=dict(os.environ, **self.env()), start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def run(self, args):
        return run(self.wrapper() + args, env=dict(os.environ, **self.env()))

    def kill9(self):
        """Every process of the node at once, holder included: its namespaces,
        veth and mounts go with them. True when nothing of it is left."""
        gone = self.cg.kill_all()
        for f in self.farms:
            if f.proc is not None:
                f.proc.wait()
                f.proc = None
                f.log.close()
        for p in self.procs:
            p.wait()
        self.procs = []
        self.holder.reap()
        self.killed = True
        return gone


class NodeFarm(farmtest.Farm):
    """farmd in a node: its API (if any) at node.ip:8080; ready when it
    answers /v1/health, or, without an API, when every role logged ready."""

    PORT = 8080

    def __init__(self, node, roles, workers, builders, settings):
        super().__init__(workers=workers, builders=builders, roles=roles, settings=settings,
                         state_dir=node.state_dir, env=node.env(), wrapper=node.wrapper())
        self.node = node
        self.port = self.PORT
        self.host = node.ip

    def env(self):
        env = super().env()
        env["FARM_API_LISTEN"] = "%s:%d" % (self.host, self.port)
        return env

    def start(self, timeout=120):
        if "api" in self.roles.split(","):
            return super().start(timeout)
        args = self.wrapper + [farmtest.farmd_path(), "--role", self.roles, "--workers", str(self.workers),
                               "--builders", str(self.builders)]
        for k, v in self.settings.items():
            args += ["--set", "%s=%s" % (k, v)]
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, env=self.env(), stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("farmd on %s exited with %s:\n%s" % (self.node.name, self.proc.returncode, self.logs()))
            logs = self.logs()
            if (logs.count("worker-ready") >= self.workers if self.workers else "builder-started" in logs):
                return self
            time.sleep(0.1)
        raise RuntimeError("farmd on %s not ready in %ss:\n%s" % (self.node.name, timeout, self.logs()))

    def request(self, method, path, body=None, headers=None, timeout=30, raw=False):
        import http.client
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            if raw:
                return resp.status, data
            if "json" in resp.getheader("Content-Type", ""):
                return resp.status, json.loads(data.decode() or "null")
            return resp.status, data.decode("utf-8", "replace")
        finally:
            conn.close()


class Cluster:
    """The test's machines: a fabric, nodes on it, and a client node whose
    network namespace this process joins (enter_client) to talk to them.
    teardown() ends everything and returns what the host still has."""

    def __init__(self, db_url=None, tmp=None):
        self.tmp = tmp or farmtest.tempfile.mkdtemp(prefix="farm-multinode-")
        self.link_prefix = "nfm%d-" % (os.getpid() % 100000)
        self.host = HostState(self.tmp, self.link_prefix)
        self.host_net = os.open("/proc/self/ns/net", os.O_RDONLY)
        if db_url is None:
            os.makedirs(os.path.join(self.tmp, "share"))
            db_url = "sqlite:" + os.path.join(self.tmp, "share", "farm.db")
        self.store = SharedStore.of(db_url)
        self.cgroups = None
        self.nodes = {}
        self.fabric = None
        self.client = None
        self.in_client = False
        try:
            self.cgroups = Cgroups.for_test("nixfarm-multinode-%d" % os.getpid())
            self.fabric = Fabric(self.cgroups, free_subnet(), self.link_prefix)
            # /nix is where each node binds its own store (made if the host has none yet)
            os.makedirs("/nix", exist_ok=True)
        except BaseException:
            self.teardown()
            raise

    def node(self, name):
        n = Node(self, name, len(self.nodes) + 2)
        self.nodes[name] = n
        return n

    def enter_client(self):
        """This process moves to a node of its own on the fabric (call it
        before starting any thread): its HTTP reaches every node's address."""
        self.client = Node(self, "client", 1)
        setns_net("/proc/%d/ns/net" % self.client.holder.pid)
        self.in_client = True

    def teardown(self):
        """Stops every farmd (SIGTERM, then kill -9 of what is left), kills
        every node, the client and the fabric, removes the cgroups and the
        temp dir; returns sentences naming what the host still has."""
        problems = []
        for n in self.nodes.values():
            for f in n.farms:
                if f.proc is not None:
                    try:
                        f.stop(grace=15)
                    except AssertionError as e:
                        problems.append("%s: %s" % (n.name, str(e).splitlines()[0]))
        if self.in_client:
            if _libc.setns(self.host_net, CLONE_NEWNET) != 0:
                problems.append("cannot return to the host's network namespace")
            self.in_client = False
        if self.host_net is not None:
            os.close(self.host_net)
            self.host_net = None
        for n in list(self.nodes.values()) + ([self.client] if self.client else []):
            if not n.killed and not n.kill9():
                problems.append("%s: processes survived SIGKILL" % n.name)
        if self.fabric:
            self.fabric.kill()
        if self.cgroups:
            # a holder whose node never finished starting is in them too
            if not self.cgroups.kill_all():
                problems.append("processes survived SIGKILL in the test's cgroups: %s"
                                % sorted(self.cgroups.procs()))
            self.cgroups.remove()
        # the store's paths are read-only; rmtree as root removes them anyway
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems + self.host.diff(self.cgroups or Cgroups([]))
