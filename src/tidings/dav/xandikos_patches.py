"""Changes to Xandikos, applied explicitly at service start, for the version pinned.

One module per patched library (the house rule): each change says what upstream
does, why that is wrong for tidings, and is covered by a test in tests/dav/.
"""

from __future__ import annotations

from importlib.metadata import version

#: The Xandikos release these patches were written against (pyproject pins it).
XANDIKOS_VERSION = "0.4.10"

_applied = False


class XandikosVersionError(RuntimeError):
    pass


def apply() -> None:
    """Apply every patch once; refuse to run on a Xandikos they were not written for."""
    global _applied
    if _applied:
        return
    found = version("xandikos")
    if found != XANDIKOS_VERSION:
        raise XandikosVersionError(
            f"tidings' dav service is written for Xandikos {XANDIKOS_VERSION}, found {found}"
        )
    _applied = True
