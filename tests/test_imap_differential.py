"""tidings' IMAP against Dovecot on the very same Maildir: FETCH ENVELOPE,
BODYSTRUCTURE, BODY, BODY[n], BODY[n.MIME], BINARY[n] and SEARCH answers compared
byte for byte, on a corpus of hostile mail (broken headers, deep MIME nesting, 8-bit,
binary and encoded parts, bare LF, missing boundaries, groups, odd addresses).

Differences we keep on purpose are listed in ``KNOWN_DIFFERENCES`` with the reason;
any other difference — or a listed one that went away — fails the test.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Service
from tests.peers import Dovecot
from tidings.core.accounts import Accounts
from tidings.core.config import Settings, split_endpoint
from tidings.core.tls import client_context, ensure_tls
from tidings.mail.maildir import user_root
from tidings.mail.store import MailStore

pytestmark = pytest.mark.slow

USER = ("diff@example.test", "diff-password-1")


def _nested(depth: int) -> bytes:
    head = b""
    tail = b""
    for level in range(depth):
        head += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level)
        tail = b"\r\n--b%d--\r\n" % level + tail
    return head + b"Content-Type: text/plain\r\n\r\ndeep inside\r\n" + tail


CORPUS: list[bytes] = [
    # two addresses in Sender, groups, route, comments, encoded words
    b"From: =?utf-8?q?Jos=C3=A9?= <jose@example.org>\r\n"
    b'Sender: a@example.org, b@example.org\r\nTo: team: x@example.org, "Y, Z" <y@example.org>;\r\n'
    b"Cc: <@route.example:c@example.org>, d@example.org (Dee)\r\nSubject: Two senders\r\n"
    b"Date: Tue, 02 Jan 2024 10:00:00 +0100\r\nMessage-ID: <one@example.org>\r\n\r\nbody one\r\n",
    # headers without a body, a header line without a colon, an empty Subject
    b"From: broken@example.org\r\nThis is not a header\r\nSubject:\r\nTo:\r\n",
    # bare LF line ends and 8-bit text
    b"From: lf@example.org\nSubject: caf\xc3\xa9 LF\nContent-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: 8bit\n\nna\xc3\xafve body\nsecond line\n",
    # multipart with text, html, base64 and quoted-printable parts, and an epilogue
    b"From: multi@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\npreamble\r\n--XX\r\n'
    b"Content-Type: text/plain; charset=us-ascii\r\n\r\nplain part\r\n--XX\r\n"
    b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
    b"Content-Disposition: inline\r\nContent-Language: fr\r\n\r\n"
    b"<p>caf=C3=A9 =\r\nsoft</p>\r\n--XX\r\n"
    b'Content-Type: application/octet-stream; name="a.bin"\r\nContent-Transfer-Encoding: base64\r\n'
    b'Content-Disposition: attachment; filename="a.bin"\r\nContent-ID: <part3@x>\r\n'
    b"Content-Description: some bytes\r\n\r\nAAECAwQFBgcICQ==\r\n--XX--\r\nepilogue\r\n",
    # message/rfc822 inside multipart, itself multipart
    b"From: outer@example.org\r\nSubject: forward\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\n'
    b"see attached\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: inner@example.org\r\n"
    b'Subject: inner\r\nContent-Type: multipart/alternative; boundary="i"\r\n\r\n--i\r\n'
    b"Content-Type: text/plain\r\n\r\ninner text\r\n--i\r\nContent-Type: text/html\r\n\r\n"
    b"<b>inner</b>\r\n--i--\r\n\r\n--o--\r\n",
    # a multipart without its boundary parameter, and one whose parts never close
    b"From: nob@example.org\r\nSubject: no boundary\r\nContent-Type: multipart/mixed\r\n\r\n"
    b"just text\r\n",
    b"From: open@example.org\r\nSubject: unclosed\r\n"
    b'Content-Type: multipart/mixed; boundary="u"\r\n'
    b"\r\n--u\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--u\r\n\r\nsecond, no header\r\n",
    # deep nesting
    b"From: deep@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n" + _nested(12),
    # invalid Content-Type, unknown transfer encoding, parameters in RFC 2231 form
    b"From: odd@example.org\r\nSubject: odd types\r\nContent-Type: garbage\r\n"
    b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 f\r\n",
    b"From: p@example.org\r\nSubject: params\r\n"
    b'Content-Type: text/plain; charset="iso-8859-1"; format=flowed (comment); delsp=yes\r\n'
    b"\r\nflowed \r\ntext\r\n",
    # binary transfer encoding with 8-bit bytes (no NUL: delivered mail)
    b"From: bin@example.org\r\nSubject: binary\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    b"\x01\x02\xfe\xff raw\r\n",
]

FETCHES = [
    "ENVELOPE",
    "BODYSTRUCTURE",
    "BODY",
    "RFC822.SIZE",
    "BODY.PEEK[HEADER]",
    "BODY.PEEK[TEXT]",
    "BODY.PEEK[1]",
    "BODY.PEEK[1.MIME]",
    "BODY.PEEK[2]",
    "BODY.PEEK[2.MIME]",
    "BODY.PEEK[2.1]",
    "BODY.PEEK[2.HEADER]",
    "BODY.PEEK[3]",
    "BINARY.PEEK[1]",
    "BINARY.PEEK[2]",
    "BINARY.PEEK[3]",
    "BINARY.SIZE[3]",
    "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]",
    "BODY.PEEK[HEADER.FIELDS.NOT (FROM)]",
]

SEARCHES = [
    "FROM example.org",
    "FROM jose",
    "TO y@example.org",
    "CC dee",
    "SUBJECT {5+}\r\ncaf\u00e9",
    "BODY soft",
    "BODY inner",
    "TEXT AAECAwQF",
    "TEXT multi",
    "HEADER Content-Type multipart",
    "LARGER 300",
    "NOT SMALLER 200",
    "SENTBEFORE 3-Jan-2024",
]

#: (item, message number): why our answer differs from Dovecot's on purpose.
KNOWN_DIFFERENCES: dict[tuple[str, int], str] = {}


class RawClient:
    """A minimal IMAP client that returns the untagged responses as sent."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")
        self.file.readline()  # greeting
        self.tag = 0

    def command(self, text: str) -> tuple[list[bytes], bytes]:
        self.tag += 1
        tag = b"t%d" % self.tag
        data = text.encode("utf-8")
        data = re.sub(rb"\{(\d+)\+\}", lambda m: b"{%d+}" % len(data.split(b"\r\n", 1)[1]), data)
        self.sock.sendall(tag + b" " + data + b"\r\n")
        untagged: list[bytes] = []
        while True:
            line = self.file.readline()
            assert line, "connection closed"
            while (match := re.search(rb"\{(\d+)\}\r\n$", line)) is not None:
                line += self.file.read(int(match[1]))
                line += self.file.readline()
            if line.startswith(tag + b" "):
                return untagged, line
            untagged.append(line)


