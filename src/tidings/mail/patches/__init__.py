"""Patches to third-party libraries: one module per library, applied explicitly.

Each module names the distribution it patches and the upstream versions it was
written and tested against (``SUPPORTED``), and has an ``apply()``. A service applies
the ones it needs when it starts (:func:`apply_patches`); nothing is patched by
importing a module. On any other upstream version the patch is left out with a
warning: every patch here only makes the library faster or safer in a way that the
library's own code also gets right, so running unpatched is slower, never wrong.

pymap's patches (the IMAP service) live with the IMAP code.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

log = logging.getLogger("tidings.patches")

#: Patch modules by library name, as services ask for them.
KNOWN = ("authheaders", "dkimpy")


class PatchModule(Protocol):
    DISTRIBUTION: str
    SUPPORTED: tuple[str, ...]

    def apply(self) -> bool: ...


def supported(distribution: str, prefixes: tuple[str, ...]) -> bool:
    """Whether the installed ``distribution`` has a version starting with one of
    ``prefixes`` (``"1.1."`` covers every 1.1 release)."""
    try:
        installed = version(distribution)
    except PackageNotFoundError:
        log.warning("%s is not installed: not patching it", distribution)
        return False
    if not installed.startswith(prefixes):
        log.warning(
            "%s %s is not a version this patch was written for (%s): left unpatched",
            distribution,
            installed,
            ", ".join(p + "*" for p in prefixes),
        )
        return False
    return True


def patch_module(name: str) -> PatchModule:
    if name not in KNOWN:
        raise ValueError(f"no patch for {name!r} (known: {', '.join(KNOWN)})")
    module: PatchModule = importlib.import_module(f"{__name__}.{name}")
    return module


def apply_patches(*names: str) -> dict[str, bool]:
    """Apply the named patches (idempotent); which ones are in effect."""
    return {name: patch_module(name).apply() for name in names}
