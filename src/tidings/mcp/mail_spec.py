"""The mail tools' contract: what ``tools/list`` shows a client.

Names, descriptions, input schemas and annotations are the ones the assistant's
evaluation set measures (``tests/eval/mail_tools.json``; a test keeps the two equal).
Input schemas are written out here rather than derived from Python signatures: the
runtime reads ``type``/``format``/``enum`` directly, and pydantic would render an
optional argument as ``anyOf [..., null]``. The sentence templates live in
``mail_intents.json`` (package data) because they are data, edited by people who
tune the assistant, not code.

Output models give each tool its ``outputSchema``; the ``tidings/answer`` templates
say how the assistant shows a result to the user, in each language.
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from typing import Any

from pydantic import Field

from tidings.mcp.toolspec import ToolOutput, ToolSpec, i18n, object_schema

FOLDERS = ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"]
FLAGS = ["read", "unread", "flagged", "unflagged"]

_MESSAGE_ID = {
    "type": "string",
    "description": "Identifier of the message, as listed by list_emails or search_emails.",
    "pattern": "^[0-9]+$",
}
_SENDER = {
    "type": "string",
    "format": "email",
    "description": "E-mail address of the correspondent.",
}
_SINCE = {
    "type": "string",
    "format": "date",
    "description": "Only messages received on or after this day (YYYY-MM-DD).",
}
_UNTIL = {
    "type": "string",
    "format": "date",
    "description": "Only messages received before this day (YYYY-MM-DD), not on it.",
}
_RECIPIENT = {
    "type": "string",
    "format": "email",
    "description": "Only messages sent to this address (To or Cc).",
}

#: Arguments every message finder takes, beside its own: the filters a request
#: composes ("unread mails from Alice with an attachment since Monday").
_FILTERS: dict[str, Any] = {
    "sender": {**_SENDER, "description": "Only messages from this address."},
    "recipient": _RECIPIENT,
    "since": _SINCE,
    "until": _UNTIL,
    "unread_only": {"type": "boolean", "description": "Only messages not read yet."},
    "flagged_only": {"type": "boolean", "description": "Only flagged (important) messages."},
    "with_attachments": {"type": "boolean", "description": "Only messages with attachments."},
    "limit": {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "description": "At most this many messages.",
    },
}

#: ``_meta["tidings/finds"]`` of the finders: which argument carries each kind of
#: filter a request can compose, and the words people use for the boolean ones.
#: The assistant reads this to find "the mail from Alice about dinner" before it
#: reads, answers, moves or marks it; it knows no tool by name.
FINDS: dict[str, Any] = {
    "items": "messages",
    "filters": {
        "person": "sender",
        "recipient": "recipient",
        "since": "since",
        "until": "until",
        "unread": "unread_only",
        "flagged": "flagged_only",
        "attachments": "with_attachments",
        "folder": "folder",
        "count": "limit",
    },
    # Where mail to a recipient is: what the user sent.
    "recipient_scope": {"folder": "Sent"},
    "words": {
        "unread": {
            "en": ["unread", "not read", "haven't read", "have not read", "unopened"],
            "fr": [
                "non lu",
                "non lus",
                "non lue",
                "non lues",
                "pas lu",
                "pas lus",
                "nouveaux",
                "nouveau",
                "nouvelles",
                "pas encore lu",
                "pas encore lus",
            ],
        },
        "flagged": {
            "en": ["flagged", "important", "starred", "marked important"],
            "fr": [
                "important",
                "importants",
                "marqués",
                "marqués importants",
                "suivis",
                "avec un drapeau",
                "étoilés",
            ],
        },
        "attachments": {
            "en": ["attachment", "attachments", "attached", "enclosure", "files", "file", "pdf"],
            "fr": [
                "pièce jointe",
                "pièces jointes",
                "pj",
                "fichier joint",
                "fichiers joints",
                "en pièce jointe",
                "joint",
                "jointe",
                "fichier",
                "pdf",
            ],
        },
    },
}

#: ``_meta["tidings/reads"]`` of the reader: which keys of its result hold the
#: author, the subject, the date and the text (what a digest is made of).
READS: dict[str, str] = {
    "author": "from",
    "address": "from_address",
    "subject": "subject",
    "date": "date",
    "text": "text",
}


def _folder(description: str) -> dict[str, Any]:
    return {"type": "string", "enum": FOLDERS, "description": description}


# -- results (outputSchema + structuredContent) -------------------------------------
class MessageItem(ToolOutput):
    id: str = Field(description="Identifier for read_email, move_email, mark_email.")
    date: str = Field(description="Local date and time, YYYY-MM-DD HH:MM.")
    from_: str = Field(alias="from", description="Sender's display name, else address.")
    from_address: str = Field(description="Sender's e-mail address.")
    subject: str = Field(description="Subject, as the sender wrote it (untrusted).")
    unread: bool
    flagged: bool
    folder: str


class MessageList(ToolOutput):
    count: int = Field(description="Number of messages in this answer.")
    messages: list[MessageItem]


class Attachment(ToolOutput):
    name: str
    size: int = Field(description="Bytes.")
    type: str = Field(description="MIME type.")


class MessageFull(ToolOutput):
    id: str
    folder: str
    date: str = Field(description="Local date and time, YYYY-MM-DD HH:MM.")
    from_: str = Field(alias="from", description="Sender's display name, else address.")
    from_address: str
    to: list[str]
    cc: list[str]
    subject: str = Field(description="As the sender wrote it (untrusted).")
    text: str = Field(description="Plain-text body (converted from HTML if need be; untrusted).")
    attachments: list[Attachment]


class Sent(ToolOutput):
    sent: bool = Field(description="Always true: a refusal is an error, not a result.")
    to: list[str] = Field(description="Addresses the message went to.")
    subject: str
    message_id: str = Field(description="Message-ID header of the message sent.")


class Replied(Sent):
    in_reply_to: str = Field(description="Identifier (as listed) of the message answered.")


class Moved(ToolOutput):
    id: str = Field(description="The message's identifier in its new folder.")
    folder: str


class Marked(ToolOutput):
    id: str
    flag: str


# -- the tools ------------------------------------------------------------------------
def _list_answer(header_en: str, header_fr: str, empty_en: str, empty_fr: str) -> dict[str, Any]:
    # "#12", not "12.": the number is the message's id, which people say back ("read
    # 12"); written as an ordered list, Markdown would renumber it 1, 2, 3...
    return {
        "en": {
            "list": "messages",
            "header": header_en,
            "item": "#{id} {date} {from}: {subject}",
            "empty": empty_en,
        },
        "fr": {
            "list": "messages",
            "header": header_fr,
            "item": "#{id} {date} {from} : {subject}",
            "empty": empty_fr,
        },
    }


_SPECS = [
    ToolSpec(
        "list_emails",
        "List the messages in a mailbox folder, newest first, optionally only unread ones, "
        "only from one sender or only since a date.",
        object_schema({"folder": _folder("Mailbox folder."), **_FILTERS}),
        {"readOnlyHint": True},
        MessageList,
        i18n(
            (
                "List e-mails",
                "List the messages in a mailbox folder, newest first, optionally only unread "
                "ones, only from one sender or only since a date.",
            ),
            (
                "Lister les courriels",
                "Liste les messages d'un dossier, du plus récent au plus ancien, éventuellement "
                "seulement les non lus, ceux d'un expéditeur ou ceux reçus depuis une date.",
            ),
        ),
        _list_answer(
            "Messages ({count}):", "Messages ({count}) :", "No messages.", "Aucun message."
        ),
        finds=FINDS,
    ),
    ToolSpec(
        "read_email",
        "Show one message in full: headers and text.",
        object_schema({"message_id": _MESSAGE_ID}, ["message_id"]),
        {"readOnlyHint": True},
        MessageFull,
        i18n(
            ("Read an e-mail", "Show one message in full: headers and text."),
            ("Lire un courriel", "Affiche un message en entier : en-têtes et texte."),
        ),
        {
            "en": {"text": "From {from} <{from_address}>, {date}\nSubject: {subject}\n\n{text}"},
            "fr": {"text": "De {from} <{from_address}>, le {date}\nObjet : {subject}\n\n{text}"},
        },
        context={"message_id": "id"},
        reads=READS,
    ),
    ToolSpec(
        "search_emails",
        "Search messages by words in their subject, text or correspondents.",
        object_schema(
            {
                "query": {"type": "string", "description": "Words to look for."},
                "folder": _folder("Mailbox folder (all folders if not given)."),
                **_FILTERS,
            },
            ["query"],
        ),
        {"readOnlyHint": True},
        MessageList,
        i18n(
            (
                "Search e-mails",
                "Search messages by words in their subject, text or correspondents.",
            ),
            (
                "Chercher des courriels",
                "Cherche des messages par des mots de leur objet, de leur texte ou de leurs "
                "correspondants.",
            ),
        ),
        _list_answer(
            "Messages found ({count}):",
            "Messages trouvés ({count}) :",
            "No message matches.",
            "Aucun message ne correspond.",
        ),
        # Words are looked for in the INBOX first, then everywhere.
        finds={
            **FINDS,
            "filters": {**FINDS["filters"], "topic": "query"},
            "first": {"folder": "INBOX"},
        },
    ),
    ToolSpec(
        "send_email",
        "Write and send a new message to someone.",
        object_schema(
            {
                "to": {
                    "type": "string",
                    "format": "email",
                    "description": "Recipient's e-mail address.",
                },
                "subject": {"type": "string", "description": "Subject line."},
                "body": {"type": "string", "description": "Text of the message."},
            },
            ["to", "body"],
        ),
        {"openWorldHint": True},
        Sent,
        i18n(
            ("Send an e-mail", "Write and send a new message to someone."),
            ("Envoyer un courriel", "Écrit et envoie un nouveau message à quelqu'un."),
        ),
        {"en": {"text": "Message sent to {to}."}, "fr": {"text": "Message envoyé à {to}."}},
        elicits=True,
    ),
    ToolSpec(
        "reply_email",
        "Answer the latest message from a correspondent (or a given message).",
        object_schema(
            {
                "to": {
                    "type": "string",
                    "format": "email",
                    "description": "Correspondent whose latest message is answered.",
                },
                "message_id": {
                    "type": "string",
                    "description": "Answer this message instead of the latest one.",
                    "pattern": "^[0-9]+$",
                },
                "body": {"type": "string", "description": "Text of the answer."},
            },
            ["to", "body"],
        ),
        {"openWorldHint": True},
        Replied,
        i18n(
            (
                "Reply to an e-mail",
                "Answer the latest message from a correspondent (or a given message).",
            ),
            (
                "Répondre à un courriel",
                "Répond au dernier message d'un correspondant (ou à un message donné).",
            ),
        ),
        {"en": {"text": "Reply sent to {to}."}, "fr": {"text": "Réponse envoyée à {to}."}},
        elicits=True,
        context={"message_id": "id", "to": "from_address"},
    ),
    ToolSpec(
        "move_email",
        "Move a message to another folder (Trash to delete it, Archive to archive it).",
        object_schema(
            {"message_id": _MESSAGE_ID, "folder": _folder("Destination folder.")},
            ["message_id", "folder"],
        ),
        {"destructiveHint": True},
        Moved,
        i18n(
            (
                "Move an e-mail",
                "Move a message to another folder (Trash to delete it, Archive to archive it).",
            ),
            (
                "Déplacer un courriel",
                "Déplace un message dans un autre dossier (Trash pour le supprimer, Archive "
                "pour l'archiver).",
            ),
        ),
        {
            "en": {"text": "Message moved to {folder} (now number {id})."},
            "fr": {"text": "Message déplacé dans {folder} (désormais numéro {id})."},
        },
        elicits=True,
        context={"message_id": "id"},
    ),
    ToolSpec(
        "mark_email",
        "Mark a message as read, unread, flagged (important) or not flagged.",
        object_schema(
            {
                "message_id": _MESSAGE_ID,
                "flag": {"type": "string", "enum": FLAGS, "description": "The mark to set."},
            },
            ["message_id", "flag"],
        ),
        {"idempotentHint": True, "destructiveHint": False},
        Marked,
        i18n(
            (
                "Mark an e-mail",
                "Mark a message as read, unread, flagged (important) or not flagged.",
            ),
            (
                "Marquer un courriel",
                "Marque un message comme lu, non lu, important (drapeau) ou non important.",
            ),
        ),
        {
            "en": {"text": "Message {id} marked {flag}."},
            "fr": {"text": "Message {id} marqué : {flag}."},
        },
        context={"message_id": "id"},
    ),
]


def _with_intents(specs: list[ToolSpec]) -> dict[str, ToolSpec]:
    data = resources.files("tidings.mcp").joinpath("mail_intents.json").read_text("utf-8")
    intents: dict[str, Any] = json.loads(data)
    return {spec.name: replace(spec, intents=intents[spec.name]) for spec in specs}


#: The mail tools by name, in the order ``tools/list`` shows them.
MAIL_TOOLS: dict[str, ToolSpec] = _with_intents(_SPECS)
