"""The operator's command line, run as a person runs it."""

from __future__ import annotations

import sqlite3

from tests.conftest import run_tidings


def test_user_add_then_token_create(box_env: dict[str, str]) -> None:
    result = run_tidings(
        "user", "add", "alice@example.test", "--password-stdin", input="s3cret-pass\n"
    )
    assert result.returncode == 0, result.stderr
    assert "created alice@example.test" in result.stdout

    result = run_tidings("token", "create", "alice@example.test", "--scope", "mail:read")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("tdg_") and "\n" not in token  # stdout is the token alone
    assert "not shown again" in result.stderr

    listed = run_tidings("token", "list")
    assert "alice@example.test" in listed.stdout and "mail:read" in listed.stdout
    assert token not in listed.stdout

    database = f"{box_env['TIDINGS_DATA_DIR']}/tidings.sqlite"
    with sqlite3.connect(database) as db:
        dump = "\n".join(db.iterdump())
    assert "s3cret-pass" not in dump
    assert token not in dump


def test_password_is_never_taken_from_arguments(box_env: dict[str, str]) -> None:
    result = run_tidings("user", "add", "bob@example.test", "hunter22hunter")
    assert result.returncode != 0
    # With no terminal and no --password-stdin, it refuses instead of hanging.
    result = run_tidings("user", "add", "bob@example.test", input="")
    assert result.returncode != 0
    assert "--password-stdin" in result.stderr


def test_user_list_passwd_del(box_env: dict[str, str]) -> None:
    assert (
        run_tidings(
            "user",
            "add",
            "c@example.test",
            "--admin",
            "--name",
            "Carol",
            "--password-stdin",
            input="first-password\n",
        ).returncode
        == 0
    )
    listed = run_tidings("user", "list")
    assert "c@example.test\tCarol\tadmin" in listed.stdout

    changed = run_tidings(
        "user", "passwd", "c@example.test", "--password-stdin", input="second-password\n"
    )
    assert changed.returncode == 0, changed.stderr

    missing = run_tidings(
        "user", "passwd", "nobody@example.test", "--password-stdin", input="whatever-pw\n"
    )
    assert missing.returncode != 0 and "no such user" in missing.stderr

    disabled = run_tidings("user", "disable", "c@example.test")
    assert disabled.returncode == 0 and "disabled c@example.test" in disabled.stdout
    assert "c@example.test\tCarol\tadmin disabled" in run_tidings("user", "list").stdout
    assert run_tidings("user", "enable", "c@example.test").returncode == 0
    assert "c@example.test\tCarol\tadmin\n" in run_tidings("user", "list").stdout + "\n"

    deleted = run_tidings("user", "del", "c@example.test", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "c@example.test" not in run_tidings("user", "list").stdout


def test_token_revoke_and_bad_scope(box_env: dict[str, str]) -> None:
    run_tidings("user", "add", "d@example.test", "--password-stdin", input="password-d\n")
    bad = run_tidings("token", "create", "d@example.test", "--scope", "mail:all")
    assert bad.returncode != 0 and "unknown scope" in bad.stderr

    made = run_tidings(
        "token", "create", "d@example.test", "--scope", "mail:read,mail:send", "--name", "cli"
    )
    assert made.returncode == 0
    token_id = run_tidings("token", "list").stdout.split("\t")[0]
    assert run_tidings("token", "revoke", token_id).returncode == 0
    assert "revoked" in run_tidings("token", "list").stdout
