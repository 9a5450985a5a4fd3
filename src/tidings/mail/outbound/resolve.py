"""Where mail for a domain goes: MX hosts in order (RFC 5321 §5.1), with the A/AAAA
fallback, and the answers that mean "never" (NXDOMAIN, null MX of RFC 7505)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

from tidings.core.config import Settings
from tidings.mail.resolver import configured_resolver


class PermanentFailure(Exception):
    """No delivery is possible, now or later: bounce at once."""

    def __init__(self, status: str, text: str, remote: str = "") -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.remote = remote


class TemporaryFailure(Exception):
    """Try again later."""

    def __init__(self, status: str, text: str, remote: str = "") -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.remote = remote


def make_resolver(settings: Settings, timeout: float = 10.0) -> dns.asyncresolver.Resolver:
    return configured_resolver(settings, dns.asyncresolver.Resolver, timeout)


@dataclass(frozen=True)
class Host:
    name: str
    addresses: tuple[str, ...]


async def _query(
    resolver: dns.asyncresolver.Resolver, name: str, rdtype: str
) -> dns.resolver.Answer | None:
    """The answer, None for "no such record", NXDOMAIN as PermanentFailure."""
    try:
        return await resolver.resolve(name, rdtype, search=False)
    except dns.resolver.NXDOMAIN as exc:
        raise PermanentFailure("5.1.2", f"{name}: no such domain (NXDOMAIN)") from exc
    except dns.resolver.NoAnswer:
        return None
    except (dns.resolver.NoNameservers, dns.exception.Timeout) as exc:
        raise TemporaryFailure("4.4.3", f"{name}: DNS lookup of {rdtype} failed: {exc}") from exc


async def addresses(resolver: dns.asyncresolver.Resolver, name: str) -> tuple[str, ...]:
    found: list[str] = []
    for rdtype in ("AAAA", "A"):
        try:
            answer = await _query(resolver, name, rdtype)
        except PermanentFailure:
            return ()
        if answer is not None:
            found += [rr.to_text() for rr in answer]
    # IPv4 first: a home box rarely has working IPv6 with a PTR, and a missing PTR is
    # what large receivers reject most.
    return tuple(sorted(found, key=lambda a: ":" in a))


async def mx_hosts(resolver: dns.asyncresolver.Resolver, domain: str) -> list[str]:
    """MX names by preference (equal ones shuffled), or the domain itself (implicit MX)."""
    answer = await _query(resolver, domain, "MX")
    if answer is None:
        if not await addresses(resolver, domain):
            raise PermanentFailure("5.1.2", f"{domain}: no MX and no address record")
        return [domain]
    records = [(int(rr.preference), rr.exchange.to_text().rstrip(".").lower()) for rr in answer]
    if any(name == "" for _, name in records):
        # RFC 7505: a single MX "0 ." says the domain accepts no mail at all.
        raise PermanentFailure("5.1.10", f"{domain} does not accept mail (null MX, RFC 7505)")
    random.shuffle(records)
    records.sort(key=lambda r: r[0])
    return [name for _, name in records]
