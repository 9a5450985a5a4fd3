"""Request and response bodies: the API's contract, published in ``/openapi.json``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Flag = Literal["\\Seen", "\\Flagged", "\\Answered", "\\Draft"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FolderOut(BaseModel):
    name: str = Field(description="IMAP name: INBOX, Sent, Archive/2025 ...")
    special_use: str | None = Field(description="RFC 6154 role: \\Sent, \\Drafts, \\Trash...")
    total: int
    unseen: int


class FoldersOut(BaseModel):
    folders: list[FolderOut]


class MessageSummary(BaseModel):
    id: int = Field(description="Stable while the message stays in its folder.")
    folder: str
    uid: int | None = Field(description="IMAP UID in the folder.")
    flags: list[str]
    unread: bool
    message_id: str
    sender: str = Field(description="From: address(es).")
    recipients: str = Field(description="To and Cc addresses.")
    subject: str
    date: datetime
    size: int
    snippet: str
    in_reply_to: str
    references: list[str]


class MessagePage(BaseModel):
    messages: list[MessageSummary]
    total: int
    limit: int
    offset: int


class ListQuery(Strict):
    folder: str = "INBOX"
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)
    unread: bool | None = Field(None, description="Only unread (true) or read (false).")
    sender: str | None = Field(None, max_length=254, description="From contains this text.")
    since: datetime | None = Field(None, description="Only messages dated at or after this.")


class SearchQuery(Strict):
    q: str = Field(
        min_length=1,
        max_length=500,
        pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$",  # no control characters
        description="Words to find (full text).",
    )
    folder: str | None = None
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10_000_000)


class SearchOut(BaseModel):
    messages: list[MessageSummary]


class AttachmentOut(BaseModel):
    index: int
    filename: str
    content_type: str
    size: int
    url: str


class MessageOut(MessageSummary):
    to: str
    cc: str
    reply_to: str
    text: str = Field(description="Plain text (derived from the HTML when there is none).")
    html: str | None = Field(description="Sanitised HTML, safe to show; remote images removed.")
    remote_content_blocked: bool
    attachments: list[AttachmentOut]


class AttachmentIn(Strict):
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field("application/octet-stream", max_length=255)
    content_base64: str


class Compose(Strict):
    to: list[str] = Field(default_factory=list, max_length=100)
    cc: list[str] = Field(default_factory=list, max_length=100)
    bcc: list[str] = Field(default_factory=list, max_length=100)
    subject: str = Field("", max_length=998)
    text: str = Field("", max_length=5_000_000)
    html: str | None = Field(None, max_length=10_000_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=50)


class ReplyIn(Strict):
    text: str = Field(max_length=5_000_000)
    html: str | None = Field(None, max_length=10_000_000)
    reply_all: bool = False
    quote: bool = Field(True, description="Quote the original text below the reply.")
    cc: list[str] = Field(default_factory=list, max_length=100)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=50)


class ForwardIn(Strict):
    to: list[str] = Field(min_length=1, max_length=100)
    cc: list[str] = Field(default_factory=list, max_length=100)
    text: str = Field("", max_length=5_000_000)


class ReplyPreviewQuery(Strict):
    reply_all: bool = False
    quote: bool = Field(True, description="Quote the original text below the reply.")


class ReplyPreviewOut(BaseModel):
    """What ``POST /v1/messages/{id}/reply`` with the same options would send (before
    the caller's own text and extra Cc)."""

    to: list[str]
    cc: list[str]
    subject: str
    in_reply_to: str | None = Field(description="The original's Message-ID.")
    references: list[str]
    quoted: str = Field(description="Appended below the reply's text ('' without quote).")


class ForwardPreviewOut(BaseModel):
    subject: str
    attachment_filename: str = Field(
        description="The original goes along whole, as a message/rfc822 attachment of this name."
    )


class SentOut(BaseModel):
    message_id: str
    sent_id: int | None = Field(description="Id of the copy in the Sent folder.")
    delivered: list[str] = Field(description="Local recipients, already in their INBOX.")
    queued: list[str] = Field(description="Remote recipients, handed to the outbound queue.")


class FlagsIn(Strict):
    add: list[Flag] = Field(default_factory=list)
    remove: list[Flag] = Field(default_factory=list)


class MoveIn(Strict):
    folder: str = Field(min_length=1, max_length=255)


class DraftOut(BaseModel):
    id: int


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
