"""`tidings queue list|retry|delete`, as an operator types them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ServiceProcess
from tests.outbound_support import DnsServer, RemoteSmtp, wait_for
from tests.test_dns_records import tidings
from tests.test_outbound import SENDER, message, remote_domain, write_config
from tidings.core.config import load_settings
from tidings.mail.outbound import OutboundQueue


def test_list_retry_and_delete(
    tmp_path: Path, dns_server: DnsServer, remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    remote_domain(dns_server)
    remote.stop()
    # A retry schedule of an hour: only `queue retry` can make it go sooner.
    config = write_config(
        tmp_path, dns_server, remote.port, retry_first_seconds=3600, retry_max_seconds=3600
    )
    settings = load_settings(config)
    queue = OutboundQueue(settings)
    keep = queue.enqueue(SENDER, ["bob@remote.test"], message("bob@remote.test"))
    drop = queue.enqueue(SENDER, ["carol@remote.test"], message("carol@remote.test"))
    serve("outbound", config).start()
    wait_for(lambda: all(e.attempts == 1 for e in queue.list()), what="first attempts")

    listed = tidings(config, "queue", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"{keep}\t{SENDER}\tbob@remote.test\t1 attempts" in listed.stdout
    assert f"{drop}\t{SENDER}\tcarol@remote.test\t1 attempts" in listed.stdout
    rows = json.loads(tidings(config, "queue", "list", "--json").stdout)
    assert {r["id"] for r in rows} == {keep, drop}
    assert all("remote.test" in r["last_error"] for r in rows)

    deleted = tidings(config, "queue", "delete", drop)
    assert deleted.returncode == 0
    assert f"{drop}: deleted (1 recipient(s))" in deleted.stdout

    remote.start()
    retried = tidings(config, "queue", "retry", keep)
    assert retried.returncode == 0, retried.stderr
    assert f"{keep}: 1 recipient(s) due now" in retried.stdout
    (received,) = wait_for(lambda: remote.sink.received, what="delivery after retry")
    assert received.rcpt_tos == ["bob@remote.test"]
    wait_for(lambda: not queue.list(), what="empty queue")
    assert tidings(config, "queue", "list").stdout.strip() == "queue is empty"


def test_unknown_queue_id_is_an_error(tmp_path: Path, dns_server: DnsServer) -> None:
    config = write_config(tmp_path, dns_server, 25)
    for command in ("retry", "delete"):
        result = tidings(config, "queue", command, "nosuchid")
        assert result.returncode == 1
        assert "no queued message nosuchid" in result.stderr


def test_supervisor_lists_the_outbound_service_without_endpoint(tmp_path: Path) -> None:
    from tidings.core.config import Settings
    from tidings.core.services import SERVICES
    from tidings.core.supervisor import _endpoint_lines

    assert SERVICES["outbound"].endpoints == ()
    lines = _endpoint_lines(Settings(data_dir=tmp_path))
    assert "  outbound (no listener)" in lines


def test_configuration_reference_is_current() -> None:
    from tidings.core.configdocs import reference

    docs = Path(__file__).parent.parent / "docs" / "configuration.md"
    assert docs.read_text() == reference(), "run: tidings config docs > docs/configuration.md"


def test_config_show_renders_mail_tables_as_toml_with_the_password_hidden(
    tmp_path: Path, dns_server: DnsServer
) -> None:
    import tomllib

    config = write_config(
        tmp_path,
        dns_server,
        25,
        '\n[mail.smarthost]\nhost = "smtp.provider.example"\nusername = "me"\n'
        'password = "hunter2"\n',
    )
    shown = tidings(config, "config", "show")
    assert shown.returncode == 0, shown.stderr
    assert "hunter2" not in shown.stdout
    data = tomllib.loads(shown.stdout)
    assert data["mail"]["smarthost"]["host"] == "smtp.provider.example"
    assert data["mail"]["smarthost"]["password"] == "**********"
    assert data["mail"]["outbound"]["remote_smtp_port"] == 25


def test_tidings_up_runs_outbound_next_to_web(tmp_path: Path, dns_server: DnsServer) -> None:
    import signal
    import subprocess
    import sys

    import httpx

    from tests.conftest import free_port

    web_port = free_port()
    config = write_config(tmp_path, dns_server, 25, f'\n[listen]\nweb = "127.0.0.1:{web_port}"\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "tidings", "--config", str(config), "up", "web", "outbound"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.strip() == "ready":
                break
        assert "  outbound (no listener)" in lines, lines
        status = httpx.get(f"http://127.0.0.1:{web_port}/status", timeout=10)
        assert status.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
    assert code == 0
