"""Dovecot's imaptest against ``tidings serve imap``: every scripted group of every
capability we advertise passes, the others are skipped by imaptest itself (so a
capability is advertised only once its groups pass), and a stress run of 10 clients
for 20 s ends without a single error.

imaptest is built by ``.ci/setup`` from ``../shared/imaptest`` (see
:mod:`tests.imaptest_run`); the groups' own expectations are Dovecot's behaviour.
"""

from __future__ import annotations

import imaplib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import imaptest_run
from tests.conftest import ROOT, Service
from tidings.core.accounts import Accounts
from tidings.core.config import Settings, split_endpoint
from tidings.core.tls import client_context

pytestmark = pytest.mark.slow

USER = ("imaptest1@example.test", "imaptest-password")
USER2 = ("imaptest2@example.test", "imaptest-password")
SHARED = ROOT.parent / "shared" / "imaptest"


@pytest.fixture
def imap(run_service: Callable[[str], Service], accounts: Accounts) -> Service:
    accounts.add_user(*USER)
    accounts.add_user(*USER2)
    assert imaptest_run.imaptest_binary().is_file(), "run .ci/setup: it builds imaptest"
    return run_service("imap")


def advertised(settings: Settings) -> set[str]:
    host, port = split_endpoint(settings.listen.imaps)
    client = imaplib.IMAP4_SSL(host, port, ssl_context=client_context(settings), timeout=30)
    try:
        client.login(*USER)
        _, data = client.capability()
        return {c.decode().upper() for c in data[0].split()}
    finally:
        client.logout()


def test_every_scripted_group_of_every_advertised_capability_passes(
    imap: Service, settings: Settings, tmp_path: Path
) -> None:
    capabilities = advertised(settings)
    host, port = split_endpoint(settings.listen.imaps)
    results: dict[str, str] = {}
    failures: list[str] = []
    for group in imaptest_run.all_groups():
        needed = imaptest_run.group_capabilities(group)
        result = imaptest_run.run_group(
            group,
            host=host,
            port=port,
            user=USER[0],
            user2=USER2[0],
            password=USER[1],
            workdir=tmp_path / group.name,
        )
        results[group.name] = result.status
        expected = "PASS" if needed <= capabilities else "SKIP"
        if result.status != expected:
            failures.append(f"{group.name}: {result.status} (expected {expected})\n{result.output}")
    passed = sum(1 for s in results.values() if s == "PASS")
    print(f"imaptest groups: {passed} passed of {len(results)}", file=sys.stderr)
    assert not failures, "\n\n".join(failures)
    assert passed >= 60, results  # what passes today: a capability dropped shows here


def test_stress_ten_clients_without_errors(
    imap: Service, settings: Settings, tmp_path: Path
) -> None:
    mbox = tmp_path / "stress.mbox"
    subprocess.run(
        [sys.executable, str(SHARED / "gen_mbox.py"), "300", str(mbox)],
        check=True,
        capture_output=True,
    )
    host, port = split_endpoint(settings.listen.imaps)
    errors, output = imaptest_run.run_stress(
        host=host,
        port=port,
        user=USER[0],
        password=USER[1],
        mbox=mbox,
        clients=10,
        secs=20,
        workdir=tmp_path,
    )
    assert "Totals:" in output, output
    assert errors == 0, output
    # Every kind of command ran (a server that refuses everything has no errors
    # either): the totals line counts logins, selects, fetches, stores, appends.
    totals = output.split("Totals:", 1)[1].splitlines()
    counts = [int(n) for n in totals[4].split()]
    assert len(counts) == 11 and min(counts) > 0, totals
