"""The OpenAI-compatible backend against a real OpenAI-compatible server on loopback:
llama-cpp-python's own server, serving the same bundled GGUF."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest

from tests.conftest import free_port
from tidings.ai.backends import BackendError, Message, Sampling, load
from tidings.ai.backends.llama import LlamaBackend
from tidings.ai.backends.openai import OpenAIBackend
from tidings.core.config import Settings

API_KEY = "test-key-7f3a"


@pytest.fixture(scope="module")
def server(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free loopback port, with an API key."""
    port = free_port()
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w+")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_threads",
            "2",
            "--n_ctx",
            "2048",
            "--chat_format",
            "gemma",
            "--api_key",
            API_KEY,
            "--verbose",
            "False",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                headers = {"Authorization": f"Bearer {API_KEY}"}
                if httpx.get(f"{base}/models", headers=headers, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise AssertionError(f"llama_cpp.server did not start:\n{log.read()}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


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
