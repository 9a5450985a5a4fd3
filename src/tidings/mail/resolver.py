"""The one DNS resolver set-up of the mail services.

Every mail lookup — MX for the outbound queue, SPF/DKIM/DMARC for inbound mail, the
records ``tidings dns`` checks — asks ``[mail] dns_resolver`` (a ``host:port``: a
local validating resolver on the appliance, a dnslib server on loopback in tests),
or the system's resolver when it is unset, each lookup bounded by a timeout.
"""

from __future__ import annotations

import logging
from typing import TypeVar

import dns.asyncresolver
import dns.resolver

from tidings.core.config import Settings, split_endpoint

log = logging.getLogger("tidings.mail.resolver")

R = TypeVar("R", dns.resolver.Resolver, dns.asyncresolver.Resolver)

#: Answers kept by the process-wide resolver (positive and negative, by their TTL).
CACHE_ENTRIES = 10_000


def configured_resolver(settings: Settings, kind: type[R], timeout: float) -> R:
    """A resolver of ``kind`` (sync or async) asking ``[mail] dns_resolver``, else the
    system's, with ``timeout`` as the bound on each lookup."""
    if settings.mail.dns_resolver is None:
        try:
            resolver = kind()
        except dns.resolver.NoResolverConfiguration:
            log.warning("no system DNS resolver configured; mail lookups will fail")
            resolver = kind(configure=False)
    else:
        resolver = kind(configure=False)
        host, port = split_endpoint(settings.mail.dns_resolver)
        resolver.nameservers = [host]
        resolver.port = port
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


def install_default_resolver(settings: Settings) -> dns.resolver.Resolver:
    """Make the configured resolver dnspython's module-level one, with a cache.

    pyspf, dkimpy and authheaders resolve through ``dns.resolver.default_resolver``
    and offer no other hook, so the inbound checks are pointed there. The cache
    honours TTLs like any resolver: a busy sender's SPF and DMARC records are asked
    for once per TTL, not once per message."""
    resolver = configured_resolver(
        settings, dns.resolver.Resolver, settings.mail.dns_timeout_seconds
    )
    resolver.cache = dns.resolver.LRUCache(CACHE_ENTRIES)
    dns.resolver.default_resolver = resolver
    return resolver
