"""Several processes for one service, sharing its listening sockets (pre-fork).

A Python process runs its protocol code on one core (the GIL). A service whose
``ServiceSpec.workers`` asks for more than one process binds (or inherits from
systemd) its listeners once, then forks the other workers: every worker accepts on
the very same sockets and the kernel hands each connection to one of them, as with
Postfix's ``smtpd`` processes. It stays one service run one way — ``tidings serve
NAME`` starts all of its workers, and stopping it stops them all:

* the first process is worker 0: it reports readiness, writes the heartbeat and does
  once-per-service work (``ServiceContext.worker == 0``);
* the others die with it (``PR_SET_PDEATHSIG``): a SIGKILL of the service leaves no
  orphan holding its ports;
* SIGTERM/SIGINT to worker 0 is passed on, and it waits for the others to finish
  the transactions they have under way.

Fork happens before any thread or database connection exists, after the service's
modules are imported, so the workers share those pages copy-on-write.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import select
import signal
from collections.abc import Callable

log = logging.getLogger("tidings.service")

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the SIGTERM relay still stops us
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def fork_workers(count: int, run: Callable[[int], None]) -> list[int]:
    """Fork ``count - 1`` workers, each calling ``run(index)`` then exiting; their pids.
    The caller is worker 0 and runs ``run(0)`` itself."""
    parent = os.getpid()
    gc.freeze()  # objects made so far stay shared: the collector never writes to them
    children: list[int] = []
    for index in range(1, count):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _die_with_parent(parent)
                os.environ.pop("NOTIFY_SOCKET", None)  # only worker 0 speaks for the service
                run(index)
                code = 0
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                os._exit(code)
        children.append(pid)
    return children


def stop_workers(children: list[int], timeout: float) -> None:
    """SIGTERM every worker, then wait for them (SIGKILL after ``timeout``)."""
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in children:
        if not _wait(pid, timeout):
            log.warning("worker %d did not stop within %.0f s; killing it", pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _wait(pid: int, timeout: float) -> bool:
    """Wait for ``pid`` to exit; False on timeout. A pidfd gives the exit as an event."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return False
    finally:
        os.close(fd)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return True


#: ``0`` workers in the configuration means one per CPU, up to this many.
AUTO_MAX = 2


def worker_count(configured: int) -> int:
    """How many processes: ``configured``, or for 0 one per CPU this process may use
    (capped at :data:`AUTO_MAX`)."""
    if configured > 0:
        return configured
    return max(1, min(len(os.sched_getaffinity(0)), AUTO_MAX))
