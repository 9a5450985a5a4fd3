"""A stored message as a reader sees it: headers, plain text, HTML made safe to show,
and its attachments.

HTML mail is hostile by default (scripts, forms, CSS tricks, tracking pixels).
It is cleaned with nh3 (the Rust `ammonia` sanitiser): a safelist of tags and
attributes, links forced to ``rel="noopener noreferrer nofollow"``, and remote
images removed unless the reader asks for them — they tell the sender when and
where a mail was opened.
"""

from __future__ import annotations

import html as htmllib
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, MIMEPart
from email.parser import BytesParser

import nh3

_parser = BytesParser(policy=policy.default)

_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
}
_ATTRIBUTES = {
    "*": {"title", "align", "valign", "width", "height", "dir", "lang"},
    "a": {"href"},
    "img": {"src", "alt"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "font": {"color", "size"},
}


def parse(raw: bytes) -> EmailMessage:
    message = _parser.parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def sanitise_html(html: str, *, allow_remote_images: bool = False) -> tuple[str, bool]:
    """``(safe_html, remote_content_blocked)``."""
    blocked = False

    def keep(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if tag == "img" and attribute == "src":
            remote = value.lower().startswith(("http:", "https:", "//"))
            if remote and not allow_remote_images:
                blocked = True
                return None
        return value

    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "cid"},
        link_rel="noopener noreferrer nofollow",
        attribute_filter=keep,
        strip_comments=True,
    )
    return cleaned, blocked


def html_to_text(html: str) -> str:
    text = nh3.clean(html.replace("<br", "\n<br").replace("</p>", "</p>\n"), tags=set())
    return htmllib.unescape(text).strip()


@dataclass(frozen=True)
class Attachment:
    index: int
    filename: str
    content_type: str
    size: int
    part: EmailMessage


@dataclass(frozen=True)
class Rendered:
    text: str
    html: str | None
    remote_content_blocked: bool
    attachments: list[Attachment]


def render(message: EmailMessage, *, allow_remote_images: bool = False) -> Rendered:
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    bodies = {id(part) for part in (text_part, html_part) if part is not None}
    attachments: list[Attachment] = []
    for part in message.walk():
        if part.is_multipart() or id(part) in bodies:
            continue
        assert isinstance(part, EmailMessage)
        filename = part.get_filename()
        if filename is None and part.get_content_disposition() != "attachment":
            continue
        payload = part.get_payload(decode=True)
        size = len(payload) if isinstance(payload, bytes) else 0
        attachments.append(
            Attachment(
                len(attachments), filename or "attachment", part.get_content_type(), size, part
            )
        )
    html: str | None = None
    blocked = False
    if html_part is not None:
        html, blocked = sanitise_html(_content(html_part), allow_remote_images=allow_remote_images)
    if text_part is not None:
        text = _content(text_part)
    elif html_part is not None:
        text = html_to_text(_content(html_part))
    else:
        text = ""
    return Rendered(text, html, blocked, attachments)


def _content(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # unknown charset: show what we can
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""
