"""Asking the user before a side effect: MCP elicitation, enforced here.

A tool that sends or moves mail takes a parameter resolved through the SDK's
``Resolve``: the resolver returns an ``Elicit`` with a yes/no form, the SDK asks the
client (inside the call on a handshake-era session, as an ``input_required`` round on
2026-07-28), and the tool body runs only with the answer. The parameter is hidden
from the input schema, so no model or client can fill it in; nothing but an
accepted ``confirm: true`` lets the body act.

The question shows exactly what will happen. Parts that come from other people
(subjects, names, bodies) are framed so they cannot pass for the question itself:
one-line values are quoted with their line breaks and invisible characters written
out, a body sits between markers carrying a digest of that body (which the body
cannot contain), and characters that reorder or hide text are made visible.

On 2026-07-28 the answer comes back with the sealed ``requestState`` of the round
that asked. The SDK binds that state to the token, the tool and its arguments for
ten minutes; :class:`OneShotAnswers` also makes each one usable once, so a "yes"
cannot be replayed to send the same message twice.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field

#: The first protocol revision that asks through ``input_required`` results instead
#: of a request from server to client.
_INPUT_REQUIRED_VERSION = "2026-07-28"

# Bidirectional controls (Trojan Source), line/paragraph separators and the BOM:
# they rearrange or hide what a person reads.
_HIDING = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029\ufeff"
)


class Confirmation(BaseModel):
    """The form the user answers: one yes/no."""

    confirm: bool = Field(
        title="Go ahead? · Continuer ?",
        description="Yes to do exactly this, no to cancel. · Oui pour le faire, non pour annuler.",
    )


def _visible(text: str, *, multiline: bool) -> str:
    out = []
    for char in text.replace("\r\n", "\n"):
        if multiline and char in "\n\t":
            out.append(char)
        elif char in _HIDING or ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def quoted(value: str) -> str:
    """A one-line value from someone else, in quotes, shown as exactly one line."""
    return '"' + _visible(value, multiline=False).replace('"', '\\"') + '"'


def person(name: str, address: str) -> str:
    """``"Name" <address>``: the name quoted like any other one-line value."""
    shown = f"<{_visible(address, multiline=False)}>"
    return f"{quoted(name)} {shown}" if name else shown


def framed(text: str) -> str:
    """A body between markers the body cannot contain (they carry its digest)."""
    shown = _visible(text, multiline=True)
    mark = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    lines = shown.count("\n") + 1
    return (
        f"({lines} line(s) · ligne(s))\n"
        f"----- BEGIN TEXT {mark} -----\n{shown}\n----- END TEXT {mark} -----"
    )


def require_elicitation(ctx: Context, refused: str) -> None:
    """Raise unless this client can be asked: a client that cannot answer must not
    act unasked. ``refused`` says what did not happen ("nothing was sent")."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # A bare ``elicitation: {}`` (from before modes existed) means form support.
    able = elicitation is not None and (elicitation.form is not None or elicitation.url is None)
    version = ctx.protocol_version
    if able and not (version and is_version_at_least(version, _INPUT_REQUIRED_VERSION)):
        # Handshake-era sessions ask with a request from server to client, which a
        # stateless HTTP exchange has no channel for.
        able = ctx.session.can_send_request
    if not able:
        raise ToolError(
            f"{refused}: this needs the user's confirmation, and this MCP client cannot ask "
            "for it (no elicitation support)"
        )


def require_yes(answer: ElicitationResult[Confirmation], refused: str) -> None:
    """Raise unless the user accepted and said yes."""
    if isinstance(answer, AcceptedElicitation):
        if answer.data.confirm:
            return
        raise ToolError(f"{refused}: the user answered no")
    if answer.action == "decline":
        raise ToolError(f"{refused}: the user declined")
    raise ToolError(f"{refused}: the confirmation was cancelled")


class OneShotAnswers:
    """Server middleware: a ``tools/call`` carrying a ``requestState`` already seen is
    refused. Installed outermost, where the state is still the sealed token minted
    for one round (each unique), before the SDK unseals it."""

    def __init__(self, ttl: float = 600.0) -> None:
        self.ttl = ttl  # the SDK's default request-state lifetime; older ones expire anyway
        self._seen: dict[str, float] = {}

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        state = ctx.params.get("requestState") if ctx.params is not None else None
        if ctx.method == "tools/call" and isinstance(state, str):
            now = time.monotonic()
            self._seen = {k: t for k, t in self._seen.items() if t > now}
            key = hashlib.sha256(state.encode()).hexdigest()
            if key in self._seen:  # checked and recorded with no await in between
                raise MCPError(code=INVALID_PARAMS, message="Invalid or expired requestState")
            self._seen[key] = now + self.ttl
        return await call_next(ctx)
