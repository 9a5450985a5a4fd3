"""authheaders: parse the public suffix list once per process, not per DMARC check.

``authheaders.dmarc_lookup.get_org_domain_from_suffix_list`` reads and parses the
whole bundled list (~10k rules, about 130 ms of CPU under the GIL) on every call,
which capped inbound SMTP at 17 messages/s. The replacement parses each list file
once (publicsuffix2, as authheaders itself does) and answers from it: same list,
same organisational domain.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from publicsuffix2 import PublicSuffixList

from tidings.mail.patches import supported

DISTRIBUTION = "authheaders"
SUPPORTED = ("0.16.",)


@functools.lru_cache(maxsize=4)
def _suffix_list(location: str) -> PublicSuffixList:
    with Path(location).open(encoding="utf-8") as handle:
        return PublicSuffixList(handle)


def org_domain(location: str | os.PathLike[str], domain: str) -> str:
    result: str = _suffix_list(os.fspath(location)).get_public_suffix(domain)
    return result


def apply() -> bool:
    if not supported(DISTRIBUTION, SUPPORTED):
        return False
    from authheaders import dmarc_lookup

    dmarc_lookup.get_org_domain_from_suffix_list = org_domain
    return True
