"""The `caldav` library (a real CalDAV client, pinned in .ci/setup) against tidings:
discovery from the server root with an iOS-style user name, create, time-range
query, sync-collection, free/busy, and another user seeing none of it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.dav.conftest import ALICE, BOB, PASSWORDS, DavBox

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / ".ci" / "davclients" / "bin"


def test_what_a_caldav_client_does(dav_box: DavBox) -> None:
    python = CLIENTS / "python"
    assert python.exists(), "the caldav library is installed by .ci/setup into .ci/davclients"
    result = subprocess.run(
        [python, Path(__file__).with_name("caldav_client_run.py"), dav_box.url("/"),
         "alice%40example.test", PASSWORDS[ALICE], BOB, PASSWORDS[BOB]],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    seen = json.loads(result.stdout)
    assert seen["principal"] == dav_box.url(f"/dav/{ALICE}/")
    assert seen["calendars"] == [dav_box.url(f"/dav/{ALICE}/calendars/calendar/")]
    assert seen["range"] == ["Lunch with Bob"]
    assert seen["token"] is True
    assert seen["changed"] == ["sync-new"]
    assert "FREEBUSY;VALUE=PERIOD:20261215T140000Z/20261215T150000Z" in seen["freebusy"]
    assert seen["other_calendars"] == [dav_box.url(f"/dav/{BOB}/calendars/calendar/")]
    assert seen["other_events"] == 0
