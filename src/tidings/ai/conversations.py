"""Conversations with the assistant, kept per user in the core database.

A conversation is an ordered list of messages (user, assistant, tool results with
the call that produced them). Every read and write names the user: a conversation
that belongs to someone else is answered exactly like one that does not exist, so
one user can neither see nor guess another's.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlmodel import Field, SQLModel, col, select

from tidings.ai.backends import Message, Role
from tidings.core.db import Database, utcnow

_ROLES = ("system", "user", "assistant", "tool")


class Conversation(SQLModel, table=True):
    __tablename__ = "ai_conversation"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    title: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)


class ConversationMessage(SQLModel, table=True):
    __tablename__ = "ai_message"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="ai_conversation.id", index=True, ondelete="CASCADE")
    role: str = Field(max_length=16)
    content: str
    tool_name: str | None = Field(default=None, max_length=200)
    tool_arguments: str | None = None  # JSON of the call whose result this is
    created_at: datetime = Field(default_factory=utcnow)

    def as_message(self) -> Message:
        return Message(cast(Role, self.role), self.content, self.tool_name)

    @property
    def arguments(self) -> dict[str, Any] | None:
        return json.loads(self.tool_arguments) if self.tool_arguments is not None else None


class ConversationNotFound(Exception):
    """No such conversation for this user (whether it exists for another or not)."""


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db

    def start(self, user_id: int, title: str = "") -> Conversation:
        conversation = Conversation(user_id=user_id, title=title[:200])
        with self.db.session() as session:
            session.add(conversation)
            session.commit()
            session.refresh(conversation)
        return conversation

    def _owned(self, session: Any, user_id: int, conversation_id: int) -> Conversation:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None or conversation.user_id != user_id:
            raise ConversationNotFound(conversation_id)
        return cast(Conversation, conversation)

    def add(
        self,
        user_id: int,
        conversation_id: int,
        message: Message,
        *,
        tool_arguments: dict[str, Any] | None = None,
    ) -> ConversationMessage:
        if message.role not in _ROLES:
            raise ValueError(f"unknown role {message.role!r}")
        with self.db.session() as session:
            conversation = self._owned(session, user_id, conversation_id)
            stored = ConversationMessage(
                conversation_id=conversation_id,
                role=message.role,
                content=message.content,
                tool_name=message.name,
                tool_arguments=json.dumps(tool_arguments) if tool_arguments is not None else None,
            )
            conversation.updated_at = utcnow()
            session.add(stored)
            session.add(conversation)
            session.commit()
            session.refresh(stored)
        return stored

    def recent(self, user_id: int, limit: int = 50) -> list[Conversation]:
        """The user's conversations, most recently active first."""
        with self.db.session() as session:
            query = (
                select(Conversation)
                .where(Conversation.user_id == user_id)
                .order_by(col(Conversation.updated_at).desc(), col(Conversation.id).desc())
                .limit(limit)
            )
            return list(session.exec(query))

    def history(self, user_id: int, conversation_id: int) -> list[ConversationMessage]:
        """The messages of one conversation, in the order they were added."""
        with self.db.session() as session:
            self._owned(session, user_id, conversation_id)
            query = (
                select(ConversationMessage)
                .where(ConversationMessage.conversation_id == conversation_id)
                .order_by(col(ConversationMessage.id))
            )
            return list(session.exec(query))

    def messages(self, user_id: int, conversation_id: int) -> list[Message]:
        """The history as model messages, ready for a backend."""
        return [m.as_message() for m in self.history(user_id, conversation_id)]

    def rename(self, user_id: int, conversation_id: int, title: str) -> None:
        with self.db.session() as session:
            conversation = self._owned(session, user_id, conversation_id)
            conversation.title = title[:200]
            session.add(conversation)
            session.commit()

    def delete(self, user_id: int, conversation_id: int) -> None:
        with self.db.session() as session:
            conversation = self._owned(session, user_id, conversation_id)
            # Its messages go with it: ON DELETE CASCADE, in SQLite and PostgreSQL.
            session.delete(conversation)
            session.commit()
