"""CalDAV/CardDAV over real HTTP on loopback: discovery, authentication, what the
front adds to Xandikos, and that one user never reaches another's data."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from defusedxml import ElementTree as SafeET

from tests.dav.conftest import ALICE, BOB, PASSWORDS, DavBox

pytestmark = pytest.mark.slow

DAV = "{DAV:}"
CAL = "{urn:ietf:params:xml:ns:caldav}"
CARD = "{urn:ietf:params:xml:ns:carddav}"
XML = {"Content-Type": "application/xml; charset=utf-8"}


def event(uid: str, summary: str = "Lunch", start: str = "20261204T120000Z") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tidings tests//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\n"
        f"DURATION:PT1H\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.fixture(scope="module")
def http(dav_box: DavBox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dav_box.base, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def alice(dav_box: DavBox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dav_box.base, timeout=30, auth=(ALICE, PASSWORDS[ALICE])) as client:
        yield client


@pytest.fixture(scope="module")
def bob(dav_box: DavBox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dav_box.base, timeout=30, auth=(BOB, PASSWORDS[BOB])) as client:
        yield client


def propfind(client: httpx.Client, path: str, props: str, depth: str = "0") -> ET.Element:
    body = (
        '<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
        f'xmlns:A="urn:ietf:params:xml:ns:carddav"><prop>{props}</prop></propfind>'
    )
    response = client.request("PROPFIND", path, content=body, headers={**XML, "Depth": depth})
    assert response.status_code == 207, response.text
    return SafeET.fromstring(response.content)


def hrefs(tree: ET.Element, prop: str) -> list[str]:
    return [h.text or "" for el in tree.iter(prop) for h in el.iter(f"{DAV}href")]


# -- discovery ------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/.well-known/caldav", "/.well-known/carddav"])
def test_well_known_redirects_without_credentials(http: httpx.Client, path: str) -> None:
    for method in ("GET", "PROPFIND"):
        response = http.request(method, path)
        assert response.status_code == 301
        assert response.headers["Location"] == "/dav/"


def test_options_answers_without_credentials_and_does_not_promise_scheduling(
    http: httpx.Client,
) -> None:
    response = http.options("/dav/")
    assert response.status_code == 200
    features = {f.strip() for f in response.headers["DAV"].split(",")}
    assert {"1", "calendar-access", "addressbook", "sync-collection"} <= features
    assert "calendar-auto-schedule" not in features
    assert "PROPFIND" in response.headers["Allow"]


def test_current_user_principal_and_home_sets(alice: httpx.Client) -> None:
    root = propfind(alice, "/dav/", "<current-user-principal/>")
    assert hrefs(root, f"{DAV}current-user-principal") == [f"/dav/{ALICE}/"]
    principal = propfind(
        alice,
        f"/dav/{ALICE}/",
        "<C:calendar-home-set/><A:addressbook-home-set/><principal-URL/>"
        "<C:calendar-user-address-set/>",
    )
    assert hrefs(principal, f"{CAL}calendar-home-set") == [f"/dav/{ALICE}/calendars/"]
    assert hrefs(principal, f"{CARD}addressbook-home-set") == [f"/dav/{ALICE}/contacts/"]
    assert f"mailto:{ALICE}" in hrefs(principal, f"{CAL}calendar-user-address-set")


def test_a_new_user_gets_one_calendar_and_one_address_book(bob: httpx.Client) -> None:
    calendars = propfind(bob, f"/dav/{BOB}/calendars/", "<resourcetype/>", depth="1")
    calendar_hrefs = [
        r.findtext(f"{DAV}href")
        for r in calendars.iter(f"{DAV}response")
        if r.find(f".//{CAL}calendar") is not None
    ]
    assert calendar_hrefs == [f"/dav/{BOB}/calendars/calendar/"]
    books = propfind(bob, f"/dav/{BOB}/contacts/", "<resourcetype/>", depth="1")
    address_books = [
        r.findtext(f"{DAV}href")
        for r in books.iter(f"{DAV}response")
        if r.find(f".//{CARD}addressbook") is not None
    ]
    assert address_books == [f"/dav/{BOB}/contacts/addressbook/"]


# -- authentication -------------------------------------------------------------------
def test_anonymous_request_gets_401_with_a_basic_challenge(http: httpx.Client) -> None:
    response = http.request("PROPFIND", f"/dav/{ALICE}/", headers={"Depth": "0"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="tidings"')


def test_wrong_password_is_401_not_403(http: httpx.Client) -> None:
    response = http.request(
        "PROPFIND", f"/dav/{ALICE}/", headers={"Depth": "0", **basic(ALICE, "wrong-password")}
    )
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_ios_url_encoded_user_name_is_accepted(http: httpx.Client) -> None:
    response = http.request(
        "PROPFIND",
        "/dav/",
        headers={"Depth": "0", **basic("alice%40example.test", PASSWORDS[ALICE])},
    )
    assert response.status_code == 207


def test_app_tokens_by_scope(http: httpx.Client, dav_box: DavBox) -> None:
    path = f"/dav/{ALICE}/calendars/calendar/"

    def put(token: str) -> int:
        return http.put(
            path + "token.ics",
            content=event("token-event"),
            headers={"Content-Type": "text/calendar", **basic(ALICE, token)},
        ).status_code

    def read(token: str, user: str = ALICE) -> int:
        return http.request(
            "PROPFIND", path, headers={"Depth": "0", **basic(user, token)}
        ).status_code

    assert read(dav_box.tokens["alice_dav"]) == 207
    assert read(dav_box.tokens["alice_read"]) == 207
    assert put(dav_box.tokens["alice_read"]) == 403  # read-only token
    assert put(dav_box.tokens["alice_write"]) == 201
    assert read(dav_box.tokens["alice_mail"]) == 403  # no dav scope
    assert read(dav_box.tokens["bob_dav"]) == 401  # bob's token under alice's name
    assert read("tdg_not-a-real-token") == 401


def test_repeated_failures_are_throttled_with_retry_after(
    http: httpx.Client, dav_box: DavBox
) -> None:
    dav_box.accounts.add_user("carol@example.test", "carol-password")
    answers = [
        http.request(
            "PROPFIND", "/dav/", headers={"Depth": "0", **basic("carol@example.test", "nope-nope")}
        )
        for _ in range(5)
    ]
    assert [a.status_code for a in answers[:4]] == [401] * 4
    assert answers[4].status_code == 429
    assert int(answers[4].headers["Retry-After"]) > 0
    # Even the right password waits now: that is what throttling means.
    right = http.request(
        "PROPFIND", "/dav/", headers={"Depth": "0", **basic("carol@example.test", "carol-password")}
    )
    assert right.status_code == 429


def test_client_sent_trusted_user_headers_are_ignored(alice: httpx.Client) -> None:
    root = propfind_with(alice, {"X-Remote-User": BOB, "Remote-User": BOB})
    assert hrefs(root, f"{DAV}current-user-principal") == [f"/dav/{ALICE}/"]


def propfind_with(client: httpx.Client, headers: dict[str, str]) -> ET.Element:
    response = client.request(
        "PROPFIND",
        "/dav/",
        content='<propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>',
        headers={**XML, "Depth": "0", **headers},
    )
    assert response.status_code == 207
    return SafeET.fromstring(response.content)


# -- what Xandikos must do as RFCs say -----------------------------------------------
def test_invalid_sync_token_is_answered_as_rfc_6578_asks(alice: httpx.Client) -> None:
    response = alice.request(
        "REPORT",
        f"/dav/{ALICE}/calendars/calendar/",
        content='<sync-collection xmlns="DAV:"><sync-token>http://example.test/stale/1'
        "</sync-token><sync-level>1</sync-level><prop><getetag/></prop></sync-collection>",
        headers={**XML, "Depth": "1"},
    )
    assert response.status_code in (403, 409, 412)
    assert SafeET.fromstring(response.content).find(f"{DAV}valid-sync-token") is not None


def test_duplicate_uid_in_one_calendar_is_refused(alice: httpx.Client) -> None:
    path = f"/dav/{ALICE}/calendars/calendar/"
    headers = {"Content-Type": "text/calendar"}
    assert (
        alice.put(path + "first.ics", content=event("dup-uid"), headers=headers).status_code == 201
    )
    second = alice.put(path + "second.ics", content=event("dup-uid"), headers=headers)
    assert second.status_code in (403, 409, 412)
    assert SafeET.fromstring(second.content).find(f"{CAL}no-uid-conflict") is not None
    assert alice.get(path + "second.ics").status_code == 404


def test_vtimezone_without_rules_is_completed(alice: httpx.Client) -> None:
    path = f"/dav/{ALICE}/calendars/calendar/tz.ics"
    bare = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tidings tests//EN\r\n"
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nEND:VTIMEZONE\r\n"
        "BEGIN:VEVENT\r\nUID:tz-event\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART;TZID=Europe/Paris:20261204T120000\r\nDURATION:PT1H\r\nSUMMARY:TZ\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert (
        alice.put(path, content=bare, headers={"Content-Type": "text/calendar"}).status_code == 201
    )
    stored = alice.get(path).text
    assert "BEGIN:STANDARD" in stored and "BEGIN:DAYLIGHT" in stored


# -- isolation ------------------------------------------------------------------------
def bob_paths() -> list[str]:
    return [
        f"/dav/{BOB}/",
        "/dav/bob%40example.test/",
        f"/dav/{BOB}/calendars/",
        f"/dav/{BOB}/calendars/calendar/",
        f"/dav/{BOB}/calendars/calendar/secret.ics",
        f"/dav/{BOB}/contacts/addressbook/",
        f"/dav/{ALICE}/../{BOB}/calendars/calendar/",
        f"/dav/{ALICE}/%2e%2e/{BOB}/calendars/calendar/secret.ics",
        "/dav/nobody@example.test/calendars/calendar/",
        f"/dav/{ALICE}/calendars/calendar/.git/HEAD",
    ]


@pytest.fixture(scope="module")
def bob_secret(bob: httpx.Client) -> str:
    path = f"/dav/{BOB}/calendars/calendar/secret.ics"
    response = bob.put(
        path, content=event("bob-secret", "Bob's secret"), headers={"Content-Type": "text/calendar"}
    )
    assert response.status_code == 201
    return path


@pytest.mark.parametrize(
    "method", ["GET", "HEAD", "PROPFIND", "REPORT", "PUT", "DELETE", "PROPPATCH", "MKCOL",
               "MKCALENDAR", "MOVE", "COPY", "POST"],
)  # fmt: skip
def test_alice_never_reaches_bobs_collections(
    alice: httpx.Client, bob: httpx.Client, bob_secret: str, method: str
) -> None:
    for path in bob_paths():
        body = event("intruder", "Intruder") if method in ("PUT", "POST") else ""
        response = alice.request(
            method,
            path,
            content=body,
            headers={
                "Depth": "1",
                "Content-Type": "text/calendar" if body else "application/xml",
                "Destination": f"/dav/{ALICE}/calendars/calendar/stolen.ics",
            },
        )
        assert response.status_code == 404, (method, path, response.status_code, response.text)
    assert bob.get(bob_secret).status_code == 200
    assert "Intruder" not in bob.get(bob_secret).text
    assert alice.get(f"/dav/{ALICE}/calendars/calendar/stolen.ics").status_code == 404


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
def test_alice_cannot_copy_into_bobs_calendar(
    alice: httpx.Client, bob: httpx.Client, method: str
) -> None:
    source = f"/dav/{ALICE}/calendars/calendar/gift-{method}.ics"
    headers = {"Content-Type": "text/calendar"}
    assert alice.put(source, content=event(f"gift-{method}"), headers=headers).status_code == 201
    for destination in (
        f"/dav/{BOB}/calendars/calendar/gift.ics",
        "http://localhost/dav/bob%40example.test/calendars/calendar/gift.ics",
        f"/dav/{ALICE}/../{BOB}/calendars/calendar/gift.ics",
    ):
        response = alice.request(method, source, headers={"Destination": destination})
        assert response.status_code == 403, response.text
    assert bob.get(f"/dav/{BOB}/calendars/calendar/gift.ics").status_code == 404
    assert alice.get(source).status_code == 200


def test_no_listing_or_search_shows_another_principal(
    alice: httpx.Client, bob: httpx.Client
) -> None:
    bob.request("PROPFIND", "/dav/", headers={"Depth": "0"})  # bob's principal exists
    root = alice.request("PROPFIND", "/dav/", headers={"Depth": "1"})
    assert root.status_code == 207 and "bob" not in root.text
    search = alice.request(
        "REPORT",
        "/dav/",
        content='<principal-property-search xmlns="DAV:"><property-search><prop><displayname/>'
        "</prop><match>b</match></property-search><prop><displayname/></prop>"
        "<apply-to-principal-collection-set/></principal-property-search>",
        headers={**XML, "Depth": "0"},
    )
    assert "bob" not in search.text


def test_an_event_with_attendees_is_stored_as_sent(alice: httpx.Client, bob: httpx.Client) -> None:
    """No implicit scheduling (it is not announced): nothing is written into the event
    and nothing reaches another user's inbox or calendar."""
    body = event("meeting", "Meeting").replace(
        "END:VEVENT",
        f"ORGANIZER:mailto:{ALICE}\r\nATTENDEE;RSVP=TRUE:mailto:{BOB}\r\n"
        "ATTENDEE;RSVP=TRUE:mailto:dave@remote.example\r\nEND:VEVENT",
    )
    path = f"/dav/{ALICE}/calendars/calendar/meeting.ics"
    assert (
        alice.put(path, content=body, headers={"Content-Type": "text/calendar"}).status_code == 201
    )
    stored = alice.get(path).text
    assert "SCHEDULE-STATUS" not in stored and f"mailto:{BOB}" in stored
    assert alice.delete(path).status_code == 204
    for collection in ("inbox/", "calendars/calendar/"):
        listing = bob.request("PROPFIND", f"/dav/{BOB}/{collection}", headers={"Depth": "1"})
        assert "meeting" not in listing.text.lower()


def test_patches_refuse_another_xandikos(monkeypatch: pytest.MonkeyPatch) -> None:
    from tidings.dav import xandikos_patches

    monkeypatch.setattr(xandikos_patches, "_applied", False)
    monkeypatch.setattr(xandikos_patches, "version", lambda name: "0.5.0")
    with pytest.raises(xandikos_patches.XandikosVersionError, match=r"0\.4\.10, found 0\.5\.0"):
        xandikos_patches.apply()


def test_add_member_names_the_object_itself_not_from_its_uid(alice: httpx.Client) -> None:
    calendar = f"/dav/{ALICE}/calendars/calendar/"
    made = alice.post(
        calendar,
        content=event("../../bob@example.test/calendars/calendar/evil", "Posted"),
        headers={"Content-Type": "text/calendar"},
    )
    assert made.status_code in (200, 201), (made.status_code, made.headers, made.text)
    location = urlsplit(made.headers["Location"]).path
    assert location.startswith(calendar) and location.count("/") == calendar.count("/")
    assert "evil" not in location and "bob" not in location
    assert "Posted" in alice.get(location).text
