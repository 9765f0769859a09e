"""apitest — shared bits of the API end-to-end tests.

api_farm() starts the API role only (`farmd --role api` when farmd is built,
else the build tree's api_testd, which runs the same api_run): validation,
auth, limits and the OpenAPI examples need no worker. Submissions it accepts
stay queued, which is what lets the tests look at them.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("FARM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..")), "tests", "lib"))
import farmtest  # noqa: E402


def daemon_binary():
    if os.environ.get("FARM_FARMD"):
        return os.environ["FARM_FARMD"], True
    farmd = farmtest.farmd_path()
    if os.path.exists(farmd) and os.environ.get("FARM_E2E_USE_TESTD") != "1":
        return farmd, True
    return os.environ["FARM_API_TESTD"], False


def api_farm(settings=None, env=None):
    binary, is_farmd = daemon_binary()
    e = dict(env or {})
    e["FARM_FARMD"] = binary
    farm = farmtest.Farm(workers=0, builders=0, roles="api", settings=settings, env=e)
    # farmtest reads FARM_FARMD from the environment of this process
    os.environ["FARM_FARMD"] = binary
    return farm


def token(farm, name, scopes):
    """Creates a token with the daemon binary's `token create`; returns the JSON."""
    binary, _ = daemon_binary()
    out = subprocess.run([binary, "token", "create", "--name", name, "--scopes", scopes],
                         env=farm.env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, "token create failed: %s %s" % (out.stdout, out.stderr)
    return json.loads(out.stdout)


def token_cmd(farm, *args):
    binary, _ = daemon_binary()
    return subprocess.run([binary, "token"] + list(args), env=farm.env(), capture_output=True,
                          text=True, timeout=60)


def bearer(tok):
    return {"Authorization": "Bearer " + tok["token"]}


def hello(**extra):
    sub = {"profile": "bash", "files": [{"name": "main.sh", "content": "echo hello\n"}],
           "tests": [{"name": "t1", "expected_output": "hello\n"}]}
    sub.update(extra)
    return sub


def check_error(status, body, want_status, want_field, label=""):
    assert status == want_status, "%s: status %s, want %s: %r" % (label, status, want_status, body)
    assert isinstance(body, dict) and "error" in body, "%s: no error object: %r" % (label, body)
    err = body["error"]
    assert set(err) >= {"code", "message", "field"}, "%s: error keys %r" % (label, err)
    assert isinstance(err["code"], str) and err["code"], label
    assert isinstance(err["message"], str) and err["message"], label
    if want_field is not None:
        assert err["field"] == want_field, "%s: field %r, want %r (%s)" % (label, err["field"], want_field, err["message"])
