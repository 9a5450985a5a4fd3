"""Latency of "list my emails", from the request to the assistant's last token.

    .venv/bin/python bench/ai_latency.py [--rounds 30] [--messages 50]

Starts a whole box with `tidings up` (temporary data dir, free ports, the bundled
model), delivers --messages mails over SMTP, then times, in one run and alternating:

- the assistant over its WebSocket ("list my emails" and "liste mes mails"): time to
  the first token, to the last token, and to `done`;
- the same work without the assistant: the MCP tool call `list_emails` through the
  SDK client, and the mail REST API's `GET /v1/messages` it rests on.

The difference between the rows is what each layer costs. Reports p50 and p95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path

import httpx
import httpx2
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from websockets.asyncio.client import connect

from tidings.core.config import Listen

TIDINGS = [sys.executable, "-m", "tidings"]
DOMAIN = "example.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Box:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {name: free_port() for name in Listen.model_fields}
        lines = [f'data_dir = "{root / "data"}"', f'domain = "{DOMAIN}"', "[listen]"]
        lines += [f'{n} = "127.0.0.1:{p}"' for n, p in self.ports.items()]
        self.config = root / "tidings.toml"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[str] | None = None

    def tidings(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [*TIDINGS, "--config", str(self.config), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def up(self) -> None:
        self.process = subprocess.Popen(
            [*TIDINGS, "--config", str(self.config), "up"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip() == "ready":
                return
        raise SystemExit("tidings up did not get ready")

    def down(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)


async def timed(run: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


async def assistant_turn(url: str, token: str, text: str) -> tuple[float, float, float]:
    """(first token, last token, done) in seconds from sending the request."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        start = time.perf_counter()
        await ws.send(json.dumps({"type": "message", "text": text}))
        first = last = 0.0
        async for raw in ws:
            item = json.loads(raw)
            now = time.perf_counter() - start
            if item["type"] == "token":
                first = first or now
                last = now
            elif item["type"] == "done":
                if not item.get("text"):
                    raise SystemExit(f"empty answer: {item}")
                return first, last, now
            elif item["type"] == "error":
                raise SystemExit(f"assistant error: {item}")
    raise SystemExit("connection closed mid-turn")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--messages", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        box = Box(Path(tmp))
        box.tidings("user", "add", f"alice@{DOMAIN}", "--password-stdin", stdin="pw-123456\n")
        token = box.tidings("token", "create", f"alice@{DOMAIN}", "--scope", "mail:read,ai")
        box.up()
        try:
            with smtplib.SMTP("127.0.0.1", box.ports["smtp"]) as smtp:
                for n in range(args.messages):
                    message = EmailMessage()
                    message["From"] = f"sender{n % 7}@peers.example"
                    message["To"] = f"alice@{DOMAIN}"
                    message["Subject"] = f"Message number {n}"
                    message.set_content("Hello\n" * 20)
                    smtp.send_message(message)

            ws_url = f"ws://127.0.0.1:{box.ports['ai']}/v1/ws"
            headers = {"Authorization": f"Bearer {token}"}
            rows: dict[str, list[float]] = {}
            cold = await assistant_turn(ws_url, token, "list my emails")
            async with (
                httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{box.ports['mail_api']}", headers=headers
                ) as api,
                httpx2.AsyncClient(headers=headers) as mcp_http,
                Client(
                    streamable_http_client(
                        f"http://127.0.0.1:{box.ports['mcp_mail']}/mcp", http_client=mcp_http
                    )
                ) as mcp,
            ):
                for _ in range(args.rounds):
                    for text in ("list my emails", "liste mes mails"):
                        first, last, done = await assistant_turn(ws_url, token, text)
                        rows.setdefault(f"assistant '{text}': first token", []).append(first)
                        rows.setdefault(f"assistant '{text}': last token", []).append(last)
                        rows.setdefault(f"assistant '{text}': done", []).append(done)
                    rows.setdefault("MCP tools/call list_emails", []).append(
                        await timed(lambda: mcp.call_tool("list_emails", {}))
                    )
                    rows.setdefault("REST GET /v1/messages", []).append(
                        await timed(lambda: api.get("/v1/messages", params={"limit": 20}))
                    )
        finally:
            box.down()

    print(f"{args.messages} messages in INBOX, {args.rounds} rounds, {os.cpu_count()} cores")
    print(f"first turn after start (cold): last token {cold[1] * 1000:.0f} ms")
    print(f"{'':52} {'p50 ms':>8} {'p95 ms':>8}")
    for name, values in rows.items():
        print(
            f"{name:52} {statistics.median(values) * 1000:8.1f} "
            f"{percentile(values, 95) * 1000:8.1f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
