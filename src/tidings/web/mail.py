"""Opening a mail from a result card: read through the mail REST API with the session's
token (so its ownership checks apply), shown with its HTML only inside a sandboxed,
script-less frame whose own CSP forbids every request (remote images were already
removed by the API)."""

from __future__ import annotations

from typing import Any

import httpx
from markupsafe import escape
from quart import Blueprint, Response, abort, current_app, g, render_template, request

from tidings.web.session import Visitor

blueprint = Blueprint("mail", __name__)

#: For the frame's document: nothing may load, nothing may run, only inline styles.
FRAME_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)


def _remote() -> bool:
    """The person asked for this mail's remote images (they tell the sender it was read)."""
    return request.args.get("remote") == "1"


async def _message(message_id: int) -> dict[str, Any]:
    visitor: Visitor = g.visitor
    async with httpx.AsyncClient(
        base_url=current_app.config["MAIL_API"],
        headers={"Authorization": f"Bearer {visitor.token}"},
        timeout=10,
    ) as client:
        response = await client.get(
            f"/v1/messages/{message_id}",
            params={"remote_images": "true"} if _remote() else None,
        )
    if response.status_code == 404:
        abort(404)
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


@blueprint.get("/mail/<int:message_id>")
async def view(message_id: int) -> Any:
    return await render_template(
        "mail/view.html", message=await _message(message_id), remote=_remote()
    )


@blueprint.get("/mail/<int:message_id>/body")
async def body(message_id: int) -> Response:
    message = await _message(message_id)
    html = message.get("html")
    # The API's HTML is sanitised (nh3); the frame's sandbox and CSP are the backstop.
    inner = str(html) if html else f"<pre>{escape(message.get('text', ''))}</pre>"
    document = (
        '<!doctype html><html><head><meta charset="utf-8">'
        "<style>body{font:15px/1.5 system-ui,sans-serif;margin:12px;word-wrap:break-word}"
        "pre{white-space:pre-wrap}@media (prefers-color-scheme:dark)"
        "{body{background:#0f172a;color:#e2e8f0}a{color:#93c5fd}}</style></head>"
        f"<body>{inner}</body></html>"
    )
    response = Response(document, content_type="text/html; charset=utf-8")
    csp = (
        FRAME_CSP.replace("img-src data:", "img-src data: https: http:") if _remote() else FRAME_CSP
    )
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
