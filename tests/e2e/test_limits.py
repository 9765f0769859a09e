#!/usr/bin/env python3
"""Protective answers: 413 body cap, 503 backpressure and drain (with
Retry-After), 429 per-caller rate limit; batch limits; cancel; 404/405;
?wait=true timing out into 202; metrics counting all of it."""
import os
import re
import time
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402
from apitest import check_error, farmtest, hello  # noqa: E402


def main():
    cases = []

    def backpressure_and_drain():
        with apitest.api_farm(settings={"api.max_queue": "3"}) as farm:
            for i in range(3):
                st, b = farm.submit(hello(priority=i), wait=False)
                assert st == 202, (st, b)
            st, b = farm.submit(hello(), wait=False)
            check_error(st, b, 503, None, "queue full")
            assert b["error"]["code"] == "queue_full", b
            assert int(farm.last_headers.get("Retry-After", "0")) >= 1, farm.last_headers
            st, b = farm.request("POST", "/v1/submissions/batch", {"submissions": [hello()]})
            check_error(st, b, 503, None, "batch while full")
        with apitest.api_farm() as farm:
            st, b = farm.request("POST", "/v1/admin/drain", {"accepting": False})
            assert st == 200 and b == {"accepting": False}, (st, b)
            st, b = farm.submit(hello(), wait=False)
            check_error(st, b, 503, None, "draining")
            assert b["error"]["code"] == "draining" and "Retry-After" in farm.last_headers
            st, h = farm.request("GET", "/v1/health")
            assert st == 200 and h["accepting"] is False, h
            st, b = farm.request("POST", "/v1/admin/drain", {"accepting": True})
            assert st == 200 and b == {"accepting": True}
            st, b = farm.submit(hello(), wait=False)
            assert st == 202, (st, b)
            st, b = farm.request("POST", "/v1/admin/drain", {"accepting": "no"})
            check_error(st, b, 422, "accepting", "drain body")
            # the drain is a settings row: a restarted API still drains
            farm.request("POST", "/v1/admin/drain", {"accepting": False})
            farm.restart()
            st, b = farm.submit(hello(), wait=False)
            check_error(st, b, 503, None, "draining after restart")
    cases.append(("503 + Retry-After past api.max_queue and while draining", backpressure_and_drain))

    def rate_limit():
        with apitest.api_farm(settings={"api.rate_limit_per_s": "1", "api.rate_limit_burst": "2"}) as farm:
            codes = []
            limited = None
            for _ in range(10):
                st, b = farm.request("GET", "/v1/profiles")
                codes.append(st)
                if st == 429 and limited is None:
                    limited = (b, dict(farm.last_headers))
            assert codes[:2] == [200, 200] and limited, codes
            check_error(429, limited[0], 429, None, "rate")
            assert int(limited[1]["Retry-After"]) >= 1, limited[1]
            # health is not rate-limited (load balancers poll it)
            for _ in range(5):
                st, _ = farm.request("GET", "/v1/health")
                assert st == 200
    cases.append(("429 + Retry-After past the per-caller rate", rate_limit))
    def rate_limit_per_token():
        with apitest.api_farm(settings={"api.auth": "true", "api.rate_limit_per_s": "1",
                                        "api.rate_limit_burst": "1"}) as farm:
            a = apitest.bearer(apitest.token(farm, "a", "read"))
            b = apitest.bearer(apitest.token(farm, "b", "read"))
            codes = [farm.request("GET", "/v1/profiles", headers=a)[0] for _ in range(10)]
            assert codes[0] == 200 and 429 in codes, codes
            st, _ = farm.request("GET", "/v1/profiles", headers=b)
            assert st == 200, "token b has its own bucket"
    cases.append(("the rate limit is per token", rate_limit_per_token))

    def api_farm_tests():
        with apitest.api_farm(settings={"api.batch_max": "3", "api.wait_timeout_ms": "300"}) as farm:
            st, b = farm.request("POST", "/v1/submissions/batch", {"submissions": [hello()] * 4})
            check_error(st, b, 422, "submissions", "batch over max")
            st, b = farm.request("POST", "/v1/submissions/batch", {"submissions": []})
            check_error(st, b, 422, "submissions", "empty batch")
            st, b = farm.request("POST", "/v1/submissions/batch", {"submissions": [hello(), hello(priority=3)]})
            assert st == 202 and len(b["submissions"]) == 2, (st, b)
            ids = [x["id"] for x in b["submissions"]]
            assert len(set(ids)) == 2 and all(x["state"] == "queued" for x in b["submissions"])
            # cancel a queued submission, then again
            st, v = farm.request("DELETE", "/v1/submissions/" + ids[0])
            assert st == 200 and v["state"] == "cancelled", (st, v)
            st, v = farm.request("DELETE", "/v1/submissions/" + ids[0])
            check_error(st, v, 409, None, "cancel twice")
            st, v = farm.request("GET", "/v1/submissions/" + ids[1])
            assert st == 200 and v["state"] == "queued" and v["priority"] == 3, v
            for hidden in ("lease_owner", "token_id", "cache_key", "request"):
                assert hidden not in v, hidden
            # unknown ids, endpoints, methods
            st, v = farm.request("GET", "/v1/submissions/0000")
            check_error(st, v, 404, None, "unknown id")
            st, v = farm.request("GET", "/v1/submissions/%FF%FE")
            check_error(st, v, 404, None, "non-UTF-8 id")
            st, v = farm.request("GET", "/v1/nothing")
            check_error(st, v, 404, None, "unknown path")
            st, v = farm.request("PUT", "/v1/submissions")
            check_error(st, v, 405, None, "wrong method")
            # no worker: ?wait=true gives up after api.wait_timeout_ms with 202
            st, v = farm.submit(hello(), wait=True, timeout=30)
            assert st == 202 and v["state"] == "queued" and v["id"], (st, v)
            assert farm.last_headers.get("Location") == "/v1/submissions/" + v["id"], farm.last_headers
            # the wait bonus puts it ahead of standard jobs
            assert v["priority"] >= 1000, v
            # SSE of a queued submission starts with its "queued" state event
            # (the stream stays open: read just the first event)
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", farm.port, timeout=10)
            conn.request("GET", "/v1/submissions/%s/events" % ids[1])
            r = conn.getresponse()
            assert r.status == 200 and r.getheader("Content-Type").startswith("text/event-stream")
            first = b""
            while b"\n\n" not in first:
                first += r.read1(4096)
            conn.close()
            assert b"event: state" in first and b'"queued"' in first, first
            st, v = farm.request("GET", "/v1/submissions/nope/events")
            check_error(st, v, 404, None, "events of unknown id")
            # SSE of a cancelled submission replays and closes
            st, text = farm.request("GET", "/v1/submissions/%s/events" % ids[0], timeout=10)
            assert st == 200 and text.count("event: state") >= 2 and "cancelled" in text, text
            # metrics count what happened; terminal-state depths may be up to
            # 5 s old (store_queue_depths caches the table scan per connection)
            deadline = time.time() + 15
            while True:
                st, text = farm.request("GET", "/metrics")
                assert st == 200
                m = dict(re.findall(r'^(farm_\S+) (\S+)$', text, re.M))
                if float(m.get('farm_queue_depth{kind="submission",state="cancelled"}', 0)) >= 1 \
                        or time.time() > deadline:
                    break
                time.sleep(0.25)
            assert float(m['farm_http_responses_total{code="202"}']) >= 2, text
            assert float(m['farm_http_responses_total{code="422"}']) >= 2, text
            assert float(m['farm_queue_depth{kind="submission",state="queued"}']) == 2, text
            assert float(m['farm_queue_depth{kind="submission",state="cancelled"}']) == 1, text
            assert float(m['farm_submissions_total{state="cancelled",verdict=""}']) == 1, text
            assert 'farm_run_duration_seconds_bucket{le="+Inf"}' in text
            assert 'farm_build_duration_seconds_count' in text
    cases.append(("batch, cancel, 404/405, wait timeout, SSE replay, metrics", api_farm_tests))

    def depsets_and_profiles():
        with apitest.api_farm() as farm:
            st, b = farm.request("GET", "/v1/profiles")
            names = {p["name"] for p in b["profiles"]}
            assert {"python3", "c", "cpp", "c-tcc", "lua", "bash"} <= names, names
            for p in b["profiles"]:
                assert p["run"] and p["packages"] and set(p["limits"]) == {"run", "compile"}, p
                assert len(p["limits"]["run"]) == 8
                if p.get("available", True):
                    assert isinstance(p["version"], str) and p["version"], p
                else:  # not installed here: no version, and the reason by package
                    assert p["version"] is None and p["unavailable"], p
                    assert all(u["package"] and u["reason"] for u in p["unavailable"]), p
            st, d = farm.request("POST", "/v1/depsets", {"packages": ["python3"]})
            assert st == 201 and d["state"] == "queued" and d["spec"]["packages"] == ["bash", "python3"], (st, d)
            st, d2 = farm.request("POST", "/v1/depsets", {"profile": "python3"})
            assert st == 200 and d2["key"] == d["key"], (st, d2)
            # a submission with the same packages uses that very set
            st, s = farm.submit({"packages": ["python3"], "run": "python3 -V"}, wait=False)
            st, v = farm.request("GET", "/v1/submissions/" + s["id"])
            assert v["depset"]["key"] == d["key"], (v, d)
            st, lst = farm.request("GET", "/v1/depsets")
            assert st == 200 and d["key"] in [x["key"] for x in lst["depsets"]]
            st, one = farm.request("GET", "/v1/depsets/" + d["key"])
            assert st == 200 and one["key"] == d["key"]
            st, e = farm.request("GET", "/v1/depsets/" + "0" * 64)
            check_error(st, e, 404, None, "unknown depset")
            # no builder runs here: the set stays queued, and evicting a set
            # that is not done building is a 409 naming its state (not a 500)
            st, e = farm.request("DELETE", "/v1/depsets/" + d["key"])
            check_error(st, e, 409, None, "evict a queued set")
            assert e["error"]["code"] == "building" and "queued" in e["error"]["message"], e
            st, one = farm.request("GET", "/v1/depsets/" + d["key"])
            assert st == 200 and one["state"] == "queued", (st, one)
            st, e = farm.request("DELETE", "/v1/depsets/" + "0" * 64)
            check_error(st, e, 404, None, "evict an unknown set")
            st, e = farm.request("POST", "/v1/depsets", {"packages": ["nosuch"]})
            check_error(st, e, 422, "packages[0]", "unknown package")
    cases.append(("profiles list; depsets create/list/show/evict share keys with submissions", depsets_and_profiles))
    sys.exit(farmtest.run_cases(cases))


if __name__ == "__main__":
    main()
