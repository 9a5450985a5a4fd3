"""Address book rules: search, read and add contacts in the user's default address
book (the one every client syncs), in the engine's worker thread like
:mod:`.agenda`. Contact ids are stored names made by the server."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any

import vobject

from tidings.dav.agenda import AgendaError
from tidings.dav.engine import ADDRESSBOOK, principal_path

VCARD = "text/vcard"
MAX_FOUND = 50


class NoSuchContact(AgendaError):
    pass


@dataclass
class ContactInfo:
    id: str
    uid: str
    name: str
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    organization: str = ""
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "name": self.name,
            "emails": self.emails,
            "phones": self.phones,
            "organization": self.organization,
            "note": self.note,
        }


def _store(backend: Any, address: str) -> Any:
    found = backend.get_resource(principal_path(address) + f"contacts/{ADDRESSBOOK}")
    if found is None:  # pragma: no cover
        raise AgendaError("this account has no address book yet")
    return found.store


def _values(card: Any, key: str) -> list[str]:
    return [str(item.value).strip() for item in card.contents.get(key, []) if item.value]


def _info(name: str, raw: bytes) -> ContactInfo | None:
    try:
        card = vobject.readOne(raw.decode("utf-8", "replace"))
    except Exception:  # a malformed card from some client: not a contact we can show
        return None
    org = card.contents.get("org", [])
    organization = ""
    if org and org[0].value:
        value = org[0].value
        organization = " ".join(value) if isinstance(value, list) else str(value)
    full = _values(card, "fn")
    return ContactInfo(
        id=name.removesuffix(".vcf"),
        uid=(_values(card, "uid") or [""])[0],
        name=full[0] if full else "",
        emails=[e.lower() for e in _values(card, "email")],
        phones=_values(card, "tel"),
        organization=organization,
        note=(_values(card, "note") or [""])[0],
    )


def _fold(text: str) -> str:
    """Case- and accent-insensitive form ("Hélène" is found by "helene")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _all(backend: Any, address: str) -> list[ContactInfo]:
    store = _store(backend, address)
    found = []
    for name, content_type, etag in store.iter_with_etag():
        if content_type != VCARD:
            continue
        info = _info(name, b"".join(store.get_file(name, content_type, etag).content))
        if info is not None:
            found.append(info)
    return found


def search_contacts(backend: Any, address: str, query: str) -> list[ContactInfo]:
    """Contacts whose name, address, phone or organisation contains every word of
    ``query``; all contacts (by name) when it is empty."""
    words = _fold(query).split()
    found = []
    for info in _all(backend, address):
        haystack = _fold(" ".join([info.name, *info.emails, *info.phones, info.organization]))
        digits = "".join(c for p in info.phones for c in p if c.isdigit())
        # A national number ("06 12…") finds its international form ("+33 6 12…").
        if all(w in haystack or (w.isdigit() and w.lstrip("0") in digits) for w in words):
            found.append(info)
    found.sort(key=lambda c: _fold(c.name))
    return found[:MAX_FOUND]


def get_contact(backend: Any, address: str, contact_id: str) -> ContactInfo:
    store = _store(backend, address)
    name = f"{contact_id}.vcf"
    try:
        content_type, etag = store.get_file_meta(name)
    except Exception:
        raise NoSuchContact("no such contact") from None
    info = _info(name, b"".join(store.get_file(name, content_type, etag).content))
    if info is None:
        raise NoSuchContact("no such contact")
    return info


def create_contact(
    backend: Any,
    address: str,
    *,
    name: str,
    emails: list[str],
    phones: list[str],
    organization: str = "",
    note: str = "",
) -> ContactInfo:
    if not name.strip():
        raise AgendaError("a contact needs a name")
    card = vobject.vCard()
    card.add("version").value = "3.0"
    card.add("uid").value = f"{uuid.uuid4()}@tidings"
    card.add("fn").value = name.strip()
    parts = name.strip().rsplit(" ", 1)
    card.add("n").value = vobject.vcard.Name(
        family=parts[1] if len(parts) > 1 else "", given=parts[0]
    )
    for email in emails:
        item = card.add("email")
        item.value = email
        item.type_param = "INTERNET"
    for phone in phones:
        card.add("tel").value = phone
    if organization:
        card.add("org").value = [organization]
    if note:
        card.add("note").value = note
    from xandikos.store import InvalidFileContents

    stored = f"{uuid.uuid4()}.vcf"
    try:
        raw = card.serialize().encode("utf-8")
        _store(backend, address).import_one(
            stored,
            VCARD,
            [raw],
            message="tidings: create contact",
            remote_user=address,
            requester="tidings-api",
        )
    except (InvalidFileContents, UnicodeError) as exc:
        # A control character or a lone surrogate in a name: the client's mistake.
        raise AgendaError(f"not a valid contact: {exc}") from exc
    info = _info(stored, raw)
    assert info is not None
    return info
