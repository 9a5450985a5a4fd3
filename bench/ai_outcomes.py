"""Outcome evaluation of the assistant in a seeded mailbox, with the real model.

    .venv/bin/python bench/ai_outcomes.py [--split dev|heldout|all] [--kind K] [--verbose] [--json]

Seeds a box from tests/eval/mailbox.json, starts the real mail-api and mcp-mail
services, runs every case of tests/eval/conversations.json and paraphrases.json
through the assistant
(in this process, every confirmation refused and recorded: nothing is sent) and
scores what happened: the right messages listed, read, replied to, moved or marked,
the answer holding the facts (see tests/eval/outcomes.py). Prints accuracy per split
(dev and heldout apart) and per kind, p50/p95 latency per kind (first token and
done), and with --verbose every miss with its reason.

The backend comes from the configuration, as in bench/ai_eval.py (default: the
bundled Gemma 3 270M), so a capable model is measured on the same set with, e.g.::

    TIDINGS_AI__BACKEND=openai TIDINGS_AI__NATIVE_TOOLS=true \
    TIDINGS_AI__OPENAI_BASE_URL=http://127.0.0.1:8000/v1 TIDINGS_AI__OPENAI_MODEL=m \
    .venv/bin/python bench/ai_outcomes.py

--mailbox and --cases take other data files (the same formats); the harness's own
samples make a quick smoke run (9 cases, one of each outcome)::

    .venv/bin/python bench/ai_outcomes.py --mailbox tests/eval/mailbox.sample.json \
        --cases tests/eval/conversations.sample.json --verbose
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.eval.outcomes import (
    EVAL_DIR,
    CaseResult,
    EvalBox,
    Evaluation,
    Mailbox,
    Report,
    load_cases,
)

from tidings.ai.backends import load


def _pct(part: dict[str, Any]) -> str:
    if not part["total"]:
        return "-"
    return f"{part['ok']}/{part['total']} ({100 * part['ok'] / part['total']:.0f}%)"


def _ms(value: int | None) -> str:
    return "-" if value is None else f"{value}"


def render(figures: dict[str, Any], name: str) -> str:
    part = figures[name]
    lines = [f"{name}: {_pct(part)}"]
    lines.append(
        f"  {'kind':<14}{'accuracy':>16}  {'1st token p50/p95 ms':>21}  {'done p50/p95 ms':>16}"
    )
    for kind, sub in part["kinds"].items():
        first = f"{_ms(sub['first_token_p50_ms'])}/{_ms(sub['first_token_p95_ms'])}"
        done = f"{_ms(sub['done_p50_ms'])}/{_ms(sub['done_p95_ms'])}"
        lines.append(f"  {kind:<14}{_pct(sub):>16}  {first:>21}  {done:>16}")
    lat = part["latency"]
    lines.append(
        f"  {'(all)':<14}{'':>16}  "
        f"{_ms(lat['first_token_p50_ms']) + '/' + _ms(lat['first_token_p95_ms']):>21}  "
        f"{_ms(lat['done_p50_ms']) + '/' + _ms(lat['done_p95_ms']):>16}"
    )
    return "\n".join(lines)


def miss_line(result: CaseResult) -> str:
    case = result.case
    before = f" (after {list(case.before)})" if case.before else ""
    return f"  x {case.id} {case.request!r}{before}: {result.reason}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "heldout", "all"], default="all")
    parser.add_argument("--kind", help="only cases of this kind (filter, plan, ...)")
    parser.add_argument("--verbose", action="store_true", help="print every miss and why")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--mailbox", type=Path, default=EVAL_DIR / "mailbox.json")
    parser.add_argument(
        "--cases",
        type=Path,
        nargs="+",
        default=[EVAL_DIR / "conversations.json", EVAL_DIR / "paraphrases.json"],
    )
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the services' and clients' request logs

    mailbox = Mailbox.load(args.mailbox)
    cases = [
        c
        for path in args.cases
        for c in load_cases(path)
        if args.split in ("all", c.split) and (args.kind is None or c.kind == args.kind)
    ]

    async def go(box: EvalBox) -> tuple[Report, str, float]:
        backend = await asyncio.to_thread(load, box.settings)
        try:
            async with Evaluation(box, backend) as evaluation:
                started = time.perf_counter()

                def progress(result: CaseResult) -> None:
                    if args.verbose and not args.json and not result.ok:
                        print(miss_line(result), flush=True)

                report = await evaluation.run(cases, progress)
                return report, backend.name, time.perf_counter() - started
        finally:
            await backend.aclose()

    with tempfile.TemporaryDirectory() as tmp, EvalBox(Path(tmp), mailbox).running() as box:
        report, backend_name, seconds = asyncio.run(go(box))

    figures: dict[str, Any] = {
        "backend": backend_name,
        "cases": len(cases),
        "seconds": round(seconds, 1),
        **report.figures(),
    }
    if args.json:
        figures["misses"] = [
            {"id": r.case.id, "reason": r.reason, "proposed": r.proposed} for r in report.misses()
        ]
        json.dump(figures, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    print(f"{backend_name}: {len(cases)} cases in {seconds:.0f} s")
    for name in [s for s in ("dev", "heldout") if s in figures] + ["all"]:
        print(render(figures, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
