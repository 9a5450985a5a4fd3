"""In-process GGUF model through llama-cpp-python.

One ``Llama`` object per backend; llama.cpp contexts are not thread-safe, so every
call takes the backend's lock and runs in a worker thread, keeping the event loop
free while tokens are decoded. llama-cpp-python reuses the KV cache for the longest
prefix a prompt shares with the previous one; :mod:`tidings.ai.prompt` keeps that
prefix byte-identical so a new turn only evaluates what is new.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from tidings.ai.backends import (
    BackendError,
    InvalidOutput,
    Message,
    NativeCall,
    Progress,
    Sampling,
    ToolSpec,
    checked_json,
)
from tidings.ai.prompt import END, render_gemma
from tidings.core.config import Settings

_DONE = object()
_SMALL_RANGE = 256


def grammar_schema(schema: Any) -> Any:
    """``schema`` as llama-cpp-python's grammar converter can enforce it.

    The converter ignores ``minimum``/``maximum`` on integers (measured: a bounded
    count came back as 1000000000000000), so a small integer range becomes the list
    of its values. Larger ranges are left to the validation after decoding.
    """
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: grammar_schema(value) for key, value in schema.items()}
    low, high = out.get("minimum"), out.get("maximum")
    if (
        out.get("type") == "integer"
        and isinstance(low, int)
        and isinstance(high, int)
        and 0 <= high - low < _SMALL_RANGE
    ):
        out = {"enum": list(range(low, high + 1))}
    return out


class LlamaBackend:
    """A GGUF model loaded in this process."""

    def __init__(
        self, model_path: Path, *, threads: int = 0, n_ctx: int = 4096, n_gpu_layers: int = 0
    ) -> None:
        from llama_cpp import Llama

        self.model_path = model_path
        self.threads = threads or os.cpu_count() or 1
        try:
            self.llm = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                n_gpu_layers=n_gpu_layers,
                seed=0,
                verbose=False,
            )
        except ValueError as exc:
            raise BackendError(f"cannot load model {model_path}: {exc}") from exc
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, progress: Progress | None = None) -> LlamaBackend:
        from tidings.ai.models import model_file

        ai = settings.ai
        return cls(
            model_file(settings, progress),
            threads=ai.threads,
            n_ctx=ai.n_ctx,
            n_gpu_layers=ai.n_gpu_layers,
        )

    @property
    def name(self) -> str:
        return f"llama.cpp {self.model_path.name} ({self.threads} threads)"

    @property
    def native_tools(self) -> bool:
        # A chat template for tool calls would have to come with the model; the
        # bundled base model has none, so tools are chosen by the pipeline.
        return False

    def _kwargs(self, sampling: Sampling) -> dict[str, Any]:
        return {
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "seed": sampling.seed,
            "stop": [END, *sampling.stop],
        }

    def _pieces(
        self, prompt: str, sampling: Sampling, grammar: Any, cancelled: threading.Event
    ) -> Iterator[str]:
        for chunk in self.llm.create_completion(
            prompt, stream=True, grammar=grammar, **self._kwargs(sampling)
        ):
            if cancelled.is_set():
                return
            text = chunk["choices"][0]["text"]  # type: ignore[index]
            if text:
                yield text

    async def _stream_prompt(
        self, prompt: str, sampling: Sampling, grammar: Any = None
    ) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()

        def produce() -> None:
            try:
                for piece in self._pieces(prompt, sampling, grammar, cancelled):
                    loop.call_soon_threadsafe(queue.put_nowait, piece)
            except Exception as exc:  # handed to the consumer, raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        async with self._lock:
            worker = loop.run_in_executor(None, produce)
            try:
                while (item := await queue.get()) is not _DONE:
                    if isinstance(item, Exception):
                        raise BackendError(f"decoding failed: {item}") from item
                    assert isinstance(item, str)
                    yield item
            finally:
                # A consumer that stops early must not leave the model decoding.
                cancelled.set()
                await worker

    def stream(self, messages: Sequence[Message], sampling: Sampling) -> AsyncIterator[str]:
        return self._stream_prompt(render_gemma(messages), sampling)

    async def complete(self, messages: Sequence[Message], sampling: Sampling) -> str:
        return "".join([piece async for piece in self.stream(messages, sampling)])

    async def complete_json(
        self, messages: Sequence[Message], schema: dict[str, Any], sampling: Sampling
    ) -> Any:
        from llama_cpp.llama_grammar import LlamaGrammar

        grammar = LlamaGrammar.from_json_schema(json.dumps(grammar_schema(schema)), verbose=False)
        prompt = render_gemma(messages)
        text = "".join([p async for p in self._stream_prompt(prompt, sampling, grammar)])
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            # The grammar guarantees valid JSON unless max_tokens cut it short.
            raise InvalidOutput(f"model output is not complete JSON: {text[:200]!r}") from exc
        return checked_json(value, schema)

    async def call_tools(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], sampling: Sampling
    ) -> NativeCall:
        raise BackendError("this model does not call tools natively; use the pipeline")

    async def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    async def aclose(self) -> None:
        async with self._lock:
            self.llm.close()
