#!/usr/bin/env python3
"""A package set whose glibc is unavailable gives users clear sentences,
never a raw Nix error (real farmd, real Nix).

This is what a generation made while apt was upgrading libc6 looked like
(Debian libc6 "not installed" to nix/regen): every package needs glibc, so
all but bash and busybox are unavailable. The farm's nix.dir is a copy of
nix/ whose spec.json makes glibc need a Debian package that is not
installed. Then a python3 submission gets the 422 naming the package and the
reason, and a set of an available package (bash) ends deps_failed with a
sentence saying that the set has no glibc, not Nix's "attribute 'glibc'
missing". Everything lives in a temporary directory removed at the end."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402,F401
from apitest import farmtest  # noqa: E402

MISSING = "nixfarm-test-no-libc6"


def main():
    tmp = tempfile.mkdtemp(prefix="farm-no-glibc-")
    try:
        def without_glibc(spec):
            # libc6 stays glibc's (so every package still needs glibc); the
            # missing package makes glibc unavailable, as libc6 "unpacked" did.
            spec["bootstrap"]["glibc"].setdefault("partial", {})[MISSING] = ["/usr/lib/"]

        nix = farmtest.nix_copy_with_spec(tmp, without_glibc)
        settings = {"nix.dir": nix, "nix.pkgset_dir": os.path.join(tmp, "pkgset")}
        with farmtest.Farm(workers=1, builders=1, settings=settings) as farm:
            def python_422():
                st, body = farm.submit({"packages": ["python3"], "run": "python3 -c 'print(1)'"})
                assert st == 422, (st, body)
                msg = body["error"]["message"]
                assert msg.startswith('packages[0]: package "python3" is not available on this '
                                      'farm: needs ') and "glibc" in msg, msg

            def bash_set_clear_failure():
                st, body = farm.submit({"packages": ["bash"], "run": "echo hi"}, timeout=600)
                text = json.dumps(body)
                assert st == 200 and body["state"] == "deps_failed", (st, text[:3000])
                assert "has no glibc" in text and "libc6" in text, text[:3000]
                # What the farm said before: "error: attribute 'glibc' missing".
                assert "attribute" not in text and "error:" not in text, text[:3000]

            return farmtest.run_cases([
                ("a package needing the missing glibc: 422 with the reason", python_422),
                ("a set without glibc fails with a sentence, not a Nix error",
                 bash_set_clear_failure),
            ])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
