"""clitest — helpers for the farm CLI tests: run `farm`, make directories and
git repositories that are removed afterwards."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ["FARM_SOURCE_ROOT"], "tests", "lib"))
import farmtest  # noqa: E402

FARM = farmtest.farm_path()


class Tmp:
    """A temporary directory tree removed on exit (mounts under it first)."""

    def __init__(self, prefix="farm-cli-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.path, 0o755)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run(["sh", "-c", "grep -o ' %s[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l" % self.path],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.path, ignore_errors=True)
        return False

    def write(self, rel, text, mode=0o644):
        p = os.path.join(self.path, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def sub(self, rel):
        p = os.path.join(self.path, rel)
        os.makedirs(p, exist_ok=True)
        return p


def farm(*args, cwd=None, env=None, stdin=None, timeout=300):
    """Runs farm; returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.pop("FARM_URL", None)
    e.pop("FARM_TOKEN", None)
    e["NO_COLOR"] = "1"
    if env:
        e.update(env)
    return subprocess.run([FARM] + list(args), cwd=cwd, env=e, input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def check(p, code, what=""):
    assert p.returncode == code, "%s: exit %d, wanted %d\nstdout:\n%s\nstderr:\n%s" % (
        what or " ".join(p.args[1:]), p.returncode, code, p.stdout[-4000:], p.stderr[-4000:])
    return p


def git(repo, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main",
                    "-C", repo] + list(args), check=True, capture_output=True)


def git_out(repo, *args):
    return subprocess.run(["git", "-C", repo] + list(args), check=True, capture_output=True,
                          text=True).stdout.strip()


def make_repo(path, files):
    """git init path, write files {rel: text}, commit; returns the commit id."""
    os.makedirs(path, exist_ok=True)
    git(path, "init", "-q")
    for rel, text in files.items():
        p = os.path.join(path, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "c")
    return git_out(path, "rev-parse", "HEAD")
