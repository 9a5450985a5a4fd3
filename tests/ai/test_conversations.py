"""Conversations persisted in the core database, per user."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tidings.ai.backends import Message
from tidings.ai.conversations import ConversationNotFound, Conversations
from tidings.ai.prompt import render_gemma
from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.core.db import Database


@pytest.fixture
def conversations(accounts: Accounts, settings: Settings) -> Iterator[Conversations]:
    db = Database(settings)
    yield Conversations(db)
    db.close()


def test_a_conversation_keeps_its_messages_in_order_across_restarts(
    accounts: Accounts, settings: Settings, conversations: Conversations
) -> None:
    alice = accounts.add_user("alice@example.test", "alice-password-1")
    assert alice.id is not None
    talk = conversations.start(alice.id, "mails")
    assert talk.id is not None
    conversations.add(alice.id, talk.id, Message("user", "liste mes mails"))
    conversations.add(
        alice.id,
        talk.id,
        Message("tool", '[{"id": "7", "subject": "Devis"}]', name="list_emails"),
        tool_arguments={"folder": "INBOX"},
    )
    conversations.add(alice.id, talk.id, Message("assistant", "Un mail : « Devis »."))

    reopened = Conversations(Database(settings))  # another process, same database
    history = reopened.history(alice.id, talk.id)
    assert [m.role for m in history] == ["user", "tool", "assistant"]
    assert history[1].tool_name == "list_emails"
    assert history[1].arguments == {"folder": "INBOX"}
    messages = reopened.messages(alice.id, talk.id)
    assert "Result of tool list_emails" in render_gemma(messages)
    reopened.db.close()


def test_one_user_never_sees_another_users_conversations(
    accounts: Accounts, conversations: Conversations
) -> None:
    alice = accounts.add_user("alice@example.test", "alice-password-1")
    bob = accounts.add_user("bob@example.test", "bob-password-12")
    assert alice.id is not None and bob.id is not None
    private = conversations.start(alice.id, "secret")
    assert private.id is not None
    conversations.add(alice.id, private.id, Message("user", "réponds à Paul que oui"))

    assert conversations.recent(bob.id) == []
    for attempt in (
        lambda: conversations.history(bob.id, private.id),
        lambda: conversations.add(bob.id, private.id, Message("user", "hello")),
        lambda: conversations.rename(bob.id, private.id, "mine"),
        lambda: conversations.delete(bob.id, private.id),
        lambda: conversations.history(alice.id, private.id + 1000),
    ):
        with pytest.raises(ConversationNotFound):
            attempt()
    assert [m.content for m in conversations.messages(alice.id, private.id)] == [
        "réponds à Paul que oui"
    ]


def test_recent_conversations_come_first_and_deleting_removes_messages(
    accounts: Accounts, conversations: Conversations, settings: Settings
) -> None:
    user = accounts.add_user("carol@example.test", "carol-password-1")
    assert user.id is not None
    first = conversations.start(user.id, "first")
    second = conversations.start(user.id, "second")
    assert first.id is not None and second.id is not None
    conversations.add(user.id, first.id, Message("user", "bonjour"))
    assert [c.title for c in conversations.recent(user.id)] == ["first", "second"]
    conversations.rename(user.id, second.id, "renamed")
    conversations.delete(user.id, first.id)
    assert [c.title for c in conversations.recent(user.id)] == ["renamed"]
    with sqlite3.connect(settings.data_dir / "tidings.sqlite") as db:
        (left,) = db.execute(
            "SELECT count(*) FROM ai_message WHERE conversation_id = ?", (first.id,)
        ).fetchone()
    assert left == 0


def test_deleting_a_user_deletes_their_conversations(
    accounts: Accounts, conversations: Conversations, settings: Settings
) -> None:
    user = accounts.add_user("dave@example.test", "dave-password-12")
    assert user.id is not None
    talk = conversations.start(user.id)
    assert talk.id is not None
    conversations.add(user.id, talk.id, Message("user", "salut"))
    accounts.delete_user("dave@example.test")
    with sqlite3.connect(settings.data_dir / "tidings.sqlite") as db:
        (conversations_left,) = db.execute("SELECT count(*) FROM ai_conversation").fetchone()
        (messages_left,) = db.execute("SELECT count(*) FROM ai_message").fetchone()
    assert (conversations_left, messages_left) == (0, 0)
