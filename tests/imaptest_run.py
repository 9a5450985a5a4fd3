"""Run Dovecot's imaptest (scripted groups, stress) against a server; shared by
tests/test_imaptest.py and bench/imap_vs_dovecot.py.

Where imaptest is: ``$IMAPTEST`` (the binary), else what ``.ci/setup`` builds
(``~/.cache/tidings-imaptest/src/imaptest``); its scripted groups are in the
``src/tests`` directory beside the binary.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BUILD = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tidings-imaptest"
)


def imaptest_binary() -> Path:
    found = os.environ.get("IMAPTEST")
    return Path(found) if found else DEFAULT_BUILD / "src" / "imaptest"


def groups_dir() -> Path:
    return imaptest_binary().parent / "tests"


def group_capabilities(path: Path) -> set[str]:
    """The capabilities a group needs (its ``capabilities:`` header)."""
    for line in path.read_bytes().splitlines():
        if not line.strip():
            break
        if line.lower().startswith(b"capabilities:"):
            return {c.upper() for c in line.split(b":", 1)[1].decode().split()}
    return set()


def all_groups() -> list[Path]:
    return sorted(p for p in groups_dir().iterdir() if p.is_file() and not p.name.endswith(".mbox"))


@dataclass
class GroupResult:
    name: str
    status: str  # PASS, FAIL, SKIP, TIMEOUT, CRASH
    output: str


def run_group(
    group: Path,
    *,
    host: str,
    port: int,
    user: str,
    user2: str,
    password: str,
    workdir: Path,
    timeout: float = 60,
) -> GroupResult:
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        str(imaptest_binary()),
        f"host={host}",
        f"port={port}",
        "ssl=any-cert",
        f"user={user}",
        f"user2={user2}",
        f"pass={password}",
        f"test={group}",
    ]
    if os.environ.get("IMAPTEST_RAWLOG"):
        args.append("rawlog")
    try:
        done = subprocess.run(
            args, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode()
        return GroupResult(group.name, "TIMEOUT", out)
    output = done.stdout + done.stderr
    base = re.search(r"^base protocol: (\d+)/(\d+)", output, re.MULTILINE)
    ext = re.search(r"^extensions: (\d+)/(\d+)", output, re.MULTILINE)
    if base is None:
        status = "CRASH"
    elif base[2] == "0" and (ext is None or ext[2] == "0"):
        status = "SKIP"
    elif re.search(r"^1 test groups: 0 failed", output, re.MULTILINE):
        status = "PASS"
    else:
        status = "FAIL"
    return GroupResult(group.name, status, output)


def run_stress(
    *,
    host: str,
    port: int,
    user: str,
    password: str,
    mbox: Path,
    clients: int,
    secs: int,
    workdir: Path,
) -> tuple[int, str]:
    """imaptest's stress mode; returns (errors, output)."""
    args = [
        str(imaptest_binary()),
        f"host={host}",
        f"port={port}",
        "ssl=any-cert",
        f"user={user}",
        f"pass={password}",
        f"mbox={mbox}",
        f"clients={clients}",
        f"secs={secs}",
        "no_pipelining",
    ]
    done = subprocess.run(
        args, cwd=workdir, capture_output=True, text=True, timeout=secs + 60, check=False
    )
    output = done.stdout + done.stderr
    errors = len(re.findall(r"^Error: ", output, re.MULTILINE))
    return errors, output
