"""caldav-server-tester (pinned in .ci/setup, with the `caldav` library it pins) against tidings
and against bare Xandikos (its own server, no auth) in the same run: tidings must
reach at least as many features "full", and none "broken"."""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.dav.conftest import ALICE, PASSWORDS, DavBox

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
CLIENTS = Path(__file__).resolve().parents[2] / ".ci" / "davclients" / "bin"


def check(url: str, user: str, password: str) -> dict[str, Any]:
    tester = shutil.which("caldav-server-tester", path=str(CLIENTS))
    assert tester, "caldav-server-tester is installed by .ci/setup into .ci/davclients"
    result = subprocess.run(
        [tester, "--caldav-url", url, "--caldav-username", user,
         "--caldav-password", password, "--format", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    features: dict[str, Any] = json.loads(result.stdout)["features"]
    return features


@pytest.fixture(scope="module")
def bare_xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    xandikos = shutil.which("xandikos", path=str(BIN))
    assert xandikos
    process = subprocess.Popen(
        [xandikos, "--defaults", "--autocreate", "-d", str(tmp_path_factory.mktemp("xandikos")),
         "-l", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # it says when it listens: wait for that line
            seen.append(line)
            if "Listening on" in line:
                break
        else:
            raise AssertionError(f"xandikos exited: {''.join(seen)}")
        # Keep reading its log, or it blocks once the pipe is full.
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield url
    finally:
        process.terminate()
        process.wait(15)


def test_at_least_as_good_as_bare_xandikos_and_nothing_broken(
    dav_box: DavBox, bare_xandikos: str
) -> None:
    ours = check(dav_box.url("/"), ALICE, PASSWORDS[ALICE])
    theirs = check(bare_xandikos, "user", "unused")
    broken = {k: v for k, v in ours.items() if v.get("support") == "broken"}
    assert broken == {}
    count = collections.Counter(v.get("support") for v in ours.values())
    reference = collections.Counter(v.get("support") for v in theirs.values())
    assert count["full"] >= reference["full"], (count, reference)
    # What only a real front gives: a password prompt clients understand.
    assert ours["auth.www-authenticate"]["support"] == "full"
    # Not claimed, so not half-done: scheduling is left to clients.
    assert ours["scheduling"]["support"] == "unsupported"
