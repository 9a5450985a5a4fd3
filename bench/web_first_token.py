"""The web app's overhead on an answer, and the weight of its page.

    .venv/bin/python bench/web_first_token.py [--rounds 20]

Starts a whole box (the real services as processes, the bundled model, ``tidings serve
web``), delivers a few mails, then, alternating in one run:

- **assistant**: a WebSocket straight to the assistant (``/v1/ws``, a bearer token):
  from sending "list my emails" to its first ``token`` event;
- **web UI**: Debian's Chromium (Playwright) signed in to the web app: from the
  ``keydown`` of Enter in the composer to the first character of the answer on
  screen (a MutationObserver in the page, both times from ``performance.now()``).

The difference is what the web app adds (browser → web → assistant and back, HTML
rendering, htmx's swap). Then the conversation page's weight: HTML + CSS + JS as
served, and gzip-compressed (what nginx sends on the appliance).

With ``--open-webui`` (default on), Open WebUI's first load is measured the same
way in the same run: its front end as its PyPI wheel ships it (``pip download
open-webui==OPEN_WEBUI --no-deps``, cached under ``~/.cache/tidings-bench``) served on
loopback, loaded by the same Chromium until the network is idle, every HTML, CSS and JS
response counted, gzip -6. Without its Python backend (hundreds of MB of ML
dependencies) the app stops at its "backend required" screen after loading its shell,
so the figure is a lower bound of what a first visit downloads.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ai.assistant_box import DOMAIN, PASSWORD, AssistantBox  # noqa: E402
from tests.conftest import ServiceProcess  # noqa: E402
from tests.smtp_support import start_dns  # noqa: E402
from tests.web.conftest import CHROMIUM, CHROMIUM_FLAGS, _write_web_config  # noqa: E402

from tidings.ai.models import assemble_default  # noqa: E402

PROBE = """
window.__sent = null; window.__first = null;
document.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && e.target.id === 'composer-text') {
    window.__sent = performance.now(); window.__first = null;
  }
}, true);
new MutationObserver(() => {
  if (window.__sent === null || window.__first !== null) return;
  const answers = document.querySelectorAll('[data-answer]:not([data-final])');
  const last = answers[answers.length - 1];
  if (last && last.textContent) window.__first = performance.now();
}).observe(document, {subtree: true, childList: true, characterData: true});
"""
TEXTS = ("list my emails", "liste mes mails")
OPEN_WEBUI = "0.12.4"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tidings-bench"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def assistant_first_token(box: AssistantBox, token: str, text: str) -> float:
    with connect(box.ws_url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        start = time.perf_counter()
        ws.send(json.dumps({"type": "message", "text": text}))
        first = None
        for raw in ws:
            item = json.loads(raw)
            if item["type"] == "token" and first is None:
                first = time.perf_counter() - start
            if item["type"] == "done":
                break
    assert first is not None
    return first * 1000


def page_weight(url: str, cookies: dict[str, str]) -> list[tuple[str, int, int]]:
    with httpx.Client(base_url=url, cookies=cookies) as client:
        page = client.get("/")
        rows = [("HTML /", len(page.content), len(gzip.compress(page.content, 6)))]
        for path in re.findall(r'(?:src|href)="(/assets/[^"]+\.(?:js|css))"', page.text):
            body = client.get(path).content
            rows.append((path, len(body), len(gzip.compress(body, 6))))
    return rows


def open_webui_frontend() -> Path:
    """Open WebUI's built front end, from its wheel (downloaded once, then cached)."""
    root = CACHE / f"open-webui-{OPEN_WEBUI}"
    if not (root / "open_webui" / "frontend" / "index.html").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", f"open-webui=={OPEN_WEBUI}"),
                *("--no-deps", "--quiet", "-d", str(CACHE)),
            ],
            check=True,
        )
        with zipfile.ZipFile(CACHE / f"open_webui-{OPEN_WEBUI}-py3-none-any.whl") as wheel:
            wheel.extractall(
                root, [n for n in wheel.namelist() if n.startswith("open_webui/frontend/")]
            )
    return root / "open_webui" / "frontend"


