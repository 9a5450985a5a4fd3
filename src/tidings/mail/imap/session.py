"""One IMAP connection: its state (not authenticated, authenticated, selected), the
commands, and what it has told the client about the selected folder.

Every command runs inside one ``try``: a bad command gets ``BAD``, a refused one ``NO``
with its RFC 5530 response code, and an unexpected error is logged and answered with
``NO [SERVERBUG]`` for that command only — the session goes on, and no other session
is affected (each has its own task; shared folder states are only replaced whole).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import logging
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from tidings import __version__
from tidings.core.accounts import AuthFailed, Throttled
from tidings.mail.imap import mime, sort
from tidings.mail.imap.folders import (
    SYSTEM_FLAGS,
    FolderGone,
    FolderState,
    Msg,
    canonical_flag,
)
from tidings.mail.imap.protocol import (
    MAX_SMALL_LITERAL,
    Atom,
    LiteralRefused,
    ProtocolError,
    RawCommand,
    String,
    Token,
    Tokenizer,
    literal,
    mutf7_decode,
    mutf7_encode,
    quoted,
    quoted_utf8,
    read_command,
)
from tidings.mail.imap.search import (
    _SEQSET,
    Context,
    Item,
    Parser,
    SearchError,
    fts_phrase,
    parse_sequence_set,
)
from tidings.mail.maildir import SPECIAL_FOLDERS, ensure_folder, folder_path, fsync_dir, user_root

if TYPE_CHECKING:
    from tidings.mail.imap.server import ImapServer

log = logging.getLogger("tidings.imap")

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
AUTOLOGOUT_SECONDS = 30 * 60
IDLE_POLL_SECONDS = 0.1


class No(Exception):
    """Refuse the command: ``tag NO [code] text``."""

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class Bad(Exception):
    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class Bye(Exception):
    pass


@dataclass
class View:
    """The selected folder as this session last told the client."""

    folder: FolderState
    readonly: bool
    uids: list[int]
    msgs: dict[int, Msg]
    flags: dict[int, frozenset[str]]
    recent: set[int] = field(default_factory=set)
    version: int = -1
    saved: list[int] = field(default_factory=list)  # SEARCHRES
    announced_keywords: tuple[str, ...] = ()

    def seq_of(self, uid: int) -> int:
        import bisect

        index = bisect.bisect_left(self.uids, uid)
        return index + 1 if index < len(self.uids) and self.uids[index] == uid else 0


def imap_date(timestamp: float) -> bytes:
    local = dt.datetime.fromtimestamp(timestamp).astimezone()
    offset = local.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    text = (
        f'"{local.day:2d}-{MONTHS[local.month - 1]}-{local.year:04d} '
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d} "
        f'{sign}{minutes // 60:02d}{minutes % 60:02d}"'
    )
    return text.encode()


def parse_imap_date(text: bytes) -> float:
    match = re.fullmatch(
        rb" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", text
    )
    months = [m.lower() for m in MONTHS]
    if not match or match[2].decode().lower() not in months:
        raise Bad("Invalid date-time")
    sign = 1 if match[7] == b"+" else -1
    try:
        tz = dt.timezone(sign * dt.timedelta(hours=int(match[8]), minutes=int(match[9])))
        when = dt.datetime(
            int(match[3]),
            months.index(match[2].decode().lower()) + 1,
            int(match[1]),
            int(match[4]),
            int(match[5]),
            int(match[6]),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise Bad("Invalid date-time") from exc
    return when.timestamp()


def flag_list(flags: Iterable[str]) -> bytes:
    return b"(" + " ".join(flags).encode("utf-8") + b")"


def _match(pattern: str, name: str) -> bool:
    regex = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.DOTALL) is not None


@dataclass
class FetchItem:
    name: str  # canonical response name
    kind: str
    section: str = ""
    part: list[int] = field(default_factory=list)
    fields: list[bytes] = field(default_factory=list)
    partial: tuple[int, int] | None = None
    peek: bool = False


_SECTION = re.compile(
    rb"^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[([^\]]*)\](?:<(\d+)(?:\.(\d+))?>)?$",
    re.IGNORECASE,
)


class Session:
    def __init__(
        self,
        server: ImapServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tls: bool,
        peer: str,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.tls = tls
        self.peer = peer
        self.user: str | None = None
        self.view: View | None = None
        self.condstore = False
        self.qresync = False
        self.utf8 = False
        self.out: list[bytes] = []

    # -- capabilities -------------------------------------------------------------
    def capabilities(self) -> bytes:
        caps = [b"IMAP4rev1"]
        if self.user is None:
            if not self.tls:
                caps += [b"STARTTLS", b"LOGINDISABLED"]
            else:
                caps += [b"AUTH=PLAIN", b"AUTH=LOGIN"]
            caps.append(b"SASL-IR")
        caps += self.server.extensions
        return b" ".join(caps)

    # -- output ------------------------------------------------------------------
    def untagged(self, data: bytes) -> None:
        self.out.append(b"* " + data + b"\r\n")

    async def flush(self) -> None:
        if self.out:
            self.writer.write(b"".join(self.out))
            self.out.clear()
        await self.writer.drain()

    # -- the loop ------------------------------------------------------------------
    async def run(self) -> None:
        self.untagged(b"OK [CAPABILITY " + self.capabilities() + b"] " + self.server.greeting)
        await self.flush()
        while True:
            try:
                raw = await asyncio.wait_for(
                    read_command(self.reader, self._continue, self._literal_limit),
                    AUTOLOGOUT_SECONDS,
                )
            except TimeoutError:
                self.untagged(b"BYE Autologout; idle for too long")
                await self.flush()
                return
            except LiteralRefused as exc:
                self.out.append(exc.tag + b" NO " + exc.text + b"\r\n")
                await self.flush()
                continue
            except ProtocolError as exc:
                self.out.append(b"* BAD " + str(exc).encode() + b"\r\n")
                await self.flush()
                continue
            if raw is None:
                return
            try:
                done = await self.command(raw)
            finally:
                await self.flush()
            if done:
                return

    async def _continue(self) -> None:
        self.writer.write(b"+ OK\r\n")
        await self.writer.drain()

    def _literal_limit(self, line: bytes) -> int:
        words = line.split(b" ", 3)
        if len(words) > 1 and words[1].upper() == b"APPEND":
            return self.server.append_limit if self.user is not None else 0
        return MAX_SMALL_LITERAL

    async def command(self, raw: RawCommand) -> bool:
        tokens = Tokenizer(raw)
        tag = b"*"
        try:
            tag_token = tokens.token()
            if (
                not isinstance(tag_token, Atom)
                or b"+" in tag_token.value
                or b"*" in tag_token.value
            ):
                raise ProtocolError("Invalid tag")
            tag = tag_token.value
            tokens.space()
            name_token = tokens.token()
            if not isinstance(name_token, Atom):
                raise ProtocolError("Invalid command")
            name = name_token.value.upper()
            args: list[Token] = []
            while not tokens.at_end():
                tokens.space()
                args.append(tokens.token())
        except ProtocolError as exc:
            self.out.append(
                tag + b" BAD " + (str(exc).encode() or b"Error in IMAP command") + b"\r\n"
            )
            return False
        self._tag = tag
        try:
            text = await self.dispatch(tag, name, args)
            if text is not None:
                self.out.append(tag + b" OK " + text + b"\r\n")
        except No as exc:
            prefix = f"[{exc.code}] " if exc.code else ""
            self.out.append(tag + b" NO " + (prefix + exc.text).encode() + b"\r\n")
        except (Bad, ProtocolError) as exc:
            prefix = f"[{exc.code}] " if isinstance(exc, Bad) and exc.code else ""
            reason = exc.text if isinstance(exc, Bad) else str(exc)
            self.out.append(tag + b" BAD " + (prefix + reason).encode() + b"\r\n")
        except Bye:
            return True
        except (ConnectionError, asyncio.IncompleteReadError):
            raise
        except OSError as exc:
            # the file system refused (name too long, disk full, permissions): the
            # command was not done, the session goes on
            log.warning(
                "IMAP %s refused by the file system: %s", name.decode("ascii", "replace"), exc
            )
            self.out.append(
                tag
                + b" NO [CANNOT] The server could not do that: "
                + exc.strerror.encode("ascii", "replace")
                + b"\r\n"
                if exc.strerror
                else tag + b" NO [CANNOT] The server could not do that.\r\n"
            )
        except Exception:
            log.exception(
                "IMAP command %s failed for %s", name.decode("ascii", "replace"), self.user
            )
            self.out.append(tag + b" NO [SERVERBUG] Internal error; the command was not done\r\n")
        return False

    async def dispatch(self, tag: bytes, name: bytes, args: list[Token]) -> bytes | None:
        if name == b"CAPABILITY":
            self._no_args(args)
            self.untagged(b"CAPABILITY " + self.capabilities())
            return b"Capability completed."
        if name == b"NOOP":
            self._no_args(args)
            await self.sync(allow_expunge=True)
            return b"NOOP completed."
        if name == b"LOGOUT":
            self._no_args(args)
            self.untagged(b"BYE Logging out")
            self.out.append(tag + b" OK Logout completed.\r\n")
            raise Bye
        if name == b"ID":
            return self.cmd_id(args)
        if self.user is None:
            if name == b"STARTTLS":
                return await self.cmd_starttls(tag, args)
            if name == b"LOGIN":
                return await self.cmd_login(args)
            if name == b"AUTHENTICATE":
                return await self.cmd_authenticate(args)
            if name in _AUTHENTICATED_COMMANDS or name in _SELECTED_COMMANDS:
                raise Bad("Not authenticated.")
            raise Bad("Unknown command.")
        if name in (b"LOGIN", b"AUTHENTICATE"):
            raise Bad("Already authenticated.")
        if name == b"STARTTLS":
            raise Bad("TLS is already active." if self.tls else "Not in this state.")
        handler = _AUTHENTICATED_COMMANDS.get(name)
        if handler is not None:
            return cast("bytes | None", await getattr(self, handler)(args))
        if name == b"UID":
            if self.view is None:
                raise Bad("No mailbox selected.")
            if not args or not isinstance(args[0], Atom):
                raise Bad("Missing UID command.")
            sub = args[0].value.upper()
            handler = _UID_COMMANDS.get(sub)
            if handler is None:
                raise Bad("Unknown UID command.")
            return cast("bytes | None", await getattr(self, handler)(args[1:], by_uid=True))
        handler = _SELECTED_COMMANDS.get(name)
        if handler is not None:
            if self.view is None:
                raise Bad("No mailbox selected.")
            return cast("bytes | None", await getattr(self, handler)(args))
        raise Bad("Unknown command.")

    @staticmethod
    def _no_args(args: list[Token]) -> None:
        if args:
            raise Bad("Unexpected arguments.")

    # -- not authenticated -----------------------------------------------------------
    def cmd_id(self, args: list[Token]) -> bytes:
        if len(args) != 1 or not (
            isinstance(args[0], list) or (isinstance(args[0], Atom) and args[0].upper() == b"NIL")
        ):
            raise Bad("ID takes a list or NIL.")
        if isinstance(args[0], list) and (len(args[0]) % 2 or len(args[0]) > 60):
            raise Bad("ID takes field and value pairs.")
        fields = {b"name": b"tidings", b"version": __version__.encode()}
        body = b" ".join(quoted(k) + b" " + quoted(v) for k, v in fields.items())
        self.untagged(b"ID (" + body + b")")
        return b"ID completed."

    async def cmd_starttls(self, tag: bytes, args: list[Token]) -> bytes | None:
        self._no_args(args)
        if self.tls:
            raise Bad("TLS is already active.")
        self.out.append(tag + b" OK Begin TLS negotiation now.\r\n")
        await self.flush()
        if self.reader._buffer:  # type: ignore[attr-defined]
            # Commands pipelined after STARTTLS would be read as if protected
            # (CVE-2011-0411 class): refuse the connection.
            raise Bye
        await self.writer.start_tls(self.server.tls)
        self.tls = True
        return None

    def _check_login_allowed(self) -> None:
        if not self.tls:
            raise No("Use STARTTLS first.", "PRIVACYREQUIRED")

    async def cmd_login(self, args: list[Token]) -> bytes:
        if len(args) != 2 or isinstance(args[0], list) or isinstance(args[1], list):
            raise Bad("LOGIN takes a user name and a password.")
        self._check_login_allowed()
        return await self._authenticate(
            args[0].value.decode("utf-8", "replace"), args[1].value.decode("utf-8", "replace")
        )

    async def _authenticate(self, user: str, password: str) -> bytes:
        try:
            address = await self.server.authenticate(user, password, self.peer)
        except Throttled as exc:
            raise No(
                f"Too many failed logins, try again in {exc.retry_after} seconds.", "UNAVAILABLE"
            ) from None
        except AuthFailed:
            raise No("Authentication failed.", "AUTHENTICATIONFAILED") from None
        self.user = address
        root = await asyncio.to_thread(self.server.store.mailbox, self.user)
        self.root = root
        return b"[CAPABILITY " + self.capabilities() + b"] Logged in."

    async def cmd_authenticate(self, args: list[Token]) -> bytes:
        if not args or len(args) > 2 or not isinstance(args[0], Atom):
            raise Bad("AUTHENTICATE takes a mechanism.")
        self._check_login_allowed()
        mechanism = args[0].upper()
        initial = args[1].value if len(args) == 2 and not isinstance(args[1], list) else None
        if mechanism == b"PLAIN":
            data = initial if initial is not None else await self._challenge(b"")
            decoded = self._b64(data)
            parts = decoded.split(b"\0")
            if len(parts) != 3:
                raise Bad("Invalid PLAIN response.")
            authz, user, password = (p.decode("utf-8", "replace") for p in parts)
            if authz and authz.lower() != user.lower():
                raise No("Authorization identity refused.", "AUTHORIZATIONFAILED")
            return await self._authenticate(user, password)
        if mechanism == b"LOGIN":
            user_b = self._b64(
                initial if initial is not None else await self._challenge(b"VXNlcm5hbWU6")
            )
            password_b = self._b64(await self._challenge(b"UGFzc3dvcmQ6"))
            return await self._authenticate(
                user_b.decode("utf-8", "replace"), password_b.decode("utf-8", "replace")
            )
        raise No("Unsupported mechanism.", "CANNOT")

    async def _challenge(self, challenge: bytes) -> bytes:
        self.out.append(b"+ " + challenge + b"\r\n")
        await self.flush()
        line = await self.reader.readline()
        line = line.rstrip(b"\r\n")
        if line == b"*":
            raise Bad("Authentication cancelled.")
        return line

    @staticmethod
    def _b64(data: bytes) -> bytes:
        if data == b"=":
            return b""
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise Bad("Invalid base64.") from None

    # -- mailboxes -------------------------------------------------------------------
    def mailbox_name(self, token: Token, *, create: bool = False) -> str:
        if isinstance(token, list):
            raise Bad("Expected a mailbox name.")
        raw = token.value
        if create:
            raw = raw.rstrip(b"/")
        if raw.upper() == b"INBOX":
            return "INBOX"
        if not raw:
            raise No("Empty mailbox name.", "CANNOT")
        if self.utf8 and not raw.isascii():
            # UTF8=ACCEPT (RFC 6855): names come as UTF-8; on disk they stay modified
            # UTF-7, as Dovecot keeps them, so both kinds of client see one folder.
            try:
                raw = mutf7_encode(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise No("Mailbox name is not UTF-8.", "CANNOT") from None
        try:
            mutf7_decode(raw)
        except ValueError:
            raise No("Mailbox name is not valid modified UTF-7.", "CANNOT") from None
        name = raw.decode("ascii")
        parts = name.split("/")
        if any(p in ("", ".", "..") or "." in p or p[:1] == "~" for p in parts):
            raise No("Mailbox name not allowed here.", "CANNOT")
        if parts[0].upper() == "INBOX":
            raise No("Mailboxes below INBOX are not supported.", "CANNOT")
        return name

    def _shown_name(self, name: str) -> bytes:
        """A folder name on the wire: modified UTF-7, or UTF-8 once UTF8=ACCEPT."""
        if self.utf8:
            try:
                return quoted_utf8(mutf7_decode(name.encode("ascii")).encode("utf-8"))
            except (ValueError, UnicodeEncodeError):
                pass
        return quoted(name.encode("utf-8"))

    def folder_dir(self, name: str) -> Path:
        assert self.user is not None
        return folder_path(user_root(self.server.store.mail_dir, self.user), name)

    def folder_state(self, name: str) -> FolderState:
        assert self.user is not None
        return self.server.folder(self.user, name, self.folder_dir(name))

    async def refreshed(self, name: str, *, force: bool = False) -> FolderState:
        state = self.folder_state(name)
        try:
            await asyncio.to_thread(state.refresh, self.server.store, force=force)
        except FolderGone:
            self.server.forget(state)
            raise No("Mailbox does not exist.", "NONEXISTENT") from None
        return state

    def exists(self, name: str) -> bool:
        return (self.folder_dir(name) / "cur").is_dir()

    async def cmd_select(self, args: list[Token], readonly: bool = False) -> bytes:
        if not args:
            raise Bad("SELECT takes a mailbox name.")
        name = self.mailbox_name(args[0])
        params = args[1] if len(args) > 1 else None
        condstore = False
        qresync: list[Token] | None = None
        if params is not None:
            if not isinstance(params, list):
                raise Bad("Invalid SELECT parameters.")
            i = 0
            while i < len(params):
                item = params[i]
                if isinstance(item, Atom) and item.upper() == b"CONDSTORE":
                    condstore = True
                elif isinstance(item, Atom) and item.upper() == b"QRESYNC" and self.qresync:
                    if i + 1 >= len(params) or not isinstance(params[i + 1], list):
                        raise Bad("QRESYNC takes a list.")
                    given = params[i + 1]
                    assert isinstance(given, list)
                    if len(given) < 2 or not all(
                        isinstance(q, Atom) and q.value.isdigit() for q in given[:2]
                    ):
                        raise Bad("Invalid QRESYNC parameters.")
                    qresync = given
                    i += 1
                else:
                    raise Bad("Unknown SELECT parameter.")
                i += 1
        if self.view is not None and self.qresync:
            self.untagged(b"OK [CLOSED] Previous mailbox closed.")
        self.view = None
        if condstore:
            self.condstore = True
        state = await self.refreshed(name)
        view = View(state, readonly, list(state.uids), dict(state.messages), {})
        view.flags = {uid: msg.flags for uid, msg in view.msgs.items()}
        if not readonly:
            view.recent = state.unclaimed_recent & set(view.uids)
            state.unclaimed_recent -= view.recent
        else:
            view.recent = set(state.unclaimed_recent) & set(view.uids)
        view.version = state.version
        keywords = tuple(k for k in state.keywords if k)
        view.announced_keywords = keywords
        self.untagged(b"FLAGS " + flag_list((*SYSTEM_FLAGS, *keywords)))
        if readonly:
            self.untagged(b"OK [PERMANENTFLAGS ()] Read-only mailbox.")
        else:
            self.untagged(
                b"OK [PERMANENTFLAGS "
                + flag_list((*SYSTEM_FLAGS, *keywords, "\\*"))
                + b"] Flags permitted."
            )
        self.untagged(b"%d EXISTS" % len(view.uids))
        self.untagged(b"%d RECENT" % len(view.recent))
        for seq, uid in enumerate(view.uids, 1):
            if "\\Seen" not in view.flags[uid]:
                self.untagged(b"OK [UNSEEN %d] First unseen." % seq)
                break
        self.untagged(b"OK [UIDVALIDITY %d] UIDs valid" % state.uid_validity)
        self.untagged(b"OK [UIDNEXT %d] Predicted next UID" % state.next_uid)
        if self.server.condstore_capable:
            self.untagged(b"OK [HIGHESTMODSEQ %d] Highest" % state.highest_modseq)
        self.view = view
        if qresync is not None:
            self._qresync_select(qresync)
        return b"[READ-ONLY] Examine completed." if readonly else b"[READ-WRITE] Select completed."

    def _qresync_select(self, params: list[Token]) -> None:
        assert self.view is not None
        if len(params) < 2 or not all(
            isinstance(p, Atom) and p.value.isdigit() for p in params[:2]
        ):
            raise Bad("Invalid QRESYNC parameters.")
        validity = int(params[0].value)  # type: ignore[union-attr]
        since = int(params[1].value)  # type: ignore[union-attr]
        view = self.view
        if validity != view.folder.uid_validity:
            return
        known: list[tuple[int, int]] = [(1, view.folder.next_uid - 1)]
        if len(params) > 2 and isinstance(params[2], Atom):
            known = parse_sequence_set(params[2].value, view.folder.next_uid)
        vanished = _vanished(view, known)
        if vanished:
            self.untagged(b"VANISHED (EARLIER) " + _uid_set(sorted(vanished)))
        for seq, uid in enumerate(view.uids, 1):
            msg = view.msgs[uid]
            if msg.modseq > since:
                self.untagged(
                    b"%d FETCH (UID %d FLAGS %s MODSEQ (%d))"
                    % (seq, uid, self._flags(view, uid), msg.modseq)
                )

    async def cmd_examine(self, args: list[Token]) -> bytes:
        return await self.cmd_select(args, readonly=True)

    async def cmd_create(self, args: list[Token]) -> bytes:
        if len(args) not in (1, 2):
            raise Bad("CREATE takes a mailbox name.")
        name = self.mailbox_name(args[0], create=True)
        if name == "INBOX" or self.exists(name):
            raise No("Mailbox already exists.", "ALREADYEXISTS")
        path = self.folder_dir(name)
        await asyncio.to_thread(ensure_folder, path)
        return b"Create completed."

    async def cmd_delete(self, args: list[Token]) -> bytes:
        if len(args) != 1:
            raise Bad("DELETE takes a mailbox name.")
        name = self.mailbox_name(args[0])
        if name == "INBOX":
            raise No("INBOX cannot be deleted.", "CANNOT")
        if not self.exists(name):
            raise No("Mailbox does not exist.", "NONEXISTENT")
        assert self.user is not None
        children = [
            n for n in self.server.store.folder_names(self.user) if n.startswith(name + "/")
        ]
        if children:
            raise No("Mailbox has children, delete them first.", "INUSE")
        if self.view is not None and self.view.folder.name == name:
            self.view = None
        path = self.folder_dir(name)
        trash = path.with_name(path.name + f".deleting.{time.time_ns()}")
        path.rename(trash)
        await asyncio.to_thread(shutil.rmtree, trash, True)
        self.server.forget(self.folder_state(name))
        await asyncio.to_thread(self.server.store.sync_mailbox, self.user)
        return b"Delete completed."

    async def cmd_rename(self, args: list[Token]) -> bytes:
        if len(args) != 2:
            raise Bad("RENAME takes two mailbox names.")
        old = self.mailbox_name(args[0])
        new = self.mailbox_name(args[1], create=True)
        assert self.user is not None
        if not self.exists(old):
            raise No("Mailbox does not exist.", "NONEXISTENT")
        if new == "INBOX" or self.exists(new):
            raise No("Mailbox already exists.", "ALREADYEXISTS")
        if old == "INBOX":
            raise No("Renaming INBOX is not supported.", "CANNOT")
        moves = [(old, new)] + [
            (n, new + n[len(old) :])
            for n in self.server.store.folder_names(self.user)
            if n.startswith(old + "/")
        ]
        for before, after in moves:
            self.folder_dir(before).rename(self.folder_dir(after))
            self.server.forget(self.folder_state(before))
        if self.view is not None and self.view.folder.name in {b for b, _ in moves}:
            self.view = None
        fsync_dir(self.folder_dir(new).parent)
        await asyncio.to_thread(self.server.store.sync_mailbox, self.user)
        return b"Rename completed."

    def _subscriptions(self) -> list[str]:
        path = self.root / "subscriptions"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        if lines and lines[0].startswith("V\t"):
            lines = lines[2:]
        return [line.replace("\t", "/") for line in lines if line]

    def _write_subscriptions(self, names: list[str]) -> None:
        path = self.root / "subscriptions"
        tmp = path.with_name("subscriptions.tmp")
        tmp.write_text("".join(n + "\n" for n in names), encoding="utf-8")
        tmp.replace(path)

    async def cmd_subscribe(self, args: list[Token]) -> bytes:
        if len(args) != 1:
            raise Bad("SUBSCRIBE takes a mailbox name.")
        name = self.mailbox_name(args[0])
        names = self._subscriptions()
        if name not in names:
            names.append(name)
            self._write_subscriptions(names)
        return b"Subscribe completed."

    async def cmd_unsubscribe(self, args: list[Token]) -> bytes:
        if len(args) != 1:
            raise Bad("UNSUBSCRIBE takes a mailbox name.")
        if isinstance(args[0], list):
            raise Bad("Expected a mailbox name.")
        raw = args[0].value.decode("utf-8", "replace")
        name = "INBOX" if raw.upper() == "INBOX" else raw
        names = self._subscriptions()
        if name not in names:
            raise No("Not subscribed.", "NONEXISTENT")
        names.remove(name)
        self._write_subscriptions(names)
        return b"Unsubscribe completed."

    def _all_names(self) -> tuple[list[str], set[str]]:
        """Existing folders, and the parents that exist only as a path."""
        assert self.user is not None
        names = self.server.store.folder_names(self.user)
        real = set(names)
        implied = set()
        for name in names:
            parts = name.split("/")
            for i in range(1, len(parts)):
                parent = "/".join(parts[:i])
                if parent not in real:
                    implied.add(parent)
        return names, implied

    async def cmd_list(self, args: list[Token], lsub: bool = False) -> bytes:
        selection: set[bytes] = set()
        returns: set[bytes] = set()
        status_items: list[Token] | None = None
        args = list(args)
        if not lsub and args and isinstance(args[0], list):
            selection = {a.upper() for a in args.pop(0) if isinstance(a, Atom)}  # type: ignore[union-attr]
        if len(args) < 2:
            raise Bad("LIST takes a reference and a pattern.")
        ref_token, pattern_token = args[0], args[1]
        rest = args[2:]
        if rest:
            if (
                lsub
                or not (isinstance(rest[0], Atom) and rest[0].upper() == b"RETURN")
                or len(rest) != 2
            ):
                raise Bad("Invalid LIST arguments.")
            opts = rest[1]
            if not isinstance(opts, list):
                raise Bad("RETURN takes a list.")
            i = 0
            while i < len(opts):
                opt = opts[i]
                if not isinstance(opt, Atom):
                    raise Bad("Invalid RETURN option.")
                returns.add(opt.upper())
                if opt.upper() == b"STATUS":
                    if i + 1 >= len(opts) or not isinstance(opts[i + 1], list):
                        raise Bad("STATUS takes a list.")
                    status_items = opts[i + 1]  # type: ignore[assignment]
                    i += 1
                i += 1
        if isinstance(ref_token, list):
            raise Bad("Invalid reference.")
        ref = ref_token.value.decode("utf-8", "replace")
        if isinstance(pattern_token, list):
            patterns = [
                p.value.decode("utf-8", "replace") for p in pattern_token if not isinstance(p, list)
            ]
        else:
            patterns = [pattern_token.value.decode("utf-8", "replace")]
        known = {b"SUBSCRIBED", b"REMOTE", b"RECURSIVEMATCH", b"SPECIAL-USE"}
        if selection - known or (
            b"RECURSIVEMATCH" in selection and not selection - {b"RECURSIVEMATCH", b"REMOTE"}
        ):
            raise Bad("Invalid selection options.")
        if returns - {b"SUBSCRIBED", b"CHILDREN", b"SPECIAL-USE", b"STATUS"}:
            raise Bad("Invalid return options.")
        if not lsub and patterns == [""]:
            self.untagged(b'LIST (\\Noselect) "/" ""')
            return b"List completed."
        names, implied = self._all_names()
        existing = set(names)
        everything = existing | implied
        subscribed = self._subscriptions()
        sub_set = set(subscribed)
        full_patterns = [p if not ref or p.startswith("/") else ref + p for p in patterns]

        def matches(name: str) -> bool:
            for pattern in full_patterns:
                test_name, test_pattern = name, pattern
                if name.upper() == "INBOX" or name.upper().startswith("INBOX/"):
                    test_name = "INBOX" + name[5:]
                    if pattern.upper().startswith("INBOX"):
                        test_pattern = "INBOX" + pattern[5:]
                if _match(test_pattern, test_name):
                    return True
            return False

        def ancestors(name: str) -> list[str]:
            parts = name.split("/")
            return ["/".join(parts[:i]) for i in range(1, len(parts))]

        def children_attr(name: str) -> str:
            prefix = name + "/"
            has = any(n.startswith(prefix) for n in everything)
            return "\\HasChildren" if has else "\\HasNoChildren"

        extended = bool(selection or returns)
        out: list[tuple[str, list[str], bytes]] = []
        if lsub:
            seen: set[str] = set()
            for name in sorted(sub_set):
                if matches(name) and name not in seen:
                    seen.add(name)
                    out.append((name, [] if name in existing else ["\\Noselect"], b""))
            for name in sorted(sub_set):
                for parent in ancestors(name):
                    if parent not in sub_set and parent not in seen and matches(parent):
                        seen.add(parent)
                        out.append((parent, ["\\Noselect"], b""))
        elif b"SUBSCRIBED" in selection:
            candidates = sorted(everything | sub_set | {a for s in sub_set for a in ancestors(s)})
            for name in candidates:
                if not matches(name):
                    continue
                attrs: list[str] = []
                info = b""
                if b"RECURSIVEMATCH" in selection:
                    prefix = name + "/"
                    if any(s.startswith(prefix) and not matches(s) for s in sub_set):
                        info = b' ("CHILDINFO" ("SUBSCRIBED"))'
                if name in sub_set:
                    attrs.append("\\Subscribed")
                elif not info:
                    continue
                if name not in existing:
                    attrs.append("\\NonExistent")
                if b"CHILDREN" in returns:
                    attrs.append(children_attr(name))
                special = SPECIAL_FOLDERS.get(name)
                if special:
                    attrs.append(special)
                out.append((name, attrs, info))
        else:
            for name in names + sorted(implied):
                if not matches(name):
                    continue
                special = SPECIAL_FOLDERS.get(name)
                if b"SPECIAL-USE" in selection and not special:
                    continue
                attrs = []
                if name not in existing:
                    attrs.append("\\NonExistent" if extended else "\\Noselect")
                attrs.append(children_attr(name))
                if special:
                    attrs.append(special)
                if b"SUBSCRIBED" in returns and name in sub_set:
                    attrs.append("\\Subscribed")
                out.append((name, attrs, b""))
        verb = b"LSUB" if lsub else b"LIST"
        for name, attrs, info in out:
            line = verb + b" " + flag_list(attrs) + b' "/" ' + self._shown_name(name) + info
            self.untagged(line)
            if status_items is not None and name in existing:
                with contextlib.suppress(No):
                    await self._status_line(name, status_items)
        return (b"Lsub" if lsub else b"List") + b" completed."

    async def cmd_lsub(self, args: list[Token]) -> bytes:
        return await self.cmd_list(args, lsub=True)

    async def cmd_namespace(self, args: list[Token]) -> bytes:
        self._no_args(args)
        self.untagged(b'NAMESPACE (("" "/")) NIL NIL')
        return b"Namespace completed."

    async def cmd_status(self, args: list[Token]) -> bytes:
        if len(args) != 2 or not isinstance(args[1], list) or not args[1]:
            raise Bad("STATUS takes a mailbox and a list of items.")
        name = self.mailbox_name(args[0])
        if not self.exists(name):
            raise No("Mailbox does not exist.", "NONEXISTENT")
        await self._status_line(name, args[1])
        return b"Status completed."

    async def _status_line(self, name: str, items: list[Token]) -> None:
        state = await self.refreshed(name)
        values: list[bytes] = []
        for item in items:
            if not isinstance(item, Atom):
                raise Bad("Invalid STATUS item.")
            key = item.upper()
            if key == b"MESSAGES":
                value = len(state.uids)
            elif key == b"RECENT":
                value = len(state.unclaimed_recent) + (
                    len(self.view.recent) if self.view and self.view.folder is state else 0
                )
            elif key == b"UIDNEXT":
                value = state.next_uid
            elif key == b"UIDVALIDITY":
                value = state.uid_validity
            elif key == b"UNSEEN":
                value = sum(1 for m in state.messages.values() if "\\Seen" not in m.flags)
            elif key == b"SIZE":
                value = sum(m.size for m in state.messages.values())
            elif key == b"HIGHESTMODSEQ" and self.server.condstore_capable:
                value = state.highest_modseq
            elif key == b"APPENDLIMIT":
                value = self.server.append_limit
            else:
                raise Bad("Unknown STATUS item.")
            values.append(key + b" %d" % value)
        self.untagged(b"STATUS " + self._shown_name(name) + b" (" + b" ".join(values) + b")")

    async def cmd_append(self, args: list[Token]) -> bytes:
        """APPEND, and MULTIAPPEND (RFC 3502): several messages, all or none."""
        if len(args) < 2:
            raise Bad("APPEND takes a mailbox and a message.")
        name = self.mailbox_name(args[0])
        rest = args[1:]
        messages: list[tuple[bytes, list[str], float]] = []
        while rest:
            flags: list[str] = []
            when = time.time()
            if isinstance(rest[0], list):
                flags = self._flags_arg(rest.pop(0))
            if rest and isinstance(rest[0], String) and not rest[0].literal:
                when = parse_imap_date(rest.pop(0).value)  # type: ignore[union-attr]
            if (
                self.utf8
                and len(rest) >= 2
                and isinstance(rest[0], Atom)
                and rest[0].upper() == b"UTF8"
                and isinstance(rest[1], list)
                and len(rest[1]) == 1
            ):
                # RFC 6855 §4: APPEND ... UTF8 (~{n} message with UTF-8 headers)
                rest.pop(0)
                rest[0] = rest[0][0]  # type: ignore[index]
            if not rest or not isinstance(rest[0], String) or not rest[0].literal:
                raise Bad("APPEND takes message literals.")
            message = rest.pop(0).value  # type: ignore[union-attr]
            if "\\Recent" in flags:
                raise Bad("\\Recent cannot be set.")
            messages.append((message, flags, when))
        if not self.exists(name):
            raise No("Mailbox does not exist.", "TRYCREATE")
        if sum(len(m) for m, _, _ in messages) > self.server.append_limit:
            raise No("Message too large.", "TOOBIG")
        if any(not m for m, _, _ in messages):
            raise No("Empty message.", "CANNOT")
        state = self.folder_state(name)

        def append_all() -> list[int]:
            added: list[int] = []
            keys: list[str] = []
            try:
                for message, flags, when in messages:
                    uid, key = state.append_keyed(message, flags, when)
                    added.append(uid)
                    keys.append(key)
            except BaseException:
                state.remove_appended(keys)  # all or none
                raise
            return added

        uids = await asyncio.to_thread(append_all)
        await asyncio.to_thread(state.refresh, self.server.store, force=True)
        if not (self.view is not None and self.view.folder is state and not self.view.readonly):
            state.unclaimed_recent.update(uids)
        else:
            self.view.recent.update(uids)
        await self.sync(allow_expunge=True)
        return b"[APPENDUID %d %s] Append completed." % (
            state.uid_validity,
            _uid_set(uids, keep_order=True),
        )

    def _flags_arg(self, token: Token) -> list[str]:
        items = token if isinstance(token, list) else [token]
        flags = []
        for item in items:
            if not isinstance(item, Atom):
                raise Bad("Invalid flag.")
            text = item.value.decode("utf-8", "replace")
            if text.startswith("\\"):
                canonical = canonical_flag(text)
                if canonical not in SYSTEM_FLAGS and canonical != "\\Recent":
                    raise Bad("Invalid system flag.")
                text = canonical
            elif not re.fullmatch(r"[!#$&'+\-.0-9:<=>?@A-Z^_`a-z|~]+", text):
                raise Bad("Invalid keyword.")
            flags.append(text)
        return flags

    async def cmd_enable(self, args: list[Token]) -> bytes:
        if not args:
            raise Bad("ENABLE takes capabilities.")
        enabled = []
        for item in args:
            if not isinstance(item, Atom):
                raise Bad("Invalid capability.")
            cap = item.upper()
            if cap == b"CONDSTORE" and self.server.condstore_capable:
                self.condstore = True
                enabled.append(b"CONDSTORE")
            elif cap == b"UTF8=ACCEPT":
                self.utf8 = True
                enabled.append(b"UTF8=ACCEPT")
            elif cap == b"QRESYNC" and self.server.qresync_capable:
                self.condstore = self.qresync = True
                enabled.append(b"QRESYNC")
        self.untagged(b"ENABLED" + b"".join(b" " + e for e in enabled))
        return b"Enabled."

    async def cmd_idle(self, args: list[Token]) -> bytes | None:
        self._no_args(args)
        self.out.append(b"+ idling\r\n")
        await self.sync(allow_expunge=True)
        await self.flush()
        line_task = asyncio.ensure_future(self.reader.readline())
        try:
            while True:
                done, _ = await asyncio.wait({line_task}, timeout=IDLE_POLL_SECONDS)
                if done:
                    line = line_task.result()
                    if not line:
                        raise Bye
                    if line.rstrip(b"\r\n").upper() == b"DONE":
                        return b"Idle completed."
                    raise Bad("Expected DONE.")
                view = self.view
                if view is not None and (
                    view.folder.version != view.version or view.folder.changed_on_disk()
                ):
                    await self.sync(allow_expunge=True)
                    await self.flush()
        finally:
            if not line_task.done():
                line_task.cancel()

    # -- selected state ----------------------------------------------------------
    async def sync(self, *, allow_expunge: bool) -> None:
        """Tell the client what changed in the selected folder since we last did."""
        view = self.view
        if view is None:
            return
        state = view.folder
        try:
            await asyncio.to_thread(state.refresh, self.server.store)
        except FolderGone:
            self.view = None
            self.untagged(b"BYE Selected mailbox was deleted.")
            raise Bye from None
        if (
            state.version == view.version
            and view.msgs is not None
            and len(view.uids) == len(state.uids)
        ):
            return
        current = state.messages
        self._announce_keywords(view)
        if allow_expunge:
            gone = [uid for uid in view.uids if uid not in current]
            if gone:
                if self.qresync:
                    self.untagged(b"VANISHED " + _uid_set(gone))
                    gone_set = set(gone)
                    view.uids = [u for u in view.uids if u not in gone_set]
                else:
                    for uid in reversed(gone):
                        seq = view.seq_of(uid)
                        self.untagged(b"%d EXPUNGE" % seq)
                        del view.uids[seq - 1]
                for uid in gone:
                    view.msgs.pop(uid, None)
                    view.flags.pop(uid, None)
                    view.recent.discard(uid)
        last = view.uids[-1] if view.uids else 0
        new = [uid for uid in state.uids if uid > last and uid not in view.msgs]
        for seq, uid in enumerate(view.uids, 1):
            msg = current.get(uid)
            if msg is None:
                continue
            view.msgs[uid] = msg
            if view.flags.get(uid) != msg.flags:
                view.flags[uid] = msg.flags
                extra = b" MODSEQ (%d)" % msg.modseq if self.condstore else b""
                self.untagged(b"%d FETCH (FLAGS %s%s)" % (seq, self._flags(view, uid), extra))
        if new:
            if not view.readonly:
                claimed = state.unclaimed_recent & set(new)
                state.unclaimed_recent -= claimed
                view.recent |= claimed
            for uid in new:
                view.uids.append(uid)
                view.msgs[uid] = current[uid]
                view.flags[uid] = current[uid].flags
            self.untagged(b"%d EXISTS" % len(view.uids))
            self.untagged(b"%d RECENT" % len(view.recent))
        view.version = state.version if allow_expunge or len(view.uids) == len(state.uids) else -1

    def _announce_keywords(self, view: View) -> None:
        """A FLAGS response before any keyword the client has not been told of."""
        keywords = tuple(k for k in view.folder.keywords if k)
        if keywords != view.announced_keywords:
            view.announced_keywords = keywords
            self.untagged(b"FLAGS " + flag_list((*SYSTEM_FLAGS, *keywords)))
            if not view.readonly:
                self.untagged(
                    b"OK [PERMANENTFLAGS "
                    + flag_list((*SYSTEM_FLAGS, *keywords, "\\*"))
                    + b"] Flags."
                )

    def _enable_condstore(self) -> None:
        """A CONDSTORE-enabling command (RFC 7162 §3.1): tell HIGHESTMODSEQ once."""
        if not self.condstore and self.view is not None:
            self.untagged(b"OK [HIGHESTMODSEQ %d] Highest" % self.view.folder.highest_modseq)
        self.condstore = True

    def _flags(self, view: View, uid: int) -> bytes:
        flags = sorted(view.flags.get(uid, frozenset()), key=_flag_order)
        if uid in view.recent:
            flags.append("\\Recent")
        return flag_list(flags)

    def _sequence(self, token: Token, by_uid: bool) -> list[int]:
        """UIDs named by a sequence set (or ``$``), in mailbox order."""
        view = self.view
        assert view is not None
        if not isinstance(token, Atom):
            raise Bad("Invalid sequence set.")
        if token.value == b"$":
            saved = set(view.saved)
            return [uid for uid in view.uids if uid in saved]
        if not _SEQSET.match(token.value):
            raise Bad("Invalid sequence set.")
        if by_uid:
            last = view.uids[-1] if view.uids else 0
            try:
                ranges = parse_sequence_set(token.value, last)
            except SearchError as exc:
                raise Bad(str(exc)) from None
            import bisect

            out: list[int] = []
            for lo, hi in sorted(ranges):
                start = bisect.bisect_left(view.uids, lo)
                end = bisect.bisect_right(view.uids, hi)
                out.extend(view.uids[start:end])
            return sorted(set(out)) if len(ranges) > 1 else out
        try:
            ranges = parse_sequence_set(token.value, len(view.uids))
        except SearchError as exc:
            raise Bad(str(exc)) from None
        seqs: set[int] = set()
        for lo, hi in ranges:
            if hi > len(view.uids) or lo < 1:
                raise Bad("Invalid sequence number.", None)
            seqs.update(range(lo, hi + 1))
        return [view.uids[s - 1] for s in sorted(seqs)]

    async def cmd_check(self, args: list[Token]) -> bytes:
        self._no_args(args)
        await self.sync(allow_expunge=True)
        return b"Check completed."

    async def cmd_close(self, args: list[Token]) -> bytes:
        self._no_args(args)
        view = self.view
        assert view is not None
        if not view.readonly:
            await asyncio.to_thread(view.folder.refresh, self.server.store)
            doomed = [m for m in view.folder.messages.values() if "\\Deleted" in m.flags]
            if doomed:
                await asyncio.to_thread(view.folder.expunge, doomed)
                await asyncio.to_thread(view.folder.refresh, self.server.store, force=True)
        self.view = None
        return b"Close completed."

    async def cmd_unselect(self, args: list[Token]) -> bytes:
        self._no_args(args)
        self.view = None
        return b"Unselect completed."

    async def cmd_expunge(self, args: list[Token], by_uid: bool = False) -> bytes:
        view = self.view
        assert view is not None
        only: set[int] | None = None
        if by_uid:
            if len(args) != 1:
                raise Bad("UID EXPUNGE takes a UID set.")
            only = set(self._sequence(args[0], by_uid=True))
        else:
            self._no_args(args)
        if view.readonly:
            raise No("Mailbox is read-only.", "READ-ONLY")
        await asyncio.to_thread(view.folder.refresh, self.server.store)
        doomed = [
            m
            for uid, m in view.folder.messages.items()
            if "\\Deleted" in m.flags and (only is None or uid in only) and uid in view.msgs
        ]
        if doomed:
            await asyncio.to_thread(view.folder.expunge, doomed)
            await asyncio.to_thread(view.folder.refresh, self.server.store, force=True)
        await self.sync(allow_expunge=True)
        return b"Expunge completed."

    async def _matching(
        self, args: list[Token], by_uid: bool
    ) -> tuple[list[tuple[int, int]], Context]:
        """(sequence number, UID) of the selected messages the search keys match."""
        view = self.view
        assert view is not None
        await self.sync(allow_expunge=by_uid)
        ctx = Context(
            last_seq=len(view.uids),
            last_uid=view.uids[-1] if view.uids else 0,
            saved=view.saved,
            local_tz=dt.datetime.now().astimezone().tzinfo or dt.UTC,
        )
        ctx.fts = {}
        try:
            node = Parser(args, ctx).parse_all()
        except SearchError as exc:
            raise Bad(str(exc)) from None
        if ctx.fts_requests:
            answers, indexed, missing = await asyncio.to_thread(
                self._text_index, view, ctx.fts_requests
            )
            ctx.fts.update(answers)  # the search program holds these very objects
            ctx.indexed.update(indexed)
            if missing:
                self.server.index_text_later(view.folder, missing)
        folder = view.folder
        uids = list(view.uids)
        recent = view.recent

        def run() -> list[tuple[int, int]]:
            found = []
            for seq, uid in enumerate(uids, 1):
                msg = view.msgs.get(uid)
                if msg is None:
                    continue
                item = Item(msg, seq, uid in recent, folder.read)
                if node(item):
                    found.append((seq, uid))
            return found

        found = await asyncio.to_thread(run)
        return found, ctx

    async def cmd_search(self, args: list[Token], by_uid: bool = False) -> bytes:
        view = self.view
        assert view is not None
        args = list(args)
        returns: list[bytes] | None = None
        if len(args) >= 2 and isinstance(args[0], Atom) and args[0].upper() == b"RETURN":
            if not isinstance(args[1], list):
                raise Bad("RETURN takes a list.")
            returns = [a.upper() for a in args[1] if isinstance(a, Atom)]
            if len(returns) != len(args[1]) or set(returns) - {
                b"MIN",
                b"MAX",
                b"ALL",
                b"COUNT",
                b"SAVE",
            }:
                raise Bad("Unknown RETURN option.")
            if not returns:
                returns = [b"ALL"]
            args = args[2:]
        if len(args) >= 2 and isinstance(args[0], Atom) and args[0].upper() == b"CHARSET":
            charset = args[1].value.upper() if not isinstance(args[1], list) else b""
            if charset not in (b"UTF-8", b"US-ASCII"):
                raise No("Unsupported charset.", "BADCHARSET (UTF-8 US-ASCII)")
            args = args[2:]
        found, ctx = await self._matching(args, by_uid)
        if ctx.uses_modseq:
            self._enable_condstore()
        numbers = [uid if by_uid else seq for seq, uid in found]
        modseq = max((view.msgs[uid].modseq for _, uid in found), default=0)
        if returns is not None and found and not {b"ALL", b"COUNT"} & set(returns):
            # RFC 4731 §3.2: MIN/MAX alone report the modseq of the returned messages
            shown = []
            if b"MIN" in returns:
                shown.append(found[0][1])
            if b"MAX" in returns:
                shown.append(found[-1][1])
            modseq = max((view.msgs[uid].modseq for uid in shown), default=modseq)
        if returns is not None:
            if b"SAVE" in returns:
                view.saved = [uid for _, uid in found]
                if returns == [b"SAVE"]:
                    return b"Search completed."
            parts = [b"(TAG " + quoted(self._tag) + b")"] if hasattr(self, "_tag") else []
            if by_uid:
                parts.append(b"UID")
            if numbers:
                if b"MIN" in returns:
                    parts.append(b"MIN %d" % min(numbers))
                if b"MAX" in returns:
                    parts.append(b"MAX %d" % max(numbers))
                if b"ALL" in returns:
                    parts.append(b"ALL " + _uid_set(numbers))
            if b"COUNT" in returns:
                parts.append(b"COUNT %d" % len(numbers))
            if ctx.uses_modseq and numbers:
                parts.append(b"MODSEQ %d" % modseq)
            self.untagged(b"ESEARCH" + b"".join(b" " + p for p in parts))
            return b"Search completed."
        line = b"SEARCH" + b"".join(b" %d" % n for n in numbers)
        if ctx.uses_modseq and numbers:
            line += b" (MODSEQ %d)" % modseq
        self.untagged(line)
        return b"Search completed."

    def _charset(self, token: Token) -> None:
        charset = token.value.upper() if not isinstance(token, list) else b""
        if charset not in (b"UTF-8", b"US-ASCII"):
            raise No("Unsupported charset.", "BADCHARSET (UTF-8 US-ASCII)")

    async def _headers(self, found: list[tuple[int, int]]) -> list[sort.Headers]:
        view = self.view
        assert view is not None
        folder = view.folder

        def load() -> list[sort.Headers]:
            out = []
            for seq, uid in found:
                msg = view.msgs[uid]
                raw = folder.read(msg) or b""
                out.append(
                    sort.Headers(seq, uid, msg.size, msg.internal_date, sort.header_fields(raw))
                )
            return out

        return await asyncio.to_thread(load)

    async def cmd_sort(self, args: list[Token], by_uid: bool = False) -> bytes:
        view = self.view
        assert view is not None
        args = list(args)
        returns: list[bytes] | None = None
        if len(args) >= 2 and isinstance(args[0], Atom) and args[0].upper() == b"RETURN":
            if not isinstance(args[1], list):
                raise Bad("RETURN takes a list.")
            returns = [a.upper() for a in args[1] if isinstance(a, Atom)]
            if set(returns) - {b"MIN", b"MAX", b"ALL", b"COUNT"}:
                raise Bad("Unknown RETURN option.")
            returns = returns or [b"ALL"]
            args = args[2:]
        if len(args) < 3 or not isinstance(args[0], list) or not args[0]:
            raise Bad("SORT takes criteria, a charset and search keys.")
        criteria: list[tuple[bytes, bool]] = []
        reverse = False
        for item in args[0]:
            if not isinstance(item, Atom):
                raise Bad("Invalid sort criterion.")
            word = item.upper()
            if word == b"REVERSE" and not reverse:
                reverse = True
                continue
            if word not in sort.SORT_KEYS:
                raise Bad("Invalid sort criterion.")
            criteria.append((word, reverse))
            reverse = False
        if reverse or not criteria:
            raise Bad("Invalid sort criteria.")
        self._charset(args[1])
        found, _ = await self._matching(args[2:], by_uid)
        ordered = sort.sort_messages(await self._headers(found), criteria)
        numbers = [h.uid if by_uid else h.seq for h in ordered]
        if returns is not None:
            parts = [b"(TAG " + quoted(self._tag) + b")"]
            if by_uid:
                parts.append(b"UID")
            if numbers:
                if b"MIN" in returns:
                    parts.append(b"MIN %d" % min(numbers))
                if b"MAX" in returns:
                    parts.append(b"MAX %d" % max(numbers))
                if b"ALL" in returns:
                    parts.append(b"ALL " + _uid_set(numbers, keep_order=True))
            if b"COUNT" in returns:
                parts.append(b"COUNT %d" % len(numbers))
            self.untagged(b"ESEARCH" + b"".join(b" " + p for p in parts))
            return b"Sort completed."
        self.untagged(b"SORT" + b"".join(b" %d" % n for n in numbers))
        return b"Sort completed."

    async def cmd_thread(self, args: list[Token], by_uid: bool = False) -> bytes:
        if len(args) < 3 or not isinstance(args[0], Atom):
            raise Bad("THREAD takes an algorithm, a charset and search keys.")
        algorithm = args[0].upper()
        if algorithm not in (b"ORDEREDSUBJECT", b"REFERENCES"):
            raise Bad("Unknown threading algorithm.")
        self._charset(args[1])
        found, _ = await self._matching(args[2:], by_uid)
        headers = await self._headers(found)
        if algorithm == b"ORDEREDSUBJECT":
            roots = sort.thread_orderedsubject(headers)
        else:
            roots = sort.thread_references(headers)
        body = sort.format_threads(roots, (lambda h: h.uid) if by_uid else (lambda h: h.seq))
        self.untagged(b"THREAD " + body if body else b"THREAD")
        return b"Thread completed."

    async def cmd_store(self, args: list[Token], by_uid: bool = False) -> bytes:
        view = self.view
        assert view is not None
        args = list(args)
        if len(args) < 3:
            raise Bad("STORE takes a set, an item and flags.")
        uids = self._sequence(args[0], by_uid)
        unchanged_since: int | None = None
        index = 1
        if isinstance(args[1], list):
            mods = args[1]
            if (
                len(mods) != 2
                or not isinstance(mods[0], Atom)
                or mods[0].upper() != b"UNCHANGEDSINCE"
            ):
                raise Bad("Invalid STORE modifier.")
            if not isinstance(mods[1], Atom) or not mods[1].value.isdigit():
                raise Bad("Invalid UNCHANGEDSINCE.")
            unchanged_since = int(mods[1].value)
            self._enable_condstore()
            index = 2
        if len(args) < index + 2 or not isinstance(args[index], Atom):
            raise Bad("Invalid STORE item.")
        item = args[index].upper()  # type: ignore[union-attr]
        match = re.fullmatch(rb"([+-]?)FLAGS(\.SILENT)?", item)
        if not match:
            raise Bad("Invalid STORE item.")
        flag_tokens = args[index + 1] if len(args) == index + 2 else args[index + 1 :]
        flags = self._flags_arg(flag_tokens)
        if view.readonly:
            raise No("Mailbox is read-only.", "READ-ONLY")
        mode = match[1]
        silent = bool(match[2])
        state = view.folder
        await asyncio.to_thread(state.refresh, self.server.store)
        wanted = frozenset(f for f in flags if f != "\\Recent")
        failed: list[int] = []
        changed_uids: list[int] = []

        def apply() -> None:
            for uid in uids:
                msg = state.messages.get(uid)
                if msg is None:
                    continue
                if unchanged_since is not None and msg.modseq > unchanged_since:
                    failed.append(uid)
                    continue
                if mode == b"+":
                    new = msg.flags | wanted
                elif mode == b"-":
                    new = msg.flags - wanted
                else:
                    new = wanted
                if new != msg.flags:
                    if state.set_flags(msg, new):
                        changed_uids.append(uid)
                elif unchanged_since is not None:
                    changed_uids.append(uid)

        await asyncio.to_thread(apply)
        if changed_uids:
            await asyncio.to_thread(state.refresh, self.server.store, force=True)
        self._announce_keywords(view)
        for uid in uids:
            msg = state.messages.get(uid)
            seq = view.seq_of(uid)
            if msg is None or not seq:
                continue
            view.flags[uid] = msg.flags
            view.msgs[uid] = msg
            if silent and not (self.condstore and uid in changed_uids):
                continue
            if uid in failed:
                continue
            items = [b"FLAGS " + self._flags(view, uid)] if not silent else []
            if by_uid:
                items.insert(0, b"UID %d" % uid)
            if self.condstore:
                items.append(b"MODSEQ (%d)" % msg.modseq)
            self.untagged(b"%d FETCH (%s)" % (seq, b" ".join(items)))
        await self.sync(allow_expunge=by_uid)
        if failed:
            numbers = failed if by_uid else [view.seq_of(u) for u in failed]
            return b"[MODIFIED " + _uid_set(sorted(numbers)) + b"] Conditional STORE failed."
        return b"Store completed."

    async def cmd_copy(self, args: list[Token], by_uid: bool = False, move: bool = False) -> bytes:
        view = self.view
        assert view is not None
        if len(args) != 2:
            raise Bad("COPY takes a set and a mailbox.")
        uids = self._sequence(args[0], by_uid)
        name = self.mailbox_name(args[1])
        if not self.exists(name):
            raise No("Mailbox does not exist.", "TRYCREATE")
        if move and view.readonly:
            raise No("Mailbox is read-only.", "READ-ONLY")
        source = view.folder
        target = self.folder_state(name)
        pairs: list[tuple[int, int]] = []

        def copy() -> None:
            for uid in uids:
                msg = source.messages.get(uid) or view.msgs.get(uid)
                if msg is None:
                    continue
                raw = source.read(msg)
                if raw is None:
                    continue
                new_uid = target.append(raw, msg.flags, msg.internal_date)
                pairs.append((uid, new_uid))

        await asyncio.to_thread(copy)
        if target is not source:
            await asyncio.to_thread(target.refresh, self.server.store, force=True)
        for _, new_uid in pairs:
            target.unclaimed_recent.add(new_uid)
        code = b""
        if pairs:
            code = b"[COPYUID %d %s %s] " % (
                target.uid_validity,
                _uid_set([p[0] for p in pairs], keep_order=True),
                _uid_set([p[1] for p in pairs], keep_order=True),
            )
        if move:
            moved = [source.messages[u] for u, _ in pairs if u in source.messages]
            await asyncio.to_thread(source.expunge, moved)
            await asyncio.to_thread(source.refresh, self.server.store, force=True)
            if code:
                self.untagged(b"OK " + code + b"Moved.")
            await self.sync(allow_expunge=True)
            return b"Move completed."
        if target is source:
            await asyncio.to_thread(source.refresh, self.server.store, force=True)
        await self.sync(allow_expunge=by_uid)
        return code + b"Copy completed."

    async def cmd_move(self, args: list[Token], by_uid: bool = False) -> bytes:
        return await self.cmd_copy(args, by_uid=by_uid, move=True)

    # -- FETCH -----------------------------------------------------------------------
    def _fetch_items(self, token: Token) -> list[FetchItem]:
        raw_items = token if isinstance(token, list) else [token]
        if not raw_items:
            raise Bad("Empty FETCH list.")
        items: list[FetchItem] = []
        for raw in raw_items:
            if not isinstance(raw, Atom):
                raise Bad("Invalid FETCH item.")
            word = raw.value.upper()
            if not isinstance(token, list):
                macros = {
                    b"ALL": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE"],
                    b"FAST": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"],
                    b"FULL": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE", b"BODY"],
                }
                if word in macros:
                    items += [FetchItem(w.decode(), w.decode()) for w in macros[word]]
                    continue
            simple = {
                b"FLAGS",
                b"UID",
                b"INTERNALDATE",
                b"RFC822.SIZE",
                b"ENVELOPE",
                b"BODY",
                b"BODYSTRUCTURE",
                b"RFC822",
                b"RFC822.HEADER",
                b"RFC822.TEXT",
                b"MODSEQ",
            }
            if word in simple:
                if word == b"MODSEQ":
                    self._enable_condstore()
                items.append(FetchItem(word.decode(), word.decode()))
                continue
            match = _SECTION.match(raw.value)
            if not match:
                raise Bad("Invalid FETCH item.")
            kind = match[1].upper().decode()
            section_text = match[2]
            item = FetchItem(
                "", kind.replace(".PEEK", ""), peek=kind.endswith(".PEEK") or kind == "BINARY.SIZE"
            )
            part_match = re.match(rb"^((?:\d+\.)*\d+)?\.?(.*)$", section_text, re.DOTALL)
            assert part_match is not None
            numbers = part_match[1] or b""
            rest = part_match[2].strip().upper()
            if numbers:
                item.part = [int(n) for n in numbers.split(b".")]
                if any(n == 0 for n in item.part):
                    raise Bad("Invalid section.")
            fields_match = re.fullmatch(rb"(HEADER\.FIELDS(?:\.NOT)?)\s*\((.*)\)", rest, re.DOTALL)
            if fields_match:
                item.section = fields_match[1].decode()
                names = re.findall(rb'"([^"]*)"|(\S+)', fields_match[2])
                item.fields = [(a or b) for a, b in names]
                if not item.fields:
                    raise Bad("Empty header field list.")
            elif rest in (b"", b"HEADER", b"TEXT", b"MIME"):
                item.section = rest.decode()
                if rest == b"MIME" and not item.part:
                    raise Bad("MIME needs a part number.")
            else:
                raise Bad("Invalid section.")
            if item.kind.startswith("BINARY") and item.section:
                raise Bad("BINARY takes part numbers only.")
            if match[3] is not None:
                if match[4] is None:
                    raise Bad("Invalid partial.")
                item.partial = (int(match[3]), int(match[4]))
                if item.kind == "BINARY.SIZE":
                    raise Bad("Invalid partial.")
            shown = section_text.decode("latin-1")
            name_kind = item.kind
            item.name = f"{name_kind}[{shown}]" + (f"<{item.partial[0]}>" if item.partial else "")
            items.append(item)
        return items

    async def cmd_fetch(self, args: list[Token], by_uid: bool = False) -> bytes:
        view = self.view
        assert view is not None
        if len(args) not in (2, 3):
            raise Bad("FETCH takes a set and items.")
        uids = self._sequence(args[0], by_uid)
        items = self._fetch_items(args[1])
        changed_since: int | None = None
        vanished = False
        if len(args) == 3:
            mods = args[2]
            if not isinstance(mods, list):
                raise Bad("Invalid FETCH modifiers.")
            i = 0
            while i < len(mods):
                mod = mods[i]
                if isinstance(mod, Atom) and mod.upper() == b"CHANGEDSINCE" and i + 1 < len(mods):
                    value = mods[i + 1]
                    if not isinstance(value, Atom) or not value.value.isdigit():
                        raise Bad("Invalid CHANGEDSINCE.")
                    changed_since = int(value.value)
                    self._enable_condstore()
                    i += 2
                elif (
                    isinstance(mod, Atom) and mod.upper() == b"VANISHED" and by_uid and self.qresync
                ):
                    vanished = True
                    i += 1
                else:
                    raise Bad("Invalid FETCH modifier.")
            if vanished and changed_since is None:
                raise Bad("VANISHED needs CHANGEDSINCE.")
        if by_uid and not any(i.kind == "UID" for i in items):
            items.insert(0, FetchItem("UID", "UID"))
        if changed_since is not None and not any(i.kind == "MODSEQ" for i in items):
            items.append(FetchItem("MODSEQ", "MODSEQ"))
        if vanished and changed_since is not None and isinstance(args[0], Atom):
            requested = parse_sequence_set(args[0].value, max(view.folder.next_uid - 1, 1))
            gone = _vanished(view, requested)
            if gone:
                self.untagged(b"VANISHED (EARLIER) " + _uid_set(gone))
        sets_seen = not view.readonly and any(
            i.kind in ("BODY", "BINARY", "RFC822", "RFC822.TEXT") and not i.peek
            for i in items
            if i.kind not in ("BODY",) or i.section or i.part or i.name.startswith("BODY[")
        )
        needs_file = any(
            i.kind in ("RFC822", "RFC822.HEADER", "RFC822.TEXT", "BINARY", "BINARY.SIZE")
            or (i.kind == "BODY" and i.name != "BODY")
            for i in items
        )
        needs_meta = {i.kind for i in items} & {"ENVELOPE", "BODY", "BODYSTRUCTURE"}
        if changed_since is not None:
            uids = [u for u in uids if view.msgs.get(u) and view.msgs[u].modseq > changed_since]
        state = view.folder
        if sets_seen:
            to_mark = [
                u for u in uids if u in view.msgs and "\\Seen" not in view.flags.get(u, frozenset())
            ]
            if to_mark:

                def mark() -> None:
                    for uid in to_mark:
                        msg = state.messages.get(uid)
                        if msg is not None:
                            state.set_flags(msg, msg.flags | {"\\Seen"})

                await asyncio.to_thread(mark)
                await asyncio.to_thread(state.refresh, self.server.store, force=True)
        meta: dict[int, dict[str, bytes]] = {}
        if needs_meta:
            meta = await asyncio.to_thread(
                self._load_meta, [view.msgs[u].row for u in uids if u in view.msgs], needs_meta
            )
        expunged = False
        self._announce_keywords(view)
        chunk: list[bytes] = []
        for uid in uids:
            msg = view.msgs.get(uid)
            seq = view.seq_of(uid)
            if msg is None or not seq:
                continue
            current = state.messages.get(uid)
            if current is not None:
                msg = current
            data: bytes | None = None
            if needs_file:
                raw = await asyncio.to_thread(state.read, msg)
                if raw is None:
                    expunged = True
                    continue
                data = mime.as_served(raw)
            parts: list[bytes] = []
            flags_sent = False
            row_meta = meta.get(msg.row, {})
            if needs_meta and not row_meta:
                # Not in the index (yet, or the row went with an expunge meanwhile)
                raw_meta = await asyncio.to_thread(state.read, msg)
                if raw_meta is None:
                    expunged = True
                    continue
                computed = mime.metadata(raw_meta)
                row_meta = {
                    "envelope": computed.envelope,
                    "body": computed.body,
                    "bodystructure": computed.bodystructure,
                }
            for item in items:
                fetched = self._fetch_value(item, view, msg, data, row_meta)
                if fetched is None:
                    raise No("Unknown Content-Transfer-Encoding.", "UNKNOWN-CTE")
                parts.append(fetched)
                if item.kind == "FLAGS":
                    flags_sent = True
            if sets_seen and view.flags.get(uid) != msg.flags:
                view.flags[uid] = msg.flags
                if not flags_sent:
                    parts.append(b"FLAGS " + self._flags(view, uid))
            chunk.append(b"* %d FETCH (%s)\r\n" % (seq, b" ".join(parts)))
            if len(chunk) >= 256:
                self.out.extend(chunk)
                chunk = []
                await self.flush()
        self.out.extend(chunk)
        await self.sync(allow_expunge=by_uid)
        if expunged:
            # RFC 2180 §4.1.3: messages another session expunged are left out of
            # the answer (the EXPUNGE comes later); as Dovecot, still OK.
            return b"[EXPUNGEISSUED] Some messages were expunged meanwhile."
        return b"Fetch completed."

    def _text_index(
        self, view: View, requests: list[tuple[str, str]]
    ) -> tuple[dict[tuple[str, str], set[int]], set[int], list[Msg]]:
        """For each needle, the rows of the selected folder the trigram index finds;
        the rows it holds; the messages it does not hold yet (scanned this time,
        indexed in the background for the next search)."""
        conn = self.server.store.index._connect()
        by_row = {msg.row: msg for msg in view.msgs.values()}
        rows = list(by_row)
        present: set[int] = set()
        for start in range(0, len(rows), 900):
            batch = rows[start : start + 900]
            marks = ",".join("?" * len(batch))
            query = f"SELECT rowid FROM imap_text WHERE rowid IN ({marks})"  # noqa: S608
            present.update(r[0] for r in conn.execute(query, batch))
        out: dict[tuple[str, str], set[int]] = {}
        for column, needle in requests:
            found = conn.execute(
                "SELECT rowid FROM imap_text WHERE imap_text MATCH ?",
                (fts_phrase(needle, column),),
            )
            out[(column, needle)] = {r[0] for r in found} & present
        return out, present, [m for row, m in by_row.items() if row not in present]

    def _load_meta(self, rows: list[int], kinds: set[str]) -> dict[int, dict[str, bytes]]:
        columns = {"ENVELOPE": "envelope", "BODY": "body", "BODYSTRUCTURE": "bodystructure"}
        wanted = [columns[k] for k in kinds]
        conn = self.server.store.index._connect()
        out: dict[int, dict[str, bytes]] = {}
        for start in range(0, len(rows), 900):
            batch = rows[start : start + 900]
            marks = ",".join("?" * len(batch))
            query = f"SELECT id, {', '.join(wanted)} FROM imap_message WHERE id IN ({marks})"  # noqa: S608
            for row in conn.execute(query, batch):
                out[row[0]] = {k: bytes(row[i + 1]) for i, k in enumerate(kinds_order(wanted))}
        return out

    def _fetch_value(
        self, item: FetchItem, view: View, msg: Msg, data: bytes | None, meta: dict[str, bytes]
    ) -> bytes | None:
        kind = item.kind
        if kind == "FLAGS":
            view.flags[msg.uid] = msg.flags
            return b"FLAGS " + self._flags(view, msg.uid)
        if kind == "UID":
            return b"UID %d" % msg.uid
        if kind == "INTERNALDATE":
            return b"INTERNALDATE " + imap_date(msg.internal_date)
        if kind == "RFC822.SIZE":
            return b"RFC822.SIZE %d" % msg.size
        if kind == "MODSEQ":
            return b"MODSEQ (%d)" % msg.modseq
        if kind in ("ENVELOPE", "BODYSTRUCTURE") or (kind == "BODY" and item.name == "BODY"):
            column = {"ENVELOPE": "envelope", "BODY": "body", "BODYSTRUCTURE": "bodystructure"}[
                kind
            ]
            return kind.encode() + b" " + meta[column]
        assert data is not None
        if kind == "RFC822":
            return b"RFC822 " + literal(data)
        root = mime.parse(data)
        if kind == "RFC822.HEADER":
            return b"RFC822.HEADER " + literal(data[root.header_start : root.body_start])
        if kind == "RFC822.TEXT":
            return b"RFC822.TEXT " + literal(data[root.body_start : root.body_end])
        content = self._section(item, data, root)
        if kind in ("BINARY", "BINARY.SIZE"):
            part = mime.find_part(root, item.part) if item.part else root
            if part is None:
                content = b""
            elif part.multipart or (part.message is not None and item.part):
                pass
            else:
                decoded = mime.decode_body(content or b"", part.encoding)
                if decoded is None:
                    return None
                content = decoded
            if kind == "BINARY.SIZE":
                return item.name.encode() + b" %d" % len(content or b"")
        if content is None:
            content = b""  # a part that does not exist is empty, as in Dovecot
        if item.partial is not None:
            start, length = item.partial
            content = content[start : start + length]
        if kind == "BODY" and b"\0" in content:
            # IMAP4rev1 has no way to send NUL in BODY[]: what RFC 3516 allows, a
            # binary part shown base64-encoded (as Dovecot does).
            content = base64.encodebytes(content).replace(b"\n", b"\r\n")
        decoded_8bit = (
            kind == "BINARY"
            and part is not None
            and part.encoding in ("base64", "quoted-printable")
            and re.search(rb"[\x80-\xff]", content) is not None
        )
        if kind == "BINARY" and (b"\0" in content or decoded_8bit):
            return item.name.encode() + b" ~" + literal(content)
        return item.name.encode() + b" " + literal(content)

    def _section(self, item: FetchItem, data: bytes, root: mime.Part) -> bytes | None:
        part = root
        if item.part:
            found = mime.find_part(root, item.part)
            if found is None:
                return None
            part = found
        section = item.section
        if section == "MIME":
            return data[part.header_start : part.body_start] if item.part else None
        if not item.part:
            if section == "":
                return data
            message = root
        else:
            if section == "":
                return data[part.body_start : part.body_end]
            if part.message is None:
                return None if section != "TEXT" and section != "HEADER" else b""
            message = part.message
        if section == "HEADER":
            return data[message.header_start : message.body_start]
        if section == "TEXT":
            return data[message.body_start : message.body_end]
        header = data[message.header_start : message.body_start]
        return _filter_header(header, item.fields, section.endswith(".NOT"))


def kinds_order(columns: list[str]) -> list[str]:
    names = {"envelope": "envelope", "body": "body", "bodystructure": "bodystructure"}
    return [names[c] for c in columns]


def _filter_header(header: bytes, names: list[bytes], exclude: bool) -> bytes:
    """HEADER.FIELDS (or .NOT) of a header block: the chosen fields with their folded
    lines; lines that are no field stay with .NOT (as Dovecot keeps them); the blank
    line that ends the header, if it had one."""
    wanted = {n.lower().decode("latin-1") for n in names}
    ended = header.endswith(b"\r\n\r\n") or header == b"\r\n"
    lines = re.split(rb"(?<=\n)", header)
    out: list[bytes] = []
    keep = False
    for line in lines:
        if not line or line in (b"\r\n", b"\n"):
            continue
        if line[:1] in (b" ", b"\t"):
            if keep:
                out.append(line)
            continue
        name, colon, _ = line.partition(b":")
        if not colon:
            keep = exclude
        else:
            keep = (name.strip().lower().decode("latin-1") in wanted) != exclude
        if keep:
            out.append(line)
    return b"".join(out) + (b"\r\n" if ended or not exclude else b"")


def _vanished(view: View, ranges: list[tuple[int, int]], limit: int = 1_000_000) -> list[int]:
    """UIDs in ``ranges`` that are not in the folder. RFC 7162 §3.2.5.1 lets a server
    report UIDs expunged before the client's MODSEQ too, so this needs no record of
    expunges (which would not survive a restart or another writer): every UID the
    client may know that is gone now."""
    present = set(view.folder.uids)
    gone: list[int] = []
    for lo, hi in ranges:
        for uid in range(lo, min(hi, view.folder.next_uid - 1) + 1):
            if uid not in present:
                gone.append(uid)
                if len(gone) >= limit:
                    return sorted(set(gone))
    return sorted(set(gone))


def _flag_order(flag: str) -> tuple[int, str]:
    try:
        return (SYSTEM_FLAGS.index(flag), "")
    except ValueError:
        return (len(SYSTEM_FLAGS), flag)


def _uid_set(numbers: list[int], keep_order: bool = False) -> bytes:
    if not numbers:
        return b""
    values = numbers if keep_order else sorted(numbers)
    out: list[bytes] = []
    start = prev = values[0]
    for n in values[1:]:
        if n == prev + 1:
            prev = n
            continue
        out.append(b"%d" % start if start == prev else b"%d:%d" % (start, prev))
        start = prev = n
    out.append(b"%d" % start if start == prev else b"%d:%d" % (start, prev))
    return b",".join(out)


_AUTHENTICATED_COMMANDS = {
    b"SELECT": "cmd_select",
    b"EXAMINE": "cmd_examine",
    b"CREATE": "cmd_create",
    b"DELETE": "cmd_delete",
    b"RENAME": "cmd_rename",
    b"SUBSCRIBE": "cmd_subscribe",
    b"UNSUBSCRIBE": "cmd_unsubscribe",
    b"LIST": "cmd_list",
    b"LSUB": "cmd_lsub",
    b"STATUS": "cmd_status",
    b"APPEND": "cmd_append",
    b"NAMESPACE": "cmd_namespace",
    b"ENABLE": "cmd_enable",
    b"IDLE": "cmd_idle",
}
_SELECTED_COMMANDS = {
    b"CHECK": "cmd_check",
    b"CLOSE": "cmd_close",
    b"UNSELECT": "cmd_unselect",
    b"EXPUNGE": "cmd_expunge",
    b"SEARCH": "cmd_search",
    b"FETCH": "cmd_fetch",
    b"STORE": "cmd_store",
    b"COPY": "cmd_copy",
    b"MOVE": "cmd_move",
    b"SORT": "cmd_sort",
    b"THREAD": "cmd_thread",
}
_UID_COMMANDS = {
    b"FETCH": "cmd_fetch",
    b"STORE": "cmd_store",
    b"COPY": "cmd_copy",
    b"MOVE": "cmd_move",
    b"SEARCH": "cmd_search",
    b"EXPUNGE": "cmd_expunge",
    b"SORT": "cmd_sort",
    b"THREAD": "cmd_thread",
}
