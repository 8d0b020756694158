"""The client's pure logic (negotiation, backoff, reconnects, error texts) under node's test runner."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

WEB_DIR = Path(__file__).resolve().parents[1]


def test_javascript_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is missing: the client's unit tests need node 20 or newer")
        pytest.skip("node is not installed")
    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", "tests/js/"],
        cwd=WEB_DIR, capture_output=True, text=True, timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", output, re.MULTILINE)
    assert passed and failed, output[-2000:]
    assert int(failed.group(1)) == 0
    assert int(passed.group(1)) >= 30, "fewer JavaScript tests ran than exist"
