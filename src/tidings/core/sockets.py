"""Listening sockets: inherited from systemd, or bound here.

The appliance binds privileged ports (25, 143, 443, 587, 993) in systemd ``.socket``
units and hands them over with ``LISTEN_FDS``; each socket's ``FileDescriptorName=`` is
the endpoint name used in ``[listen]`` (``smtp``, ``imaps``...). So services never need
root or ``CAP_NET_BIND_SERVICE``. On a laptop the same code binds the configured
``host:port`` itself.

Readiness is reported the systemd way too (``sd_notify`` on ``$NOTIFY_SOCKET``):
``tidings up`` listens on such a socket for its children, exactly as systemd does for
``Type=notify`` units.
"""

from __future__ import annotations

import errno
import os
import socket

from tidings.core.config import split_endpoint

SD_LISTEN_FDS_START = 3


class ListenError(Exception):
    """A listener could not be set up; worded for the operator."""


def _inherited() -> dict[str, socket.socket]:
    if os.environ.get("LISTEN_PID") not in (None, str(os.getpid())):
        return {}
    count = int(os.environ.get("LISTEN_FDS", "0") or 0)
    names = os.environ.get("LISTEN_FDNAMES", "").split(":") if count else []
    found: dict[str, socket.socket] = {}
    for index in range(count):
        fd = SD_LISTEN_FDS_START + index
        name = names[index] if index < len(names) else f"fd{fd}"
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        found[name] = sock
    return found


_INHERITED: dict[str, socket.socket] | None = None


def inherited_sockets() -> dict[str, socket.socket]:
    """Sockets passed by systemd, by ``FileDescriptorName`` (read once per process)."""
    global _INHERITED  # the fds exist once per process
    if _INHERITED is None:
        _INHERITED = _inherited()
        for var in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(var, None)  # children must not claim them again
    return _INHERITED


def listen(name: str, endpoint: str, *, backlog: int = 512) -> socket.socket:
    """The listening socket for endpoint ``name``: inherited if systemd passed one, else
    bound to ``endpoint`` (``host:port``)."""
    inherited = inherited_sockets().pop(name, None)
    if inherited is not None:
        return inherited
    host, port = split_endpoint(endpoint)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(
                f"{name}: {endpoint} is already in use by another program "
                f"(stop it, or set listen.{name} to a free port)"
            ) from exc
        if exc.errno == errno.EACCES:
            raise ListenError(
                f"{name}: not allowed to bind {endpoint} (ports below 1024 need socket "
                "activation or CAP_NET_BIND_SERVICE)"
            ) from exc
        raise ListenError(f"{name}: cannot listen on {endpoint}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


def notify(message: str) -> bool:
    """Send an ``sd_notify`` message (``READY=1``, ``STATUS=...``); False if nobody listens."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError:
            return False
    return True
