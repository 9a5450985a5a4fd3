"""SPF, DKIM and DMARC verdicts for inbound mail, as an Authentication-Results header.

The checks are the well-kept libraries' own: pyspf (RFC 7208), dkimpy (RFC 6376) and
authheaders' DMARC (RFC 7489) with its bundled public suffix list. They all resolve
names through dnspython's module-level resolver, so pointing that one resolver at
``mail.dns_resolver`` sends every lookup there (a local validating resolver on the
appliance, a dnslib server on loopback in tests). The checks block on DNS, so the
service runs them in a worker thread.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path

import authheaders
import dns.resolver
import spf
from authheaders import dmarc_lookup
from authres import (
    AuthenticationResultsHeader,
    DKIMAuthenticationResult,
    SPFAuthenticationResult,
)
from publicsuffix2 import PublicSuffixList

from tidings.core.config import split_endpoint

log = logging.getLogger("tidings.smtp.authresults")

_DKIM_SIGNATURE = re.compile(rb"^dkim-signature\s*:", re.IGNORECASE | re.MULTILINE)


@functools.lru_cache(maxsize=4)
def _suffix_list(location: str) -> PublicSuffixList:
    with Path(location).open(encoding="utf-8") as handle:
        return PublicSuffixList(handle)


def _org_domain(location: str | os.PathLike[str], domain: str) -> str:
    result: str = _suffix_list(os.fspath(location)).get_public_suffix(domain)
    return result


# authheaders parses the whole public suffix list (~10k rules, 130 ms of CPU under the
# GIL) on every DMARC check; parse it once per process instead. Same list, same answer.
dmarc_lookup.get_org_domain_from_suffix_list = _org_domain


def configure_resolver(endpoint: str | None, timeout: float) -> dns.resolver.Resolver:
    """Make ``endpoint`` (``host:port``, or the system resolver if None) the resolver
    every check uses, with ``timeout`` as the bound on each lookup."""
    if endpoint is None:
        try:
            resolver = dns.resolver.Resolver(configure=True)
        except dns.resolver.NoResolverConfiguration:
            log.warning("no system DNS resolver configured; sender checks will say temperror")
            resolver = dns.resolver.Resolver(configure=False)
    else:
        host, port = split_endpoint(endpoint)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.timeout = timeout
    resolver.lifetime = timeout
    # Honour TTLs like any resolver: a busy sender's SPF and DMARC records are asked
    # for once per TTL, not once per message (negative answers are cached too).
    resolver.cache = dns.resolver.LRUCache(10_000)
    dns.resolver.default_resolver = resolver
    return resolver


def _spf(ip: str, mail_from: str, helo: str, timeout: float) -> SPFAuthenticationResult:
    try:
        result, reason = spf.check2(ip, mail_from, helo, timeout=timeout, querytime=timeout)
    except Exception as exc:  # pyspf raises bare errors on odd input; never fail the mail
        log.warning("SPF check failed for %s from %s: %s", mail_from, ip, exc)
        result, reason = "temperror", str(exc)
    if result == "temperror":
        log.info("SPF temperror for %s from %s: %s", mail_from, ip, reason)
    return SPFAuthenticationResult(
        result=result,
        # Only pyspf's fixed phrases: error texts carry characters authres cannot quote.
        reason=reason if reason and re.fullmatch(r"[\w .,-]+", reason) else None,
        smtp_mailfrom=mail_from or None,
        smtp_helo=None if mail_from else helo,
    )


def _dkim(message: bytes) -> DKIMAuthenticationResult:
    if not _DKIM_SIGNATURE.search(message):
        # dkimpy says "fail" for an unsigned message; RFC 8601 calls that "none".
        return DKIMAuthenticationResult(result="none")
    result: DKIMAuthenticationResult = authheaders.check_dkim(message)
    return result


def authentication_results(
    message: bytes,
    *,
    authserv_id: str,
    ip: str,
    helo: str,
    mail_from: str,
    timeout: float,
) -> str:
    """The full ``Authentication-Results: ...`` header line (no CRLF) for ``message``."""
    spf_result = _spf(ip, mail_from, helo, timeout)
    dkim_result = _dkim(message)
    try:
        dmarc_result = authheaders.check_dmarc(message, spf_result, dkim_result)
    except Exception as exc:  # a broken DMARC record is the sender's problem, not a crash
        log.warning("DMARC check failed: %s", exc)
        results = [spf_result, dkim_result]
    else:
        results = [spf_result, dkim_result, dmarc_result]
    # authheaders cuts smtp.mailfrom down to the domain on SPF pass only; say the same
    # thing whatever the verdict (RFC 8601 2.7.2 allows the whole address).
    if mail_from:
        spf_result.smtp_mailfrom = mail_from
    header = AuthenticationResultsHeader(authserv_id=authserv_id, results=results)
    return str(header)


def strip_forged(message: bytes, authserv_id: str) -> bytes:
    """Drop Authentication-Results headers claiming to be ours (RFC 8601 section 5):
    only this server may speak for ``authserv_id``."""
    head, sep, body = message.partition(b"\r\n\r\n")
    if not sep:
        return message
    kept: list[bytes] = []
    dropping = False
    ours = re.compile(
        rb"^authentication-results\s*:\s*" + re.escape(authserv_id.encode()) + rb"\s*(;|$)",
        re.IGNORECASE,
    )
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = bool(ours.match(line))
        if not dropping:
            kept.append(line)
    return b"\r\n".join(kept) + sep + body
