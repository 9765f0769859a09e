#!/usr/bin/python3
"""The dashboard in a real browser against a real farmd with workers and a
builder: overview, keyboard use, Try it with `accepted` arriving live, a time
limit, output that is HTML and binary shown safely, cancelling a long run, the
filtered list, the cache with its quota bar and pin, drain refusing new work,
a phone-width screen. Screenshots of every view go to <build>/ui-screenshots.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import uitest  # noqa: E402
from uitest import cdp, farmtest  # noqa: E402

HTML_PROGRAM = "echo '<script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned = 2\"><b>bold</b>'\n"
FAILING_EXPR = ('derivation { name = "boom"; system = "x86_64-linux"; builder = "/bin/sh"; '
                'args = ["-c" "echo expr-says-boom; exit 1"]; }')
LOOP_C = "int main(void)\n{\n    for (volatile unsigned long i = 0;; i++)\n        ;\n}\n"


# The elements whose right edge passes the viewport's, widest first (for a failure's message).
STICKING_OUT = """[...document.querySelectorAll('body *')]
  .map(e => [e, e.getBoundingClientRect().right])
  .filter(([e, r]) => r > window.innerWidth)
  .sort((a, b) => b[1] - a[1]).slice(0, 6)
  .map(([e, r]) => e.tagName.toLowerCase() + (e.className && e.className.baseVal === undefined
       ? '.' + String(e.className).trim().replace(/ +/g, '.') : '') + ' right=' + Math.round(r)
       + ' width=' + Math.round(e.getBoundingClientRect().width))"""


def main():
    # nix-expr for the anonymous caller: the failing set of the cache case is an expression
    settings = {"cache.quota_bytes": str(4 << 30), "api.anonymous_scopes": "submit,read,admin,nix-expr"}
    with farmtest.Farm(workers=2, builders=1, settings=settings) as farm, \
            cdp.Browser(uitest.ARTIFACTS) as b:
        base = "http://127.0.0.1:%d/ui/" % farm.port
        state = {}

        def open_view(view, ready):
            b.eval("location.hash = %s" % json.dumps("#/" + view))
            b.wait(ready, what="view %s" % view)

        def try_submit(profile, fname, code, stdin="", expected=None, cpu_ms=None):
            open_view("try", "document.querySelectorAll('#t-profile option').length > 1")
            b.eval("(() => { const s = document.querySelector('#t-profile'); s.value = %s; s.dispatchEvent(new Event('change')); })()" % json.dumps(profile))
            b.fill("#t-file", fname)
            b.fill("#t-code", code)
            b.fill("#t-in-1", stdin)
            b.fill("#t-ex-1", expected or "")
            b.fill("#t-cpu", str(cpu_ms) if cpu_ms else "")
            link = "(() => { const a = document.querySelector('main a[href^=\"#/submissions/\"]'); return a ? a.textContent : ''; })()"
            before = b.eval(link)
            b.click("form button[type=submit]")
            return b.wait("%s !== %s && %s" % (link, json.dumps(before), link), what="the new submission's id")

        def verdict():
            return b.eval("(document.querySelector('[data-k=verdict]') || {}).textContent || ''")

        def overview():
            status, body = farm.request("GET", "/ui/")
            assert status == 200 and "<html" in body
            csp = farm.last_headers.get("Content-Security-Policy", "")
            assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp, csp
            b.goto(base)
            b.wait("document.querySelectorAll('.tiles li').length >= 8", what="queue tiles")
            b.wait("[...document.querySelectorAll('main td')].some((td) => td.textContent === 'worker')",
                   what="a worker in the process table")
            assert b.eval("document.querySelectorAll('script:not([src])').length") == 0, "an inline script"
            # rate and latency; the verdict mix says in words that nothing finished yet
            assert b.eval("document.querySelectorAll('.chart canvas').length") >= 2, "the charts"
            b.screenshot("overview-empty.png")
            assert b.text("#drain-badge").startswith("Accepting work")

        def keyboard():
            b.goto(base + "#/overview")
            b.wait("document.querySelector('#nav a[aria-current=page]') !== null")
            b.key("Tab", keycode=9)
            assert b.eval("document.activeElement.textContent") == "Skip to content"
            b.key("Tab", keycode=9)
            b.key("Tab", keycode=9)
            assert b.eval("document.activeElement.textContent") == "Submissions", b.eval("document.activeElement.outerHTML")
            b.key("Enter", keycode=13, text="\r")
            b.wait("location.hash === '#/submissions'", what="Enter to follow the nav link")
            b.wait("document.querySelector('main h1').textContent === 'Submissions'")
            # a visible focus ring on the focused control
            b.key("Tab", keycode=9)
            style = b.eval("getComputedStyle(document.activeElement).outlineStyle")
            assert style not in ("", "none"), style

        def try_accepted():
            sid = try_submit("c", "main.c", open_sample_c(), "1 2\n", "3\n")
            # the verdict arrives without a reload: the page follows the stream
            b.wait("(document.querySelector('[data-k=verdict]') || {}).textContent === 'accepted'", timeout=240,
                   what="accepted on the Try it page")
            assert b.eval("location.hash") == "#/try"
            assert "3" in b.text("pre.out")
            b.wait("document.querySelector('.live') === null", what="the live marker gone")
            status, body = farm.request("GET", "/v1/submissions/" + sid)
            assert body["verdict"] == "accepted", body
            b.screenshot("try.png", full=True)
            state["accepted"] = sid

        def time_limit():
            sid = try_submit("c", "main.c", LOOP_C, "", None, cpu_ms=300)
            b.wait("(document.querySelector('[data-k=verdict]') || {}).textContent === 'time limit'", timeout=240,
                   what="time limit")
            b.eval("location.hash = '#/submissions/' + %s" % json.dumps(sid))
            b.wait("document.querySelector('main h1').textContent === 'Submission' && document.querySelector('[data-k=verdict]') && document.querySelector('[data-k=verdict]').textContent === 'time limit'")
            assert "cpu 300 ms" in b.text("main"), b.text("main")
            b.screenshot("detail.png", full=True)

        def compile_log():
            try_submit("c", "main.c", "int main(void) { return undefined_name; }\n")
            b.wait("((document.querySelector('[data-k=state]') || {}).textContent || '').startsWith('compile error')",
                   timeout=240, what="compile error")
            assert "undefined_name" in b.text("main") and "error" in b.text("main"), b.text("main")[:2000]

        def html_shown_as_text():
            try_submit("bash", "main.sh", HTML_PROGRAM)
            b.wait("(document.querySelector('[data-k=verdict]') || {}).textContent === 'accepted'", timeout=240)
            out = b.text("pre.out")
            assert "<script>window.__pwned = 1</script>" in out and "<b>bold</b>" in out, out
            assert b.eval("typeof window.__pwned") == "undefined"
            assert b.eval("document.querySelectorAll('main script, main img, main b').length") == 0

        def binary_output():
            status, body = farm.submit({"profile": "bash", "packages": ["coreutils"], "files": [
                {"name": "main.sh", "content": "printf 'ab\\000\\377\\001<i>'\n"}]}, wait=True)
            assert status == 200 and body["verdict"] == "accepted", body
            b.eval("location.hash = '#/submissions/' + %s" % json.dumps(body["id"]))
            b.wait("document.body.innerText.includes('Binary output, 8 bytes')", what="binary shown as hex")
            assert "61 62 00 ff 01 3c 69 3e" in b.text("main")
            assert b.eval("document.querySelectorAll('main i').length") == 0

        def cancel_long_run():
            status, body = farm.submit({"profile": "bash", "packages": ["coreutils"],
                                        "files": [{"name": "main.sh", "content": "sleep 100\n"}],
                                        "limits": {"run": {"wall_ms": 110000}}}, wait=False)
            assert status == 202, body
            sid = body["id"]
            b.eval("location.hash = '#/submissions/' + %s" % json.dumps(sid))
            b.wait("(document.querySelector('[data-k=state]') || {}).textContent === 'running  ● following live'", timeout=240,
                   what="the run shown running, live")
            # the overview shows which worker runs it, linked to it
            open_view("overview", "document.querySelectorAll('.tiles li').length >= 8")
            b.wait("document.querySelector('main td a[href=\"#/submissions/%s\"]') !== null" % sid,
                   what="the worker running it on the overview")
            b.click("main td a[href=\"#/submissions/%s\"]" % sid)
            b.wait("((document.querySelector('[data-k=state]') || {}).textContent || '').startsWith('running')")
            b.click_text("button", "Cancel submission")
            assert "Press again" in b.eval("[...document.querySelectorAll('button')].find((x) => x.textContent.includes('confirm')).textContent")
            b.click_text("button", "Press again")
            b.wait("((document.querySelector('[data-k=state]') || {}).textContent || '').startsWith('cancelled')", timeout=120,
                   what="cancelled")
            status, body = farm.request("GET", "/v1/submissions/" + sid)
            assert body["state"] == "cancelled", body

        def submissions_list():
            open_view("submissions", "document.querySelector('main table') !== null")
            b.eval("(() => { const s = document.querySelector('#f-verdict'); s.value = 'time_limit'; s.dispatchEvent(new Event('change')); })()")
            b.wait("document.querySelector('#sub-summary').textContent.startsWith('1 submission match')",
                   what="one time_limit submission")
            assert b.eval("document.querySelectorAll('main tbody tr').length") == 1
            b.eval("(() => { const s = document.querySelector('#f-verdict'); s.value = ''; s.dispatchEvent(new Event('change')); })()")
            b.wait("document.querySelectorAll('main tbody tr').length >= 5")
            b.screenshot("submissions.png")

        def cache_view():
            open_view("cache", "document.querySelector('.quota') !== null && document.querySelector('main tbody tr') !== null")
            assert "of 4.0 GiB" in b.text("main")
            b.click_text("button", "Pin")
            b.wait("[...document.querySelectorAll('main td')].some((td) => td.textContent.startsWith('pinned'))",
                   what="a pinned set")
            status, body = farm.request("GET", "/v1/cache")
            pinned = [d for d in body["depsets"] if d["pinned"]]
            assert len(pinned) == 1 and pinned[0]["held"], body
            b.screenshot("cache.png")
            b.click_text("button", "Unpin")
            b.wait("![...document.querySelectorAll('main td')].some((td) => td.textContent.startsWith('pinned'))")

        def failed_set_log_and_rebuild():
            status, d = farm.request("POST", "/v1/depsets", {"expr": FAILING_EXPR})
            assert status in (200, 201), d
            key = d["key"]
            deadline = time.time() + 240
            while d["state"] != "failed" and time.time() < deadline:
                time.sleep(0.2)
                status, d = farm.request("GET", "/v1/depsets/" + key)
            assert d["state"] == "failed", d
            open_view("overview", "document.querySelectorAll('.tiles li').length >= 8")
            open_view("cache", "document.body.innerText.includes('(Nix expression)')")
            b.click_text("button", "Build log")
            b.wait("[...document.querySelectorAll('pre.out')].some((p) => p.textContent.includes('expr-says-boom'))",
                   what="the failed set's build log")
            b.screenshot("cache-failed.png", full=True)
            row = "[...document.querySelectorAll('main tbody tr')].find((tr) => tr.textContent.includes('(Nix expression)'))"
            b.eval("%s.querySelector('button:nth-child(2)').click()" % row)  # Rebuild: press, then confirm
            b.eval("%s.querySelector('button:nth-child(2)').click()" % row)
            deadline = time.time() + 60
            while "msg=\"depset-rebuild\" key=" + key not in farm.logs() and time.time() < deadline:
                time.sleep(0.2)
            assert "msg=\"depset-rebuild\" key=" + key in farm.logs(), "the rebuild reached the server"

        def overview_screenshot():
            open_view("overview", "document.querySelectorAll('.tiles li').length >= 8")
            b.wait("document.querySelector('[data-k=\"latency p99\"]') && document.querySelector('[data-k=\"latency p99\"]').textContent !== '—'")
            assert b.eval("document.querySelectorAll('.chart canvas').length") >= 3, "three charts"
            status, st = farm.request("GET", "/v1/stats")
            assert status == 200
            fin = sum(x["finished"] for x in st["buckets"])
            assert st["latency"]["count"] == fin >= 4, st["latency"]
            assert st["latency"]["p50_ms"] <= st["latency"]["p99_ms"]
            for k in ("accepted", "time_limit", "cancelled"):
                assert st["outcomes"].get(k, 0) >= 1, st["outcomes"]
            b.screenshot("overview.png", full=True)

        def phone_width():
            b.viewport(390, 844, mobile=True)
            try:
                for view, ready, shot in (("overview", "document.querySelectorAll('.tiles li').length >= 8", "phone-overview.png"),
                                          ("submissions", "document.querySelector('main tbody tr') !== null", "phone-submissions.png"),
                                          ("submissions/" + state["accepted"], "document.querySelector('[data-k=verdict]') !== null", "phone-detail.png")):
                    open_view(view, ready)
                    # Charts follow a viewport change on the resize event and a
                    # refresh may redraw them: the page must come to fit.
                    fits = "document.documentElement.scrollWidth <= 390"
                    try:
                        b.wait(fits, timeout=10)
                    except Exception:
                        pass
                    width = b.eval("document.documentElement.scrollWidth")
                    assert width <= 390, "%s is %dpx wide on a 390px screen; sticking out: %s" % (
                        view, width, b.eval(STICKING_OUT))
                    b.screenshot(shot)
            finally:
                b.viewport(1280, 800)

        def readable_contrast():
            with open(os.path.join(HERE, "contrast.js")) as f:
                script = f.read()
            for view, ready in (("overview", "document.querySelectorAll('.tiles li').length >= 8 && document.querySelector('main td')"),
                                ("submissions", "document.querySelector('main tbody tr')"),
                                ("submissions/" + state["accepted"], "document.querySelector('[data-k=verdict]')"),
                                ("cache", "document.querySelector('main tbody tr')"),
                                ("try", "document.querySelectorAll('#t-profile option').length > 1"),
                                ("admin", "document.querySelector('[data-k=drain]')")):
                open_view(view, "!!(%s)" % ready)
                low = b.eval(script)
                assert not low, "text below WCAG AA contrast on %s: %s" % (view, low)

        def page_had_no_errors():
            # the drain case's refused POST is logged by the browser as a failed load
            errors = [e for e in b.errors if not ("status of 503" in e and e.endswith("/v1/submissions"))]
            assert not errors, errors
            assert not b.dialogs, b.dialogs

        cases = [("open the overview", overview), ("keyboard: tab to the nav, enter to follow", keyboard),
                 ("Try it: a C program, accepted arrives live", try_accepted),
                 ("follow a time limit", time_limit),
                 ("a compile error shows the compiler's log", compile_log),
                 ("HTML and script in the output are shown as text", html_shown_as_text),
                 ("binary output is shown as hex", binary_output),
                 ("cancel a long run", cancel_long_run),
                 ("submissions: filter by verdict", submissions_list),
                 ("cache: quota bar, pin and unpin", cache_view),
                 ("cache: a failed set's build log, and rebuild", failed_set_log_and_rebuild),
                 ("overview charts after the runs", overview_screenshot),
                 ("phone width: no sideways scroll", phone_width),
                 ("drain: the queue refuses new work, undrain takes it again", lambda: drain_case(b, farm)),
                 ("readable contrast (WCAG AA) on every view", readable_contrast),
                 ("no console error, exception or CSP violation", page_had_no_errors)]
        return farmtest.run_cases(cases)


def drain_case(b, farm):
    b.eval("location.hash = '#/admin'")
    b.wait("document.querySelector('[data-k=drain]') !== null")
    b.click_text("button", "Drain")
    b.click_text("button", "Press again")
    b.wait("document.querySelector('#drain-badge').textContent.startsWith('Draining')", what="the draining badge")
    status, body = farm.submit(uitest.HELLO, wait=False)
    assert status == 503 and body["error"]["code"] == "draining", (status, body)
    b.eval("location.hash = '#/admin'")
    b.wait("document.querySelector('[data-k=drain]') !== null")
    b.screenshot("admin.png")
    b.eval("location.hash = '#/try'")
    b.wait("document.querySelectorAll('#t-profile option').length > 1")
    b.click("form button[type=submit]")
    b.wait("document.querySelector('main [role=alert]').textContent.includes('draining')",
           what="the page saying the farm refuses new work")
    b.eval("location.hash = '#/admin'")
    b.wait("document.querySelector('[data-k=drain]') !== null")
    b.click_text("button", "Undrain")
    b.wait("document.querySelector('#drain-badge').textContent.startsWith('Accepting work')")
    status, body = farm.submit(uitest.HELLO, wait=False)
    assert status == 202, (status, body)


def open_sample_c():
    return "#include <stdio.h>\nint main(void)\n{\n    int a, b;\n    if (scanf(\"%d %d\", &a, &b) == 2)\n        printf(\"%d\\n\", a + b);\n    return 0;\n}\n"


if __name__ == "__main__":
    sys.exit(main())
