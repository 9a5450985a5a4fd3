"""pymap's maildir backend, fitted to tidings.

We keep pymap's IMAP protocol engine and its Maildir/``dovecot-uidlist`` code, and
replace or extend, through its own interfaces and by subclassing:

* **login** — :class:`TidingsLogin` checks passwords with :class:`Accounts` (argon2,
  shared throttling) instead of pymap's users/passwords files;
* **sessions** — each user gets exactly their own Maildir (``mail/<domain>/<local>``);
* **SPECIAL-USE** (RFC 6154) — attributes on LIST and the capability;
* **IDLE** — wakes as soon as a folder's ``new/``, ``cur/`` or uidlist changes (a
  delivery by the SMTP process), instead of rescanning every message each second;
* **the index** — folders changed by a command are marked, and
  :class:`TidingsConnectionState` brings their index rows in step (through
  :class:`MailStore`) before the command's tagged OK is sent;
* **STARTTLS before LOGIN** — also from loopback, which pymap exempts.
"""

from __future__ import annotations

import asyncio
import os
import re
from argparse import Namespace
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from mailbox import MaildirMessage
from pathlib import Path
from ssl import SSLContext
from typing import Any, TypeGuard

import pymap.bytes as pymap_bytes
from pymap.backend.maildir import Config as MaildirConfig
from pymap.backend.maildir import FilterSet
from pymap.backend.maildir import Session as MaildirSession
from pymap.backend.maildir.flags import MaildirFlags
from pymap.backend.maildir.io import FileWriteable
from pymap.backend.maildir.layout import MaildirLayout
from pymap.backend.maildir.mailbox import (
    LoadedMessage,
    MailboxData,
    MailboxSet,
    Maildir,
    Message,
)
from pymap.backend.maildir.uidlist import Record, UidList
from pymap.bytes import BytesFormat, MaybeBytes
from pymap.concurrent import Event
from pymap.config import BackendCapability
from pymap.context import socket_info
from pymap.exceptions import AuthorizationFailure, InvalidAuth, NotAllowedError, ResponseError
from pymap.flags import FlagOp
from pymap.imap.state import ConnectionState
from pymap.interfaces.login import IdentityInterface, LoginInterface
from pymap.interfaces.message import CachedMessage
from pymap.mailbox import MailboxSnapshot
from pymap.message import BaseLoadedMessage
from pymap.mime import MessageContent
from pymap.parsing.command import Command, CommandAuth, CommandNoArgs
from pymap.parsing.command.auth import DeleteCommand
from pymap.parsing.commands import Commands
from pymap.parsing.message import AppendMessage
from pymap.parsing.response import (
    CommandResponse,
    ResponseCode,
    ResponseNo,
    ResponseOk,
    UntaggedResponse,
)
from pymap.parsing.specials import FetchRequirement, ObjectId
from pymap.parsing.specials.flag import Flag, Wildcard
from pymap.selected import SelectedMailbox
from pymap.token import AllTokens
from pymap.user import UserMetadata
from pysasl import SASLAuth
from pysasl.creds.server import ServerCredentials
from pysasl.hashing import BuiltinHash

from tidings import __version__
from tidings.core.accounts import Accounts, AuthFailed, Throttled
from tidings.core.config import Settings
from tidings.mail.maildir import SPECIAL_FOLDERS, fsync_dir
from tidings.mail.store import (
    MailStore,
    add_file,
    assign_uids,
    durable_file_write,
    record_uid,
    scan_folder,
    uidlist_lock,
)

#: How often an IDLE connection looks at its folder's directories (a few stat calls).
IDLE_POLL_SECONDS = 0.1

# pymap renames a temporary file from /tmp over dovecot-uidlist (EXDEV across
# filesystems, never fsynced); every pymap metadata write goes through ours instead.
FileWriteable.file_write = durable_file_write  # type: ignore[method-assign,assignment]


