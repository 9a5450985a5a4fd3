"""The session cookie's flags, its rotation at sign-in, and the credential behind it,
through the app's own HTTP interface (Quart's test client; no box needed)."""

from __future__ import annotations

import re

from tests.web.conftest import run_async
from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.web.app import create_app
from tidings.web.session import TOKEN_NAME

PASSWORD = "correct horse battery"


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_cookie_flags_rotation_and_short_lived_credential(
    settings: Settings, accounts: Accounts
) -> None:
    async def scenario() -> None:
        accounts.add_user("alice@example.test", PASSWORD)
        client = create_app(settings, accounts).test_client()
        login = await client.get("/login")
        anonymous = login.headers["Set-Cookie"]
        assert "HttpOnly" in anonymous and "SameSite=Lax" in anonymous
        assert "Secure" not in anonymous  # plain HTTP on a laptop
        token = _csrf(await login.get_data(as_text=True))
        signed_in = await client.post(
            "/login",
            form={"csrf": token, "address": "alice@example.test", "password": PASSWORD},
        )
        assert signed_in.status_code == 302
        rotated = signed_in.headers["Set-Cookie"]
        assert rotated.split(";")[0] != anonymous.split(";")[0]
        # The session's credential: an ordinary token that expires with the session...
        ((record, _),) = [
            (t, u) for t, u in accounts.list_tokens("alice@example.test") if t.name == TOKEN_NAME
        ]
        assert record.expires_at is not None and record.revoked_at is None
        assert set(record.scope_set) == {"ai", "mail:read", "mail:send", "dav:write"}
        # ...and never in the cookie in clear (it is encrypted with the server's key).
        assert "tdg_" not in rotated
        page = await client.get("/devices")
        assert page.status_code == 200
        # Signing out revokes it.
        out = await client.post("/logout", form={"csrf": _csrf(await page.get_data(as_text=True))})
        assert out.status_code == 302
        ((record, _),) = [
            (t, u) for t, u in accounts.list_tokens("alice@example.test") if t.name == TOKEN_NAME
        ]
        assert record.revoked_at is not None

    run_async(scenario())


def test_secure_cookie_behind_the_boxs_tls_proxy(settings: Settings, accounts: Accounts) -> None:
    async def scenario() -> None:
        client = create_app(settings, accounts).test_client()
        # nginx on the same box, saying the browser came over TLS: trusted.
        response = await client.get(
            "/login",
            headers={"X-Forwarded-Proto": "https"},
            scope_base={"client": ("127.0.0.1", 40000)},
        )
        assert "Secure" in response.headers["Set-Cookie"]

    run_async(scenario())


def test_a_post_without_the_csrf_token_or_from_elsewhere_is_refused(
    settings: Settings, accounts: Accounts
) -> None:
    async def scenario() -> None:
        accounts.add_user("alice@example.test", PASSWORD)
        client = create_app(settings, accounts).test_client()
        token = _csrf(await (await client.get("/login")).get_data(as_text=True))
        form = {"address": "alice@example.test", "password": PASSWORD}
        assert (await client.post("/login", form=form)).status_code == 403
        elsewhere = await client.post(
            "/login", form={**form, "csrf": token}, headers={"Origin": "http://evil.example"}
        )
        assert elsewhere.status_code == 403
        cross_site = await client.post(
            "/login", form={**form, "csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert cross_site.status_code == 403
        assert (await client.post("/login", form={**form, "csrf": token})).status_code == 302

    run_async(scenario())


def test_a_forwarded_proto_from_elsewhere_is_not_trusted(
    settings: Settings, accounts: Accounts
) -> None:
    async def scenario() -> None:
        client = create_app(settings, accounts).test_client()
        response = await client.get(
            "/login",
            headers={"X-Forwarded-Proto": "https"},
            scope_base={"client": ("192.0.2.7", 40000)},
        )
        assert "Secure" not in response.headers["Set-Cookie"]

    run_async(scenario())
