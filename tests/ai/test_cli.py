"""`tidings ai model`, run as an operator would."""

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
