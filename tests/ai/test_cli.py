"""`tidings ai model` and `tidings ask`, run as an operator and a user would."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_tidings


def test_ai_model_assembles_the_bundled_model_and_decodes(
    box_env: dict[str, str], data_dir: Path
) -> None:
    result = run_tidings("ai", "model", "--check", env=box_env, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(data_dir / "models" / "gemma-3-270m-q4_k_m.gguf")
    assert (data_dir / "models" / "gemma-3-270m-q4_k_m.gguf").stat().st_size > 200_000_000
    assert lines[1].startswith("llama.cpp gemma-3-270m-q4_k_m.gguf")


def test_ai_model_reports_a_missing_configured_model(box_env: dict[str, str]) -> None:
    env = {**box_env, "TIDINGS_AI__MODEL_PATH": "/nonexistent/model.gguf"}
    result = run_tidings("ai", "model", env=env)
    assert result.returncode == 1
    assert "ai.model_path: no such model file: /nonexistent/model.gguf" in result.stderr


def test_ask_without_an_assistant_says_where_it_looked(box_env: dict[str, str]) -> None:
    # Nothing listens on the box's ai port: a clear error, not a traceback.
    result = run_tidings("ask", "liste mes mails", env={**box_env, "TIDINGS_TOKEN": "tdg_x"})
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot reach the assistant at ws://127.0.0.1:")
    assert "Traceback" not in result.stderr


def test_ask_needs_a_token(box_env: dict[str, str]) -> None:
    result = run_tidings("ask", "liste mes mails", env=box_env)
    assert result.returncode == 2
    assert "TIDINGS_TOKEN" in result.stderr or "--token" in result.stderr
