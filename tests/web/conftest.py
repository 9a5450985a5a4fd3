"""The web app's box: the assistant's whole box (real services as processes, the real
bundled model) plus ``tidings serve web``, and a real browser — Debian's Chromium
driven by Playwright (never ``playwright install``: the browser is the system's)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.ai.assistant_box import DOMAIN, PASSWORD, AssistantBox, write_config
from tests.ai.conftest import gguf  # noqa: F401  (the bundled model, assembled once)
from tests.conftest import ServiceProcess
from tests.smtp_support import DNS, start_dns

T = TypeVar("T")

CHROMIUM = os.environ.get("TIDINGS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
AXE = Path(__file__).resolve().parents[2] / "frontend" / "node_modules" / "axe-core" / "axe.min.js"

SEEDED = {
    "Facture de novembre": ("compta@fournisseur.example", "Voici la facture de novembre."),
    "Pique-nique samedi": ("carol@amis.example", "On se retrouve au parc à midi ?"),
    "Quarterly report": ("dave@work.example", "The Q3 figures are attached."),
}
BOBS_SUBJECT = "Bob's private plans"
# What a hostile sender tries: markup in the subject and an HTML body with script,
# an event handler, a javascript: link and a remote (tracking) image.
XSS_SUBJECT = '<script>window.__xss="subject"</script><img src=x onerror="window.__xss=1">'
XSS_HTML = (
    "<p>Hello<script>window.__xss='body'</script></p>"
    '<img src="x" onerror="window.__xss=\'onerror\'">'
    "<a href=\"javascript:window.__xss='link'\">click me</a>"
    '<img src="http://203.0.113.9/pixel.png" alt="tracker">'
    "<p>XSS-BODY-MARKER</p>"
)


@dataclass
class WebBox:
    box: AssistantBox
    web: ServiceProcess

    @property
    def url(self) -> str:
        host, port = self.box.endpoint("web")
        return f"http://{host}:{port}"

    @property
    def host(self) -> str:
        host, port = self.box.endpoint("web")
        return f"{host}:{port}"

    def deliver_html(self, to: str, sender: str, subject: str, html: str) -> None:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content("XSS-BODY-MARKER (plain)")
        message.add_alternative(html, subtype="html")
        import smtplib

        host, port = self.box.endpoint("smtp")
        with smtplib.SMTP(host, port, local_hostname="client.test") as client:
            client.send_message(message)

    def web_log(self) -> str:
        return self.web.log.read_text(errors="replace")


def _write_web_config(root: Path, gguf_path: Path, dns: DNS) -> Path:
    config = write_config(root, gguf_path, dns)
    # A short throttling window, so the test of "throttled, then the right password
    # works again" waits seconds, not the default quarter of an hour.
    config.write_text(
        config.read_text()
        + "[auth]\nmax_failures_per_user = 4\nmax_failures_per_address = 200\n"
        + "failure_window_seconds = 3\n"
    )
    return config


@pytest.fixture(scope="package")
def web_box(tmp_path_factory: pytest.TempPathFactory, gguf: Path) -> Iterator[WebBox]:  # noqa: F811
    root = tmp_path_factory.mktemp("web-box")
    dns = start_dns()
    box = AssistantBox(root, _write_web_config(root, gguf, dns))
    web = ServiceProcess("web", box.config, root)
    try:
        for local in ("alice", "bob", "carol", "dave"):
            box.add_user(local)
        box.start()
        web.start(timeout=60)
        for subject, (sender, body) in SEEDED.items():
            box.deliver(f"alice@{DOMAIN}", sender, subject, body)
        box.deliver(f"bob@{DOMAIN}", "eve@other.example", BOBS_SUBJECT, "Only for Bob.")
        yield WebBox(box, web)
    finally:
        if web.process is not None and web.process.poll() is None:
            web.stop()
        box.stop()
        dns.stop()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run bash .ci/setup (apt package chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
    yield launched
    launched.close()


class Visit:
    """One person's browser (a context: its own cookies), recording every request."""

    def __init__(self, browser: Browser, web: WebBox, **options: Any) -> None:
        self.web = web
        self.context: BrowserContext = browser.new_context(
            base_url=options.pop("base_url", web.url),
            locale=options.pop("locale", "en-GB"),
            **options,
        )
        self.context.set_default_timeout(60_000)
        self.requests: list[str] = []
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page: Page = self.context.new_page()

    def sign_in(self, local: str, password: str = PASSWORD) -> Page:
        page = self.page
        page.goto("/login")
        page.fill("#address", f"{local}@{DOMAIN}")
        page.fill("#password", password)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/($|c/)"))
        self.wait_connected()
        return page

    def wait_connected(self, page: Page | None = None) -> None:
        (page or self.page).wait_for_selector("body[data-ws=open]", state="attached")

    def ask(self, text: str, page: Page | None = None) -> str:
        """Type and press Enter; the key of the turn that appears."""
        page = page or self.page
        before = page.locator("[data-turn]").count()
        page.fill("#composer-text", text)
        page.press("#composer-text", "Enter")
        page.wait_for_function(
            "n => document.querySelectorAll('[data-turn]').length > n", arg=before
        )
        key = page.locator("[data-turn]").nth(before).get_attribute("data-turn")
        assert key
        return key

    def wait_answer(self, key: str, page: Page | None = None) -> str:
        page = page or self.page
        final = page.locator(f"#{key}-text[data-final]")
        final.wait_for(timeout=120_000)
        return final.inner_text()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser: Browser, web_box: WebBox) -> Iterator[Any]:
    opened: list[Visit] = []

    def open_visit(**options: Any) -> Visit:
        made = Visit(browser, web_box, **options)
        opened.append(made)
        return made

    yield open_visit
    for item in opened:
        item.close()


def other_hosts(requests: list[str], web: WebBox) -> list[str]:
    """Every request that went anywhere but the box's web address."""
    allowed = (f"http://{web.host}/", f"ws://{web.host}/")
    return [url for url in requests if not url.startswith((*allowed, "data:", "about:"))]


def csrf_of(client: httpx.Client, path: str = "/login") -> str:
    page = client.get(path)
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def axe_available() -> Path:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run bash .ci/setup (npm axe-core in frontend/)")
    return AXE


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from a plain test. Playwright's sync API keeps an
    event loop marked running in this thread while the package's browser is open, so
    async tests here would fail to start; a fresh thread has its own loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
