"""Fixtures for the assistant: the real bundled model, assembled once per session."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tidings.ai.backends.llama import LlamaBackend
from tidings.ai.models import assemble_default

EVAL_DIR = Path(__file__).resolve().parents[1] / "eval"


@pytest.fixture(scope="session")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled Gemma 3 270M GGUF (checked against its sha256 by the package)."""
    return assemble_default(tmp_path_factory.mktemp("models") / "gemma-3-270m-q4_k_m.gguf")


@pytest.fixture
async def llama(gguf: Path) -> AsyncIterator[LlamaBackend]:
    backend = LlamaBackend(gguf, threads=2, n_ctx=2048)
    yield backend
    await backend.aclose()


@pytest.fixture(scope="session")
def mail_tools() -> list[dict[str, object]]:
    tools: list[dict[str, object]] = json.loads(
        (EVAL_DIR / "mail_tools.json").read_text(encoding="utf-8")
    )["tools"]
    return tools
