"""The devices page: the settings Thunderbird and Apple devices get, app passwords,
changing one's password — as a person uses them, in the browser."""

from __future__ import annotations

import plistlib
import re
from xml.etree import ElementTree as ET

import httpx

from tests.ai.assistant_box import DOMAIN, PASSWORD
from tests.conftest import ServiceProcess
from tests.web.conftest import WebBox
from tidings.core.config import split_endpoint


def test_thunderbird_and_apple_settings_name_the_right_servers(visit, web_box: WebBox) -> None:
    settings = web_box.box.settings
    imaps = split_endpoint(settings.listen.imaps)[1]
    submissions = split_endpoint(settings.listen.submissions)[1]
    alice = visit()
    page = alice.sign_in("alice")
    page.goto("/devices")
    link = page.locator("[data-testid=autoconfig]").get_attribute("href")
    # The link is the address Thunderbird itself fetches (its well-known path)...
    assert link == f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice@{DOMAIN}"
    served = alice.context.request.get(link)
    assert served.ok and served.headers["content-type"].startswith("application/xml")
    # ...and says what the mail API says.
    mail_api = "http://{}:{}".format(*split_endpoint(settings.listen.mail_api))
    assert served.body() == httpx.get(mail_api + link).content
    incoming = ET.fromstring(served.body()).find(".//incomingServer[socketType='SSL']")  # noqa: S314
    assert incoming is not None and incoming.findtext("port") == str(imaps)
    shown = page.locator("[data-testid=servers] tr[data-protocol=imap]").all_inner_texts()
    assert any(str(imaps) in row for row in shown)

    with page.expect_download() as download_info:
        page.click("[data-testid=mobileconfig]")
    download = download_info.value
    assert download.suggested_filename.endswith(".mobileconfig")
    profile = plistlib.loads(download.path().read_bytes())
    assert profile["PayloadType"] == "Configuration"
    mail = next(
        p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.mail.managed"
    )
    assert mail["EmailAddress"] == f"alice@{DOMAIN}"
    assert mail["IncomingMailServerHostName"] == settings.hostname
    assert mail["IncomingMailServerPortNumber"] == imaps
    assert mail["IncomingMailServerUseSSL"] is True
    assert mail["OutgoingMailServerPortNumber"] == submissions
    # Calendars and contacts of the same account, at the address the page shows...
    caldav = next(
        p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.caldav.account"
    )
    carddav = next(
        p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.carddav.account"
    )
    dav_host, dav_port = split_endpoint(settings.listen.dav)
    for account, prefix in ((caldav, "CalDAV"), (carddav, "CardDAV")):
        assert account[f"{prefix}HostName"] == dav_host
        assert account[f"{prefix}Port"] == dav_port
        assert account[f"{prefix}UseSSL"] is False  # a laptop: dav's own listener
        assert account[f"{prefix}Username"] == f"alice@{DOMAIN}"
        assert account[f"{prefix}PrincipalURL"] == f"/dav/alice@{DOMAIN}/"
    base = page.locator("[data-dav=base] code").inner_text()
    assert base == f"http://{dav_host}:{dav_port}/"
    calendar = page.locator("[data-dav=calendar] code").inner_text()
    addressbook = page.locator("[data-dav=addressbook] code").inner_text()
    # ...and they work: a real dav service answers them for Alice, and only for her.
    dav = ServiceProcess("dav", web_box.box.config, web_box.box.root)
    dav.start(timeout=60)
    try:
        auth = (f"alice@{DOMAIN}", PASSWORD)
        xml = {"Depth": "0", "Content-Type": "application/xml; charset=utf-8"}
        propfind = '<propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>'
        principal = base.rstrip("/") + caldav["CalDAVPrincipalURL"]
        for url, kind in (
            (principal, b"principal"),
            (calendar, b"calendar"),
            (addressbook, b"addressbook"),
        ):
            found = httpx.request("PROPFIND", url, auth=auth, headers=xml, content=propfind)
            assert found.status_code == 207 and kind in found.content, (url, found.text)
        bobs = httpx.request(
            "PROPFIND", calendar, auth=(f"bob@{DOMAIN}", PASSWORD), headers=xml, content=propfind
        )
        assert bobs.status_code == 404
    finally:
        dav.stop()
    # The local CA is offered, and is the box's.
    ca = alice.context.request.get("/devices/ca.pem")
    assert ca.ok and ca.body() == (settings.data_dir / "tls" / "ca.pem").read_bytes()
    assert page.locator("[data-testid=qr]").get_attribute("src").startswith("data:image/svg+xml")


