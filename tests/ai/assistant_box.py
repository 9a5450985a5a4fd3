"""A whole box for the assistant's end-to-end tests: the real services as separate
processes (smtp, imap, mail-api, mcp-mail, ai with the real bundled model), users
with tokens made by the CLI, mail delivered over SMTP, and real clients: the
``tidings ask`` command, a WebSocket and an SSE stream."""

from __future__ import annotations

import asyncio
import imaplib
import json
import smtplib
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from tests.conftest import ServiceProcess, free_port, run_tidings
from tests.smtp_support import DNS
from tidings.core.config import Listen, Settings, load_settings, split_endpoint
from tidings.core.tls import client_context

DOMAIN = "example.test"
PASSWORD = "correct horse battery"
SERVICES = ("smtp", "imap", "mail-api", "mcp-mail", "ai")

Event = dict[str, Any]
Decide = Callable[[Event], bool]
"""Called on ``confirmation.requested``: approve it?"""


def write_config(root: Path, gguf: Path, dns: DNS) -> Path:
    lines = [
        f'data_dir = "{root / "data"}"',
        f'domain = "{DOMAIN}"',
        'hostname = "localhost"',
        "[mail]",
        f'dns_resolver = "{dns.endpoint}"',
        "[ai]",
        f'model_path = "{gguf}"',
        "threads = 2",
        "n_ctx = 2048",
        "confirmation_timeout = 60",
        "[listen]",
    ]
    lines += [f'{name} = "127.0.0.1:{free_port()}"' for name in Listen.model_fields]
    path = root / "tidings.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class AssistantBox:
    root: Path
    config: Path
    tokens: dict[str, str] = field(default_factory=dict)
    services: list[ServiceProcess] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return load_settings(self.config)

    def endpoint(self, name: str) -> tuple[str, int]:
        return split_endpoint(getattr(self.settings.listen, name))

    def tidings(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_tidings("--config", str(self.config), *args, **kwargs)

    def add_user(self, local: str) -> str:
        address = f"{local}@{DOMAIN}"
        done = self.tidings("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
        made = self.tidings("token", "create", address, "--scope", "mail:read,mail:send,ai")
        assert made.returncode == 0, made.stderr
        self.tokens[local] = made.stdout.strip()
        return address

    def start(self) -> None:
        for name in SERVICES:
            service = ServiceProcess(name, self.config, self.root)
            self.services.append(service)
            service.start(timeout=180)

    def stop(self) -> None:
        for service in reversed(self.services):
            if service.process is not None and service.process.poll() is None:
                service.stop()

    # -- mail, as the world sends it ------------------------------------------------
    def deliver(self, to: str, sender: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        host, port = self.endpoint("smtp")
        with smtplib.SMTP(host, port, local_hostname="client.test") as client:
            client.send_message(message)

    def imap_subjects(self, local: str) -> list[str]:
        """Subjects in the user's INBOX, as their IMAP client sees them."""
        host, port = self.endpoint("imap")
        with imaplib.IMAP4(host, port) as client:
            client.starttls(ssl_context=client_context(self.settings))
            client.login(f"{local}@{DOMAIN}", PASSWORD)
            client.select("INBOX", readonly=True)
            _, data = client.uid("SEARCH", "ALL")
            subjects = []
            for uid in data[0].split():
                _, parts = client.uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                header = parts[0][1].decode() if isinstance(parts[0], tuple) else ""
                subjects.append(header.partition(":")[2].strip())
            return subjects

    def queued(self) -> list[dict[str, Any]]:
        done = self.tidings("queue", "list", "--json")
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout or "[]"))

    # -- clients of the assistant -------------------------------------------------
    def ask(self, *args: str, token: str) -> tuple[int, list[Event], str]:
        """``tidings ask --json ARGS``: exit status, events, standard error."""
        done = self.tidings("ask", "--json", *args, env={"TIDINGS_TOKEN": token}, timeout=300)
        events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        return done.returncode, events, done.stderr

    @property
    def ws_url(self) -> str:
        host, port = self.endpoint("ai")
        return f"ws://{host}:{port}/v1/ws"

    @property
    def http_url(self) -> str:
        host, port = self.endpoint("ai")
        return f"http://{host}:{port}"

    async def ws_turn(
        self,
        token: str,
        text: str,
        decide: Decide | None = None,
        *,
        conversation_id: int | None = None,
        on_confirmation: Callable[[Event], None] | None = None,
    ) -> list[Event]:
        """One turn over the WebSocket; confirmations answered by ``decide``."""
        events: list[Event] = []
        async with connect(
            self.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
        ) as ws:
            request: Event = {"type": "message", "text": text}
            if conversation_id is not None:
                request["conversation_id"] = conversation_id
            await ws.send(json.dumps(request))
            async for raw in ws:
                item = json.loads(raw)
                events.append(item)
                if item["type"] == "confirmation.requested":
                    if on_confirmation is not None:
                        await asyncio.to_thread(on_confirmation, item)
                    approve = decide(item) if decide is not None else False
                    await ws.send(
                        json.dumps(
                            {
                                "type": "confirm",
                                "confirmation_id": item["confirmation_id"],
                                "approve": approve,
                            }
                        )
                    )
                if item["type"] == "done":
                    break
        return events

    async def sse_turn(self, token: str, text: str, decide: Decide | None = None) -> list[Event]:
        """One turn as Server-Sent Events; confirmations answered over plain HTTP."""
        headers = {"Authorization": f"Bearer {token}"}
        events: list[Event] = []
        async with (
            httpx.AsyncClient(base_url=self.http_url, headers=headers, timeout=300) as client,
            client.stream("POST", "/v1/turns", json={"text": text}) as response,
        ):
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            kind = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    kind = line[len("event: ") :]
                elif line.startswith("data: "):
                    item = json.loads(line[len("data: ") :])
                    assert item["type"] == kind
                    events.append(item)
                    if item["type"] == "confirmation.requested":
                        approve = decide(item) if decide is not None else False
                        answered = await client.post(
                            f"/v1/confirmations/{item['confirmation_id']}",
                            json={"approve": approve},
                        )
                        assert answered.status_code == 204, answered.text
                    if item["type"] == "done":
                        break
        return events


def of_type(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e["type"] == kind]


def answer_text(events: list[Event]) -> str:
    return "".join(e["text"] for e in of_type(events, "token"))
