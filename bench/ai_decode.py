"""Decode speed through the assistant runtime vs raw llama-cpp-python, and first-token
latency with a cold vs a reused prompt prefix.

    .venv/bin/python bench/ai_decode.py [--threads 2] [--tokens 96] [--rounds 5]

Same GGUF (the bundled Gemma 3 270M unless --model), same threads, same prompt,
greedy decoding; raw and runtime runs alternate and medians are reported, so load
from other processes hits both sides alike. The prefix measurement uses the real
argument-filling preamble of the eval's mail tools (~830 tokens): "cold" after the
KV cache is cleared, "reused" when only the request after the preamble changes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from llama_cpp import Llama

from tidings.ai.backends import Message, Sampling
from tidings.ai.backends.llama import LlamaBackend
from tidings.ai.models import assemble_default
from tidings.ai.pipeline import Tool
from tidings.ai.pipeline.arguments import preamble, request_prompt
from tidings.ai.prompt import render_gemma

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ai_eval import load_evalset

MESSAGES = [Message("user", "Write a long story about a lighthouse keeper and the sea.")]


def raw_decode(llm: Llama, prompt: str, tokens: int) -> tuple[float, int]:
    """(tokens/s after the first token, tokens) with llama-cpp-python alone."""
    llm.reset()
    first = 0.0
    count = 0
    for _ in llm.create_completion(
        prompt, max_tokens=tokens, temperature=0.0, stream=True, stop=["<end_of_turn>"]
    ):
        count += 1
        if count == 1:
            first = time.perf_counter()
    return (count - 1) / (time.perf_counter() - first), count


async def runtime_decode(backend: LlamaBackend, tokens: int) -> tuple[float, int]:
    backend.llm.reset()
    first = 0.0
    count = 0
    async for _ in backend.stream(MESSAGES, Sampling(max_tokens=tokens)):
        count += 1
        if count == 1:
            first = time.perf_counter()
    return (count - 1) / (time.perf_counter() - first), count


async def first_token(backend: LlamaBackend, system: str, request: str) -> float:
    started = time.perf_counter()
    async for _ in backend.stream(
        [Message("system", system), Message("user", request)], Sampling(max_tokens=1)
    ):
        break
    return time.perf_counter() - started


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="GGUF file (default: the bundled one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or assemble_default(Path(tmp) / "model.gguf")
        raw = Llama(
            str(model),
            n_ctx=4096,
            n_threads=args.threads,
            n_threads_batch=args.threads,
            seed=0,
            verbose=False,
        )
        backend = LlamaBackend(model, threads=args.threads, n_ctx=4096)
        prompt = render_gemma(MESSAGES)
        raw_rates: list[float] = []
        runtime_rates: list[float] = []
        raw_decode(raw, prompt, 8)  # warm both up once
        await runtime_decode(backend, 8)
        for _ in range(args.rounds):
            rate, raw_count = raw_decode(raw, prompt, args.tokens)
            raw_rates.append(rate)
            rate, runtime_count = await runtime_decode(backend, args.tokens)
            runtime_rates.append(rate)
        raw_rate = statistics.median(raw_rates)
        runtime_rate = statistics.median(runtime_rates)

        tools = [Tool.from_mcp(t) for t in load_evalset().tools]
        system = preamble(tools)
        tool = tools[0]
        cold: list[float] = []
        reused: list[float] = []
        for round_ in range(args.rounds):
            backend.llm.reset()  # forget every cached prefix
            cold.append(await first_token(backend, system, request_prompt(f"liste {round_}", tool)))
            reused.append(
                await first_token(backend, system, request_prompt(f"montre {round_}", tool))
            )
        preamble_tokens = await backend.count_tokens(render_gemma([Message("system", system)]))
        await backend.aclose()
        raw.close()

    print(f"model {model.name}, {args.threads} threads, {args.rounds} rounds, medians")
    print(f"decode raw llama-cpp-python  {raw_rate:6.1f} tokens/s ({raw_count} tokens)")
    print(f"decode tidings runtime       {runtime_rate:6.1f} tokens/s ({runtime_count} tokens)")
    print(f"runtime / raw                {runtime_rate / raw_rate:6.2f}")
    print(f"first token, cold prefix     {statistics.median(cold) * 1000:6.0f} ms")
    print(f"first token, reused prefix   {statistics.median(reused) * 1000:6.0f} ms")
    print(f"  (preamble ~{preamble_tokens} tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
