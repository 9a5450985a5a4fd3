"""Accounts: users, passwords, tokens and scopes, login throttling."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from tidings.core.accounts import AccountError, Accounts, AuthFailed, Throttled
from tidings.core.config import Settings
from tidings.core.db import Database, utcnow


def test_user_life_cycle(accounts: Accounts) -> None:
    user = accounts.add_user(
        "Alice@Example.Test", "correct horse", display_name="Alice", admin=True
    )
    assert user.address == "alice@example.test"
    assert [u.address for u in accounts.list_users()] == ["alice@example.test"]
    with pytest.raises(AccountError, match="already exists"):
        accounts.add_user("alice@example.test", "another password")

    accounts.set_password("alice@example.test", "battery staple")
    with pytest.raises(AuthFailed):
        accounts.authenticate("alice@example.test", "correct horse")
    assert accounts.authenticate("ALICE@example.test", "battery staple").address == user.address

    accounts.delete_user("alice@example.test")
    assert accounts.get_user("alice@example.test") is None
    with pytest.raises(AuthFailed):
        accounts.authenticate("alice@example.test", "battery staple")


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("bob@elsewhere.example", "serves example.test, not elsewhere.example"),
        ("no-at-sign", "not an e-mail address"),
        ("../etc@example.test", "not an e-mail address"),
        ("a/b@example.test", "not an e-mail address"),
    ],
)
def test_refuses_addresses_this_box_cannot_serve(
    accounts: Accounts, address: str, message: str
) -> None:
    with pytest.raises(AccountError, match=message):
        accounts.add_user(address, "long enough")


def test_refuses_short_passwords(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="at least 8"):
        accounts.add_user("bob@example.test", "short")


def test_password_verification(accounts: Accounts) -> None:
    accounts.add_user("bob@example.test", "s3cret-pass")
    assert accounts.authenticate("bob@example.test", "s3cret-pass").address == "bob@example.test"
    for wrong in ("s3cret-Pass", "", "s3cret-pass ", "x" * 2000):
        with pytest.raises(AuthFailed):
            accounts.authenticate("bob@example.test", wrong)
    with pytest.raises(AuthFailed):
        accounts.authenticate("nobody@example.test", "s3cret-pass")


def test_passwords_and_tokens_are_never_stored_in_clear(
    accounts: Accounts, settings: Settings
) -> None:
    accounts.add_user("carol@example.test", "plaintext-password")
    secret, _ = accounts.create_token("carol@example.test", ["mail:read"])
    raw = (settings.data_dir / "tidings.sqlite").read_bytes()
    wal = settings.data_dir / "tidings.sqlite-wal"
    if wal.exists():
        raw += wal.read_bytes()
    assert b"plaintext-password" not in raw
    assert secret.encode() not in raw
    with sqlite3.connect(settings.data_dir / "tidings.sqlite") as db:
        (stored,) = db.execute("SELECT password_hash FROM user").fetchone()
    assert stored.startswith("$argon2id$")


def test_token_life_cycle_and_scopes(accounts: Accounts) -> None:
    accounts.add_user("alice@example.test", "password-a")
    secret, record = accounts.create_token("alice@example.test", ["mail:read", "dav"], name="phone")
    assert secret.startswith("tdg_") and len(secret) > 40
    assert record.scopes == "dav mail:read"

    principal = accounts.check_token(secret, "mail:read")
    assert principal.user.address == "alice@example.test"
    assert principal.has("dav") and not principal.has("mail:send")
    with pytest.raises(PermissionError, match="mail:send"):
        accounts.check_token(secret, "mail:send")

    ((listed, user),) = accounts.list_tokens("alice@example.test")
    assert listed.last_used_at is not None and user.address == "alice@example.test"

    for bad in ("tdg_" + "A" * 43, secret[:-1], "", "Bearer " + secret):
        with pytest.raises(AuthFailed):
            accounts.check_token(bad)

    assert record.id is not None
    accounts.revoke_token(record.id)
    with pytest.raises(AuthFailed):
        accounts.check_token(secret)


def test_a_token_with_an_expiry_dies_on_its_own(accounts: Accounts) -> None:
    """What a web session holds: refused from its expiry on, like a revoked token."""
    accounts.add_user("alice@example.test", "password-a")
    now = utcnow()
    alive, _ = accounts.create_token(
        "alice@example.test", ["ai"], "web session", expires_at=now + timedelta(hours=1)
    )
    dead, _ = accounts.create_token(
        "alice@example.test", ["ai"], "web session", expires_at=now - timedelta(seconds=1)
    )
    assert accounts.check_token(alive, "ai").user.address == "alice@example.test"
    with pytest.raises(AuthFailed):
        accounts.check_token(dead)
    ((first, _), (second, _)) = accounts.list_tokens("alice@example.test")
    assert first.expires_at is not None and second.expires_at is not None


def test_token_scopes_are_checked_when_created(accounts: Accounts) -> None:
    accounts.add_user("dave@example.test", "password-d")
    with pytest.raises(AccountError, match="unknown scope"):
        accounts.create_token("dave@example.test", ["mail:everything"])
    with pytest.raises(AccountError, match="at least one scope"):
        accounts.create_token("dave@example.test", [])
    with pytest.raises(AccountError, match="not an admin"):
        accounts.create_token("dave@example.test", ["admin"])
    with pytest.raises(AccountError, match="no such user"):
        accounts.create_token("nobody@example.test", ["mail:read"])


def test_one_users_token_is_not_anothers(accounts: Accounts) -> None:
    accounts.add_user("alice@example.test", "password-a")
    accounts.add_user("bob@example.test", "password-b")
    alice, _ = accounts.create_token("alice@example.test", ["mail:read"])
    bob, _ = accounts.create_token("bob@example.test", ["mail:read"])
    assert accounts.check_token(alice).user.address == "alice@example.test"
    assert accounts.check_token(bob).user.address == "bob@example.test"


def test_a_disabled_account_is_refused_everywhere_until_enabled(accounts: Accounts) -> None:
    accounts.add_user("frank@example.test", "password-f")
    secret, _ = accounts.create_token("frank@example.test", ["mail:read"])
    accounts.set_disabled("frank@example.test", True)
    with pytest.raises(AuthFailed, match=r"^invalid credentials$"):  # as a wrong password
        accounts.authenticate("frank@example.test", "password-f")
    with pytest.raises(AuthFailed):
        accounts.check_token(secret)
    with pytest.raises(AuthFailed):  # what a cached login verdict asks again
        accounts.check_allowed("frank@example.test")
    user = accounts.require_user("frank@example.test")
    assert user.disabled_at is not None
    assert [t.revoked_at for t, _ in accounts.list_tokens("frank@example.test")] == [None]

    accounts.set_disabled("frank@example.test", False)
    assert accounts.authenticate("frank@example.test", "password-f").address == (
        "frank@example.test"
    )
    assert accounts.check_token(secret).user.address == "frank@example.test"
    accounts.check_allowed("frank@example.test")
    with pytest.raises(AccountError, match="no such user"):
        accounts.set_disabled("nobody@example.test", True)


def test_deleting_a_user_removes_their_tokens(accounts: Accounts) -> None:
    accounts.add_user("erin@example.test", "password-e")
    secret, _ = accounts.create_token("erin@example.test", ["chat"])
    accounts.delete_user("erin@example.test")
    with pytest.raises(AuthFailed):
        accounts.check_token(secret)
    assert accounts.list_tokens() == []


def test_throttle_per_account(box_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_AUTH__MAX_FAILURES_PER_USER", "3")
    accounts = _accounts(Settings())
    accounts.add_user("frank@example.test", "right-password")
    for source in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        with pytest.raises(AuthFailed):
            accounts.authenticate("frank@example.test", "wrong", source=source)
    # Now even the right password is refused, from any address, until the window passes.
    with pytest.raises(Throttled) as caught:
        accounts.authenticate("frank@example.test", "right-password", source="192.0.2.9")
    assert 0 < caught.value.retry_after <= 900


def test_throttle_per_source_address(
    box_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_AUTH__MAX_FAILURES_PER_ADDRESS", "4")
    accounts = _accounts(Settings())
    accounts.add_user("gina@example.test", "right-password")
    for n in range(4):  # password spraying: many accounts, one address
        with pytest.raises(AuthFailed):
            accounts.authenticate(f"user{n}@example.test", "guess", source="198.51.100.7")
    with pytest.raises(Throttled):
        accounts.authenticate("gina@example.test", "right-password", source="198.51.100.7")
    # Another address is not affected.
    assert accounts.authenticate("gina@example.test", "right-password", source="198.51.100.8")


def test_success_resets_the_account_count_and_old_failures_expire(
    box_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIDINGS_AUTH__MAX_FAILURES_PER_USER", "2")
    accounts = _accounts(Settings())
    accounts.add_user("hank@example.test", "right-password")
    with pytest.raises(AuthFailed):
        accounts.authenticate("hank@example.test", "wrong")
    accounts.authenticate("hank@example.test", "right-password")
    with pytest.raises(AuthFailed):
        accounts.authenticate("hank@example.test", "wrong")
    accounts.authenticate("hank@example.test", "right-password")  # count was reset

    with pytest.raises(AuthFailed):
        accounts.authenticate("hank@example.test", "wrong")
    with pytest.raises(AuthFailed):
        accounts.authenticate("hank@example.test", "wrong")
    with pytest.raises(Throttled):
        accounts.authenticate("hank@example.test", "right-password")
    # Move the clock past the window: the failures no longer count.
    later = accounts.throttle._now() + timedelta(seconds=901)
    monkeypatch.setattr(accounts.throttle, "_now", lambda: later)
    assert accounts.authenticate("hank@example.test", "right-password")


def _accounts(settings: Settings) -> Accounts:
    from tidings.core.db import migrate

    migrate(settings)
    return Accounts(Database(settings))