def test_app_password_create_use_revoke(visit, web_box: WebBox) -> None:
    settings = web_box.box.settings
    mail_api = "http://{}:{}".format(*split_endpoint(settings.listen.mail_api))
    alice = visit()
    page = alice.sign_in("alice")
    page.goto("/devices")
    page.fill("#token-name", "phone app")
    page.click("button:has-text('Create')")
    secret = page.locator("[data-testid=new-token]").inner_text()
    assert secret.startswith("tdg_")
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{mail_api}/v1/folders", headers=headers).status_code == 200
    # mail:read only: it cannot send.
    sent = httpx.post(
        f"{mail_api}/v1/messages",
        headers=headers,
        json={"to": [f"bob@{DOMAIN}"], "subject": "x", "text": "x"},
    )
    assert sent.status_code == 403
    row = page.locator("[data-testid=tokens] li").filter(has_text="phone app")
    assert "mail:read" in row.inner_text()
    row.locator("button").click()
    page.wait_for_load_state()
    assert page.locator("[data-testid=tokens] li").filter(has_text="phone app").count() == 0
    assert httpx.get(f"{mail_api}/v1/folders", headers=headers).status_code == 401
    # The session's own credential is not listed, so it cannot be revoked from here.
    assert page.locator("[data-testid=tokens] li").filter(has_text="web session").count() == 0


def test_change_password(visit, web_box: WebBox) -> None:
    dave = visit()
    page = dave.sign_in("dave")
    page.goto("/devices")
    page.fill("#current", "not my password")
    page.fill("#new", "a brand new password")
    page.click("form[action='/devices/password'] button")
    assert page.locator("[role=alert]").filter(has_text="Wrong").count() == 1
    page.fill("#current", PASSWORD)
    page.fill("#new", "a brand new password")
    page.click("form[action='/devices/password'] button")
    assert page.locator("[role=status]").inner_text() == "Password changed."
    page.click("[data-testid=logout]")
    page.wait_for_url(re.compile("/login"))
    fresh = visit()
    fresh.sign_in("dave", "a brand new password")
    assert fresh.page.locator("#composer-text").count() == 1


def test_admin_pages_are_for_admins_only(visit, web_box: WebBox) -> None:
    made = web_box.box.tidings(
        "user", "add", f"root@{DOMAIN}", "--admin", "--password-stdin", input=PASSWORD + "\n"
    )
    assert made.returncode == 0, made.stderr
    alice = visit()
    page = alice.sign_in("alice")
    assert page.goto("/admin/").status == 403
    assert page.locator("nav a[href='/admin/']").count() == 0
    admin = visit()
    admins_page = admin.sign_in("root")
    admins_page.goto("/admin/")
    users = admins_page.locator("[data-testid=users] li").all_inner_texts()
    assert any(f"alice@{DOMAIN}" in u for u in users)
    assert "_domainkey" in admins_page.locator("[data-testid=zone]").inner_text()
    assert admins_page.locator("[data-testid=probes] tr").count() >= 5
    admins_page.fill("#new-address", f"erin@{DOMAIN}")
    admins_page.fill("#new-password", "erin's first password")
    admins_page.click("form[action='/admin/users'] button")
    admins_page.locator(f"[data-user='erin@{DOMAIN}']").wait_for()
    erin = visit()
    erins_page = erin.sign_in("erin", "erin's first password")

    # Disabled: her open session ends at its next request, and she cannot sign in again.
    admins_page.click(f"[data-user='erin@{DOMAIN}'] [data-testid=toggle-disabled]")
    admins_page.locator(f"[data-user='erin@{DOMAIN}'] [data-testid=disabled]").wait_for()
    erins_page.goto("/")
    assert re.search(r"/login", erins_page.url)
    erins_page.fill("#address", f"erin@{DOMAIN}")
    erins_page.fill("#password", "erin's first password")
    erins_page.click("button[type=submit]")
    assert "Wrong address or password" in erins_page.locator("[role=alert]").inner_text()
    # An admin cannot lock themselves out from here.
    own = admins_page.locator(f"[data-user='root@{DOMAIN}'] [data-testid=toggle-disabled]")
    assert own.count() == 0
    admins_page.click(f"[data-user='erin@{DOMAIN}'] [data-testid=toggle-disabled]")
    admins_page.locator(f"[data-user='erin@{DOMAIN}'] [data-testid=disabled]").wait_for(
        state="detached"
    )
    visit().sign_in("erin", "erin's first password")


def test_french_from_the_browser_and_switchable(visit, web_box: WebBox) -> None:
    french = visit(locale="fr-FR")
    page = french.page
    page.goto("/login")
    assert page.locator("button[type=submit]").inner_text() == "Se connecter"
    assert page.locator("html").get_attribute("lang") == "fr"
    page.click("text=English")
    page.wait_for_load_state()
    assert page.locator("button[type=submit]").inner_text() == "Sign in"
    french.sign_in("alice")
    assert page.locator("[data-testid=send]").inner_text() == "Send"
