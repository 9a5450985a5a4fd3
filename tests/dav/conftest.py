"""A box for the dav tests: a real `tidings serve dav` process (started once per test
module, it is the slow part), two accounts with passwords and app tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ServiceProcess, free_port
from tidings.core.accounts import Accounts
from tidings.core.config import Listen, load_settings
from tidings.core.db import Database, migrate

ALICE = "alice@example.test"
BOB = "bob@example.test"
PASSWORDS = {ALICE: "alice-password", BOB: "bob-password"}


@dataclass
class DavBox:
    base: str  # http://127.0.0.1:PORT
    config: Path
    data_dir: Path
    tokens: dict[str, str]  # name → secret
    accounts: Accounts

    def url(self, path: str) -> str:
        return self.base + path


def write_config(root: Path, **extra: str) -> Path:
    data = root / "data"
    data.mkdir(mode=0o700)
    lines = [
        f'data_dir = "{data}"',
        'domain = "example.test"',
        'hostname = "localhost"',
        "[auth]",
        "max_failures_per_user = 4",
        "max_failures_per_address = 50",
        "[listen]",
    ]
    lines += [f'{name} = "127.0.0.1:{free_port()}"' for name in Listen.model_fields]
    path = root / "tidings.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def dav_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavBox]:
    root = tmp_path_factory.mktemp("davbox")
    config = write_config(root)
    settings = load_settings(config)
    migrate(settings)
    db = Database(settings)
    accounts = Accounts(db)
    accounts.add_user(ALICE, PASSWORDS[ALICE], display_name="Alice")
    accounts.add_user(BOB, PASSWORDS[BOB], display_name="Bob")
    tokens = {
        "alice_dav": accounts.create_token(ALICE, ["dav"], name="phone")[0],
        "alice_read": accounts.create_token(ALICE, ["dav:read"])[0],
        "alice_write": accounts.create_token(ALICE, ["dav:read", "dav:write"])[0],
        "alice_mail": accounts.create_token(ALICE, ["mail:read"])[0],
        "bob_dav": accounts.create_token(BOB, ["dav"])[0],
    }
    service = ServiceProcess("dav", config, root)
    service.start()
    try:
        yield DavBox(f"http://{settings.listen.dav}", config, settings.data_dir, tokens, accounts)
    finally:
        service.stop()
        db.close()
