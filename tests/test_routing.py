"""Where a message goes (tidings.mail.routing): the one rule SMTP, the REST API and
MCP share — local mailboxes that exist, the queue for other domains, Return-Path
on final delivery only."""

from __future__ import annotations

import asyncio

import pytest

from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.mail.outbound import OutboundQueue
from tidings.mail.routing import Destination, Route, Router, RoutingError
from tidings.mail.store import MailStore

MESSAGE = b"From: alice@example.test\r\nSubject: lunch\r\n\r\nAt noon?\r\n"


@pytest.fixture
def router(settings: Settings, accounts: Accounts) -> Router:
    accounts.add_user("alice@example.test", "alice-password")
    accounts.add_user("bob@example.test", "bob-password")
    return Router(accounts, MailStore(settings), OutboundQueue(settings))


def test_destinations(router: Router) -> None:
    assert router.destination("bob@example.test") is Destination.LOCAL
    assert router.destination("Bob@EXAMPLE.test") is Destination.LOCAL
    assert router.destination("nobody@example.test") is Destination.NO_SUCH_USER
    assert router.destination("not an address@example.test") is Destination.NO_SUCH_USER
    assert router.destination("carol@remote.example") is Destination.REMOTE


def test_route_splits_deduplicates_and_refuses_unknown_local_users(router: Router) -> None:
    route = router.route(["Bob@example.test", "carol@remote.example", "bob@example.test"])
    assert route == Route(local=("bob@example.test",), remote=("carol@remote.example",))
    with pytest.raises(RoutingError, match=r"no mailbox nobody@example\.test") as refused:
        router.route(["bob@example.test", "Nobody@example.test"])
    assert refused.value.address == "Nobody@example.test"


def test_dispatch_delivers_with_return_path_and_queues_without(
    router: Router, settings: Settings
) -> None:
    route = Route(local=("bob@example.test",), remote=("carol@remote.example",))
    asyncio.run(router.dispatch("alice@example.test", route, MESSAGE))

    (row,) = router.store.list_messages("bob@example.test").messages
    stored = router.store.read_message("bob@example.test", "INBOX", row.key)
    assert stored == b"Return-Path: <alice@example.test>\r\n" + MESSAGE
    queue = OutboundQueue(settings)
    (queued,) = queue.list()
    assert (queued.rcpt, queued.mail_from) == ("carol@remote.example", "alice@example.test")
    relayed = queue.store.data(queued.message_id)
    assert relayed is not None and b"Return-Path" not in relayed
    assert relayed.endswith(MESSAGE)  # DKIM-Signature headers in front, nothing else


def test_a_bounce_has_an_empty_return_path_and_nothing_is_injected(router: Router) -> None:
    route = Route(local=("bob@example.test",))
    asyncio.run(router.dispatch("", route, MESSAGE))
    asyncio.run(router.dispatch("x\r\nBcc: evil@remote.example", route, MESSAGE))
    stored = sorted(
        router.store.read_message("bob@example.test", "INBOX", m.key)
        for m in router.store.list_messages("bob@example.test").messages
    )
    assert stored == sorted(
        [
            b"Return-Path: <>\r\n" + MESSAGE,
            b"Return-Path: <x??Bcc: evil@remote.example>\r\n" + MESSAGE,
        ]
    )


def test_remote_mail_without_a_queue_is_refused_before_anything_is_stored(
    settings: Settings, accounts: Accounts
) -> None:
    accounts.add_user("bob@example.test", "bob-password")
    router = Router(accounts, MailStore(settings), outbox=None)
    route = Route(local=("bob@example.test",), remote=("carol@remote.example",))
    with pytest.raises(RoutingError, match="not enabled"):
        asyncio.run(router.dispatch("alice@example.test", route, MESSAGE))
    assert router.store.addresses() == []  # no mailbox was even created


def test_an_account_is_found_at_once_and_remembered(router: Router, accounts: Accounts) -> None:
    assert router.destination("carol@example.test") is Destination.NO_SUCH_USER
    assert not router.known_locally("carol@example.test")
    accounts.add_user("carol@example.test", "carol-password")
    assert router.destination("Carol@example.test") is Destination.LOCAL  # not cached as absent
    assert router.known_locally("carol@example.test")  # the SMTP loop may now skip the query
    assert not router.known_locally("carol@remote.example")
