"""What an MCP server of this box publishes about each tool, and the small pieces every
tool contract is written with: strict object schemas, FR/EN titles and descriptions,
strict result models. The mail and dav servers' contracts (``mail_spec``,
``dav_spec``) are lists of :class:`ToolSpec`; the assistant reads the ``_meta`` keys
:meth:`ToolSpec.meta` writes (``tidings/intents``, ``tidings/answer``,
``tidings/context``, ``tidings/finds``, ``tidings/reads``...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict


def object_schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A JSON object schema that takes exactly ``properties``."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def i18n(en: tuple[str, str], fr: tuple[str, str]) -> dict[str, dict[str, str]]:
    """A tool's (title, description) in English and French."""
    return {
        "en": {"title": en[0], "description": en[1]},
        "fr": {"title": fr[0], "description": fr[1]},
    }


class ToolOutput(BaseModel):
    """A tool's structured result: names as published (aliases), nothing else."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, bool]
    output: type[BaseModel]
    i18n: dict[str, dict[str, str]]  # language → title, description
    answer: dict[str, dict[str, str]]  # language → text, or list/header/item/empty
    elicits: bool = False
    intents: dict[str, Any] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)
    """Argument → key of the message last shown: what "it" means in "move it"."""
    finds: dict[str, Any] = field(default_factory=dict)
    reads: dict[str, str] = field(default_factory=dict)
    ahead: bool = False
    """Its days are ahead ("on Friday" is the coming one, as in a calendar), not
    behind as in a mailbox."""

    @property
    def title(self) -> str:
        return self.i18n["en"]["title"]

    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "tidings/intents": self.intents,
            "tidings/i18n": self.i18n,
            "tidings/answer": self.answer,
        }
        if self.elicits:
            meta["tidings/elicits"] = True
        if self.context:
            meta["tidings/context"] = self.context
        if self.finds:
            meta["tidings/finds"] = self.finds
        if self.reads:
            meta["tidings/reads"] = self.reads
        if self.ahead:
            meta["tidings/dates"] = "ahead"
        return meta
