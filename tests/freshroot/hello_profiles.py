#!/usr/bin/env python3
"""A hello world in every available profile a running farmd lists (GET
/v1/profiles) must come back accepted (programs: tests/lib/langprograms.py). Usage: hello_profiles.py http://127.0.0.1:PORT
Prints one line per profile and a last line "hello: N passed, N failed"; exits
1 when any failed. Standard library only: it runs on a fresh machine."""
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from langprograms import PROGRAMS  # noqa: E402


def call(url, body=None, timeout=1200):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def main():
    base = sys.argv[1].rstrip("/")
    status, body = call(base + "/v1/profiles")
    if status != 200:
        print("hello: GET /v1/profiles answered %s: %r" % (status, body))
        return 1
    passed = failed = 0
    for p in body["profiles"]:
        name = p["name"]
        src = PROGRAMS[name][0] if name in PROGRAMS else None
        if not p.get("available", True):
            # Not installed on this machine (e.g. the languages of
            # debian-languages.txt before scripts/install-languages.sh).
            print("hello %-8s unavailable %s" % (name, json.dumps(p.get("unavailable"))[:300]), flush=True)
            continue
        if src is None:
            verdict, detail = "no-program", "no hello world for this profile: add one to %s" % __file__
        else:
            status, r = call(base + "/v1/submissions?wait=true", {
                "profile": name, "files": [{"name": p["file"], "content": src}],
                "tests": [{"name": "hello", "expected_output": "hello\n"}]})
            verdict = r.get("verdict") if status == 200 else "http-%s" % status
            detail = "" if verdict == "accepted" else json.dumps(r)[:2000]
        ok = verdict == "accepted"
        passed += ok
        failed += not ok
        print("hello %-8s %-10s version %s %s" % (name, verdict, p.get("version"), detail), flush=True)
    print("hello: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