async def _load_content_as_stored(
    self: Message, requirement: FetchRequirement
) -> BaseLoadedMessage:
    """pymap parses the file with Python's ``mailbox`` and serialises it again, which
    turns every CRLF into LF (wrong sizes, wrong line counts, bodies that differ from
    what was delivered). We hand it the file's bytes; files written with bare LF by
    other tools get CRLF on the wire, as Dovecot does."""
    key, maildir = self._key, self._maildir
    if key is None or maildir is None or requirement.has_none(FetchRequirement.CONTENT):
        return LoadedMessage(self, requirement, None)
    try:
        handle = maildir.get_file(key)
    except (KeyError, FileNotFoundError):
        return LoadedMessage(self, requirement, None)
    try:
        raw = handle.read()
    finally:
        handle.close()
    if raw.count(b"\n") != raw.count(b"\r\n"):
        raw = _BARE_LF.sub(b"\r\n", raw)
    return LoadedMessage(self, requirement, MessageContent.parse(raw))


_BARE_LF = re.compile(rb"(?<!\r)\n")
Message.load_content = _load_content_as_stored  # type: ignore[method-assign,assignment]


def _has_bytes(value: object) -> TypeGuard[MaybeBytes]:
    return isinstance(value, bytes) or hasattr(type(value), "__bytes__")


def _format(self: BytesFormat, other: Any) -> bytes:
    if hasattr(type(other), "__index__") or _has_bytes(other):
        return self.format([other])
    if isinstance(other, Iterable):
        return self.format(other)
    raise TypeError(f"cannot interpolate {type(other).__name__} into a response")


# pymap formats every response item with isinstance() against typing's runtime
# protocols (SupportsBytes, SupportsIndex), which Python 3.11 answers by walking the
# protocol's attributes each time: a third of FETCH's time. Same checks, direct.
pymap_bytes.has_bytes = _has_bytes
BytesFormat.__mod__ = _format  # type: ignore[method-assign]


class ChangedFolders:
    """Folders a session changed since the index was last brought in step."""

    def __init__(self) -> None:
        self.folders: set[str] = set()
        self.everything = False

    def take(self) -> tuple[bool, set[str]]:
        everything, folders = self.everything, self.folders
        self.everything, self.folders = False, set()
        return everything, folders


class NamespaceCommand(CommandNoArgs, CommandAuth):
    """RFC 2342 ``NAMESPACE``, which pymap lacks and clients (IMAPClient, Thunderbird)
    ask for: one personal namespace, no shared or other users' ones."""

    command = b"NAMESPACE"


class TidingsConfig(MaildirConfig):
    """pymap's settings, from ours; one per listener (STARTTLS or implicit TLS)."""

    def __init__(self, settings: Settings, ssl_context: SSLContext, *, starttls: bool) -> None:
        args = Namespace(passlib_cfg=None, proxy_protocol=None, debug=False)
        super().__init__(
            args,
            host=None,
            port=0,
            base_dir=str(settings.data_dir / "mail"),
            layout="++",
            colon=None,
            ssl_context=ssl_context,
            tls_enabled=starttls,
            hash_context=BuiltinHash(),
            reject_dnsbl=False,
            invalid_user_sleep=0.0,  # Accounts does constant-time checks and throttling
            max_append_len=64 * 1024 * 1024,
        )
        self.settings = settings

    @property
    def backend_capability(self) -> BackendCapability:
        return BackendCapability(
            idle=True, object_id=True, multi_append=True, custom=[b"SPECIAL-USE", b"NAMESPACE"]
        )

    @property
    def commands(self) -> Commands:
        commands = Commands()
        commands.register(NamespaceCommand)
        return commands

    @property
    def tls_auth(self) -> SASLAuth:
        # Only mechanisms that hand us the password: we verify argon2 hashes.
        return SASLAuth.named([b"PLAIN", b"LOGIN"])

    @property
    def greeting(self) -> bytes:
        return b"tidings IMAP ready on " + self.settings.hostname.encode("ascii")

    @property
    def id_response(self) -> dict[bytes, bytes]:
        return {b"name": b"tidings", b"version": __version__.encode("ascii")}


