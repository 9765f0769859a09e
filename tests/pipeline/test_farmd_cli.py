"""farmd's own command line: `farmd config` shows the effective settings after
defaults, file, FARM_* environment and --set are layered, and bad input is
refused with a message naming it."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ["FARM_SOURCE_ROOT"], "tests", "lib"))
import farmtest  # noqa: E402


def farmd(*args, env=None):
    e = dict(os.environ)
    e.pop("FARM_CONFIG", None)
    e.update(env or {})
    return subprocess.run([farmtest.farmd_path(), *args], env=e, capture_output=True, text=True,
                          timeout=30)


def test_config_layers():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "farm.json")
        with open(path, "w") as f:
            json.dump({"api": {"max_queue": 7}, "lease.ms": 1234, "state_dir": "/srv/x"}, f)
        p = farmd("--config", path, "--set", "lease.ms=999", "config",
                  env={"FARM_STATE_DIR": "/srv/from-env"})
        assert p.returncode == 0, p.stderr
        cfg = json.loads(p.stdout)
        assert cfg["api.max_queue"]["value"] == 7, cfg["api.max_queue"]
        assert cfg["lease.ms"]["value"] == 999, cfg["lease.ms"]          # --set beats the file
        assert cfg["state_dir"]["value"] == "/srv/from-env", cfg["state_dir"]  # env beats the file
        assert cfg["lease.ms"]["default"] == "30000"
        assert all(v.get("description") for v in cfg.values()), "a key without a description"


def test_relative_state_dir_is_made_absolute():
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run([farmtest.farmd_path(), "config"], cwd=d, capture_output=True, text=True,
                           env={k: v for k, v in os.environ.items() if not k.startswith("FARM_")})
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["state_dir"]["value"] == os.path.realpath(d) + "/var/nixfarm"


def test_bad_input_named():
    p = farmd("--set", "no.such.key=1", "config")
    assert p.returncode != 0 and "no.such.key" in p.stderr, (p.returncode, p.stderr)
    p = farmd("--set", "lease.ms=soon", "config")
    assert p.returncode != 0 and "lease.ms" in p.stderr, (p.returncode, p.stderr)
    p = farmd("config", env={"FARM_LEASE_MS": "x"})
    assert p.returncode != 0 and "LEASE_MS" in p.stderr.upper(), (p.returncode, p.stderr)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        f.write("{not json")
        f.flush()
        p = farmd("--config", f.name, "config")
        assert p.returncode != 0 and f.name in p.stderr, (p.returncode, p.stderr)
    p = farmd("frobnicate")
    assert p.returncode != 0 and "frobnicate" in p.stderr, (p.returncode, p.stderr)


def test_cache_url_without_key_refused():
    """A worker told to import from a cache whose key it was not given would
    trust nothing it fetched: it refuses to start, naming the key, and farmd
    stops instead of restarting it."""
    with tempfile.TemporaryDirectory() as d:
        p = farmd("--role", "worker", "--workers", "1", "--set", "worker.cache_url=http://10.0.0.1:8000",
                  "--set", "worker.first_uid=60990", env={"FARM_STATE_DIR": d})
        assert p.returncode != 0, (p.returncode, p.stderr)
        assert "worker.cache_public_key" in p.stderr and "refused" in p.stderr, p.stderr


if __name__ == "__main__":
    sys.exit(farmtest.run_cases([
        ("config shows defaults < file < env < --set", test_config_layers),
        ("a relative state_dir is made absolute", test_relative_state_dir_is_made_absolute),
        ("bad keys, values, files and verbs are named", test_bad_input_named),
        ("a worker cache URL without its public key is refused", test_cache_url_without_key_refused),
    ]))
