"""The OpenAI-compatible backend against a real OpenAI-compatible server on loopback:
llama-cpp-python's own server, serving the same bundled GGUF."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.ai.llama_server import API_KEY, llama_server
from tests.conftest import free_port
from tidings.ai.backends import BackendError, Message, Sampling, load
from tidings.ai.backends.llama import LlamaBackend
from tidings.ai.backends.openai import OpenAIBackend
from tidings.ai.pipeline import AddressBook, Contact, Pipeline
from tidings.core.config import Settings


@pytest.fixture(scope="module")
def server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # chatml, not gemma: llama-cpp-python's gemma format drops system messages, and
    # the pipeline's preamble is one (real endpoints with instruct models keep it).
    with llama_server(gguf, tmp_path_factory.mktemp("server"), "chatml") as base:
        yield base


@pytest.fixture
async def remote(server: str) -> AsyncIterator[OpenAIBackend]:
    backend = OpenAIBackend(server, "gemma", api_key=API_KEY, json_mode="json_object")
    yield backend
    await backend.aclose()


async def test_completes_and_streams_through_the_endpoint(remote: OpenAIBackend) -> None:
    messages = [Message("user", "Write one sentence about the sea.")]
    text = await remote.complete(messages, Sampling(max_tokens=12))
    assert text.strip()
    pieces = [p async for p in remote.stream(messages, Sampling(max_tokens=12))]
    assert len(pieces) >= 3
    # Same model, greedy decoding, same prompt: streamed and whole replies agree.
    assert "".join(pieces) == text


async def test_constrained_json_from_the_endpoint_is_schema_valid(remote: OpenAIBackend) -> None:
    schema = {
        "type": "object",
        "properties": {
            "person": {"type": "string", "maxLength": 30},
            "folder": {"type": "string", "enum": ["INBOX", "Sent", "Trash"]},
        },
        "required": ["person", "folder"],
        "additionalProperties": False,
    }
    messages = [Message("user", "Show the messages from Alice in the trash, as JSON.")]
    value = await remote.complete_json(messages, schema, Sampling(max_tokens=60))
    jsonschema.validate(value, schema)


async def test_counts_tokens_with_the_servers_tokenizer(remote: OpenAIBackend, gguf: Path) -> None:
    local = LlamaBackend(gguf, threads=1, n_ctx=256)
    try:
        for text in ["liste mes mails", "Any new emails from Alice since yesterday?"]:
            assert await remote.count_tokens(text) == await local.count_tokens(text)
    finally:
        await local.aclose()


async def test_a_wrong_api_key_is_an_error_that_names_the_endpoint(server: str) -> None:
    backend = OpenAIBackend(server, "gemma", api_key="wrong")
    try:
        with pytest.raises(BackendError, match=r"HTTP 401"):
            await backend.complete([Message("user", "hi")], Sampling(max_tokens=2))
    finally:
        await backend.aclose()


async def test_an_endpoint_that_is_down_is_a_backend_error(settings: Settings) -> None:
    settings.ai.backend = "openai"
    settings.ai.openai_base_url = f"http://127.0.0.1:{free_port()}/v1"
    backend = load(settings)
    try:
        assert backend.name.startswith("OpenAI-compatible")
        with pytest.raises(BackendError, match=r"127\.0\.0\.1"):
            await backend.complete([Message("user", "hi")], Sampling(max_tokens=2))
    finally:
        await backend.aclose()


async def test_the_pipeline_runs_unchanged_over_the_endpoint(
    remote: OpenAIBackend, mail_tools: list[dict[str, Any]]
) -> None:
    book = AddressBook([Contact("Alice Martin", "alice@example.org")])
    pipeline = Pipeline(remote, mail_tools, address_book=book)
    now = datetime(2026, 3, 11, 9, 0)
    template = await pipeline.decide("any new emails from Alice since yesterday?", now=now)
    assert template.arguments == {"sender": "alice@example.org", "since": "2026-03-10"}
    # Not covered by a template: routed, then the endpoint fills the id under the
    # schema's grammar (sent as response_format).
    routed = await pipeline.decide("show the full text of message 41", now=now)
    assert (routed.kind, routed.via, routed.tool) == ("call", "router", "read_email")
    assert routed.arguments == {"message_id": "41"}


async def test_a_model_with_native_tool_calls_chooses_through_the_same_interface(
    gguf: Path, tmp_path: Path, mail_tools: list[dict[str, Any]]
) -> None:
    """llama-cpp-python's server with a tool-calling chat format stands in for an
    instruct model behind Ollama or vLLM; the 270M model's choice is poor, so what
    is checked is the path: the endpoint's own call (or none) comes back and passes
    the same validation as any other."""
    with llama_server(gguf, tmp_path, "chatml-function-calling") as base:
        backend = OpenAIBackend(base, "gemma", api_key=API_KEY, native_tools=True)
        try:
            pipeline = Pipeline(backend, mail_tools)
            assert pipeline.router is None
            decision = await pipeline.decide("I am looking for the message about the rent")
            assert decision.via == "native"
            names = {t["name"] for t in mail_tools}
            if decision.kind != "answer":
                assert decision.tool in names
            for value in decision.arguments.values():
                if isinstance(value, str):
                    assert value.lower() in "i am looking for the message about the rent"
        finally:
            await backend.aclose()
