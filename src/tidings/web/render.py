"""Turning what the assistant says into safe HTML, on the server.

Answers are Markdown rendered by markdown-it-py with raw HTML off, then cleaned by nh3
(ammonia) anyway: whatever a model or a mail puts in a sentence ends up as text or as
a small safelist of inert tags, with links limited to http(s)/mailto and opened with
``rel="noopener noreferrer nofollow"``. Tool results are shown from their structured
content, never from HTML they might carry: a list of messages becomes rows, an opened
mail becomes a mail view (its HTML only in a sandboxed frame), anything else a
key-value card. Templates autoescape everything else.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_markdown = MarkdownIt(
    "commonmark", {"html": False, "linkify": False, "typographer": False, "breaks": True}
)
_markdown.enable("table")
_markdown.enable("strikethrough")

_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


# A message id at the start of a line of an answer ("#12 2026-03-18 Léa: ..."), after
# sanitising: only the digits are reused, so nothing from the text becomes markup.
_MESSAGE_REFERENCE = re.compile(r"(^|<p>|<br>\n|<li>)#(\d{1,9})(?=\s)", re.MULTILINE)
_OPEN_BUTTON = (
    r'\1<button type="button" class="rounded px-1 font-mono text-teal-800 underline'
    r' hover:bg-slate-200 dark:text-teal-300 dark:hover:bg-slate-800" hx-get="/mail/\2"'
    r' hx-target="#reader-content" hx-swap="innerHTML" data-open-mail="\2">#\2</button>'
)


def markdown(text: str) -> Markup:
    """Markdown → sanitised HTML (no images: they would be requests to other hosts).

    A message's id at the start of a line becomes a button that opens it in the
    reader: the answer's own list is the one to click, so the tool's card can stay
    folded instead of showing the same list twice."""
    html = _markdown.render(text)
    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(_MESSAGE_REFERENCE.sub(_OPEN_BUTTON, cleaned))  # noqa: S704  (see above)


def result_kind(result: Any) -> str:
    """How a tool's structured result is best shown."""
    if isinstance(result, dict):
        if isinstance(result.get("messages"), list):
            return "messages"
        if "text" in result and ("from" in result or "sender" in result):
            return "mail"
        return "fields"
    if isinstance(result, list):
        return "list"
    return "value"


def short_date(value: Any) -> str:
    if not isinstance(value, str):
        return str(value or "")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value[:32]
    return moment.strftime("%Y-%m-%d %H:%M")


def as_text(value: Any) -> str:
    """A value for a key-value card: text as is, structures as indented JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def parse_stored(content: str) -> Any:
    """A tool message kept in a conversation: its structured result, stored as JSON."""
    try:
        return json.loads(content)
    except ValueError:
        return {"text": content}


_FIRST_TAG = re.compile(r"^\s*<([A-Za-z][A-Za-z0-9-]*)")


def oob(html: str) -> Markup:
    """Mark a rendered element as an htmx out-of-band swap of the element with its id."""
    return Markup(_FIRST_TAG.sub(r'<\1 hx-swap-oob="true"', str(html), count=1))  # noqa: S704
