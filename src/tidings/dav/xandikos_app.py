"""The Xandikos classes tidings runs: its multi-user backend and app, narrowed.

- Principals are the box's accounts, one per address (``/alice@example.test/``), made
  on first use with a default calendar and one address book (macOS Contacts syncs
  only the first), and their ``mailto:`` as calendar user address.
- A request only ever sees its own principal: the root page lists none, and
  principal searches (``principal-property-search``) iterate the acting user alone.
- ``calendar-auto-schedule`` is not advertised: tidings does not deliver iTIP
  invitations yet (docs/decisions.md, "dav"), and a client that believes the server
  schedules would send none itself.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from typing import Any

from xandikos.multi_user import MultiUserFilesystemBackend, MultiUserXandikosApp
from xandikos.store import STORE_TYPE_ADDRESSBOOK, STORE_TYPE_CALENDAR

from tidings.dav.engine import ADDRESSBOOK, CALENDAR, principal_path

#: DAV features Xandikos announces that tidings does not provide.
_NOT_PROVIDED = frozenset({"calendar-auto-schedule"})


class TidingsBackend(MultiUserFilesystemBackend):
    def __init__(self, path: str, *, acting_user: Callable[[], str | None]) -> None:
        super().__init__(
            path,
            principal_path_prefix="/",
            principal_path_suffix="/",
            create_defaults=True,
            show_principals_on_root=False,
        )
        self._acting_user = acting_user

    def ensure_user(self, address: str) -> None:
        """The principal of ``address`` with its defaults (idempotent)."""
        self.set_principal(address)
        relpath = principal_path(address)
        principal = self.get_resource(relpath)
        if principal is None:  # pragma: no cover  (set_principal just made it)
            raise RuntimeError(f"no principal for {address}")
        try:
            principal._metadata().get_calendar_user_address_set()
        except KeyError:
            principal.set_calendar_user_address_set([f"mailto:{address}"])
        for name, kind, shown in (
            (f"calendars/{CALENDAR}", STORE_TYPE_CALENDAR, "Calendar"),
            (f"contacts/{ADDRESSBOOK}", STORE_TYPE_ADDRESSBOOK, "Contacts"),
        ):
            collection = self.get_resource(posixpath.join(relpath, name))
            if collection is not None and collection.store.get_type() == kind:
                try:
                    collection.get_displayname()
                except KeyError:
                    collection.set_displayname(shown)

    def _visible(self, relpath: str) -> bool:
        user = self._acting_user()
        return user is not None and posixpath.normpath(relpath) == posixpath.normpath(
            principal_path(user)
        )

    def find_principals(self) -> set[str]:
        return {p for p in super().find_principals() if self._visible(p)}

    def iter_principals(self) -> Iterator[tuple[str, Any]]:
        for relpath, principal in super().iter_principals():
            if self._visible(relpath):
                yield relpath, principal

    def get_principal_collection_set(self) -> set[str]:
        return {"/"}


class TidingsXandikosApp(MultiUserXandikosApp):
    def __init__(self, backend: TidingsBackend) -> None:
        super().__init__(
            backend,
            current_user_principal="/%(REMOTE_USER)s/",
            strict=True,
            require_auth=True,
            # The authenticated user comes only from our front, in-process: never
            # from a header, whoever sends it.
            trusted_x_remote_user_hosts=None,
            trust_x_remote_user_unix=False,
        )

    def _get_dav_features(self, resource: Any) -> list[str]:
        features: list[str] = super()._get_dav_features(resource)
        return [f for f in features if f not in _NOT_PROVIDED]


__all__ = ["TidingsBackend", "TidingsXandikosApp"]
