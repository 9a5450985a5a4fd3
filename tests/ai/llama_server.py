"""llama-cpp-python's own OpenAI-compatible server on loopback, serving the bundled
GGUF: the real endpoint behind the ``openai`` backend in tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.conftest import free_port

API_KEY = "test-key-7f3a"


@contextlib.contextmanager
def llama_server(gguf: Path, log_dir: Path, chat_format: str) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free loopback port, with an API key."""
    port = free_port()
    log = (log_dir / "server.log").open("w+")
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
            "4096",
            "--chat_format",
            chat_format,
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
