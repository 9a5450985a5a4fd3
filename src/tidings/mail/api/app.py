"""Routes of the mail REST API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any, TypeVar
from urllib.parse import quote

from quart import Quart, Response, current_app, request
from quart_schema import (
    Info,
    QuartSchema,
    hide,
    validate_querystring,
    validate_request,
    validate_response,
)
from tidings_assets import swagger_ui

from tidings import __version__
from tidings.core.accounts import AccountError, Accounts, normalise_address
from tidings.core.bearer import current_address, current_principal, requires
from tidings.core.config import Settings
from tidings.core.http import add_health
from tidings.core.problems import Problem, install_problem_handlers, not_found
from tidings.mail import autoconfig, replies
from tidings.mail.api import compose, models
from tidings.mail.index import IndexedMessage
from tidings.mail.outbound import QueueError
from tidings.mail.render import parse, render
from tidings.mail.routing import Outbox, Router, RoutingError
from tidings.mail.store import MailStore

T = TypeVar("T")


class MailAPI:
    """The state routes share; created once per process."""

    def __init__(
        self, settings: Settings, store: MailStore, accounts: Accounts, outbox: Outbox | None
    ) -> None:
        self.settings = settings
        self.store = store
        self.accounts = accounts
        self.router = Router(accounts, store, outbox)


def _api() -> MailAPI:
    api: MailAPI = current_app.config["MAIL_API"]
    return api


async def _blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Store calls read and fsync files: never on the event loop."""
    return await asyncio.to_thread(func, *args, **kwargs)


async def _mailbox() -> str:
    """The caller's address, with their mailbox created on first use (an account made
    before any mail arrived still has an INBOX)."""
    address = current_address()
    await _blocking(_api().store.mailbox, address)
    return address


def _summary(message: IndexedMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "folder": message.folder,
        "uid": message.uid,
        "flags": list(message.flags),
        "unread": "\\Seen" not in message.flags,
        "message_id": message.message_id,
        "sender": message.sender,
        "recipients": message.recipients,
        "subject": message.subject,
        "date": datetime.fromtimestamp(message.date, UTC),
        "size": message.size,
        "snippet": message.snippet,
        "in_reply_to": message.in_reply_to,
        "references": list(message.references),
    }


async def _owned(message_id: int) -> IndexedMessage:
    """The caller's message, or 404 — also when it exists but is someone else's, so ids
    cannot be probed."""
    if not 0 < message_id < 2**63:  # beyond SQLite's integers: cannot exist
        raise not_found("message")
    found = await _blocking(_api().store.get, current_address(), message_id)
    if found is None:
        raise not_found("message")
    return found


async def _load(message: IndexedMessage) -> EmailMessage:
    try:
        raw = await _blocking(
            _api().store.read_message, current_address(), message.folder, message.key
        )
    except KeyError:
        raise not_found("message") from None
    return parse(raw)


def _compose_error(exc: compose.ComposeError) -> Problem:
    return Problem(422, "Unprocessable Content", str(exc))


def _attachments(items: list[models.AttachmentIn]) -> list[compose.Attachment]:
    try:
        return [
            compose.decode_attachment(a.filename, a.content_type, a.content_base64) for a in items
        ]
    except compose.ComposeError as exc:
        raise _compose_error(exc) from exc


async def _send(message: EmailMessage, envelope: list[str]) -> models.SentOut:
    """Deliver to local mailboxes, queue the rest (the router's rules), keep a copy in
    Sent."""
    api = _api()
    sender = current_address()
    recipients = sorted({compose.bare(a) for a in envelope})
    if not recipients:
        raise Problem(422, "Unprocessable Content", "a message needs at least one recipient")
    try:
        route = await _blocking(api.router.route, recipients)
    except RoutingError as exc:
        raise Problem(422, "Unprocessable Content", str(exc)) from exc
    if route.remote and api.router.outbox is None:
        raise Problem(
            503,
            "Service Unavailable",
            "sending outside this box is not enabled (no outbound queue configured)",
        )
    raw = bytes(message)
    try:
        await api.router.dispatch(sender, route, raw)
    except QueueError as exc:
        raise Problem(422, "Unprocessable Content", str(exc)) from exc
    sent_path = await _blocking(api.store.deliver, sender, raw, folder="Sent", flags="S")
    sent = await _blocking(api.store.index.by_key, sender, "Sent", sent_path.name.split(":", 1)[0])
    return models.SentOut(
        message_id=str(message["Message-ID"]),
        sent_id=sent.id if sent else None,
        delivered=list(route.local),
        queued=list(route.remote),
    )


SWAGGER = "/static/swagger-ui"  # served from tidings_assets (swagger-ui-dist, vendored)
SWAGGER_ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css"})
_EMAIL_ELEMENT = re.compile(rb"<EMailAddress>\s*([^<\s]{1,254})\s*</EMailAddress>")


