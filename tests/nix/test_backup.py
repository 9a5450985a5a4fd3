"""The appliance's backup and restore (modules/backup/*.sh, the very scripts the
NixOS module installs), run against a real data directory: accounts made by the
CLI, mail delivered through the mail store."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import run_tidings
from tests.nix.nixeval import ROOT, box, evaluate
from tidings.core.config import Settings
from tidings.mail.store import MailStore

BACKUP = ROOT / "modules" / "backup" / "tidings-backup.sh"
RESTORE = ROOT / "modules" / "backup" / "tidings-restore.sh"
ALICE = "alice@example.test"
MESSAGE = (
    b"From: carol@example.org\r\nTo: alice@example.test\r\nSubject: keep me\r\n"
    b"Message-ID: <keep@example.org>\r\nDate: Tue, 02 Jan 2024 10:00:00 +0000\r\n\r\nHello.\r\n"
)


def _script(script: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *map(str, args)], capture_output=True, text=True, check=False
    )


def _users(env: dict[str, str]) -> list[str]:
    listed = run_tidings("user", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    return [user["address"] for user in json.loads(listed.stdout)]


def _subjects(data_dir: Path) -> list[str]:
    store = MailStore(Settings(data_dir=data_dir))
    try:
        return [m.subject for m in store.list_messages(ALICE, "INBOX", limit=10).messages]
    finally:
        store.close()


@pytest.fixture
def populated(box_env: dict[str, str], data_dir: Path) -> dict[str, str]:
    added = run_tidings("user", "add", ALICE, "--password-stdin", env=box_env, input="s3cret-pw\n")
    assert added.returncode == 0, added.stderr
    store = MailStore(Settings(data_dir=data_dir))
    store.deliver(ALICE, MESSAGE)
    store.close()
    return box_env


def test_backup_then_restore_brings_back_what_was_lost(
    populated: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    made = _script(BACKUP, data_dir, backups, 3)
    assert made.returncode == 0, made.stderr
    archive = Path(made.stdout.strip())
    assert archive.parent == backups and archive.name.startswith("tidings-")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "./tidings.sqlite" in names
    assert not [n for n in names if n.endswith(("-wal", "-shm"))]

    # The mistake: the account and its mail are gone.
    assert run_tidings("user", "del", ALICE, "--yes", env=populated).returncode == 0
    for path in (data_dir / "mail").rglob("*"):
        if path.is_file() and "keep me" in path.read_text(errors="replace"):
            path.unlink()
    assert ALICE not in _users(populated)

    restored = _script(RESTORE, archive, data_dir)
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout
    assert _users(populated) == [ALICE]
    assert _subjects(data_dir) == ["keep me"]
    kept = list(tmp_path.glob("data.before-restore-*"))
    assert len(kept) == 1  # the state before the restore is kept, not destroyed


def test_only_the_newest_archives_are_kept(
    populated: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    for stamp in ("20200101T000000Z", "20200102T000000Z", "20200103T000000Z"):
        (backups / f"tidings-{stamp}.tar.gz").write_bytes(b"old")
    made = _script(BACKUP, data_dir, backups, 2)
    assert made.returncode == 0, made.stderr
    left = sorted(p.name for p in backups.iterdir())
    assert left == ["tidings-20200103T000000Z.tar.gz", Path(made.stdout.strip()).name]


def _before(data_dir: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}


def test_a_damaged_archive_changes_nothing(
    populated: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    made = _script(BACKUP, data_dir, tmp_path / "backups")
    archive = Path(made.stdout.strip())
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    before = _before(data_dir)
    done = _script(RESTORE, damaged, data_dir)
    assert done.returncode != 0
    assert "is damaged or incomplete; nothing was changed" in done.stderr
    assert _before(data_dir) == before


def test_an_archive_not_made_by_backup_is_refused(data_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.tar.gz"
    (tmp_path / "x").write_text("x")
    with tarfile.open(other, "w:gz") as tar:
        tar.add(tmp_path / "x", arcname="./x")
    done = _script(RESTORE, other, data_dir)
    assert done.returncode != 0
    assert "was not made by tidings-backup" in done.stderr


def test_a_corrupt_database_in_the_archive_is_refused(data_dir: Path, tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / ".tidings-backup").write_text("tidings-backup 1\n")
    (content / "tidings.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    archive = tmp_path / "corrupt.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(content, arcname=".")
    done = _script(RESTORE, archive, data_dir)
    assert done.returncode != 0
    assert "tidings.sqlite in" in done.stderr and "fails its integrity check" in done.stderr


def test_scripts_pass_shellcheck() -> None:
    """The module wraps them with writeShellApplication, which runs shellcheck at
    build time: a warning here is a failed `nix build`."""
    done = subprocess.run(
        ["shellcheck", "--shell=bash", str(BACKUP), str(RESTORE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def test_the_commands_the_module_installs_pass_shellcheck(tmp_path: Path) -> None:
    """`tidings` (the operator's wrapper), tidings-backup and tidings-restore as the
    module renders them (store paths included)."""
    scripts = evaluate(box('services.tidings.environmentFile = "/run/secrets/tidings.env";'))[
        "scripts"
    ]
    assert set(scripts) == {"tidings", "tidings-backup", "tidings-restore"}
    assert "trap 'systemctl start sockets.target tidings.target' EXIT" in scripts["tidings-restore"]
    for name, text in scripts.items():
        path = tmp_path / name
        path.write_text("#!/usr/bin/env bash\n" + text)
        done = subprocess.run(
            ["shellcheck", "--severity=warning", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{name}:\n{done.stdout}"
