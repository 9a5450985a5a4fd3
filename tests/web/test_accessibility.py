"""Accessibility (axe-core, run inside the page) and how the pages look: screenshots
at phone and desktop sizes, light and dark, saved under tests/artifacts/ for review."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import CHROMIUM, CHROMIUM_FLAGS, WebBox, artifacts_dir, axe_available

SERIOUS = """
async () => {
  const found = await axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
  });
  return found.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 5).map(n => n.target)}));
}
"""


def _serious_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(axe_available()))
    violations: list[dict[str, Any]] = page.evaluate(SERIOUS)
    return violations


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_login_conversation_and_devices_pass_axe(visit, web_box: WebBox, scheme: str) -> None:
    # Only the test's own script is let past the page's CSP, to inject axe.
    person = visit(bypass_csp=True, color_scheme=scheme)
    page = person.page
    page.goto("/login")
    assert _serious_violations(page) == []
    person.sign_in("alice")
    key = person.ask("list my emails")
    person.wait_answer(key)
    assert _serious_violations(page) == []
    page.goto("/devices")
    assert _serious_violations(page) == []


SIZES = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots(visit, web_box: WebBox, size: str, scheme: str) -> None:
    out = artifacts_dir()
    person = visit(color_scheme=scheme, **SIZES[size])
    page = person.page
    page.goto("/login")
    page.screenshot(path=out / f"login-{size}-{scheme}.png")
    person.sign_in("alice")
    key = person.ask("list my emails")
    person.wait_answer(key)
    page.screenshot(path=out / f"conversation-{size}-{scheme}.png")
    page.locator(f"#{key}-text [data-open-mail]").first.click()
    page.frame_locator("#reader [data-mail-frame]").locator("body").wait_for()
    page.screenshot(path=out / f"mail-{size}-{scheme}.png")
    page.goto("/devices")
    page.screenshot(path=out / f"devices-{size}-{scheme}.png", full_page=True)
    for name in ("login", "conversation", "mail", "devices"):
        assert (out / f"{name}-{size}-{scheme}.png").stat().st_size > 5000


def test_installable_as_an_app(playwright, web_box: WebBox, tmp_path) -> None:
    """Chromium's own verdict (DevTools' installability check), in a real profile:
    incognito contexts are never installable."""
    context = playwright.chromium.launch_persistent_context(
        tmp_path / "profile", executable_path=CHROMIUM, args=CHROMIUM_FLAGS
    )
    try:
        page = context.new_page()
        page.goto(f"{web_box.url}/login")
        session = context.new_cdp_session(page)
        assert session.send("Page.getAppManifest").get("errors") == []
        assert session.send("Page.getInstallabilityErrors") == {"installabilityErrors": []}
    finally:
        context.close()