def _setup_address(value: str) -> str:
    """An address of this box's domain, for client-setup documents. Whether the account
    exists is not revealed: the document is the same for any local address."""
    try:
        address = normalise_address(value)
    except AccountError:
        raise Problem(400, "Bad Request", f"not an e-mail address: {value[:100]!r}") from None
    if address.rpartition("@")[2] != _api().settings.domain:
        raise Problem(404, "Not Found", f"this box serves {_api().settings.domain} only")
    return address


def _recipients(addresses: list[str]) -> list[str]:
    try:
        return [compose.check_address(a) for a in addresses]
    except compose.ComposeError as exc:
        raise _compose_error(exc) from exc


def _draft(body: models.Compose) -> compose.Draft:
    return compose.Draft(
        to=_recipients(body.to),
        cc=_recipients(body.cc),
        bcc=_recipients(body.bcc),
        subject=body.subject,
        text=body.text,
        html=body.html,
        attachments=_attachments(body.attachments),
    )


def _build(draft: compose.Draft, **kwargs: Any) -> EmailMessage:
    principal = current_principal()
    try:
        return compose.build(
            draft,
            sender=principal.user.address,
            sender_name=principal.user.display_name,
            domain=_api().settings.domain,
            **kwargs,
        )
    except compose.ComposeError as exc:
        raise _compose_error(exc) from exc


