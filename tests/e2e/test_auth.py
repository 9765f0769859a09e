#!/usr/bin/env python3
"""Bearer tokens and scopes, `farmd token`, and the loopback rule."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402
from apitest import bearer, check_error, farmtest, hello  # noqa: E402

EXPR = {"expr": "derivation { name = \"x\"; builder = \"/bin/sh\"; system = \"x86_64-linux\"; }",
        "run": "true"}


def main():
    farm = apitest.api_farm(settings={"api.auth": "true"})
    cases = []
    with farm:
        toks = {}
        for name, scopes in [("reader", "read"), ("submitter", "submit,read"), ("admin", "admin,read"),
                             ("nix", "submit,read,nix-expr")]:
            toks[name] = apitest.token(farm, name, scopes)

        def token_shape():
            t = toks["submitter"]
            assert t["token"].startswith("nft_") and len(t["token"]) == 68, t
            assert sorted(t["scopes"]) == ["read", "submit"], t
            out = apitest.token_cmd(farm, "list")
            assert out.returncode == 0, out.stderr
            assert t["id"] in out.stdout and t["token"] not in out.stdout, "list must not show tokens"
            assert "token_sha256" not in out.stdout
        cases.append(("token create prints the token once; list hides it", token_shape))

        def no_token():
            st, b = farm.request("GET", "/v1/profiles")
            check_error(st, b, 401, "Authorization", "no token")
            st, b = farm.submit(hello(), wait=False)
            check_error(st, b, 401, "Authorization", "no token submit")
        cases.append(("no token -> 401", no_token))

        def bad_tokens():
            for h in ["Bearer nft_" + "0" * 64, "Basic dXNlcjpwYXNz", "Bearer ", "nft_x"]:
                st, b = farm.request("GET", "/v1/profiles", headers={"Authorization": h})
                check_error(st, b, 401, "Authorization", h)
        cases.append(("unknown token or wrong scheme -> 401", bad_tokens))

        def public_endpoints():
            st, _ = farm.request("GET", "/v1/health")
            assert st == 200
            st, text = farm.request("GET", "/metrics")
            assert st == 200 and "farm_queue_depth" in text
        cases.append(("health and metrics need no token", public_endpoints))

        def scopes():
            st, b = farm.request("GET", "/v1/profiles", headers=bearer(toks["reader"]))
            assert st == 200, (st, b)
            st, b = farm.submit(hello(), wait=False, headers=bearer(toks["reader"]))
            check_error(st, b, 403, "Authorization", "read token submits")
            st, b = farm.submit(hello(), wait=False, headers=bearer(toks["submitter"]))
            assert st == 202, (st, b)
            sid = b["id"]
            st, b = farm.request("GET", "/v1/submissions/" + sid, headers=bearer(toks["reader"]))
            assert st == 200 and b["id"] == sid
            st, b = farm.request("POST", "/v1/admin/drain", {"accepting": False}, headers=bearer(toks["submitter"]))
            check_error(st, b, 403, "Authorization", "submitter drains")
            st, b = farm.request("GET", "/v1/admin/drain", headers=bearer(toks["admin"]))
            assert st == 200 and b["accepting"] is True, (st, b)
            st, b = farm.request("DELETE", "/v1/submissions/" + sid, headers=bearer(toks["reader"]))
            check_error(st, b, 403, "Authorization", "reader cancels")
        cases.append(("each endpoint checks its scope", scopes))

        def expr_scope():
            st, b = farm.submit(EXPR, wait=False, headers=bearer(toks["submitter"]))
            check_error(st, b, 403, "expr", "expr without nix-expr")
            st, b = farm.submit(EXPR, wait=False, headers=bearer(toks["nix"]))
            assert st == 202, (st, b)
            st, b = farm.request("GET", "/v1/submissions/" + b["id"], headers=bearer(toks["nix"]))
            assert st == 200 and b["depset"]["key"], b
        cases.append(("expr needs the nix-expr scope", expr_scope))

        def revoke():
            t = apitest.token(farm, "short-lived", "read")
            st, _ = farm.request("GET", "/v1/profiles", headers=bearer(t))
            assert st == 200
            out = apitest.token_cmd(farm, "revoke", t["id"])
            assert out.returncode == 0, out.stderr
            st, b = farm.request("GET", "/v1/profiles", headers=bearer(t))
            check_error(st, b, 401, "Authorization", "revoked")
            out = apitest.token_cmd(farm, "revoke", "nosuchid")
            assert out.returncode != 0 and "nosuchid" in out.stderr
            out = apitest.token_cmd(farm, "create", "--name", "x", "--scopes", "root")
            assert out.returncode == 2 and "root" in out.stderr, out.stderr
        cases.append(("revoked token -> 401; bad ids and scopes refused", revoke))

        rc = run_all(cases)
    sys.exit(rc)


def run_all(cases):
    # Beyond loopback without auth: refused at start-up unless forced.
    def public_listen_refused():
        binary, is_farmd = apitest.daemon_binary()
        f = farmtest.Farm(workers=0, builders=0, roles="api")
        logpath = os.path.join(f.state_dir, "refused.log")
        p = None
        try:
            env = f.env()
            env["FARM_API_LISTEN"] = "0.0.0.0:%d" % f.port
            args = [binary, "--role", "api", "--workers", "0", "--builders", "0"]
            with open(logpath, "wb") as log:
                p = subprocess.Popen(args, env=env, stdout=log, stderr=log, start_new_session=True)
            deadline = time.time() + 30
            said = False
            while time.time() < deadline and not said:
                with open(logpath, "rb") as log:
                    said = b"loopback" in log.read()
                if p.poll() is not None:
                    break
                time.sleep(0.05)
            try:
                f.request("GET", "/v1/health", timeout=1)
                listening = True
            except OSError:
                listening = False
            assert not listening, "listened beyond loopback without auth"
            with open(logpath, "rb") as log:
                text = log.read()
            assert b"loopback" in text, text.decode(errors="replace")[-2000:]
            if is_farmd:
                # The supervisor must not restart a role that refused its
                # configuration: farmd itself exits non-zero.
                rc = p.wait(30)
                assert rc != 0, "farmd exited 0 after refusing its configuration"
                assert text.count(b"child-started role=api") <= 1, "the refused API was restarted"
        finally:
            if p is not None and p.poll() is None:
                os.killpg(p.pid, 15)
                p.wait(30)
            f.cleanup()

    def public_listen_forced():
        f = apitest.api_farm(settings={"api.allow_public_without_auth": "true"})
        f.extra_env["FARM_API_LISTEN"] = "0.0.0.0:%d" % f.port
        with f:
            st, _ = f.request("GET", "/v1/health")
            assert st == 200
    return farmtest.run_cases(cases + [("beyond loopback without auth is refused", public_listen_refused),
                                       ("... unless forced", public_listen_forced)])


if __name__ == "__main__":
    main()
