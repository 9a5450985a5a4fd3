"""The DNS records a mail domain needs, and a check of what the world actually sees.

``tidings dns`` prints :func:`records` as zone-file lines; ``tidings doctor`` runs
:func:`check` against the configured resolver and says, in plain words, what is
missing or wrong. Ports are the standard ones (what the appliance listens on), not
the unprivileged laptop defaults.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import dns.exception
import dns.resolver
import dns.reversename

from tidings.core.config import Settings
from tidings.mail.dkim import DkimKeys, txt_records
from tidings.mail.resolver import configured_resolver


@dataclass(frozen=True)
class Record:
    name: str  # fully qualified, without the trailing dot
    type: str  # MX, TXT, SRV, CNAME
    value: str  # as in a zone file, TXT without quotes
    why: str


# (service label, port, what it is): RFC 6186 + RFC 8314 for mail, RFC 6764 for DAV.
SRV_SERVICES = (
    ("_imaps._tcp", 993, "IMAP over TLS, for mail clients' autodiscovery (RFC 6186, 8314)"),
    ("_submissions._tcp", 465, "mail submission over TLS (RFC 8314)"),
    ("_submission._tcp", 587, "mail submission with STARTTLS (RFC 6186)"),
    ("_caldavs._tcp", 443, "calendars over HTTPS (RFC 6764)"),
    ("_carddavs._tcp", 443, "contacts over HTTPS (RFC 6764)"),
)


def mta_sts_policy(settings: Settings) -> str:
    """The file to serve at https://mta-sts.DOMAIN/.well-known/mta-sts.txt.

    ``testing`` first: senders report failures (TLS-RPT) but still deliver; switch to
    ``enforce`` once the reports are clean and the certificate renews by itself."""
    return f"version: STSv1\nmode: testing\nmx: {settings.hostname}\nmax_age: 604800\n"


def _policy_id(settings: Settings) -> str:
    # Changes whenever the policy changes, which is what the id must signal.
    return hashlib.sha256(mta_sts_policy(settings).encode()).hexdigest()[:16]


def records(settings: Settings, keys: DkimKeys) -> list[Record]:
    domain, host = settings.domain, settings.hostname
    out = [
        Record(domain, "MX", f"10 {host}.", "where the world delivers mail for the domain"),
        Record(domain, "TXT", "v=spf1 mx -all", "SPF: only the MX host sends for the domain"),
    ]
    for name, value in txt_records(settings, keys).items():
        algorithm = "Ed25519" if "k=ed25519" in value else "RSA-2048"
        out.append(Record(name, "TXT", value, f"DKIM public key ({algorithm})"))
    out += [
        Record(
            f"_dmarc.{domain}",
            "TXT",
            f"v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:postmaster@{domain}",
            "DMARC: what receivers do with mail that fails SPF and DKIM",
        ),
        Record(
            f"_mta-sts.{domain}",
            "TXT",
            f"v=STSv1; id={_policy_id(settings)}",
            "MTA-STS: senders must use TLS (policy file below)",
        ),
        Record(f"mta-sts.{domain}", "CNAME", f"{host}.", "serves the MTA-STS policy over HTTPS"),
        Record(
            f"_smtp._tls.{domain}",
            "TXT",
            f"v=TLSRPTv1; rua=mailto:postmaster@{domain}",
            "TLS-RPT: where senders report TLS failures",
        ),
    ]
    out += [
        Record(f"{label}.{domain}", "SRV", f"0 1 {port} {host}.", why)
        for label, port, why in SRV_SERVICES
    ]
    return out


def _quoted(value: str) -> str:
    # One TXT string holds at most 255 bytes (RFC 1035); longer values are split.
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
    return " ".join(f'"{c}"' for c in chunks)


def zone_text(settings: Settings, keys: DkimKeys) -> str:
    lines = [
        f"; DNS records for {settings.domain} (mail host {settings.hostname}).",
        "; Add them at your DNS provider; check with `tidings doctor`.",
        "",
    ]
    for record in records(settings, keys):
        value = _quoted(record.value) if record.type == "TXT" else record.value
        lines += [f"; {record.why}", f"{record.name}.\t3600\tIN\t{record.type}\t{value}", ""]
    lines += [
        f"; {settings.hostname} needs an A (and AAAA) record with the box's public address.",
        "; PTR: ask whoever gives you the public IP (ISP, hosting provider) to set its",
        f"; reverse DNS to {settings.hostname}. Gmail and Outlook reject mail from an",
        "; address whose PTR is missing or does not resolve back to it, for IPv6 too.",
        "; Behind a smarthost, the relay's own SPF/PTR apply: add its SPF include",
        "; (e.g. include:_spf.provider.example) to the SPF record above.",
        "",
        f"; MTA-STS policy, served at https://mta-sts.{settings.domain}/.well-known/mta-sts.txt:",
        *[f";   {line}" for line in mta_sts_policy(settings).splitlines()],
    ]
    return "\n".join(lines) + "\n"


# -- doctor ---------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    record: Record
    ok: bool
    message: str


def make_sync_resolver(settings: Settings) -> dns.resolver.Resolver:
    return configured_resolver(settings, dns.resolver.Resolver, 5.0)


def _lookup(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> list[str] | str:
    """Values as text, or a sentence saying why there are none."""
    try:
        answer = resolver.resolve(name, rdtype, search=False)
    except dns.resolver.NXDOMAIN:
        return f"{name} does not exist in DNS"
    except dns.resolver.NoAnswer:
        return f"{name} has no {rdtype} record"
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        return f"the DNS lookup of {name} {rdtype} failed ({exc})"
    if rdtype == "TXT":
        return [b"".join(rr.strings).decode(errors="replace") for rr in answer]
    return [rr.to_text() for rr in answer]


def _tags(value: str) -> dict[str, str]:
    tags = {}
    for part in value.split(";"):
        key, _, tag_value = part.strip().partition("=")
        if key:
            tags[key.strip()] = "".join(tag_value.split())
    return tags


def _spf_problem(value: str) -> str:
    terms = value.split()[1:]
    if "+all" in terms or "all" in terms:
        return "the SPF record ends in '+all': anyone may send as your domain; use '-all'"
    senders = {"mx", "a", "ip4", "ip6", "include"}
    if not any(t.lstrip("+~?").split(":")[0].split("/")[0] in senders for t in terms):
        return "the SPF record authorises no host at all: add 'mx' (v=spf1 mx -all)"
    return ""


def _check_one(resolver: dns.resolver.Resolver, record: Record) -> Finding:
    found = _lookup(resolver, record.name, record.type)
    if isinstance(found, str):
        return Finding(record, False, f"{found}; publish: {record.value}")
    if record.type in ("MX", "SRV", "CNAME"):
        target = record.value.split()[-1].rstrip(".").lower()
        targets = {v.split()[-1].rstrip(".").lower() for v in found}
        if target not in targets:
            return Finding(
                record,
                False,
                f"{record.name} {record.type} points to {', '.join(sorted(targets))}, "
                f"not to {target}",
            )
        if record.type == "SRV":
            port = record.value.split()[2]
            if not any(
                v.split()[2] == port and v.split()[-1].rstrip(".").lower() == target for v in found
            ):
                return Finding(record, False, f"{record.name} SRV has the wrong port, want {port}")
        return Finding(record, True, f"{record.name} {record.type} ok")
    wanted = _tags(record.value)
    version = record.value.split(";")[0].split()[0]
    candidates = [v for v in found if v.replace(" ", "").startswith(version.replace(" ", ""))]
    if not candidates:
        return Finding(
            record, False, f"{record.name} has no '{version}' TXT record; publish: {record.value}"
        )
    if len(candidates) > 1:
        return Finding(
            record,
            False,
            f"{record.name} has {len(candidates)} '{version}' "
            "records; receivers then ignore them all: keep one",
        )
    if wanted.get("v") == "DKIM1" and _tags(candidates[0]).get("p") != wanted["p"]:
        return Finding(
            record,
            False,
            f"{record.name} publishes a different DKIM key than the one this box signs "
            f"with: replace it with {record.value}",
        )
    if version == "v=spf1":
        problem = _spf_problem(candidates[0])
        if problem:
            return Finding(record, False, problem)
    return Finding(record, True, f"{record.name} TXT ok")


def _check_host(resolver: dns.resolver.Resolver, host: str) -> list[Finding]:
    """The mail host's own address, and the PTR of each address pointing back to it
    (large receivers reject mail from an address without a matching PTR)."""
    record = Record(host, "A", "<public address>", "the mail host's address")
    found: list[str] = []
    for rdtype in ("A", "AAAA"):
        values = _lookup(resolver, host, rdtype)
        if isinstance(values, list):
            found += values
    if not found:
        return [
            Finding(record, False, f"{host} has no A or AAAA record: publish the public address")
        ]
    findings = [Finding(record, True, f"{host} A/AAAA ok ({', '.join(found)})")]
    for address in found:
        reverse = dns.reversename.from_address(address).to_text().rstrip(".")
        ptr = Record(reverse, "PTR", f"{host}.", "reverse DNS of the mail host")
        names = _lookup(resolver, reverse, "PTR")
        if isinstance(names, str) or host not in {n.rstrip(".").lower() for n in names}:
            shown = names if isinstance(names, str) else ", ".join(names)
            findings.append(
                Finding(
                    ptr,
                    False,
                    f"the PTR of {address} is not {host} ({shown}): ask your ISP or "
                    "hosting provider to set it",
                )
            )
        else:
            findings.append(Finding(ptr, True, f"PTR of {address} ok"))
    return findings


def check(settings: Settings, keys: DkimKeys) -> list[Finding]:
    resolver = make_sync_resolver(settings)
    findings = [_check_one(resolver, record) for record in records(settings, keys)]
    return findings + _check_host(resolver, settings.hostname)
