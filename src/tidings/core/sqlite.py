"""Small SQLite helpers shared by the stores that use plain ``sqlite3`` (mail index,
outbound queue)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def setup_lock(database: Path) -> Iterator[None]:
    """Hold while switching a SQLite file to WAL and creating its schema: those steps
    take locks SQLite does not wait for (no busy handler), so processes opening a new
    database at the same moment would get "database is locked"."""
    with (database.parent / (database.name + ".lock")).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