def connect_tidings(settings: Settings) -> RawClient:
    host, port = split_endpoint(settings.listen.imaps)
    context = client_context(settings)
    sock = context.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
    return RawClient(sock)


def connect_dovecot(dovecot: Dovecot) -> RawClient:
    return RawClient(socket.create_connection(("127.0.0.1", dovecot.port)))


def answers(client: RawClient) -> dict[tuple[str, int], bytes]:
    out: dict[tuple[str, int], bytes] = {}
    _, done = client.command(f'LOGIN "{USER[0]}" "{USER[1]}"')
    assert b" OK" in done, done
    _, done = client.command("EXAMINE INBOX")
    assert b" OK" in done, done
    for item in FETCHES:
        for number in range(1, len(CORPUS) + 1):
            untagged, done = client.command(f"FETCH {number} ({item})")
            body = b"".join(untagged) if b" OK" in done else b"NO/BAD"
            out[(item, number)] = re.sub(rb"^\* \d+ FETCH ", b"", body)
    for key in SEARCHES:
        untagged, done = client.command(f"SEARCH CHARSET UTF-8 {key}")
        out[(f"SEARCH {key}", 0)] = b"".join(untagged) if b" OK" in done else b"NO/BAD"
    client.command("LOGOUT")
    return out


@pytest.fixture
def imap(run_service: Callable[[str], Service], accounts: Accounts) -> Service:
    accounts.add_user(*USER)
    return run_service("imap")


def test_fetch_and_search_answer_as_dovecot_does(imap: Service, settings: Settings) -> None:
    store = MailStore(settings)
    for raw in CORPUS:
        store.deliver(USER[0], raw)
    ours = answers(connect_tidings(settings))
    files = ensure_tls(settings)
    root: Path = user_root(settings.data_dir / "mail", USER[0])
    with Dovecot(root, USER[0], USER[1], tls=(files.cert, files.key)) as dovecot:
        theirs = answers(connect_dovecot(dovecot))
    different = {key: (ours[key], theirs[key]) for key in ours if ours[key] != theirs[key]}
    unexplained = {k: v for k, v in different.items() if k not in KNOWN_DIFFERENCES}
    report = "\n".join(
        f"{item} #{n}:\n  tidings: {a!r}\n  dovecot: {b!r}"
        for (item, n), (a, b) in unexplained.items()
    )
    assert not unexplained, f"{len(unexplained)} answers differ from Dovecot's:\n{report}"
    fixed = set(KNOWN_DIFFERENCES) - set(different)
    assert not fixed, f"now the same as Dovecot, remove from KNOWN_DIFFERENCES: {fixed}"
    assert ssl  # TLS on our side, plain IMAP on Dovecot's (not what is compared)
