"""vdirsyncer (Debian's) syncing tidings' calendar and address book with local
directories, both ways: discovery from the server root, changes on either side,
deletions — what a desktop sync setup does every few minutes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.dav.conftest import ALICE, PASSWORDS, DavBox

pytestmark = pytest.mark.slow

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tidings tests//EN\r\nBEGIN:VEVENT\r\n"
    "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261204T120000Z\r\n"
    "DURATION:PT1H\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
VCF = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:;{name};;;\r\nEND:VCARD\r\n"


def vdirsyncer(config: Path, *args: str) -> str:
    binary = shutil.which("vdirsyncer")
    assert binary, "vdirsyncer is installed by .ci/setup (Debian package `vdirsyncer`)"
    result = subprocess.run(
        [binary, "-vdebug", "-c", str(config), *args],
        input="y\n" * 10,  # "create this collection locally?"
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_two_way_sync_of_calendar_and_contacts(dav_box: DavBox, tmp_path: Path) -> None:
    local = tmp_path / "local"
    config = tmp_path / "config"
    blocks = []
    for kind, storage, ext in (("cal", "caldav", ".ics"), ("card", "carddav", ".vcf")):
        blocks.append(
            f"""
[pair {kind}]
a = "{kind}_remote"
b = "{kind}_local"
collections = ["from a"]
conflict_resolution = "a wins"

[storage {kind}_remote]
type = "{storage}"
url = "{dav_box.base}/"
username = "{ALICE}"
password = "{PASSWORDS[ALICE]}"

[storage {kind}_local]
type = "filesystem"
path = "{local / kind}/"
fileext = "{ext}"
"""
        )
    config.write_text(f'[general]\nstatus_path = "{tmp_path / "status"}/"\n' + "".join(blocks))
    with httpx.Client(base_url=dav_box.base, auth=(ALICE, PASSWORDS[ALICE])) as dav:
        calendar = f"/dav/{ALICE}/calendars/calendar/"
        contacts = f"/dav/{ALICE}/contacts/addressbook/"
        dav.put(
            calendar + "remote.ics",
            content=ICS.format(uid="remote-1", summary="From the server"),
            headers={"Content-Type": "text/calendar"},
        ).raise_for_status()
        for uid, name in (("zoe", "Zoé"), ("yann", "Yann")):
            dav.put(
                contacts + f"{uid}.vcf",
                content=VCF.format(uid=uid, name=name),
                headers={"Content-Type": "text/vcard"},
            ).raise_for_status()

        vdirsyncer(config, "discover")
        vdirsyncer(config, "sync")
        local_calendar = local / "cal" / "calendar"
        local_book = local / "card" / "addressbook"
        assert ["From the server" in p.read_text() for p in local_calendar.glob("*.ics")] == [True]
        cards = {
            p.read_text().split("FN:")[1].split("\n")[0].strip(): p
            for p in local_book.glob("*.vcf")
        }
        assert set(cards) == {"Zoé", "Yann"}

        # Local changes go up, server changes come down, deletions both ways.
        (local_calendar / "local-1.ics").write_text(
            ICS.format(uid="local-1", summary="From the laptop")
        )
        cards["Zoé"].unlink()
        dav.put(
            calendar + "remote.ics",
            content=ICS.format(uid="remote-1", summary="Changed on the server"),
            headers={"Content-Type": "text/calendar"},
        ).raise_for_status()
        vdirsyncer(config, "sync")
        listing = dav.request("PROPFIND", calendar, headers={"Depth": "1"}).text
        assert "local-1" in listing
        assert dav.get(contacts + "zoe.vcf").status_code == 404
        assert dav.get(contacts + "yann.vcf").status_code == 200
        texts = sorted(p.read_text() for p in local_calendar.glob("*.ics"))
        assert any("Changed on the server" in t for t in texts)
        assert any("From the laptop" in t for t in texts)

        dav.delete(calendar + "remote.ics").raise_for_status()
        vdirsyncer(config, "sync")
        assert not any("Changed on the server" in p.read_text() for p in local_calendar.glob("*"))
