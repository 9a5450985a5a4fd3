"""Does a value come from the request? Text comparison that ignores case, accents,
punctuation and spacing, and the address book that turns names into addresses."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def fold(text: str) -> str:
    """Lower case, no accents, punctuation as spaces, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w@.+-]+", " ", bare).replace("'", " ").split()).strip(" .")


def appears_in(value: str, text: str) -> bool:
    """True if ``value`` is written in ``text`` (as whole words)."""
    needle = fold(value)
    if not needle:
        return False
    return f" {needle} " in f" {fold(text)} "


def is_address(value: str) -> bool:
    return bool(_ADDRESS.match(value.strip()))


@dataclass(frozen=True)
class Contact:
    name: str
    address: str


Loader = Callable[[], Awaitable[Iterable[Contact]]]


class AddressBook:
    """The user's contacts: "Alice" in a request means the one Alice they know.

    With a ``loader``, the contacts are fetched only when a request names someone
    by name (most requests do not, and fetching them costs a round trip).
    """

    def __init__(self, contacts: Iterable[Contact] = (), *, loader: Loader | None = None) -> None:
        self.contacts = list(contacts)
        self._loader = loader

    async def load(self) -> None:
        """Fetch the contacts from the loader, once."""
        if self._loader is not None:
            loader, self._loader = self._loader, None
            self.contacts.extend(await loader())

    def lookup(self, name: str) -> list[Contact]:
        """Contacts whose full name, one of whose names, whose address, or a word of
        whose address ("alice" for alice@example.net, "banque" for
        info@banque-populaire.fr) is ``name``; most recent correspondents first."""
        wanted = fold(name)
        if not wanted:
            return []
        return [c for c in self.contacts if wanted in names_of(c)]


def names_of(contact: Contact) -> set[str]:
    """Everything ``contact`` can be called by, folded: the full name, each of its
    names, the address, the words of its local part and of its domain name."""
    name = fold(contact.name)
    local, _, domain = contact.address.lower().partition("@")
    keys = {name, *[w for w in name.split() if len(w) > 1], contact.address.lower()}
    keys.update(w for w in re.split(r"[._+-]+", local) if len(w) > 2)
    keys.update(w for w in re.split(r"[.-]+", domain.rsplit(".", 1)[0]) if len(w) > 3)
    keys.discard("")
    return keys