class _PasswordCapture:
    """A pysasl identity that only records the secret the client sent, so we can check
    it ourselves (argon2 in :class:`Accounts`) without reading pysasl's privates."""

    def __init__(self, authcid: str) -> None:
        self._authcid = authcid
        self.secret: str | None = None

    @property
    def authcid(self) -> str:
        return self._authcid

    def compare_authcid(self, authcid: str) -> bool:
        return authcid == self._authcid

    def compare_secret(self, secret: str) -> bool:
        self.secret = secret
        return True

    def get_clear_secret(self) -> str | None:
        return None


class LoginThrottled(ResponseError):
    """Too many failed logins: RFC 5530 ``UNAVAILABLE``, with when to try again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    def get_response(self, tag: bytes) -> ResponseNo:
        text = f"Too many failed logins, try again in {self.retry_after} seconds."
        return ResponseNo(tag, text.encode(), ResponseCode.of(b"UNAVAILABLE"))


class TidingsLogin(LoginInterface):
    def __init__(self, config: TidingsConfig, accounts: Accounts, store: MailStore) -> None:
        super().__init__()
        self.config = config
        self.accounts = accounts
        self.store = store
        self._tokens = AllTokens(config)

    @property
    def tokens(self) -> AllTokens:
        return self._tokens

    async def authenticate(self, credentials: ServerCredentials) -> TidingsIdentity:
        capture = _PasswordCapture(credentials.authcid)
        if not credentials.verify(capture) or capture.secret is None:
            raise InvalidAuth()
        peer = socket_info.get().peername_str or ""
        source = peer.rsplit(":", 1)[0].strip("[]") if peer else ""
        try:
            user = await asyncio.to_thread(
                self.accounts.authenticate, credentials.authcid, capture.secret, source=source
            )
        except Throttled as exc:
            raise LoginThrottled(exc.retry_after) from None
        except AuthFailed:
            raise InvalidAuth() from None
        return TidingsIdentity(user.address, self.config, self.store)

    async def authorize(self, authenticated: IdentityInterface, authzid: str) -> IdentityInterface:
        if authzid and authzid.lower() != authenticated.name:
            raise AuthorizationFailure()
        return authenticated


class TidingsIdentity(IdentityInterface):
    def __init__(self, address: str, config: TidingsConfig, store: MailStore) -> None:
        super().__init__()
        self._address = address
        self.config = config
        self.store = store

    @property
    def name(self) -> str:
        return self._address

    @property
    def roles(self) -> frozenset[str]:
        return frozenset()

    async def new_token(self, *, expiration: datetime | None = None) -> str | None:
        return None  # API tokens are made with `tidings token create`, not over IMAP

    @asynccontextmanager
    async def new_session(self) -> AsyncIterator[TidingsSession]:
        root = await asyncio.to_thread(self.store.mailbox, self._address)
        maildir = Maildir(str(root), create=False)
        layout = MaildirLayout.get(str(root), "++", Maildir)
        changed = ChangedFolders()
        mailbox_set = TidingsMailboxSet(maildir, layout, changed)
        yield TidingsSession(
            self._address, self.config, mailbox_set, FilterSet(layout.path), changed
        )

    async def get(self) -> UserMetadata:
        return UserMetadata(self.config, self._address)

    async def set(self, metadata: UserMetadata) -> int | None:
        raise NotAllowedError("Accounts are managed with the tidings command.")

    async def delete(self) -> None:
        raise NotAllowedError("Accounts are managed with the tidings command.")


class TidingsSession(MaildirSession):
    def __init__(
        self,
        owner: str,
        config: TidingsConfig,
        mailbox_set: TidingsMailboxSet,
        filter_set: FilterSet,
        changed: ChangedFolders,
    ) -> None:
        super().__init__(owner, config, mailbox_set, filter_set)
        self.changed = changed

    async def list_mailboxes(
        self,
        ref_name: str,
        filter_: str,
        subscribed: bool = False,
        selected: SelectedMailbox | None = None,
    ) -> tuple[Iterable[tuple[str, str | None, Sequence[bytes]]], SelectedMailbox | None]:
        listed, updates = await super().list_mailboxes(ref_name, filter_, subscribed, selected)
        with_special_use = []
        for name, sep, attrs in listed:
            special = SPECIAL_FOLDERS.get(name)
            if special is not None:
                attrs = [*attrs, special.lstrip("\\").encode()]
            with_special_use.append((name, sep, attrs))
        return with_special_use, updates


class TidingsMailboxSet(MailboxSet):
    def __init__(
        self, maildir: Maildir, layout: MaildirLayout[Any], changed: ChangedFolders
    ) -> None:
        super().__init__(maildir, layout)
        self.changed = changed
        self._ours: dict[str, TidingsMailboxData] = {}

    async def get_mailbox(self, name: str) -> MailboxData:
        # pymap's own, but building our MailboxData (it has no factory to override).
        if name == "INBOX":
            maildir = self._inbox_maildir
        else:
            try:
                maildir = self._layout.get_folder(name, self.delimiter)
            except FileNotFoundError as exc:
                raise KeyError(name) from exc
        mbx = self._ours.get(name)
        if mbx is None:
            path = self._layout.get_path(name, self.delimiter)
            async with UidList.with_init(path) as uidl:
                mailbox_id = ObjectId(uidl.global_uid)
            mbx = TidingsMailboxData(mailbox_id, maildir, path, name, self.changed)
            self._ours[name] = mbx
        return await mbx.reset()

    async def add_mailbox(self, name: str) -> ObjectId:
        self.changed.everything = True
        return await super().add_mailbox(name)

    async def delete_mailbox(self, name: str) -> None:
        self.changed.everything = True
        self._ours.pop(name, None)
        await super().delete_mailbox(name)

    async def rename_mailbox(self, before: str, after: str) -> None:
        self.changed.everything = True
        self._ours.clear()
        await super().rename_mailbox(before, after)


class TidingsMaildirFlags(MaildirFlags):
    """IMAP keywords (``$Junk``, ``$label1``, Thunderbird's tags) registered on first
    use in ``dovecot-keywords``, as Dovecot does. pymap maps only keywords already
    listed there and silently drops the others, so a client's tags were lost."""

    MAX_KEYWORDS = 26  # one Maildir info letter each, a-z

    def to_maildir(self, flags: Iterable[bytes | Flag]) -> str:
        wanted = [flag if isinstance(flag, Flag) else Flag(flag) for flag in flags]
        unknown = [
            flag
            for flag in wanted
            if flag not in self.system_flags
            and flag not in self.keywords
            and not bytes(flag).startswith(b"\\")
        ]
        if unknown:
            self._register(unknown)
        return super().to_maildir(wanted)

    def _register(self, flags: list[Flag]) -> None:
        folder = Path(self.path)
        with uidlist_lock(folder):  # Dovecot guards dovecot-keywords with this lock too
            current = MaildirFlags.file_read(self.path)
            names = [
                bytes(k).decode()
                for k in sorted(current.keywords, key=lambda k: current.to_maildir([k]))
            ]
            for flag in flags:
                name = bytes(flag).decode()
                if name not in names and len(names) < self.MAX_KEYWORDS:
                    names.append(name)
            text = "".join(f"{index} {name}\n" for index, name in enumerate(names))
            target = Path(self.get_file(self.path))
            tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
            with tmp.open("w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(target)
            fsync_dir(folder)
        with target.open(encoding="utf-8") as handle:
            self.read(handle)


class _Snapshot(MailboxSnapshot):
    """``\\*`` belongs in PERMANENTFLAGS (clients may create keywords) but not in the
    FLAGS response, which lists flags, not permissions (RFC 3501 §7.2.6)."""

    __slots__: list[str] = []

    @property
    def flags(self) -> frozenset[Flag]:
        return super().flags - {Wildcard}


class TidingsMailboxData(MailboxData):
    """Marks its folder changed after writes; wakes IDLE on changes on disk."""

    @property
    def maildir_flags(self) -> MaildirFlags:
        if self._flags is None:
            self._flags = TidingsMaildirFlags.file_read(self._path)
        return self._flags

    @property
    def permanent_flags(self) -> frozenset[Flag]:
        # The wildcard makes pymap keep any keyword a client stores (it filters STORE
        # and APPEND flags against this set); TidingsMaildirFlags then records it.
        return self.maildir_flags.permanent_flags | {Wildcard}

    async def snapshot(self) -> MailboxSnapshot:
        base = await super().snapshot()
        return _Snapshot(
            base.mailbox_id,
            base.readonly,
            base.uid_validity,
            base.permanent_flags,
            base.session_flags,
            base.exists,
            base.recent,
            base.unseen,
            base.first_unseen,
            base.next_uid,
        )

    def __init__(
        self,
        mailbox_id: ObjectId,
        maildir: Maildir,
        path: str,
        name: str,
        changed: ChangedFolders,
    ) -> None:
        super().__init__(mailbox_id, maildir, path)
        self.name = name
        self.changed = changed
        self._watched = [Path(path, "new"), Path(path, "cur"), Path(UidList.get_file(path))]
        self._seen: tuple[int, ...] = ()
        self._uidlist_cache: UidList | None = None
        self._uidlist_version: tuple[int, ...] = ()

    async def _get_maildir_msg(self, uid: int) -> tuple[Record, MaildirMessage]:
        # pymap re-reads the whole uidlist for every message it fetches or searches:
        # O(n²) per command (minutes on a 10,000-message folder). The file is only
        # ever replaced by rename, so (inode, size, mtime) tells when to read it again.
        record = self._uidlist().get(uid)
        async with self.messages_lock.read_lock():
            maildir_msg = self._maildir.get_message_metadata(record.key)
        return record, maildir_msg

    def _uidlist(self) -> UidList:
        try:
            stat = os.stat(UidList.get_file(self._path))  # noqa: PTH116  (per message)
            version: tuple[int, ...] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except FileNotFoundError:
            version = ()
        if self._uidlist_cache is None or version != self._uidlist_version:
            self._uidlist_cache = UidList.file_read(self._path)
            self._uidlist_version = version
        return self._uidlist_cache

    def _fingerprint(self) -> tuple[int, ...]:
        stamps = []
        for path in self._watched:
            try:
                stamps.append(os.stat(path).st_mtime_ns)  # noqa: PTH116  (hot path)
            except FileNotFoundError:
                stamps.append(0)
        return tuple(stamps)

    async def reset(self) -> MailboxData:
        self._seen = self._fingerprint()
        next_uid = self._next_uid
        # Give new deliveries their UIDs in arrival order first; pymap's own reset
        # would number them in directory order.
        folder = Path(self._path)
        await asyncio.to_thread(assign_uids, folder, scan_folder(folder))
        result = await super().reset()
        if self._next_uid != next_uid:
            self.changed.folders.add(self.name)  # UIDs given to new deliveries
        return result

    async def update_selected(
        self, selected: SelectedMailbox, *, wait_on: Event | None = None
    ) -> SelectedMailbox:
        if wait_on is not None:
            # Wait for the client's DONE or for any change on disk since the last scan
            # (a delivery by another process, a flag set by another client).
            while not wait_on.is_set() and self._fingerprint() == self._seen:
                await wait_on.wait(timeout=IDLE_POLL_SECONDS)
            if not wait_on.is_set():
                await self.reset()
        return await super().update_selected(selected)

    async def append(self, append_msg: AppendMessage, *, recent: bool = False) -> Message:
        self.changed.folders.add(self.name)
        letters = self.maildir_flags.to_maildir(append_msg.flag_set)
        when = (append_msg.when or datetime.now()).timestamp()
        return await self._add(bytes(append_msg.literal), letters, recent, when, None)

    async def copy(self, uid: int, destination: MailboxData, *, recent: bool = False) -> int | None:
        if not isinstance(destination, TidingsMailboxData):
            return await super().copy(uid, destination, recent=recent)
        # pymap 0.36.7 copies a metadata-only MaildirMessage (an empty file), and
        # Python's mailbox rewrites CRLF to LF: we copy the file's bytes ourselves.
        async with UidList.with_read(self._path) as uidl:
            try:
                record = uidl.get(uid)
            except KeyError:
                return None
        try:
            async with self.messages_lock.read_lock():
                source = self._maildir.get_file(record.key)
                try:
                    raw = source.read()
                finally:
                    source.close()
                metadata = self._maildir.get_message_metadata(record.key)
        except (KeyError, FileNotFoundError):
            return None
        copied = await destination._add(
            raw, metadata.get_flags(), recent, metadata.get_date(), record.fields
        )
        return copied.uid

    async def _add(
        self,
        raw: bytes,
        letters: str,
        recent: bool,
        internal_date: float,
        fields: Mapping[str, str] | None,
    ) -> Message:
        self.changed.folders.add(self.name)
        folder = Path(self._path)
        if fields is None:
            fields = {
                "E": str(ObjectId.random_email_id()),
                "T": str(ObjectId.random_thread_id()),
            }
        async with self.messages_lock.write_lock():
            path = await asyncio.to_thread(
                add_file, folder, raw, letters=letters, recent=recent, internal_date=internal_date
            )
        uid = await asyncio.to_thread(record_uid, folder, path.name, dict(fields))
        key = path.name.split(":", 1)[0]
        maildir_msg = self._maildir.get_message_metadata(key)
        return Message.from_maildir(
            uid,
            maildir_msg,
            self._maildir,
            key,
            ObjectId.maybe(fields.get("E")),
            ObjectId.maybe(fields.get("T")),
            self.maildir_flags,
        )

    async def move(self, uid: int, destination: MailboxData, *, recent: bool = False) -> int | None:
        self.changed.folders.add(self.name)
        if isinstance(destination, TidingsMailboxData):
            self.changed.folders.add(destination.name)
        return await super().move(uid, destination, recent=recent)

    async def update(
        self, uid: int, cached_msg: CachedMessage, flag_set: frozenset[Flag], mode: FlagOp
    ) -> Message:
        self.changed.folders.add(self.name)
        return await super().update(uid, cached_msg, flag_set, mode)

    async def delete(self, uids: Iterable[int]) -> None:
        self.changed.folders.add(self.name)
        await super().delete(uids)


class TidingsConnectionState(ConnectionState):
    def __init__(self, login: TidingsLogin, config: TidingsConfig) -> None:
        super().__init__(login, config)
        self.store = login.store

    async def do_greeting(self) -> CommandResponse:
        # pymap lets loopback clients log in without TLS; we never do: LOGINDISABLED
        # until STARTTLS on the plain port, whoever connects.
        return ResponseOk(b"*", self.config.greeting, self.capability)

    async def do_delete(self, cmd: DeleteCommand) -> tuple[CommandResponse, SelectedMailbox | None]:
        # pymap says BYE when a session deletes its own selected folder; Dovecot and
        # RFC 9051 just leave the selected state.
        if self._selected is not None and self._selected.lookup == cmd.mailbox:
            self._selected = None
        return await super().do_delete(cmd)

    async def do_namespace(self, cmd: NamespaceCommand) -> tuple[CommandResponse, None]:
        response = ResponseOk(cmd.tag, b"NAMESPACE completed.")
        response.add_untagged(UntaggedResponse(b'NAMESPACE (("" "/")) NIL NIL'))
        return response, None

    async def do_command(self, cmd: Command) -> CommandResponse:
        response = await super().do_command(cmd)
        session = self._session
        if isinstance(session, TidingsSession):
            everything, folders = session.changed.take()
            if everything:
                await asyncio.to_thread(self.store.sync_mailbox, session.owner)
            else:
                for folder in sorted(folders):
                    await asyncio.to_thread(self.store.sync_folder, session.owner, folder)
        return response