def create_app(
    settings: Settings, store: MailStore, accounts: Accounts, outbox: Outbox | None = None
) -> Quart:
    app = Quart(__name__, static_folder=None)
    app.config["MAIL_API"] = MailAPI(settings, store, accounts, outbox)
    app.config["ACCOUNTS"] = accounts
    app.config["MAX_CONTENT_LENGTH"] = 40 * 1024 * 1024
    # Browsable docs that work offline: Swagger UI served from the package, not a CDN.
    app.config["QUART_SCHEMA_SWAGGER_JS_URL"] = f"{SWAGGER}/swagger-ui-bundle.js"
    app.config["QUART_SCHEMA_SWAGGER_CSS_URL"] = f"{SWAGGER}/swagger-ui.css"
    QuartSchema(
        app,
        redoc_ui_path=None,  # these two load their code from a CDN
        scalar_ui_path=None,
        info=Info(title="tidings mail API", version=__version__),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        security=[{"bearer": []}],
    )
    add_health(app, "mail-api")

    install_problem_handlers(app)

    @app.get(f"{SWAGGER}/<name>")
    @hide
    async def swagger_asset(name: str) -> Response:
        asset = swagger_ui() / name
        if name not in SWAGGER_ASSETS or not asset.is_file():
            raise not_found("asset")
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        return Response(asset.read_bytes(), content_type=kind)

    # -- client setup (no token: a client asks before it has an account) -------
    async def thunderbird_config() -> Response:
        return Response(autoconfig.thunderbird(settings), content_type="application/xml")

    for path in ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"):
        app.add_url_rule(path, f"autoconfig{path}", hide(thunderbird_config), methods=["GET"])

    @app.get("/v1/autoconfig/apple.mobileconfig")
    @hide
    async def apple_profile() -> Response:
        address = _setup_address(request.args.get("email", ""))
        profile = await _blocking(autoconfig.mobileconfig, settings, address)
        return Response(
            profile,
            content_type=autoconfig.MOBILECONFIG_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="{settings.domain}.mobileconfig"'
            },
        )

    async def outlook_autodiscover() -> Response:
        body = await request.get_data(cache=False, as_text=False)
        assert isinstance(body, bytes)
        match = _EMAIL_ELEMENT.search(body[:20_000])
        if match is None:
            raise Problem(400, "Bad Request", "no <EMailAddress> in the autodiscover request")
        address = _setup_address(match.group(1).decode("utf-8", "replace"))
        return Response(autoconfig.autodiscover(settings, address), content_type="application/xml")

    for path in ("/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"):
        app.add_url_rule(path, f"autodiscover{path}", hide(outlook_autodiscover), methods=["POST"])

    # -- reading ---------------------------------------------------------------
    @app.get("/v1/folders")
    @validate_response(models.FoldersOut)
    @requires("mail:read")
    async def folders() -> models.FoldersOut:
        found = await _blocking(store.folders, await _mailbox())
        return models.FoldersOut(folders=[models.FolderOut(**vars(f)) for f in found])

    @app.get("/v1/messages")
    @validate_querystring(models.ListQuery)
    @validate_response(models.MessagePage)
    @requires("mail:read")
    async def list_messages(query_args: models.ListQuery) -> models.MessagePage:
        since = query_args.since.timestamp() if query_args.since else None
        try:
            page = await _blocking(
                store.find_messages,
                await _mailbox(),
                query_args.folder,
                unread=query_args.unread,
                sender=query_args.sender,
                since=since,
                limit=query_args.limit,
                offset=query_args.offset,
            )
        except KeyError:
            raise not_found("folder") from None
        return models.MessagePage(
            messages=[models.MessageSummary(**_summary(m)) for m in page.messages],
            total=page.total,
            limit=query_args.limit,
            offset=query_args.offset,
        )

    @app.get("/v1/search")
    @validate_querystring(models.SearchQuery)
    @validate_response(models.SearchOut)
    @requires("mail:read")
    async def search(query_args: models.SearchQuery) -> models.SearchOut:
        address = await _mailbox()
        if query_args.folder is not None and query_args.folder not in await _blocking(
            store.folder_names, address
        ):
            raise not_found("folder")
        found = await _blocking(
            store.search,
            address,
            query_args.q,
            folder=query_args.folder,
            limit=query_args.limit,
            offset=query_args.offset,
        )
        return models.SearchOut(messages=[models.MessageSummary(**_summary(m)) for m in found])

    @app.get("/v1/messages/<int:message_id>")
    @validate_response(models.MessageOut)
    @requires("mail:read")
    async def get_message(message_id: int) -> models.MessageOut:
        message = await _owned(message_id)
        parsed = await _load(message)
        remote = request.args.get("remote_images", "false").lower() == "true"
        shown = render(parsed, allow_remote_images=remote)
        return models.MessageOut(
            **_summary(message),
            to=str(parsed.get("To", "")),
            cc=str(parsed.get("Cc", "")),
            reply_to=str(parsed.get("Reply-To", "")),
            text=shown.text,
            html=shown.html,
            remote_content_blocked=shown.remote_content_blocked,
            attachments=[
                models.AttachmentOut(
                    index=a.index,
                    filename=a.filename,
                    content_type=a.content_type,
                    size=a.size,
                    url=f"/v1/messages/{message_id}/attachments/{a.index}",
                )
                for a in shown.attachments
            ],
        )

    @app.get("/v1/messages/<int:message_id>/raw")
    @requires("mail:read")
    async def raw_message(message_id: int) -> Response:
        message = await _owned(message_id)
        try:
            raw = await _blocking(
                store.read_message, current_address(), message.folder, message.key
            )
        except KeyError:
            raise not_found("message") from None
        return Response(raw, content_type="message/rfc822")

    @app.get("/v1/messages/<int:message_id>/attachments/<int:index>")
    @requires("mail:read")
    async def attachment(message_id: int, index: int) -> Response:
        shown = render(await _load(await _owned(message_id)))
        if index >= len(shown.attachments):
            raise not_found("attachment")
        item = shown.attachments[index]
        payload = item.part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        # Always a download, never rendered inline: an HTML or SVG attachment must not
        # run in the API's origin.
        disposition = "attachment; filename*=UTF-8''" + _rfc5987(item.filename)
        return Response(
            data,
            content_type=item.content_type
            if "/" in item.content_type
            else "application/octet-stream",
            headers={
                "Content-Disposition": disposition,
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox",
            },
        )

    # -- sending ----------------------------------------------------------------
    @app.post("/v1/messages")
    @validate_request(models.Compose)
    @validate_response(models.SentOut, 201)
    @requires("mail:send")
    async def send(data: models.Compose) -> tuple[models.SentOut, int]:
        draft = _draft(data)
        message = _build(draft)
        return await _send(message, [*draft.to, *draft.cc, *draft.bcc]), 201

    @app.get("/v1/messages/<int:message_id>/reply/preview")
    @validate_querystring(models.ReplyPreviewQuery)
    @validate_response(models.ReplyPreviewOut)
    @requires("mail:read")
    async def reply_preview(
        message_id: int, query_args: models.ReplyPreviewQuery
    ) -> models.ReplyPreviewOut:
        original = await _load(await _owned(message_id))
        plan = replies.plan_reply(
            original, me=current_address(), reply_all=query_args.reply_all, quoting=query_args.quote
        )
        return models.ReplyPreviewOut(
            to=plan.to,
            cc=plan.cc,
            subject=plan.subject,
            in_reply_to=plan.threading.in_reply_to,
            references=list(plan.threading.references),
            quoted=plan.quoted,
        )

    @app.post("/v1/messages/<int:message_id>/reply")
    @validate_request(models.ReplyIn)
    @validate_response(models.SentOut, 201)
    @requires("mail:send")
    async def reply(message_id: int, data: models.ReplyIn) -> tuple[models.SentOut, int]:
        original_row = await _owned(message_id)
        original = await _load(original_row)
        plan = replies.plan_reply(
            original, me=current_address(), reply_all=data.reply_all, quoting=data.quote
        )
        draft = compose.Draft(
            to=plan.to,
            cc=[*plan.cc, *_recipients(data.cc)],
            subject=plan.subject,
            text=data.text + plan.quoted,
            html=data.html,
            attachments=_attachments(data.attachments),
        )
        message = _build(draft, threading=plan.threading)
        sent = await _send(message, [*draft.to, *draft.cc])
        await _blocking(
            store.set_flags, current_address(), original_row, add=["\\Answered"], remove=[]
        )
        return sent, 201

    @app.get("/v1/messages/<int:message_id>/forward/preview")
    @validate_response(models.ForwardPreviewOut)
    @requires("mail:read")
    async def forward_preview(message_id: int) -> models.ForwardPreviewOut:
        plan = replies.plan_forward(await _load(await _owned(message_id)))
        return models.ForwardPreviewOut(
            subject=plan.subject, attachment_filename=replies.FORWARD_FILENAME
        )

    @app.post("/v1/messages/<int:message_id>/forward")
    @validate_request(models.ForwardIn)
    @validate_response(models.SentOut, 201)
    @requires("mail:send")
    async def forward(message_id: int, data: models.ForwardIn) -> tuple[models.SentOut, int]:
        original = await _load(await _owned(message_id))
        plan = replies.plan_forward(original)
        draft = compose.Draft(
            to=_recipients(data.to),
            cc=_recipients(data.cc),
            subject=plan.subject,
            text=data.text,
        )
        message = _build(draft, forward=original)
        return await _send(message, [*draft.to, *draft.cc]), 201

    # -- changing ---------------------------------------------------------------
    @app.post("/v1/messages/<int:message_id>/flags")
    @validate_request(models.FlagsIn)
    @validate_response(models.MessageSummary)
    @requires("mail:send")
    async def flags(message_id: int, data: models.FlagsIn) -> models.MessageSummary:
        message = await _owned(message_id)
        try:
            updated = await _blocking(
                store.set_flags, current_address(), message, add=data.add, remove=data.remove
            )
        except KeyError:
            raise not_found("message") from None
        return models.MessageSummary(**_summary(updated))

    @app.post("/v1/messages/<int:message_id>/move")
    @validate_request(models.MoveIn)
    @validate_response(models.MessageSummary)
    @requires("mail:send")
    async def move(message_id: int, data: models.MoveIn) -> models.MessageSummary:
        message = await _owned(message_id)
        try:
            moved = await _blocking(store.move, current_address(), message, data.folder)
        except KeyError:
            raise not_found("folder or message") from None
        return models.MessageSummary(**_summary(moved))

    @app.delete("/v1/messages/<int:message_id>")
    @requires("mail:send")
    async def delete(message_id: int) -> Response:
        message = await _owned(message_id)
        permanent = request.args.get("permanent", "false").lower() == "true"
        try:
            await _blocking(store.delete, current_address(), message, permanent=permanent)
        except KeyError:
            raise not_found("message") from None
        return Response(status=204)

    # -- drafts ------------------------------------------------------------------
    async def _save_draft(data: models.Compose) -> models.DraftOut:
        message = _build(_draft(data), keep_bcc=True)
        address = current_address()
        path = await _blocking(store.deliver, address, bytes(message), folder="Drafts", flags="DS")
        row = await _blocking(store.index.by_key, address, "Drafts", path.name.split(":", 1)[0])
        assert row is not None
        return models.DraftOut(id=row.id)

    async def _owned_draft(draft_id: int) -> IndexedMessage:
        message = await _owned(draft_id)
        if message.folder != "Drafts":
            raise not_found("draft")
        return message

    @app.post("/v1/drafts")
    @validate_request(models.Compose)
    @validate_response(models.DraftOut, 201)
    @requires("mail:send")
    async def create_draft(data: models.Compose) -> tuple[models.DraftOut, int]:
        return await _save_draft(data), 201

    @app.put("/v1/drafts/<int:draft_id>")
    @validate_request(models.Compose)
    @validate_response(models.DraftOut)
    @requires("mail:send")
    async def update_draft(draft_id: int, data: models.Compose) -> models.DraftOut:
        old = await _owned_draft(draft_id)
        saved = await _save_draft(data)
        await _blocking(store.delete, current_address(), old, permanent=True)
        return saved

    @app.post("/v1/drafts/<int:draft_id>/send")
    @validate_response(models.SentOut, 201)
    @requires("mail:send")
    async def send_draft(draft_id: int) -> tuple[models.SentOut, int]:
        row = await _owned_draft(draft_id)
        saved = await _load(row)
        envelope = [
            address
            for header in ("To", "Cc", "Bcc")
            for _, address in getaddresses([str(saved.get(header, ""))])
            if address
        ]
        del saved["Bcc"]
        sent = await _send(saved, envelope)
        await _blocking(store.delete, current_address(), row, permanent=True)
        return sent, 201

    return app


def _rfc5987(value: str) -> str:
    return quote(value, safe="")
