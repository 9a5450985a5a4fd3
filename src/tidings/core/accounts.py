"""Accounts shared by every service: users, their passwords and their API tokens.

Passwords are stored as argon2id hashes (argon2-cffi's defaults, rehashed when those
move on). API tokens are random 256-bit secrets shown once; only their SHA-256 is
stored — a fast hash is right for high-entropy secrets and keeps a per-request check
cheap. Tokens carry scopes (``mail:read``, ``mail:send``, ``dav``, ``chat``, ``ai``...)
and can be revoked; each use records its time.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func
from sqlmodel import Field, Session, SQLModel, col, select

from tidings.core.db import Database, utcnow
from tidings.core.throttle import LoginThrottle, Throttled

#: Every scope a token can carry. A token may hold several.
SCOPES: dict[str, str] = {
    "mail:read": "read mail, folders and search",
    "mail:send": "send mail and change messages (flags, moves, deletes, drafts)",
    "dav": "calendars and contacts",
    "dav:read": "read calendars and contacts (CalDAV/CardDAV and the REST API)",
    "dav:write": "read and change calendars and contacts, send invitations",
    "chat": "chat rooms and messages",
    "ai": "talk to the assistant (which then acts with the token's other scopes)",
    "admin": "manage accounts",
}

TOKEN_PREFIX = "tdg_"  # noqa: S105  (a marker, so leaked tokens are recognisable)
_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
# Verified when the user does not exist, so timing does not reveal which addresses exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
# RFC 5322 dot-atom local parts, minus "/" (local parts name Maildir directories).
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(index=True, unique=True, max_length=254)
    display_name: str = Field(default="", max_length=200)
    password_hash: str
    is_admin: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    # A disabled account keeps its mail and tokens but cannot sign in on any protocol
    # nor use any token until enabled again (a leaver, a stolen laptop).
    disabled_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    name: str = Field(default="", max_length=100)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    scopes: str  # space-separated, as OAuth writes them
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    # Set for credentials that must die on their own, like the one a web session holds.
    expires_at: datetime | None = None

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class AccountError(Exception):
    """A request about accounts that cannot be done, worded for the person who asked."""


class AuthFailed(Exception):
    """Wrong credentials. Deliberately says no more than that."""


class Principal:
    """Who is acting: the user, and what the credential lets them do."""

    def __init__(self, user: User, scopes: frozenset[str], token_id: int | None = None) -> None:
        self.user = user
        self.scopes = scopes
        self.token_id = token_id

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise PermissionError(f"this credential lacks the {scope!r} scope")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_address(address: str) -> str:
    """Lower-cased: RFC 5321 lets a server treat local parts case-sensitively, but every
    mainstream one folds them, and people expect Alice@ and alice@ to be one mailbox."""
    address = address.strip().lower()
    if not _ADDRESS.match(address) or len(address) > 254 or address.startswith("."):
        raise AccountError(f"not an e-mail address: {address!r}")
    return address


class Accounts:
    """The one place that reads and writes users and tokens."""

    def __init__(self, db: Database, domains: Iterable[str] | None = None) -> None:
        self.db = db
        settings = db.settings
        self.domains = frozenset(domains) if domains else frozenset({settings.domain})
        self.throttle = LoginThrottle(
            db,
            per_user=settings.auth.max_failures_per_user,
            per_address=settings.auth.max_failures_per_address,
            window_seconds=settings.auth.failure_window_seconds,
        )

    # -- users ---------------------------------------------------------------
    def add_user(
        self, address: str, password: str, *, display_name: str = "", admin: bool = False
    ) -> User:
        address = normalise_address(address)
        domain = address.rpartition("@")[2]
        if domain not in self.domains:
            raise AccountError(
                f"{address}: this box serves {', '.join(sorted(self.domains))}, not {domain}"
            )
        _check_password(password)
        with self.db.session() as session:
            if self._find(session, address) is not None:
                raise AccountError(f"{address} already exists")
            user = User(
                address=address,
                display_name=display_name,
                password_hash=_hasher.hash(password),
                is_admin=admin,
            )
            session.add(user)
            session.commit()
            session.refresh(user)
            return user

    def get_user(self, address: str) -> User | None:
        with self.db.session() as session:
            return self._find(session, normalise_address(address))

    def require_user(self, address: str) -> User:
        user = self.get_user(address)
        if user is None:
            raise AccountError(f"no such user: {address}")
        return user

    def list_users(self) -> list[User]:
        with self.db.session() as session:
            return list(session.exec(select(User).order_by(col(User.address))))

    def set_password(self, address: str, password: str) -> None:
        _check_password(password)
        with self.db.session() as session:
            user = self._find(session, normalise_address(address))
            if user is None:
                raise AccountError(f"no such user: {address}")
            user.password_hash = _hasher.hash(password)
            session.add(user)
            session.commit()

    def set_disabled(self, address: str, disabled: bool) -> User:
        """Disable (or enable again) ADDRESS. Its mail, tokens and conversations stay;
        every password login and token use is refused while it is disabled."""
        with self.db.session() as session:
            user = self._find(session, normalise_address(address))
            if user is None:
                raise AccountError(f"no such user: {address}")
            if disabled and user.disabled_at is None:
                user.disabled_at = utcnow()
            elif not disabled:
                user.disabled_at = None
            session.add(user)
            session.commit()
            session.refresh(user)
            return user

    def check_allowed(self, address: str, source: str = "") -> None:
        """What a login already verified (a cached verdict) must still pass: the
        throttle, and the account still existing and enabled."""
        self.throttle.check(address, source)
        with self.db.session() as session:
            user = self._find(session, address)
            if user is None or user.disabled_at is not None:
                raise AuthFailed("invalid credentials")

    def delete_user(self, address: str) -> None:
        with self.db.session() as session:
            user = self._find(session, normalise_address(address))
            if user is None:
                raise AccountError(f"no such user: {address}")
            for token in session.exec(select(ApiToken).where(ApiToken.user_id == user.id)):
                session.delete(token)
            session.delete(user)
            session.commit()

    # -- passwords -----------------------------------------------------------
    def authenticate(self, address: str, password: str, *, source: str = "") -> User:
        """Check a password login, with throttling per account and per client address.

        Raises :class:`Throttled` (the caller answers with its protocol's "try later")
        or :class:`AuthFailed`. Never says whether the account exists.
        """
        try:
            address = normalise_address(address)
        except AccountError:
            address = address.strip()[:254]
        self.throttle.check(address, source)
        with self.db.session() as session:
            user = self._find(session, address)
            candidate = user.password_hash if user else _DUMMY_HASH
            try:
                _hasher.verify(candidate, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                user = None
            if user is None:
                self.throttle.record_failure(address, source)
                raise AuthFailed("invalid credentials")
            if user.disabled_at is not None:
                # Same answer as a wrong password: a disabled account is not revealed.
                raise AuthFailed("invalid credentials")
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
                session.add(user)
                session.commit()
        self.throttle.record_success(address)
        return user

    # -- tokens --------------------------------------------------------------
    def create_token(
        self,
        address: str,
        scopes: Iterable[str],
        name: str = "",
        *,
        expires_at: datetime | None = None,
    ) -> tuple[str, ApiToken]:
        """Return ``(secret, record)``. The secret is never stored and cannot be shown again.
        A token with ``expires_at`` is refused from then on, as if revoked."""
        wanted = sorted(set(scopes))
        unknown = [s for s in wanted if s not in SCOPES]
        if unknown or not wanted:
            raise AccountError(
                f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}"
                if unknown
                else f"a token needs at least one scope: {', '.join(SCOPES)}"
            )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.session() as session:
            user = self._find(session, normalise_address(address))
            if user is None:
                raise AccountError(f"no such user: {address}")
            if "admin" in wanted and not user.is_admin:
                raise AccountError(f"{user.address} is not an admin; the admin scope needs one")
            assert user.id is not None
            record = ApiToken(
                user_id=user.id,
                name=name,
                token_hash=hash_token(secret),
                scopes=" ".join(wanted),
                expires_at=expires_at,
            )
            session.add(record)
            session.commit()
            session.refresh(record)
            return secret, record

    def list_tokens(self, address: str | None = None) -> list[tuple[ApiToken, User]]:
        with self.db.session() as session:
            query = select(ApiToken, User).join(User).order_by(col(ApiToken.id))
            if address:
                query = query.where(User.address == normalise_address(address))
            return [(t, u) for t, u in session.exec(query)]

    def revoke_token(self, token_id: int) -> None:
        with self.db.session() as session:
            record = session.get(ApiToken, token_id)
            if record is None:
                raise AccountError(f"no such token: {token_id}")
            if record.revoked_at is None:
                record.revoked_at = utcnow()
                session.add(record)
                session.commit()

    def check_token(self, secret: str, scope: str | None = None) -> Principal:
        """Resolve a bearer token to its principal; :class:`AuthFailed` if unknown or revoked,
        :class:`PermissionError` if it lacks ``scope``."""
        if not secret.startswith(TOKEN_PREFIX):
            raise AuthFailed("invalid token")
        with self.db.session() as session:
            row = session.exec(
                select(ApiToken, User).join(User).where(ApiToken.token_hash == hash_token(secret))
            ).first()
            if (
                row is None
                or row[0].revoked_at is not None
                or _expired(row[0])
                or row[1].disabled_at is not None
            ):
                raise AuthFailed("invalid token")
            record, user = row
            record.last_used_at = utcnow()
            session.add(record)
            session.commit()
            principal = Principal(user, record.scope_set, record.id)
        if scope is not None:
            principal.require(scope)
        return principal

    def count_users(self) -> int:
        with self.db.session() as session:
            return session.exec(select(func.count()).select_from(User)).one()

    @staticmethod
    def _find(session: Session, address: str) -> User | None:
        return session.exec(select(User).where(User.address == address)).first()


def _expired(record: ApiToken) -> bool:
    if record.expires_at is None:
        return False
    expires = record.expires_at
    if expires.tzinfo is None:  # SQLite gives back naive datetimes; they were stored in UTC
        expires = expires.replace(tzinfo=UTC)
    return expires <= utcnow()


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise AccountError("a password needs at least 8 characters")
    if len(password) > 1024:
        raise AccountError("a password may have at most 1024 characters")


__all__ = [
    "SCOPES",
    "AccountError",
    "Accounts",
    "ApiToken",
    "AuthFailed",
    "Principal",
    "Throttled",
    "User",
]
