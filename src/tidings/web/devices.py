"""The devices page: everything a person needs to set up Thunderbird, an iPhone or Mac,
or an Android phone — and app passwords (scoped API tokens) for MCP clients and apps.

The server settings are read from the mail API's own autoconfig file (what Thunderbird
fetches), so the page can never disagree with it; the Apple profile is the mail API's,
with dav's calendar and contacts payloads added (:mod:`tidings.dav.clients`, from
dav's own paths). This service also answers Thunderbird's well-known autoconfig
address, since on the appliance it is the one behind https://<box>/.
"""

from __future__ import annotations

import asyncio
import io
import logging
import plistlib
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import segno
from quart import Blueprint, Response, abort, current_app, g, render_template, request

from tidings.core.accounts import SCOPES, AccountError, Accounts, AuthFailed, Throttled
from tidings.core.config import Settings, split_endpoint
from tidings.dav.clients import DavClientSettings, apple_payloads, client_settings
from tidings.web.session import TOKEN_NAME, Visitor, is_secure

log = logging.getLogger("tidings.web")
blueprint = Blueprint("devices", __name__)

AUTOCONFIG_PATH = "/.well-known/autoconfig/mail/config-v1.1.xml"
#: Scopes a person may give an app password from this page.
OFFERED_SCOPES = ("mail:read", "mail:send", "ai", "dav", "chat")


@dataclass(frozen=True)
class Server:
    kind: str  # incomingServer / outgoingServer
    protocol: str
    hostname: str
    port: str
    security: str


def _accounts() -> Accounts:
    accounts: Accounts = current_app.config["ACCOUNTS"]
    return accounts


async def _mail_api(path: str, **params: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=current_app.config["MAIL_API"], timeout=10) as client:
        return await client.get(path, params=params)


def parse_autoconfig(xml: bytes) -> list[Server]:
    # Our own mail API's answer, not a stranger's document.
    root = ET.fromstring(xml)  # noqa: S314
    servers = []
    for element in root.iter():
        if element.tag in ("incomingServer", "outgoingServer"):
            servers.append(
                Server(
                    element.tag,
                    element.get("type", ""),
                    element.findtext("hostname", ""),
                    element.findtext("port", ""),
                    element.findtext("socketType", ""),
                )
            )
    return servers


def _dav(settings: Settings, address: str) -> DavClientSettings:
    """Where calendar and contacts clients reach dav: this very origin behind the
    box's nginx (it routes ``/dav/`` and the well-known paths to dav), else dav's own
    listener (a laptop, where each service has its port)."""
    if is_secure():
        return client_settings(request.host_url, address)
    host, port = split_endpoint(settings.listen.dav)
    return client_settings(f"http://{host}:{port}", address)


def _ca_path(settings: Settings) -> Any:
    if settings.tls.cert is not None:
        return None
    path = settings.data_dir / "tls" / "ca.pem"
    return path if path.is_file() else None


def _qr(text: str) -> str:
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="svg", scale=4, border=2, xmldecl=False)
    return buffer.getvalue().decode()


async def _page(**extra: Any) -> Any:
    visitor: Visitor = g.visitor
    settings: Settings = current_app.config["SETTINGS"]
    try:
        answer = await _mail_api(AUTOCONFIG_PATH, emailaddress=visitor.user.address)
        servers = parse_autoconfig(answer.content) if answer.status_code == 200 else []
    except (httpx.HTTPError, ET.ParseError):
        servers = []
    tokens = [
        token
        for token, _ in await asyncio.to_thread(_accounts().list_tokens, visitor.user.address)
        if token.name != TOKEN_NAME and token.revoked_at is None
    ]
    page_url = request.host_url.rstrip("/") + "/devices"
    scopes = [s for s in OFFERED_SCOPES if s in SCOPES]
    if visitor.user.is_admin:
        scopes.append("admin")
    return await render_template(
        "devices.html",
        servers=servers,
        dav=_dav(settings, visitor.user.address),
        address=visitor.user.address,
        autoconfig=f"{AUTOCONFIG_PATH}?emailaddress={visitor.user.address}",
        has_ca=_ca_path(settings) is not None,
        qr=_qr(page_url),
        page_url=page_url,
        tokens=tokens,
        scopes=[(s, SCOPES[s]) for s in scopes],
        **extra,
    )


@blueprint.get("/devices")
async def devices() -> Any:
    return await _page()


@blueprint.get(AUTOCONFIG_PATH)
async def thunderbird_autoconfig() -> Response:
    answer = await _mail_api(AUTOCONFIG_PATH, **request.args)
    return Response(answer.content, status=answer.status_code, content_type="application/xml")


@blueprint.get("/devices/apple.mobileconfig")
async def apple_profile() -> Response:
    visitor: Visitor = g.visitor
    answer = await _mail_api("/v1/autoconfig/apple.mobileconfig", email=visitor.user.address)
    if answer.status_code != 200:
        abort(502)
    # The mail API's profile, with the calendars and contacts of the same account.
    profile = plistlib.loads(answer.content)
    identifier = str(profile["PayloadIdentifier"]).rsplit(".", 1)[0]
    settings: Settings = current_app.config["SETTINGS"]
    dav = _dav(settings, visitor.user.address)
    profile["PayloadContent"][1:1] = apple_payloads(dav, identifier)
    profile["PayloadDescription"] = "Mail, calendars and contacts on your tidings box."
    response = Response(plistlib.dumps(profile), content_type=answer.headers["content-type"])
    response.headers["Content-Disposition"] = answer.headers.get(
        "content-disposition", 'attachment; filename="tidings.mobileconfig"'
    )
    return response


@blueprint.get("/devices/ca.pem")
async def ca_certificate() -> Response:
    path = _ca_path(current_app.config["SETTINGS"])
    if path is None:
        abort(404)
    response = Response(path.read_bytes(), content_type="application/x-x509-ca-cert")
    response.headers["Content-Disposition"] = 'attachment; filename="tidings-ca.crt"'
    return response


@blueprint.post("/devices/tokens")
async def create_token() -> Any:
    visitor: Visitor = g.visitor
    form = await request.form
    name = form.get("name", "").strip()[:100]
    wanted = [s for s in form.getlist("scope") if s in SCOPES]
    try:
        secret, _ = await asyncio.to_thread(
            _accounts().create_token, visitor.user.address, wanted, name
        )
    except AccountError as exc:
        return await _page(token_error=str(exc)), 400
    log.info("web: %s created token %r (%s)", visitor.user.address, name, " ".join(wanted))
    return await _page(new_token=secret)


@blueprint.post("/devices/tokens/<int:token_id>/revoke")
async def revoke_token(token_id: int) -> Any:
    visitor: Visitor = g.visitor
    owned = {
        token.id
        for token, _ in await asyncio.to_thread(_accounts().list_tokens, visitor.user.address)
    }
    if token_id not in owned or token_id == visitor.token_id:
        abort(404)
    await asyncio.to_thread(_accounts().revoke_token, token_id)
    return await _page()


@blueprint.post("/devices/password")
async def change_password() -> Any:
    visitor: Visitor = g.visitor
    form = await request.form
    try:
        await asyncio.to_thread(
            _accounts().authenticate,
            visitor.user.address,
            form.get("current", ""),
            source=request.remote_addr or "",
        )
    except (AuthFailed, Throttled):
        return await _page(password_error=g.t("bad_login")), 400
    try:
        await asyncio.to_thread(_accounts().set_password, visitor.user.address, form.get("new", ""))
    except AccountError as exc:
        return await _page(password_error=str(exc)), 400
    return await _page(password_done=True)
