"""Model backends: where tokens come from.

Every backend speaks the same small protocol (:class:`Backend`): complete or stream
a reply to chat messages, generate JSON constrained by a JSON schema, count tokens.
``load(settings)`` picks the implementation named by ``[ai] backend``:

- ``llama`` (:mod:`.llama`): a GGUF model run in-process by llama-cpp-python;
- ``openai`` (:mod:`.openai`): any OpenAI-compatible HTTP endpoint.

The pipeline only ever sees this protocol, so a 270M base model on a laptop and an
8B instruct model on a GPU box take the same code path; what differs is declared
as capabilities (``native_tools``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from tidings.core.config import Settings

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class Message:
    """One chat message. ``name`` is the tool's name on ``tool`` messages."""

    role: Role
    content: str
    name: str | None = None


@dataclass(frozen=True)
class Sampling:
    """How to decode. Temperature 0 is greedy: the same input gives the same output."""

    max_tokens: int = 256
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    seed: int = 0


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to a model that calls tools natively (OpenAI ``tools`` format)."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class NativeCall:
    """The model's own choice: a tool and its raw arguments, or none (``name`` None)."""

    name: str | None
    arguments: dict[str, Any] = field(default_factory=dict)
    text: str = ""


class BackendError(Exception):
    """The model could not answer (endpoint down, bad reply, model file missing)."""


class InvalidOutput(BackendError):
    """The model answered, but not with what was asked (JSON cut short, off-schema)."""


class Backend(Protocol):
    """What the assistant needs from a model."""

    @property
    def name(self) -> str:
        """Human-readable description: backend kind and model."""
        ...

    @property
    def native_tools(self) -> bool:
        """True when the model chooses tools itself (see :meth:`call_tools`)."""
        ...

    async def complete(self, messages: Sequence[Message], sampling: Sampling) -> str:
        """The whole reply as one string."""
        ...

    def stream(self, messages: Sequence[Message], sampling: Sampling) -> AsyncIterator[str]:
        """The reply, piece by piece as the model produces it."""
        ...

    async def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], sampling: Sampling
    ) -> Any:
        """A JSON value the decoder was constrained to produce from ``schema``."""
        ...

    async def call_tools(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], sampling: Sampling
    ) -> NativeCall:
        """Let the model pick one of ``tools`` or none (only if ``native_tools``)."""
        ...

    async def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's vocabulary."""
        ...

    async def aclose(self) -> None:
        """Release the model or the HTTP connections."""
        ...


def checked_json(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` if it satisfies ``schema``; constrained decoders enforce most of a
    schema, not all of it (numeric bounds, formats), so the promise is kept here."""
    import jsonschema

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(value)
    )
    if error is not None:
        raise InvalidOutput(f"model output does not match the schema: {error.message}")
    return value


Progress = Callable[[int, int], None]
"""``progress(done_bytes, total_bytes)`` while a model file is being prepared."""


def load(settings: Settings, progress: Progress | None = None) -> Backend:
    """The backend configured in ``[ai]``, ready to use."""
    if settings.ai.backend == "openai":
        from tidings.ai.backends.openai import OpenAIBackend

        return OpenAIBackend.from_settings(settings)
    from tidings.ai.backends.llama import LlamaBackend

    return LlamaBackend.from_settings(settings, progress=progress)
