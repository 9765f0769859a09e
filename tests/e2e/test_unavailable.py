#!/usr/bin/env python3
"""A package whose Debian package is missing on this machine is reported by
name, with the reason, and breaks nothing else (real farmd, real Nix).

The farm's nix.dir is a copy of nix/ whose spec.json makes `lua` need a
Debian package that is not installed: the generated set marks lua
unavailable. Then /v1/profiles shows the lua profile unavailable with the
reason, a lua submission gets a 422 naming it, /v1/health lists it, and a
python3 submission runs as usual. The same set lacks octave too, for the Jobe
front: it leaves octave out of /languages and answers a run for it as Jobe
answers a language it does not know, while c runs. Everything lives in a temporary directory
removed at the end."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402
from apitest import farmtest  # noqa: E402

MISSING = "nixfarm-test-not-installed"
C_HELLO = '#include <stdio.h>\nint main(void) {\n    printf("Hello world\\n");\n    return 0;\n}\n'


def main():
    tmp = tempfile.mkdtemp(prefix="farm-unavailable-")
    try:
        def lua_missing(spec):
            spec["packages"]["lua"]["debian"] = [MISSING]
            spec["packages"]["octave"]["debian"] = [MISSING]

        nix = farmtest.nix_copy_with_spec(tmp, lua_missing)
        settings = {"nix.dir": nix, "nix.pkgset_dir": os.path.join(tmp, "pkgset")}
        with farmtest.Farm(workers=1, builders=1, settings=settings) as farm:
            def profiles():
                st, body = farm.request("GET", "/v1/profiles")
                assert st == 200, (st, body)
                by = {p["name"]: p for p in body["profiles"]}
                lua = by["lua"]
                assert lua["available"] is False, lua
                u = lua["unavailable"]
                assert len(u) == 1 and u[0]["package"] == "lua", u
                assert MISSING in u[0]["reason"], u
                assert u[0]["debian_versions"] == {MISSING: None}, u
                assert by["python3"]["available"] is True and by["python3"]["unavailable"] == [], by["python3"]
                assert by["python3"]["version"], by["python3"]

            def submit_lua():
                st, body = farm.submit({"profile": "lua", "files": [{"name": "main.lua", "content": "print(1)"}]})
                assert st == 422, (st, body)
                msg = body["error"]["message"]
                assert 'package "lua" is not available on this farm' in msg and MISSING in msg, msg

            def health():
                st, body = farm.request("GET", "/v1/health")
                # (others may be unavailable too: what is not installed)
                assert st == 200 and "lua" in body["pkgset"]["unavailable"], body

            def python_runs():
                st, body = farm.submit({"profile": "python3",
                                        "files": [{"name": "main.py", "content": "print(6*7)"}],
                                        "tests": [{"name": "t", "expected_output": "42\n"}]},
                                       timeout=600)
                assert st == 200 and body["verdict"] == "accepted", json.dumps(body)[:3000]

            jobe = "/jobe/index.php/restapi"
            jobe_key = {"X-API-KEY": "2AAA7A5415B4A9B394B54BF1D2E9D"}

            def jobe_octave():
                st, body = farm.request("GET", jobe + "/languages", headers=jobe_key)
                assert st == 200 and "octave" not in dict(body) and "c" in dict(body), (st, body)
                for lang in ("octave", "Octave"):
                    st, body = farm.request("POST", jobe + "/runs", {"run_spec": {
                        "language_id": lang, "sourcecode": "disp(1)\n"}}, headers=jobe_key)
                    assert st == 400 and body == "Language 'octave' is not known", (st, body)
                st, body = farm.request("POST", jobe + "/runs", {"run_spec": {
                    "language_id": "c", "sourcecode": C_HELLO}}, headers=jobe_key, timeout=600)
                assert st == 200 and body["outcome"] == 15 and body["stdout"] == "Hello world\n", body

            return farmtest.run_cases([
                ("/v1/profiles: lua unavailable with the reason and Debian versions", profiles),
                ("a lua submission: 422 naming the package and the reason", submit_lua),
                ("/v1/health lists the unavailable package", health),
                ("an unrelated set (python3) builds and runs", python_runs),
                ("Jobe: a set without octave: not listed, runs refused as an unknown language",
                 jobe_octave),
            ])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
