"""Changes to Xandikos, applied explicitly at service start, for the version pinned.

One module per patched library (the house rule): each change says what upstream
does, why that is wrong for tidings, and is covered by a test in tests/dav/.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import version
from typing import Any

#: The Xandikos release these patches were written against (pyproject pins it).
XANDIKOS_VERSION = "0.4.10"

_applied = False


class XandikosVersionError(RuntimeError):
    pass


def apply() -> None:
    """Apply every patch once; refuse to run on a Xandikos they were not written for."""
    global _applied
    if _applied:
        return
    found = version("xandikos")
    if found != XANDIKOS_VERSION:
        raise XandikosVersionError(
            f"tidings' dav service is written for Xandikos {XANDIKOS_VERSION}, found {found}"
        )
    _no_implicit_scheduling()
    _sync_collection_never_drops_changes()
    _applied = True


def _no_implicit_scheduling() -> None:
    """Store a PUT as the client sent it; delete without sending CANCELs.

    Upstream, a PUT of an event the user organises delivers iTIP requests to other
    principals' inboxes and writes ``SCHEDULE-STATUS`` into the stored event (RFC
    6638 implicit scheduling), and a DELETE sends CANCELs. tidings does not announce
    ``calendar-auto-schedule`` (invitations by mail are not built), and a server that
    does not announce it must leave scheduling to the client: upstream would instead
    mark every attendee ``3.7 Invalid calendar user`` (it cannot reach them) behind the
    client's back. Covered by tests/dav/test_dav_front.py."""
    from xandikos.web import CalendarCollection

    async def pre_put_hook(
        self: Any, member_name: str, new_contents: Iterable[bytes], content_type: str
    ) -> None:
        return None

    async def pre_delete_hook(self: Any, member_name: str) -> None:
        return None

    CalendarCollection.pre_put_hook = pre_put_hook  # type: ignore[method-assign]
    CalendarCollection.pre_delete_hook = pre_delete_hook  # type: ignore[method-assign]


def _sync_collection_never_drops_changes() -> None:
    """Answer a sync-collection with a ``DAV:limit`` with every change.

    Upstream cuts the list at the limit but still hands out the token of the latest
    state, so the changes past the cut are never reported to that client (seen by
    caldav-server-tester: "the reply is cut without a 507, and the token skips
    them"). Xandikos' tokens are git commits and cannot name a state part-way, so
    truncating correctly is not possible; a longer answer than asked loses nothing."""
    from xandikos.sync import SyncCollectionReporter

    original = SyncCollectionReporter.report

    def report(self: Any, environ: Any, request_body: Any, *args: Any, **kwargs: Any) -> Any:
        for limit in request_body.findall("{DAV:}limit"):
            request_body.remove(limit)
        return original(self, environ, request_body, *args, **kwargs)

    SyncCollectionReporter.report = report  # type: ignore[method-assign]
