"""Scoring the pipeline BFCL-style on a file of requests with expected decisions.

An item expects one of: a call (``{"tool": NAME, "arguments": {...}}``), no call
(``{"tool": null}``) or a question back (``{"clarify": true}``). An expected argument
is a value or a list of acceptable values, ``null`` in the list meaning "may be
absent"; any argument not listed must be absent. Strings compare without case,
accents or punctuation differences (as BFCL normalises them).

Figures: tool-selection accuracy and argument exact match over the items that
expect a call; irrelevance accuracy (no call made) over those that expect none;
clarify accuracy over those that expect a question.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tidings.ai.backends import BackendError
from tidings.ai.pipeline import Decision, Pipeline
from tidings.ai.pipeline.grounding import AddressBook, Contact, fold


@dataclass
class EvalSet:
    tools: list[dict[str, Any]]
    items: list[dict[str, Any]]
    now: datetime
    address_book: AddressBook

    @classmethod
    def load(cls, tools_file: Path, requests_file: Path) -> EvalSet:
        tools = json.loads(tools_file.read_text(encoding="utf-8"))["tools"]
        data = json.loads(requests_file.read_text(encoding="utf-8"))
        book = AddressBook(Contact(c["name"], c["address"]) for c in data["address_book"])
        return cls(tools, data["items"], datetime.fromisoformat(data["now"]), book)


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, str) and isinstance(value, str):
        return fold(value) == fold(wanted)
    return bool(value == wanted and type(value) is type(wanted))


def arguments_match(got: dict[str, Any], expected: dict[str, Any]) -> bool:
    if set(got) - set(expected):
        return False
    for name, wanted in expected.items():
        options = wanted if isinstance(wanted, list) else [wanted]
        if name not in got:
            if None not in options:
                return False
        elif not any(o is not None and _same(got[name], o) for o in options):
            return False
    return True


@dataclass
class Outcome:
    item: dict[str, Any]
    decision: Decision
    seconds: float
    error: str = ""
    """The backend failed on this request (endpoint timeout, bad reply): a miss."""

    @property
    def kind(self) -> str:
        expected = self.item["expected"]
        if expected.get("clarify"):
            return "clarify"
        return "call" if expected.get("tool") else "none"

    @property
    def call(self) -> tuple[str | None, dict[str, Any]]:
        """The call decided: a plan that only finds is its finder's call (a plan
        that then acts is scored on outcomes, by tests/eval/outcomes.py). A probing
        plan looks in the mailbox unseen and calls nothing unless the mail there has
        the request's words; with no mailbox here, it is scored as it runs on an
        empty one: no call."""
        plan = self.decision.plan
        if self.decision.kind == "plan" and plan is not None:
            if plan.probe is not None:
                return None, {}
            if plan.then is None and plan.ability is None:
                return plan.find.tool, plan.find.arguments
            return plan.then, plan.arguments
        if self.decision.kind == "call":
            return self.decision.tool, self.decision.arguments
        return None, {}

    @property
    def tool_right(self) -> bool:
        return not self.error and self.call[0] == self.item["expected"]["tool"]

    @property
    def correct(self) -> bool:
        if self.error:
            return False
        if self.kind == "clarify":
            return self.decision.kind == "clarify"
        if self.kind == "none":
            return self.call[0] is None
        return self.tool_right and arguments_match(
            self.call[1], self.item["expected"].get("arguments", {})
        )


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def _ratio(self, kind: str, ok: str) -> tuple[int, int]:
        chosen = [o for o in self.outcomes if o.kind == kind]
        return sum(bool(getattr(o, ok)) for o in chosen), len(chosen)

    def figures(self) -> dict[str, Any]:
        tool_ok, calls = self._ratio("call", "tool_right")
        exact_ok, _ = self._ratio("call", "correct")
        none_ok, nones = self._ratio("none", "correct")
        clarify_ok, clarifies = self._ratio("clarify", "correct")
        total_ok = sum(o.correct for o in self.outcomes)
        seconds = sorted(o.seconds for o in self.outcomes)
        return {
            "items": len(self.outcomes),
            "tool_selection": [tool_ok, calls],
            "argument_exact": [exact_ok, calls],
            "irrelevance": [none_ok, nones],
            "clarify": [clarify_ok, clarifies],
            "overall": [total_ok, len(self.outcomes)],
            "decided_by": dict(
                Counter("error" if o.error else o.decision.via for o in self.outcomes)
            ),
            "median_seconds": seconds[len(seconds) // 2] if seconds else 0.0,
            "p90_seconds": seconds[int(len(seconds) * 0.9)] if seconds else 0.0,
            "max_seconds": seconds[-1] if seconds else 0.0,
        }


async def run(pipeline: Pipeline, evalset: EvalSet, split: str | None = None) -> Report:
    report = Report()
    for item in evalset.items:
        if split is not None and item.get("split") != split:
            continue
        started = time.perf_counter()
        try:
            decision = await pipeline.decide(item["request"], now=evalset.now)
            error = ""
        except BackendError as exc:
            decision, error = Decision("answer", "native"), str(exc) or type(exc).__name__
        report.outcomes.append(Outcome(item, decision, time.perf_counter() - started, error))
    return report
