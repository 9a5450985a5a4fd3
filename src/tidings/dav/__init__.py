"""Calendars and contacts: CalDAV/CardDAV (``tidings serve dav``).

Xandikos (pinned, see :mod:`.xandikos_patches`) stores and serves the collections;
tidings puts its own front before it (:mod:`.front`): HTTP Basic against the core
accounts (password or an app token), 401 with ``WWW-Authenticate``, throttling, the
well-known redirects, and a path guard so one user never reaches another's data.
Xandikos' storage is blocking (git through dulwich), so it runs in one worker thread
(:mod:`.engine`), never on the event loop. The calendar/contacts REST API the MCP
server uses (:mod:`.api`) is served by the same process, through the same engine.
What clients need to set themselves up (URLs, Apple profile payloads) is
:mod:`.clients`, the one module other services import.
"""