class _SinglePageApp(http.server.SimpleHTTPRequestHandler):
    """Static files; any other path but the API gets index.html, as a SvelteKit SPA
    expects of its server."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_head(self):  # type: ignore[no-untyped-def]
        if not self.path.startswith("/api") and not Path(self.translate_path(self.path)).exists():
            self.path = "/index.html"
        return super().send_head()


def open_webui_weight() -> list[tuple[str, int, int]]:
    frontend = open_webui_frontend()
    handler = functools.partial(_SinglePageApp, directory=str(frontend))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    totals: dict[str, list[int]] = {}
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page()

            def count(response) -> None:  # type: ignore[no-untyped-def]
                kind = response.request.resource_type
                if kind not in ("document", "stylesheet", "script") or response.status != 200:
                    return
                body = response.body()
                row = totals.setdefault(kind, [0, 0, 0])
                row[0] += 1
                row[1] += len(body)
                row[2] += len(gzip.compress(body, 6))

            page.on("response", count)
            page.goto(f"http://127.0.0.1:{server.server_port}/")
            page.wait_for_load_state("networkidle")
            browser.close()
    finally:
        server.shutdown()
    return [(f"{kind} ({n} files)", raw, packed) for kind, (n, raw, packed) in totals.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--open-webui",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"also measure Open WebUI {OPEN_WEBUI}'s first load (downloads its wheel once)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tidings-web-bench-") as tmp:
        root = Path(tmp)
        gguf = assemble_default(root / "model.gguf")
        dns = start_dns()
        box = AssistantBox(root, _write_web_config(root, gguf, dns))
        web = ServiceProcess("web", box.config, root)
        try:
            box.add_user("alice")
            box.start()
            web.start(timeout=60)
            for n in range(5):
                box.deliver(f"alice@{DOMAIN}", f"s{n}@example.org", f"Subject {n}", "Hello.")
            host, port = box.endpoint("web")
            url = f"http://{host}:{port}"
            direct: list[float] = []
            through_ui: list[float] = []
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                context = browser.new_context(base_url=url)
                context.add_init_script(PROBE)
                page = context.new_page()
                page.goto("/login")
                page.fill("#address", f"alice@{DOMAIN}")
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_selector("body[data-ws=open]", state="attached")
                # One warm-up each (model prompt cache, imports).
                (assistant_first_token(box, box.tokens["alice"], TEXTS[0]))
                for n in range(args.rounds + 1):
                    text = TEXTS[n % 2]
                    direct_ms = assistant_first_token(box, box.tokens["alice"], text)
                    if n % 5 == 0:  # a fresh thread now and then keeps the page small
                        page.goto("/")
                        page.wait_for_selector("body[data-ws=open]", state="attached")
                    finals = page.locator("[data-final]").count()
                    page.fill("#composer-text", text)
                    page.press("#composer-text", "Enter")
                    page.wait_for_function(
                        "n => document.querySelectorAll('[data-final]').length > n", arg=finals
                    )
                    ui_ms = page.evaluate("window.__first - window.__sent")
                    if n == 0:
                        continue
                    direct.append(direct_ms)
                    through_ui.append(ui_ms)
                cookies = {c["name"]: c["value"] for c in context.cookies()}
                browser.close()
            weight = page_weight(url, cookies)
        finally:
            if web.process is not None and web.process.poll() is None:
                web.stop()
            box.stop()
            dns.stop()

    print(f"first token, {len(direct)} rounds each, alternating (ms):")
    print("| path | p50 | p95 |")
    print("|---|---|---|")
    for name, values in (
        ("assistant WebSocket", direct),
        ("web UI, Enter → on screen", through_ui),
    ):
        print(f"| {name} | {percentile(values, 50):.1f} | {percentile(values, 95):.1f} |")
    overhead = [u - d for u, d in zip(through_ui, direct, strict=True)]
    print(
        f"UI overhead per round: p50 {percentile(overhead, 50):.1f} ms, "
        f"p95 {percentile(overhead, 95):.1f} ms"
    )
    ours = print_weight("conversation page weight (bytes):", weight)
    if args.open_webui:
        theirs = print_weight(
            f"Open WebUI {OPEN_WEBUI} first load, shell only (lower bound, bytes):",
            open_webui_weight(),
        )
        print(f"tidings / Open WebUI (gzip): {ours / theirs:.3f}")


def print_weight(title: str, rows: list[tuple[str, int, int]]) -> int:
    """A weight table in Markdown; its compressed total."""
    print(f"\n{title}")
    print("| resource | raw | gzip -6 |")
    print("|---|---|---|")
    for name, raw, packed in rows:
        print(f"| {name} | {raw} | {packed} |")
    total_raw = sum(r for _, r, _ in rows)
    total_gz = sum(g for _, _, g in rows)
    print(f"| **total** | {total_raw} | {total_gz} ({total_gz / 1024:.1f} KiB) |")
    return total_gz


if __name__ == "__main__":
    main()
