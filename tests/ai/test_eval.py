"""The tool-use evaluation with the real bundled model, as a regression guard.

Floors sit a little under the figures measured when they were set (see
docs/performance.md, "Assistant: tool use"); a change that makes the assistant pick
tools or read arguments worse fails here.
"""

from __future__ import annotations

from collections import Counter

from bench.ai_eval import evaluate, load_evalset

from tidings.ai.backends.llama import LlamaBackend
from tidings.ai.evaluation import Report


def test_the_eval_set_covers_both_languages_and_all_three_outcomes() -> None:
    items = load_evalset().items
    assert len(items) >= 60
    assert Counter(i["lang"] for i in items).keys() == {"fr", "en"}
    kinds = Counter(
        "clarify" if i["expected"].get("clarify") else ("call" if i["expected"]["tool"] else "none")
        for i in items
    )
    assert kinds["call"] >= 40 and kinds["none"] >= 8 and kinds["clarify"] >= 6
    assert {i["split"] for i in items} == {"dev", "heldout"}


def _ratio(pair: list[int]) -> float:
    ok, total = pair
    return ok / total


async def test_tool_use_stays_above_its_floors(llama: LlamaBackend) -> None:
    report = await evaluate(llama)
    figures = report.figures()
    wrong = [
        (o.item["request"], o.decision.kind, o.decision.tool, o.decision.arguments)
        for o in report.outcomes
        if not o.correct
    ]
    assert _ratio(figures["tool_selection"]) >= 0.85, (figures, wrong)
    assert _ratio(figures["argument_exact"]) >= 0.80, (figures, wrong)
    assert _ratio(figures["irrelevance"]) >= 0.90, (figures, wrong)
    assert _ratio(figures["clarify"]) >= 0.75, (figures, wrong)
    assert _ratio(figures["overall"]) >= 0.85, (figures, wrong)
    # The held-out requests were never used to tune anything: the honest figure.
    heldout = Report([o for o in report.outcomes if o.item["split"] == "heldout"]).figures()
    assert _ratio(heldout["overall"]) >= 0.75, (heldout, wrong)
    assert _ratio(heldout["irrelevance"]) >= 0.85, (heldout, wrong)
