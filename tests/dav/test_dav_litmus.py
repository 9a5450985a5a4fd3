"""litmus (Debian's, the WebDAV compliance suite) against tidings' DAV tree: the
``basic``, ``copymove`` and ``http`` suites must pass whole. (``props`` is not run:
Xandikos keeps no dead properties, so PROPPATCH of arbitrary names is refused.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.dav.conftest import ALICE, PASSWORDS, DavBox

pytestmark = pytest.mark.slow


def test_litmus_basic_copymove_http(dav_box: DavBox, tmp_path: Path) -> None:
    litmus = shutil.which("litmus")
    assert litmus, "litmus is installed by .ci/setup (Debian package `litmus`)"
    result = subprocess.run(
        [litmus, "-k", dav_box.url(f"/dav/{ALICE}/"), ALICE, PASSWORDS[ALICE]],
        env={**os.environ, "TESTS": "basic copymove http"},
        cwd=tmp_path,  # it writes debug.log there
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    summaries = re.findall(
        r"summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed", result.stdout
    )
    assert [s[0] for s in summaries] == ["basic", "copymove", "http"], result.stdout
    for suite, run, passed, failed in summaries:
        assert int(run) > 0 and failed == "0" and passed == run, (suite, result.stdout)
    assert result.returncode == 0, result.stdout
