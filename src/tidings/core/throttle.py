"""Login throttling shared by every protocol that checks a password.

Failures are counted in the accounts database (not in memory) so that all service
processes — SMTP submission, IMAP, DAV, web — see the same counts and a restart does
not reset them. Two sliding windows: per account (guessing one password) and per
client address (spraying many accounts). A success clears the account's count.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Field, SQLModel, col, select

from tidings.core.db import Database, utcnow


class AuthFailure(SQLModel, table=True):
    __tablename__ = "auth_failure"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)  # "user" or "addr"
    key: str = Field(max_length=254, index=True)
    at: datetime = Field(index=True)


class Throttled(Exception):
    """Too many recent failures; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


class LoginThrottle:
    def __init__(
        self, db: Database, *, per_user: int, per_address: int, window_seconds: int
    ) -> None:
        self.db = db
        self.limits = {"user": per_user, "addr": per_address}
        self.window = timedelta(seconds=window_seconds)

    def _now(self) -> datetime:
        return utcnow()

    def check(self, user: str, address: str) -> None:
        """Raise :class:`Throttled` if either key is over its limit."""
        now = self._now()
        since = now - self.window
        with self.db.session() as session:
            for kind, key in (("user", user), ("addr", address)):
                if not key:
                    continue
                count, oldest = session.exec(
                    select(func.count(), func.min(AuthFailure.at)).where(
                        AuthFailure.kind == kind, AuthFailure.key == key, AuthFailure.at > since
                    )
                ).one()
                if count >= self.limits[kind]:
                    retry = int((oldest + self.window - now).total_seconds()) + 1
                    raise Throttled(max(retry, 1))

    def record_failure(self, user: str, address: str) -> None:
        now = self._now()
        with self.db.session() as session:
            session.add(AuthFailure(kind="user", key=user, at=now))
            if address:
                session.add(AuthFailure(kind="addr", key=address, at=now))
            # Keep the table small: forget what has left every window.
            session.exec(delete(AuthFailure).where(col(AuthFailure.at) < now - self.window))
            session.commit()

    def record_success(self, user: str) -> None:
        with self.db.session() as session:
            session.exec(
                delete(AuthFailure).where(
                    col(AuthFailure.kind) == "user", col(AuthFailure.key) == user
                )
            )
            session.commit()
