#!/usr/bin/python3
"""The dashboard with api.auth on, in a real browser: the page asks for a
token, refuses a wrong one, keeps a good one in session storage and sends it
with every call; a token without the admin scope sees no admin control, and
the server refuses the admin calls to it anyway; an admin creates and revokes
a token from the page."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import uitest  # noqa: E402
from uitest import cdp, farmtest  # noqa: E402


def make_token(farm, name, scopes):
    out = subprocess.run([farmtest.farmd_path(), "token", "create", "--name", name, "--scopes", scopes],
                         env=farm.env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["token"]


def main():
    # the API alone: nothing here needs a worker
    with farmtest.Farm(workers=0, builders=0, roles="api", settings={"api.auth": "true"}) as farm, \
            cdp.Browser(uitest.ARTIFACTS) as b:
        base = "http://127.0.0.1:%d/ui/" % farm.port
        reader = make_token(farm, "reader", "read,submit")
        admin = make_token(farm, "operator", "read,submit,admin")
        state = {}

        def sign_in(token):
            b.wait("!document.querySelector('#login').hidden", what="the token form")
            b.fill("#login-token", token)
            b.click("#login-form button[type=submit]")

        def asks_for_token():
            status, body = farm.request("GET", "/ui/")
            assert status == 200, "the page itself needs no token"
            b.goto(base)
            b.wait("!document.querySelector('#login').hidden", what="the token form")
            assert b.eval("document.activeElement.id") == "login-token", "the token field has the focus"
            assert b.eval("document.querySelector('main').inert"), "the page behind the form takes no focus"
            b.screenshot("login.png")

        def wrong_token_refused():
            sign_in("nft_" + "0" * 64)
            b.wait("document.querySelector('#login-error').textContent.includes('refused')",
                   what="the refusal")
            assert "unknown token" in b.text("#login-error")
            assert not b.eval("document.querySelector('#login').hidden")
            assert b.eval("sessionStorage.getItem('nixfarm.token')") is None

        def reader_sees_no_admin():
            sign_in(reader)
            b.wait("document.querySelector('#login').hidden && document.querySelectorAll('.tiles li').length >= 8",
                   what="the overview after signing in")
            assert b.eval("sessionStorage.getItem('nixfarm.token')") == reader
            assert b.eval("document.querySelector('.admin-only').hidden") is True
            assert "read, submit" in b.text("#who") or "submit, read" in b.text("#who")
            b.eval("location.hash = '#/admin'")  # not offered: the router falls back
            b.wait("document.querySelector('main h1').textContent === 'Overview'")
            b.eval("location.hash = '#/cache'")
            b.wait("document.querySelector('main h2') !== null && document.querySelector('main').innerText.includes('Quota')")
            assert b.eval("[...document.querySelectorAll('main button')].filter((x) => /Evict|Rebuild|Pin/.test(x.textContent)).length") == 0

        def server_refuses_admin_calls():
            auth = {"Authorization": "Bearer " + reader}
            for method, path, body in (("POST", "/v1/admin/drain", {"accepting": False}),
                                       ("GET", "/v1/tokens", None),
                                       ("POST", "/v1/tokens", {"name": "x", "scopes": ["admin"]}),
                                       ("DELETE", "/v1/tokens/abc", None),
                                       ("POST", "/v1/depsets/abc/pin", {"pinned": True}),
                                       ("POST", "/v1/depsets/abc/rebuild", None),
                                       ("DELETE", "/v1/depsets/abc", None)):
                status, resp = farm.request(method, path, body, headers=auth)
                assert status == 403 and resp["error"]["code"] == "forbidden", (method, path, status, resp)
            status, resp = farm.request("GET", "/v1/stats")
            assert status == 401, "no token, no stats"
            status, resp = farm.request("GET", "/v1/whoami", headers={"Authorization": "Bearer nft_nope"})
            assert status == 401, resp

        def cancel_own_or_admin():
            other = make_token(farm, "other", "read,submit")
            subs = []
            for _ in range(2):
                status, body = farm.submit(uitest.HELLO, wait=False, headers={"Authorization": "Bearer " + reader})
                assert status == 202, body
                subs.append(body["id"])
            # another submitter may not cancel it; its own token and an admin may
            status, body = farm.request("DELETE", "/v1/submissions/" + subs[0], headers={"Authorization": "Bearer " + other})
            assert status == 403 and body["error"]["code"] == "forbidden", (status, body)
            status, body = farm.request("DELETE", "/v1/submissions/" + subs[0], headers={"Authorization": "Bearer " + reader})
            assert status == 200 and body["state"] == "cancelled", (status, body)
            status, body = farm.request("DELETE", "/v1/submissions/" + subs[1], headers={"Authorization": "Bearer " + admin})
            assert status == 200 and body["state"] == "cancelled", (status, body)

        def admin_manages_tokens():
            b.click("#signout")
            sign_in(admin)
            b.wait("document.querySelector('#login').hidden && !document.querySelector('.admin-only').hidden",
                   what="the admin link")
            b.eval("location.hash = '#/admin'")
            b.wait("document.querySelector('main table') !== null && document.querySelector('[data-k=drain]') !== null")
            b.fill("#tok-name", "grader")
            b.click_text("button", "Create token")
            tok = b.wait("(document.querySelector('[data-k=token]') || {}).textContent", what="the new token")
            status, me = farm.request("GET", "/v1/whoami", headers={"Authorization": "Bearer " + tok})
            assert status == 200 and sorted(me["scopes"]) == ["read", "submit"], me
            b.screenshot("admin-tokens.png")
            b.eval("(() => { for (const tr of document.querySelectorAll('main tbody tr')) if (tr.textContent.includes('grader')) tr.querySelector('button').click(); })()")
            b.eval("(() => { for (const tr of document.querySelectorAll('main tbody tr')) if (tr.textContent.includes('grader')) tr.querySelector('button').click(); })()")
            b.wait("[...document.querySelectorAll('main tbody tr')].some((tr) => tr.textContent.includes('grader') && tr.textContent.includes('revoked'))",
                   what="the token shown revoked")
            status, me = farm.request("GET", "/v1/whoami", headers={"Authorization": "Bearer " + tok})
            assert status == 401, me

        def revoked_token_asks_again():
            # the page's own token revoked under it: the next call is refused and it asks again
            status, tokens = farm.request("GET", "/v1/tokens", headers={"Authorization": "Bearer " + admin})
            tid = [t["id"] for t in tokens["tokens"] if t["name"] == "operator"][0]
            status, _ = farm.request("DELETE", "/v1/tokens/" + tid, headers={"Authorization": "Bearer " + admin})
            assert status == 200
            b.eval("location.hash = '#/overview'")
            b.wait("!document.querySelector('#login').hidden && document.querySelector('#login-error').textContent.includes('revoked')",
                   what="the token form again")

        def page_had_no_errors():
            # 401s the test provoked are logged by the browser as failed loads
            errors = [e for e in b.errors if "status of 401" not in e and not e.endswith("/v1/health")]
            assert not errors, errors

        return farmtest.run_cases([("the page asks for a token", asks_for_token),
                                   ("a wrong token is refused", wrong_token_refused),
                                   ("without admin scope no admin control is shown", reader_sees_no_admin),
                                   ("the server refuses admin calls without the scope", server_refuses_admin_calls),
                                   ("cancel: own submissions, or any with admin", cancel_own_or_admin),
                                   ("an admin creates and revokes a token", admin_manages_tokens),
                                   ("a revoked token is asked for again", revoked_token_asks_again),
                                   ("no console error, exception or CSP violation", page_had_no_errors)])


if __name__ == "__main__":
    sys.exit(main())
