"""uitest — what the dashboard's browser tests share: the farm library, the
chromium driver, and where screenshots go (<build>/ui-screenshots, kept as
test artifacts)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.environ.get("FARM_SOURCE_ROOT", os.path.join(HERE, "..", "..")), "tests", "lib"))
import farmtest  # noqa: E402,F401
import cdp  # noqa: E402,F401

ARTIFACTS = os.path.join(farmtest.BUILD_ROOT, "ui-screenshots")

HELLO = {"profile": "bash", "files": [{"name": "main.sh", "content": "echo hello\n"}],
         "tests": [{"name": "t1", "expected_output": "hello\n"}]}
