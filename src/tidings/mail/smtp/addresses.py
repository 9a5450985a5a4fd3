"""What MAIL FROM and RCPT TO may name: RFC 5321 syntax, UTF-8 rules (RFC 6531)."""

from __future__ import annotations

import re

from tidings.core.accounts import AccountError, normalise_address

# RFC 5321 4.1.2 Mailbox, with RFC 6531's UTF-8 allowed in atoms and labels.
_U = "\\u0080-\\U0010ffff"  # any non-ASCII character, as a regex range
_ATOM = rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~\-{_U}]+"
_QUOTED = rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{_U}]|\\[\x20-\x7e])*"'
_LOCAL = rf"(?:{_ATOM}(?:\.{_ATOM})*|{_QUOTED})"
_LABEL = rf"[A-Za-z0-9{_U}](?:[A-Za-z0-9\-{_U}]*[A-Za-z0-9{_U}])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[^\[\]\\\s]+\])"
_MAILBOX = re.compile(rf"{_LOCAL}@{_DOMAIN}")


def is_mailbox(address: str) -> bool:
    """Whether ``address`` is an RFC 5321 Mailbox (what MAIL and RCPT may name)."""
    return len(address) <= 254 and _MAILBOX.fullmatch(address) is not None


def normalised(address: str) -> str | None:
    """The account form of ``address`` (as :class:`Accounts` stores it), or None if
    it could never be an account here."""
    try:
        return normalise_address(address)
    except AccountError:
        return None


def address_encoding_problem(address: str, smtputf8: bool) -> str | None:
    """The reply refusing a non-ASCII address, or None if it may be used."""
    if address.isascii():
        return None
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:
        # aiosmtpd keeps undecodable bytes as surrogates: not UTF-8 at all.
        return "553 5.6.7 Address is not valid UTF-8"
    if not smtputf8:
        return "553 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter (RFC 6531)"
    return None
