"""Tool-use evaluation of the assistant pipeline, BFCL-style, with the real model.

    .venv/bin/python bench/ai_eval.py [--split dev|heldout] [--json] [--verbose]

Reads tests/eval/mail_tools.json (the tools, as an MCP mail server lists them) and
tests/eval/mail_requests.json (FR/EN requests with the expected decision), runs every
request through the configured backend (default: the bundled Gemma 3 270M, greedy
decoding) and prints tool-selection accuracy, argument exact match, irrelevance and
clarify accuracy, and which stage decided.

The backend comes from the configuration, so the model's own tool calling (the
path a capable instruct model takes) is measured on the same set with, e.g.::

    TIDINGS_AI__BACKEND=openai TIDINGS_AI__NATIVE_TOOLS=true \
    TIDINGS_AI__OPENAI_BASE_URL=http://127.0.0.1:8000/v1 TIDINGS_AI__OPENAI_MODEL=m \
    TIDINGS_AI__REQUEST_TIMEOUT=30 .venv/bin/python bench/ai_eval.py

A request the endpoint fails on (timeout, bad reply) counts as a miss ("error").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tidings.ai.backends import Backend, load
from tidings.ai.evaluation import EvalSet, Report, run
from tidings.ai.pipeline import Pipeline
from tidings.core.config import Settings

EVAL_DIR = Path(__file__).resolve().parents[1] / "tests" / "eval"


def load_evalset() -> EvalSet:
    return EvalSet.load(EVAL_DIR / "mail_tools.json", EVAL_DIR / "mail_requests.json")


async def evaluate(backend: Backend, split: str | None = None) -> Report:
    evalset = load_evalset()
    pipeline = Pipeline(backend, evalset.tools, address_book=evalset.address_book)
    return await run(pipeline, evalset, split)


def _pct(pair: list[int]) -> str:
    ok, total = pair
    return f"{ok}/{total} ({100 * ok / total:.0f}%)" if total else "-"


def render(report: Report, title: str) -> str:
    f = report.figures()
    lines = [
        f"{title}: {f['items']} requests",
        f"  tool selection    {_pct(f['tool_selection'])}",
        f"  argument exact    {_pct(f['argument_exact'])}",
        f"  irrelevance       {_pct(f['irrelevance'])}",
        f"  clarify           {_pct(f['clarify'])}",
        f"  overall           {_pct(f['overall'])}",
        f"  decided by        {f['decided_by']}",
        f"  latency           median {f['median_seconds'] * 1000:.0f} ms, "
        f"p90 {f['p90_seconds'] * 1000:.0f} ms, max {f['max_seconds'] * 1000:.0f} ms",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "heldout"], help="only these items")
    parser.add_argument("--json", action="store_true", help="print figures as JSON")
    parser.add_argument("--verbose", action="store_true", help="print every wrong item")
    args = parser.parse_args()

    async def go() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp))
            started = time.perf_counter()
            backend = load(settings)
            try:
                figures: dict[str, Any] = {"backend": backend.name}
                report = await evaluate(backend, args.split)
                parts = [("all", report)]
                if args.split is None:
                    parts = [
                        (split, Report([o for o in report.outcomes if o.item["split"] == split]))
                        for split in ("dev", "heldout")
                    ] + parts
                for name, part in parts:
                    figures[name] = part.figures()
                    if not args.json:
                        print(render(part, name))
                    if args.verbose:
                        for o in part.outcomes:
                            if not o.correct:
                                d = o.decision
                                print(
                                    f"    x {o.item['request']!r}: got {d.kind} {d.tool} "
                                    f"{d.arguments} via {d.via} {d.question!r}; "
                                    f"want {o.item['expected']}"
                                )
            finally:
                await backend.aclose()
            figures["seconds"] = round(time.perf_counter() - started, 1)
            return figures

    figures = asyncio.run(go())
    if args.json:
        json.dump(figures, sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
