"""The calendar/contacts REST API over real HTTP, checked against what CalDAV
clients see of the same calendar."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.dav.conftest import ALICE, BOB, PASSWORDS, DavBox

pytestmark = pytest.mark.slow

RANGE = {"start": "2026-12-01T00:00:00+01:00", "end": "2027-01-01T00:00:00+01:00"}


def client(dav_box: DavBox, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=dav_box.base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


@pytest.fixture(scope="module")
def alice(dav_box: DavBox) -> Iterator[httpx.Client]:
    with client(dav_box, dav_box.tokens["alice_dav"]) as http:
        yield http


@pytest.fixture(scope="module")
def bob(dav_box: DavBox) -> Iterator[httpx.Client]:
    with client(dav_box, dav_box.tokens["bob_dav"]) as http:
        yield http


@pytest.fixture(scope="module")
def bob_caldav(dav_box: DavBox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dav_box.base, auth=(BOB, PASSWORDS[BOB]), timeout=30) as http:
        yield http


def lunch(**extra: object) -> dict[str, object]:
    return {
        "summary": "Lunch with Bob",
        "start": "2026-12-04T12:00:00+01:00",
        "end": "2026-12-04T13:00:00+01:00",
        **extra,
    }


def test_tokens_and_scopes(dav_box: DavBox) -> None:
    with httpx.Client(base_url=dav_box.base) as anonymous:
        response = anonymous.get("/v1/events", params=RANGE)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    with client(dav_box, dav_box.tokens["alice_mail"]) as mail_only:
        assert mail_only.get("/v1/events", params=RANGE).status_code == 403
    with client(dav_box, dav_box.tokens["alice_read"]) as reader:
        assert reader.get("/v1/events", params=RANGE).status_code == 200
        assert reader.post("/v1/events", json=lunch()).status_code == 403
        assert reader.post("/v1/contacts", json={"name": "X"}).status_code == 403


def test_an_event_made_by_the_api_is_what_caldav_clients_see(
    alice: httpx.Client, dav_box: DavBox
) -> None:
    made = alice.post("/v1/events", json=lunch(attendees=[BOB], location="Café"))
    assert made.status_code == 201, made.text
    event = made.json()
    assert event["organizer"] == ALICE
    assert event["attendees"] == [ALICE, BOB]
    listed = alice.get("/v1/events", params=RANGE).json()["events"]
    assert [e["id"] for e in listed] == [event["id"]]
    with httpx.Client(base_url=dav_box.base, auth=(ALICE, PASSWORDS[ALICE])) as caldav:
        ics = caldav.get(f"/dav/{ALICE}/calendars/calendar/{event['id']}.ics")
        assert ics.status_code == 200
        text = ics.text.replace("\r\n ", "")
        assert "SUMMARY:Lunch with Bob" in text
        assert f"ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:{BOB}" in text
        assert event["uid"] in text and event["uid"] not in event["id"]


def test_update_and_delete(alice: httpx.Client) -> None:
    event = alice.post("/v1/events", json=lunch(summary="Standup")).json()
    moved = alice.patch(f"/v1/events/{event['id']}", json={"start": "2026-12-07T09:00:00+01:00"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["start"] == "2026-12-07T09:00:00+01:00"
    assert moved.json()["end"] == "2026-12-07T10:00:00+01:00"  # the length is kept
    gone = alice.delete(f"/v1/events/{event['id']}")
    assert gone.status_code == 200 and gone.json()["summary"] == "Standup"
    assert alice.get(f"/v1/events/{event['id']}").status_code == 404


def test_bad_input_gets_the_right_error(alice: httpx.Client) -> None:
    backwards = lunch(start="2026-12-04T13:00:00+01:00", end="2026-12-04T12:00:00+01:00")
    assert alice.post("/v1/events", json=backwards).status_code == 422
    naive = lunch(start="2026-12-04T12:00:00", end="2026-12-04T13:00:00")
    assert alice.post("/v1/events", json=naive).status_code == 400
    assert alice.post("/v1/events", json=lunch(attendees=["not an address"])).status_code == 400
    assert alice.post("/v1/events", json=lunch(colour="red")).status_code == 400
    assert (
        alice.get("/v1/events", params={"start": RANGE["end"], "end": RANGE["start"]}).status_code
        == 400
    )
    assert alice.get("/v1/events/..%2F..%2Fbob").status_code == 404
    slots = {**RANGE, "duration_minutes": 30, "timezone": "Mars/Olympus"}
    assert alice.get("/v1/free-slots", params=slots).status_code == 400


def test_another_users_event_is_not_found(alice: httpx.Client, bob: httpx.Client) -> None:
    event = alice.post("/v1/events", json=lunch(summary="Private")).json()
    assert bob.get(f"/v1/events/{event['id']}").status_code == 404
    assert bob.patch(f"/v1/events/{event['id']}", json={"summary": "Hacked"}).status_code == 404
    assert bob.delete(f"/v1/events/{event['id']}").status_code == 404
    assert "Private" not in bob.get("/v1/events", params=RANGE).text
    assert alice.get(f"/v1/events/{event['id']}").json()["summary"] == "Private"


def test_free_slots_with_another_local_user(alice: httpx.Client, bob_caldav: httpx.Client) -> None:
    # Bob is busy 14:00-16:00 Paris time on Tuesday 8 December (through CalDAV).
    bob_caldav.put(
        f"/dav/{BOB}/calendars/calendar/dentist.ics",
        content=(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            "UID:bob-dentist\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20261208T130000Z\r\n"
            "DTEND:20261208T150000Z\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        ),
        headers={"Content-Type": "text/calendar"},
    ).raise_for_status()
    alice.post(
        "/v1/events",
        json=lunch(start="2026-12-08T09:00:00+01:00", end="2026-12-08T11:30:00+01:00"),
    ).raise_for_status()
    query = {
        "start": "2026-12-08T00:00:00+01:00",
        "end": "2026-12-09T00:00:00+01:00",
        "duration_minutes": 60,
        "timezone": "Europe/Paris",
    }
    alone = alice.get("/v1/free-slots", params=query).json()
    assert alone["slots"] == [
        {"start": "2026-12-08T11:30:00+01:00", "end": "2026-12-08T18:00:00+01:00"}
    ]
    together = alice.get("/v1/free-slots", params={**query, "with": BOB})
    assert together.status_code == 200, together.text
    assert together.json() == {
        "busy_with": [BOB],
        "slots": [
            {"start": "2026-12-08T11:30:00+01:00", "end": "2026-12-08T14:00:00+01:00"},
            {"start": "2026-12-08T16:00:00+01:00", "end": "2026-12-08T18:00:00+01:00"},
        ],
    }
    assert "Dentist" not in together.text
    unknown = alice.get("/v1/free-slots", params={**query, "with": "nobody@example.test"})
    assert unknown.status_code == 422


def test_contacts(alice: httpx.Client, bob: httpx.Client, dav_box: DavBox) -> None:
    made = alice.post(
        "/v1/contacts",
        json={
            "name": "Hélène Dupont",
            "emails": ["Helene@Example.org"],
            "phones": ["+33 6 12 34 56 78"],
            "organization": "Mairie",
        },
    )
    assert made.status_code == 201, made.text
    contact = made.json()
    assert contact["emails"] == ["helene@example.org"]
    for query in ("helene", "DUPONT", "mairie", "0612", "hélène dupont"):
        found = alice.get("/v1/contacts", params={"q": query}).json()["contacts"]
        assert [c["id"] for c in found] == [contact["id"]], query
    assert alice.get("/v1/contacts", params={"q": "bob"}).json()["contacts"] == []
    assert alice.get(f"/v1/contacts/{contact['id']}").json()["name"] == "Hélène Dupont"
    assert bob.get(f"/v1/contacts/{contact['id']}").status_code == 404
    assert bob.get("/v1/contacts", params={"q": "helene"}).json()["contacts"] == []
    with httpx.Client(base_url=dav_box.base, auth=(ALICE, PASSWORDS[ALICE])) as carddav:
        card = carddav.get(f"/dav/{ALICE}/contacts/addressbook/{contact['id']}.vcf")
        assert card.status_code == 200 and "FN:Hélène Dupont" in card.text


def test_openapi_document(dav_box: DavBox) -> None:
    spec = httpx.get(dav_box.url("/openapi.json")).json()
    assert {"/v1/events", "/v1/events/{event_id}", "/v1/free-slots", "/v1/contacts"} <= set(
        spec["paths"]
    )
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    docs = httpx.get(dav_box.url("/docs"))
    assert docs.status_code == 200
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert asset in docs.text  # served from the package, offline
        assert httpx.get(dav_box.url(f"/static/swagger-ui/{asset}")).status_code == 200


def test_no_server_errors_under_schemathesis(dav_box: DavBox, alice: httpx.Client) -> None:
    alice.post("/v1/events", json=lunch(summary="Fuzz target")).raise_for_status()
    st = Path(sys.executable).with_name("st")
    assert st.exists(), "schemathesis is a test dependency"
    result = subprocess.run(
        [st, "run", dav_box.url("/openapi.json"), "--checks", "not_a_server_error",
         "-H", f"Authorization: Bearer {dav_box.tokens['alice_dav']}",
         "--max-examples", "25", "--phases", "examples,coverage,fuzzing", "--workers", "1"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
