"""Idle memory of the whole suite: `tidings up` without the model, per process.

    .venv/bin/python bench/idle_memory.py [--settle 5]

Starts ``tidings up`` on a private data dir and free loopback ports, with the
assistant pointed at an OpenAI-compatible endpoint that is never called (so no model
is loaded: the figure is the suite's own), waits for ``ready`` and SETTLE seconds,
then reads every process of the tree from ``/proc``: RSS (resident, shared pages
counted in every process that maps them) and PSS (shared pages divided among the
processes that share them, so the PSS column adds up to what the suite really
holds). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tidings.core.config import Listen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    found = [pid]
    for child in children(pid):
        found += tree(child)
    return found


def memory_kib(pid: int) -> tuple[int, int]:
    """``(RSS, PSS)`` in KiB."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def label(pid: int) -> str:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    words = [a.decode() for a in args if a]
    if "serve" in words:
        return "serve " + " ".join(words[words.index("serve") + 1 :])
    if "up" in words:
        return "up (supervisor)"
    return " ".join(Path(w).name for w in words[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=5.0, help="seconds idle after ready")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tidings-memory-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    env |= {
        "TIDINGS_DATA_DIR": str(work / "data"),
        "TIDINGS_AI__BACKEND": "openai",  # no model in this process tree
        "TIDINGS_AI__OPENAI_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "TIDINGS_LOG__LEVEL": "warning",
    }
    for name in Listen.model_fields:
        env[f"TIDINGS_LISTEN__{name.upper()}"] = f"127.0.0.1:{free_port()}"
    up = subprocess.Popen(
        [sys.executable, "-m", "tidings", "up"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert up.stdout is not None
        for line in up.stdout:
            if line.strip() == "ready":
                break
        else:
            raise SystemExit(f"tidings up ended before ready (exit {up.wait()})")
        time.sleep(args.settle)  # let start-up garbage be collected and caches settle
        rows = [(label(pid), *memory_kib(pid)) for pid in tree(up.pid)]
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(60)
    rows.sort(key=lambda r: -r[1])
    print(f"\n`tidings up` idle, no model, {len(rows)} processes\n")
    print("| process | RSS MiB | PSS MiB |")
    print("|---|---|---|")
    for name, rss, pss in rows:
        print(f"| {name} | {rss / 1024:.1f} | {pss / 1024:.1f} |")
    total_rss = sum(r[1] for r in rows) / 1024
    total_pss = sum(r[2] for r in rows) / 1024
    print(f"| **total** | **{total_rss:.1f}** | **{total_pss:.1f}** |")


if __name__ == "__main__":
    main()
