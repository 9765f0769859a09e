#!/usr/bin/env python3
"""Every profile of GET /v1/profiles runs an a+b program, named as the profile
says, to an accepted verdict through a real farmd (the profile's packages,
compile and run commands and limits are the API's to get right). The language
profiles beyond these six are proven by tests/pipeline/test_languages.py
(suite `languages`, programs in tests/lib/langprograms.py); every profile must be known to one of the two."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest  # noqa: E402
from apitest import farmtest  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import langprograms  # noqa: E402

C = "#include <stdio.h>\nint main(void){int a,b;if(scanf(\"%d %d\",&a,&b)!=2)return 1;printf(\"%d\\n\",a+b);return 0;}\n"
PROGRAMS = {
    "python3": "print(sum(map(int, input().split())))\n",
    "c": C,
    "cpp": "#include <iostream>\nint main(){int a,b;std::cin>>a>>b;std::cout<<a+b<<std::endl;}\n",
    "c-tcc": C,
    "lua": "local a, b = io.read('n', 'n')\nprint(math.floor(a + b))\n",
    "bash": "read a b; echo $((a+b))\n",
}


def main():
    cases = []
    with farmtest.Farm(workers=2, builders=1) as farm:
        st, body = farm.request("GET", "/v1/profiles")
        assert st == 200, (st, body)
        profiles = body["profiles"]

        def all_have_programs():
            names = {p["name"] for p in profiles}
            assert set(PROGRAMS) <= names, "profiles %s, programs %s" % (sorted(names), sorted(PROGRAMS))
            unknown = names - set(PROGRAMS) - set(langprograms.PROGRAMS)
            assert not unknown, "profiles without a test: %s" % sorted(unknown)
        cases.append(("the test knows every profile", all_have_programs))

        def make(p):
            def run():
                sub = {"profile": p["name"], "files": [{"name": p["file"], "content": PROGRAMS[p["name"]]}],
                       "tests": [{"name": "small", "stdin": "1 2\n", "expected_output": "3\n"},
                                 {"name": "big", "stdin": "40000 2000\n", "expected_output": "42000\n"}]}
                st, b = farm.submit(sub, wait=True, timeout=600)
                assert st == 200 and b["state"] == "finished", (st, b)
                assert b["verdict"] == "accepted", json_short(b)
                if p["compile"]:
                    assert b["compile"] and b["compile"]["exit_code"] == 0, b["compile"]
                else:
                    assert b["compile"] is None, b["compile"]
                assert isinstance(p["version"], str) and p["version"], p
            return ("profile %s: compile, run, accepted (version %s)" % (p["name"], p.get("version")), run)
        cases += [make(p) for p in profiles if p["name"] in PROGRAMS]
        rc = farmtest.run_cases(cases)
    sys.exit(rc)


def json_short(b):
    return {"compile": b.get("compile"), "tests": [(t.get("verdict"), t.get("stdout"), t.get("stderr", "")[:300]) for t in b.get("tests", [])]}


if __name__ == "__main__":
    main()
