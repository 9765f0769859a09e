#!/usr/bin/env python3
"""docs/api.yaml against the real server: every route of daemon/api/api_routes.c
is documented and every documented operation is served; every request
example is answered with the status that documents it, in the documented
shape; JSON answers validate against schema/*.json."""
import http.client
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402
from apitest import farmtest  # noqa: E402

# Debian's PyYAML and jsonschema (python3-yaml, python3-jsonschema): the suite
# runs this driver with Debian's /usr/bin/python3 (tests/e2e/meson.build).
import jsonschema  # noqa: E402
import yaml  # noqa: E402


def schema_errors(value, schema):
    """Every way value breaks schema (JSON Schema 2020-12), as short strings."""
    validator = jsonschema.Draft202012Validator(schema)
    return ["$%s: %s" % ("".join("[%r]" % p for p in e.absolute_path), e.message)
            for e in validator.iter_errors(value)]

SRC = os.environ.get("FARM_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
METHODS = ("get", "post", "delete", "put", "patch")


def load_schema(name):
    with open(os.path.join(SRC, "schema", name)) as f:
        return json.load(f)


SCHEMAS = {"Submission": load_schema("submission.json"), "Error": load_schema("error.json"),
           "SubmissionRequest": load_schema("submission_request.json"),
           "Health": load_schema("health.json")}


def like(example, actual, path="$", exact=False):
    """Every key of example is in actual with the same JSON type (null on
    either side matches anything); error code and field must be equal."""
    if example is None or actual is None:
        return
    if isinstance(example, bool) or isinstance(actual, bool):
        assert isinstance(example, bool) == isinstance(actual, bool), "%s: %r vs %r" % (path, example, actual)
        return
    if isinstance(example, (int, float)):
        assert isinstance(actual, (int, float)), "%s: %r vs %r" % (path, example, actual)
        return
    assert type(example) is type(actual), "%s: %s vs %s (%r)" % (path, type(example).__name__, type(actual).__name__, actual)
    if isinstance(example, dict):
        for k, v in example.items():
            assert k in actual, "%s: missing key %s in %r" % (path, k, actual)
            like(v, actual[k], path + "." + k, exact or (path.endswith(".error") and k in ("code", "field")))
    elif isinstance(example, list):
        if example and actual:
            like(example[0], actual[0], path + "[0]")
    elif exact:
        assert example == actual, "%s: %r, documented %r" % (path, actual, example)


def schema_name(resp_doc, doc):
    ref = None
    if "$ref" in resp_doc:
        resp_doc = doc["components"]["responses"][resp_doc["$ref"].split("/")[-1]]
    for ctype, c in (resp_doc.get("content") or {}).items():
        ref = ((c.get("schema") or {}).get("$ref") or "")
    return ref.split("/")[-1] if ref else None


def route_table():
    with open(os.path.join(SRC, "daemon", "api", "api_routes.c")) as f:
        text = f.read()
    return {(m.lower(), p) for m, p in re.findall(r'^\s*\{"(GET|POST|DELETE|PUT|PATCH)", "([^"]+)"', text, re.M)}


def main():
    with open(os.path.join(SRC, "docs", "api.yaml")) as f:
        doc = yaml.safe_load(f)
    documented = [(m, p) for p, item in doc["paths"].items() for m in METHODS if m in item]
    cases = []

    def structure():
        assert doc["openapi"].startswith("3."), doc["openapi"]
        routes = route_table()
        missing = routes - set(documented)
        assert not missing, "routes not in docs/api.yaml: %s" % sorted(missing)
        extra = set(documented) - routes
        assert not extra, "documented but not routed: %s" % sorted(extra)
        for m, p in documented:
            op = doc["paths"][p][m]
            assert op.get("summary") and op.get("responses"), (m, p)
            for status in op["responses"]:
                assert re.fullmatch(r"[1-5]\d\d", str(status)), (m, p, status)
    cases.append(("every route is documented and every documented path is routed", structure))

    def examples_match_schemas():
        checked = 0
        for p, item in doc["paths"].items():
            for m in METHODS:
                for status, r in (item.get(m) or {}).get("responses", {}).items():
                    sname = schema_name(r, doc)
                    if "$ref" in r or not sname:
                        continue
                    for c in (r.get("content") or {}).values():
                        for name, ex in (c.get("examples") or {}).items():
                            errs = schema_errors(ex["value"], SCHEMAS[sname])
                            assert not errs, "%s %s %s example %s: %s" % (m, p, status, name, errs[:5])
                            checked += 1
        assert checked >= 3, checked
    cases.append(("every response example with a schema validates against it", examples_match_schemas))

    farm = farmtest.Farm(workers=1, builders=1)
    ids = {"file": "app.css"}  # /ui/{file}: a file of the dashboard (ui/)
    exercised = []

    def call(method, path, body=None, query=None, stream=False):
        full = path + ("?" + query if query else "")
        if stream:
            conn = http.client.HTTPConnection("127.0.0.1", farm.port, timeout=60)
            conn.request(method.upper(), full)
            r = conn.getresponse()
            data = r.read().decode()
            conn.close()
            return r.status, data, r.getheader("Content-Type", "")
        st, b = farm.request(method.upper(), full, body)
        return st, b, farm.last_headers.get("Content-Type", "")

    def check_answer(m, p, op, name, st, body, ctype):
        responses = {str(k): v for k, v in op["responses"].items()}
        assert str(st) in responses, "%s %s: status %s is not documented (%r)" % (m, p, st, body)
        rdoc = responses[str(st)]
        sname = schema_name(rdoc, doc)
        if st >= 400 and sname != "Health":  # a failing health report is not an error
            sname = "Error"
        if sname and isinstance(body, (dict, list)):
            errs = schema_errors(body, SCHEMAS[sname])
            assert not errs, "%s %s %s: %s" % (m, p, st, errs[:5])
        if "$ref" in rdoc:
            return
        for ctype_doc, c in (rdoc.get("content") or {}).items():
            ex = (c.get("examples") or {}).get(name)
            if ex is None:
                continue
            exercised.append((m, p, name))
            assert ctype.startswith(ctype_doc.split(";")[0]), (m, p, ctype, ctype_doc)
            if isinstance(ex["value"], str):
                # text: every "# TYPE" / "event:" line of the example appears
                for line in ex["value"].splitlines():
                    if line.startswith(("# TYPE", "event:")):
                        assert line in body, "%s %s: %r not in answer" % (m, p, line)
                    if line.startswith("<") and not line.startswith("<?"):
                        tag = line[1:].split()[0].rstrip(">")
                        assert "<" + tag in body, "%s %s: <%s> not in answer: %r" % (m, p, tag, body[:300])
            else:
                like(ex["value"], body)

    def fill(p):
        def sub(mt):
            k = mt.group(1)
            assert k in ids, "no %s created before %s" % (k, p)
            return ids[k]
        return re.sub(r"\{(\w+)\}", sub, p)

    def run_examples():
        for p, item in doc["paths"].items():
            for m in METHODS:
                if m not in item:
                    continue
                op = item[m]
                rb = op.get("requestBody")
                stream = p.endswith("/events")
                if rb:
                    for ctype, c in rb["content"].items():
                        for name, ex in (c.get("examples") or {}).items():
                            if p in ("/v1/submissions",):
                                expected = [s for s, r in op["responses"].items() if name in
                                            ((r.get("content") or {}).get("application/json") or {}).get("examples", {})]
                                if expected and str(expected[0]).startswith("2"):
                                    errs = schema_errors(ex["value"], SCHEMAS["SubmissionRequest"])
                                    assert not errs, (name, errs)
                            st, body, ct = call(m, fill(p), ex["value"], ex.get("x-query"))
                            if st < 300 and isinstance(body, dict):
                                if "id" in body:
                                    ids["id"] = body["id"]
                                if "key" in body:
                                    ids["key"] = body["key"]
                            want = [str(s) for s, r in op["responses"].items()
                                    if "$ref" not in r and name in ((r.get("content") or {}).get(ctype) or {}).get("examples", {})]
                            assert want, "%s %s: example %s has no documented answer" % (m, p, name)
                            assert str(st) == want[0], "%s %s example %s: %s, documented %s: %r" % (m, p, name, st, want[0], body)
                            check_answer(m, p, op, name, st, body, ct)
                else:
                    if m == "delete" and p == "/v1/depsets/{key}":
                        # evict only a set that is done building
                        deadline = time.time() + 240
                        while time.time() < deadline:
                            _, d = farm.request("GET", fill(p))
                            if d.get("state") in ("ready", "failed"):
                                break
                            time.sleep(0.2)
                    st, body, ct = call(m, fill(p), stream=stream)
                    check_answer(m, p, op, "default", st, body, ct)
                    want = [str(s) for s, r in op["responses"].items() if "$ref" not in r and
                            any("default" in (c.get("examples") or {}) for c in (r.get("content") or {}).values())]
                    if want:
                        assert str(st) == want[0], "%s %s: %s, documented %s: %r" % (m, p, st, want[0], body)

    def all_examples_used():
        named = set()
        for p, item in doc["paths"].items():
            for m in METHODS:
                for s, r in (item.get(m) or {}).get("responses", {}).items():
                    for c in (r.get("content") or {}).values():
                        for name in (c.get("examples") or {}):
                            named.add((m, p, name))
        missing = named - set(exercised)
        assert not missing, "examples never matched against the server: %s" % sorted(missing)

    with farm:
        cases.append(("every example is answered as documented", run_examples))
        cases.append(("every response example was checked", all_examples_used))
        rc = farmtest.run_cases(cases)
    sys.exit(rc)


if __name__ == "__main__":
    main()
