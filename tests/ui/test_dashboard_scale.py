#!/usr/bin/python3
"""10 000 submissions in the store: the list is paged by the server (every
row once, newest first, filters counted right), the charts come aggregated
(the buckets add up to 10 000), bad paging and window arguments get a 400
naming the argument, and the page shows the first page and the next in a
real browser. Nothing is timed: the point is that every answer is one page
or one set of buckets, whatever the history."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import uitest  # noqa: E402
from uitest import cdp, farmtest  # noqa: E402

N = 10000
BATCH = 1000


def main():
    settings = {"api.max_queue": str(2 * N), "api.batch_max": str(BATCH)}
    # the API alone: the submissions stay queued, which is what is listed
    with farmtest.Farm(workers=0, builders=0, roles="api", settings=settings) as farm:
        for k in range(N // BATCH):
            subs = []
            for i in range(BATCH):
                sub = dict(uitest.HELLO)
                # two profiles, so the profile filter has something to tell apart
                if (k * BATCH + i) % 4 == 0:
                    sub = {"profile": "python3", "files": [{"name": "main.py", "content": "print(%d)\n" % i}]}
                subs.append(sub)
            status, body = farm.request("POST", "/v1/submissions/batch", {"submissions": subs}, timeout=600)
            assert status in (200, 202), (status, str(body)[:500])

        def pages_cover_everything():
            seen = []
            before = None
            pages = 0
            while True:
                path = "/v1/submissions?limit=200" + ("&before=" + before if before else "")
                status, body = farm.request("GET", path)
                assert status == 200, body
                assert body["total"] == N and body["total_exact"] is True, body["total"]
                assert len(body["submissions"]) <= 200
                seen += body["submissions"]
                pages += 1
                before = body["next_before"]
                if before is None:
                    break
            assert pages == N // 200, pages
            ids = [s["id"] for s in seen]
            assert len(ids) == N and len(set(ids)) == N, "every submission exactly once"
            created = [s["created_at"] for s in seen]
            assert created == sorted(created, reverse=True), "newest first"
            assert all(s["state"] == "queued" for s in seen)

        def filters_count():
            for query, total in (("state=queued", N), ("state=finished", 0), ("profile=python3", N // 4),
                                 ("profile=bash", N - N // 4), ("profile=python3&state=queued", N // 4),
                                 ("verdict=accepted", 0), ("token=nosuchtoken", 0)):
                status, body = farm.request("GET", "/v1/submissions?limit=5&" + query)
                assert status == 200 and body["total"] == total, (query, status, body.get("total"))
                assert len(body["submissions"]) == min(5, total), query
                for s in body["submissions"]:
                    if "profile=" in query:
                        assert s["profile"] == query.split("profile=")[1].split("&")[0], s

        def stats_aggregated():
            status, st = farm.request("GET", "/v1/stats?window_s=3600&bucket_s=60")
            assert status == 200, st
            assert len(st["buckets"]) == 60
            assert sum(b["submitted"] for b in st["buckets"]) == N
            assert sum(b["finished"] for b in st["buckets"]) == 0
            assert st["latency"] == {"count": 0, "p50_ms": None, "p99_ms": None}, st["latency"]
            assert st["depths"]["submissions"]["queued"] == N
            status, st = farm.request("GET", "/v1/stats?window_s=600&bucket_s=10")
            assert status == 200 and len(st["buckets"]) == 60

        def bad_arguments():
            for query, field in (("limit=0", "limit"), ("limit=201", "limit"), ("limit=x", "limit"),
                                 ("state=bogus", "state"), ("verdict=nice", "verdict"),
                                 ("before=nosuchid", "before")):
                status, body = farm.request("GET", "/v1/submissions?" + query)
                assert status == 400 and body["error"]["field"] == field, (query, status, body)
            for query, field in (("window_s=10", "window_s"), ("bucket_s=0", "bucket_s"),
                                 ("window_s=86400&bucket_s=1", "bucket_s")):
                status, body = farm.request("GET", "/v1/stats?" + query)
                assert status == 400 and body["error"]["field"] == field, (query, status, body)

        def browser_pages():
            with cdp.Browser(uitest.ARTIFACTS) as b:
                b.goto("http://127.0.0.1:%d/ui/#/submissions" % farm.port)
                b.wait("document.querySelector('#sub-summary').textContent.startsWith('%d submissions match')" % N,
                       what="the count of all submissions")
                summary = b.eval("document.querySelector('#sub-summary').textContent")
                assert "page 1 of %d" % (N // 50) in summary, summary
                first = b.eval("document.querySelector('main tbody tr a').textContent")
                assert b.eval("document.querySelectorAll('main tbody tr').length") == 50
                b.screenshot("submissions-10000.png")
                b.click_text("button", "Older")
                b.wait("document.querySelector('#sub-summary').textContent.includes('page 2 of')", what="page 2")
                b.wait("document.querySelector('main tbody tr a').textContent !== %r" % first)
                assert b.eval("document.querySelectorAll('main tbody tr').length") == 50
                b.click_text("button", "← Newer")
                b.wait("document.querySelector('main tbody tr a').textContent === %r" % first, what="back to page 1")
                b.eval("location.hash = '#/overview'")
                b.wait("(document.querySelector('[data-k=submitted]') || {}).textContent === '%d'" % N,
                       what="10 000 submitted in the last hour")
                assert "health failing" in b.text("#drain-badge"), "no worker: the farm says it is failing"
                # that is /v1/health's 503, which the browser logs as a failed load
                errors = [e for e in b.errors if not e.endswith("/v1/health")]
                assert not errors, errors

        return farmtest.run_cases([("pages cover every submission once, newest first", pages_cover_everything),
                                   ("filters count right", filters_count),
                                   ("stats come aggregated in buckets", stats_aggregated),
                                   ("bad paging and window arguments are refused", bad_arguments),
                                   ("the page pages through 10 000 in a browser", browser_pages)])


if __name__ == "__main__":
    sys.exit(main())
