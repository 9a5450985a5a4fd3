"""`tidings dns` prints every record a mail domain needs; `tidings doctor` reads them
back through the configured resolver (a real DNS server here) and names what is wrong."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.outbound_support import DnsServer
from tidings.core.config import load_settings
from tidings.mail.dkim import ensure_keys
from tidings.mail.dnsrecords import Record, records


@pytest.fixture
def config(tmp_path: Path, dns_server: DnsServer) -> Path:
    path = tmp_path / "tidings.toml"
    path.write_text(
        f'domain = "example.test"\nhostname = "mail.example.test"\n'
        f'data_dir = "{tmp_path / "data"}"\n\n[mail]\ndns_resolver = "{dns_server.address}"\n'
    )
    return path


def tidings(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidings", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def lines_of(output: str) -> list[list[str]]:
    """Zone lines as [name, ttl, class, type, value...]; comments dropped."""
    return [line.split(None, 4) for line in output.splitlines() if line and line[0] != ";"]


def test_dns_prints_every_record_type(config: Path) -> None:
    result = tidings(config, "dns")
    assert result.returncode == 0, result.stderr
    rows = {(r[0], r[3]): r[4] for r in lines_of(result.stdout)}
    keys = ensure_keys(load_settings(config))
    assert rows[("example.test.", "MX")] == "10 mail.example.test."
    assert rows[("example.test.", "TXT")] == '"v=spf1 mx -all"'
    rsa = rows[("rsa2026._domainkey.example.test.", "TXT")]
    # Split into 255-byte strings, which joined give the key back.
    assert "".join(part.strip('"') for part in rsa.split('" "')) == (
        f"v=DKIM1; k=rsa; p={keys.rsa_public_b64}"
    )
    assert all(len(part.strip('"')) <= 255 for part in rsa.split('" "'))
    assert rows[("ed2026._domainkey.example.test.", "TXT")] == (
        f'"v=DKIM1; k=ed25519; p={keys.ed25519_public_b64}"'
    )
    assert rows[("_dmarc.example.test.", "TXT")].startswith('"v=DMARC1; p=quarantine;')
    assert rows[("_mta-sts.example.test.", "TXT")].startswith('"v=STSv1; id=')
    assert rows[("mta-sts.example.test.", "CNAME")] == "mail.example.test."
    assert rows[("_smtp._tls.example.test.", "TXT")] == (
        '"v=TLSRPTv1; rua=mailto:postmaster@example.test"'
    )
    assert rows[("_imaps._tcp.example.test.", "SRV")] == "0 1 993 mail.example.test."
    assert rows[("_submissions._tcp.example.test.", "SRV")] == "0 1 465 mail.example.test."
    assert rows[("_submission._tcp.example.test.", "SRV")] == "0 1 587 mail.example.test."
    assert rows[("_caldavs._tcp.example.test.", "SRV")] == "0 1 443 mail.example.test."
    assert rows[("_carddavs._tcp.example.test.", "SRV")] == "0 1 443 mail.example.test."
    assert "PTR" in result.stdout and "reverse DNS to mail.example.test" in result.stdout
    assert ";   mode: testing" in result.stdout
    assert ";   mx: mail.example.test" in result.stdout


def publish(dns_server: DnsServer, record: Record) -> None:
    if record.type == "MX":
        preference, exchange = record.value.split()
        dns_server.zone.add(record.name, "MX", (int(preference), exchange))
    elif record.type == "SRV":
        priority, weight, port, target = record.value.split()
        dns_server.zone.add(record.name, "SRV", (int(priority), int(weight), int(port), target))
    else:
        dns_server.zone.add(record.name, record.type, record.value)


def publish_all(config: Path, dns_server: DnsServer) -> list[Record]:
    settings = load_settings(config)
    wanted = records(settings, ensure_keys(settings))
    for record in wanted:
        publish(dns_server, record)
    # What `tidings dns` can only advise: the host's address and its reverse.
    dns_server.zone.add("mail.example.test", "A", "192.0.2.25")
    dns_server.zone.add("25.2.0.192.in-addr.arpa", "PTR", "mail.example.test.")
    return wanted


def test_doctor_is_happy_with_the_records_it_asked_for(config: Path, dns_server: DnsServer) -> None:
    wanted = publish_all(config, dns_server)
    result = tidings(config, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok     ") == len(wanted) + 2  # + address and PTR
    assert "PTR of 192.0.2.25 ok" in result.stdout
    assert "DNS is in order" in result.stdout


def test_doctor_names_each_problem(config: Path, dns_server: DnsServer) -> None:
    publish_all(config, dns_server)
    zone = dns_server.zone
    zone.remove("example.test", "MX")
    zone.add("example.test", "MX", (10, "old-mail.example.test."))
    zone.add("example.test", "TXT", "v=spf1 include:other.example -all")  # a second SPF
    zone.remove("ed2026._domainkey.example.test")
    zone.add("ed2026._domainkey.example.test", "TXT", "v=DKIM1; k=ed25519; p=AAAA")
    zone.remove("_dmarc.example.test")
    zone.remove("_submissions._tcp.example.test")
    zone.add("_submissions._tcp.example.test", "SRV", (0, 1, 25, "mail.example.test."))

    result = tidings(config, "doctor")
    assert result.returncode == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM")]
    text = "\n".join(problems)
    assert len(problems) == 5, result.stdout
    assert "MX points to old-mail.example.test, not to mail.example.test" in text
    assert "has 2 'v=spf1' records" in text
    assert "ed2026._domainkey.example.test publishes a different DKIM key" in text
    assert "_dmarc.example.test does not exist in DNS" in text
    assert "_submissions._tcp.example.test SRV has the wrong port, want 465" in text
    assert "5 problem(s)" in result.stdout


def test_doctor_flags_an_open_spf_record(config: Path, dns_server: DnsServer) -> None:
    publish_all(config, dns_server)
    dns_server.zone.remove("example.test", "TXT")
    dns_server.zone.add("example.test", "TXT", "v=spf1 +all")
    result = tidings(config, "doctor")
    assert result.returncode == 1
    assert "anyone may send as your domain" in result.stdout


def test_doctor_with_nothing_published_fails(config: Path) -> None:
    result = tidings(config, "doctor")
    assert result.returncode == 1
    assert "example.test does not exist in DNS; publish: 10 mail.example.test." in result.stdout


def test_doctor_flags_a_missing_or_wrong_ptr(config: Path, dns_server: DnsServer) -> None:
    publish_all(config, dns_server)
    dns_server.zone.remove("25.2.0.192.in-addr.arpa")
    dns_server.zone.add("25.2.0.192.in-addr.arpa", "PTR", "dsl-192-0-2-25.isp.example.")
    result = tidings(config, "doctor")
    assert result.returncode == 1
    assert "the PTR of 192.0.2.25 is not mail.example.test (dsl-192-0-2-25.isp.example.)" in (
        result.stdout
    )
    dns_server.zone.remove("mail.example.test")
    result = tidings(config, "doctor")
    assert "mail.example.test has no A or AAAA record" in result.stdout
