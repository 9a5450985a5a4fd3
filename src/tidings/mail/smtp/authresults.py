"""SPF, DKIM and DMARC verdicts for inbound mail, as an Authentication-Results header.

The checks are the well-kept libraries' own: pyspf (RFC 7208), dkimpy (RFC 6376) and
authheaders' DMARC (RFC 7489) with its bundled public suffix list. They all resolve
names through dnspython's module-level resolver, which the service points at
``mail.dns_resolver`` (:func:`tidings.mail.resolver.install_default_resolver`). The
checks block on DNS, so the service runs them in a worker thread.
"""

from __future__ import annotations

import functools
import logging
import re

import authheaders
import spf
from authres import (
    AuthenticationResultsHeader,
    DKIMAuthenticationResult,
    SPFAuthenticationResult,
)

log = logging.getLogger("tidings.smtp.authresults")

_DKIM_SIGNATURE = re.compile(rb"^dkim-signature\s*:", re.IGNORECASE | re.MULTILINE)


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


@functools.lru_cache(maxsize=8)
def _ours(authserv_id: str) -> re.Pattern[bytes]:
    return re.compile(
        rb"^authentication-results\s*:\s*" + re.escape(authserv_id.encode()) + rb"\s*(;|$)",
        re.IGNORECASE,
    )


def strip_forged(message: bytes, authserv_id: str) -> bytes:
    """Drop Authentication-Results headers claiming to be ours (RFC 8601 section 5):
    only this server may speak for ``authserv_id``."""
    head, sep, body = message.partition(b"\r\n\r\n")
    if not sep or b"authentication-results" not in head.lower():
        return message
    kept: list[bytes] = []
    dropping = False
    ours = _ours(authserv_id)
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = bool(ours.match(line))
        if not dropping:
            kept.append(line)
    return b"\r\n".join(kept) + sep + body


def prepare() -> None:
    """Load what the first check would otherwise load mid-delivery (the public suffix
    list: about 0.1 s of CPU), so the first messages after a start are not slow."""
    from authheaders.dmarc_lookup import get_org_domain

    get_org_domain("example.com")
