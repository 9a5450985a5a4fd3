"""Per-source limits: simultaneous connections, connection rate and message rate."""

from __future__ import annotations

from pathlib import Path

from tests.smtp_support import Raw, dns_server, smtp_box
from tidings.mail.smtp.limits import SourceLimits, source_key


def test_connection_and_message_limits_per_source(tmp_path: Path) -> None:
    """With two workers each connection may land on either: the counts are worker 0's
    for both, so the limits are those of one process (which SourceLimits' own tests
    below check without the service)."""
    with (
        dns_server() as dns,
        smtp_box(
            tmp_path,
            dns,
            TIDINGS_MAIL__SMTP_WORKERS="2",
            TIDINGS_MAIL__MAX_CONNECTIONS_PER_SOURCE="2",
            TIDINGS_MAIL__MAX_CONNECTIONS_PER_MINUTE="5",
            TIDINGS_MAIL__MAX_MESSAGES_PER_MINUTE="3",
        ) as box,
    ):
        box.add_user("alice")
        box.start()
        first, second = Raw(box.port("smtp")), Raw(box.port("smtp"))
        third = Raw(box.port("smtp"))
        assert first.greeting.startswith("220 ")
        assert second.greeting.startswith("220 ")
        assert third.greeting.startswith("421 4.7.0 ")
        assert "too many simultaneous connections" in third.greeting
        third.close()

        first.cmd("EHLO client.test")
        for _ in range(3):
            assert first.cmd("MAIL FROM:<a@elsewhere.test>").startswith("250")
            assert first.cmd("RSET").startswith("250")
        assert first.cmd("MAIL FROM:<a@elsewhere.test>").startswith("450 4.7.1 ")
        first.quit()
        second.quit()

        # Two connections went through (a refused one is not counted): three more
        # fit in the minute, the next is refused.
        for _ in range(3):
            later = Raw(box.port("smtp"))
            assert later.greeting.startswith("220 ")
            later.quit()
        refused = Raw(box.port("smtp"))
        assert refused.greeting.startswith("421 4.7.0 ")
        assert "too many connections per minute" in refused.greeting
        refused.close()


def test_sliding_window_forgets_after_a_minute() -> None:
    now = [1000.0]
    limits = SourceLimits(
        max_connections=10, connections_per_minute=2, messages_per_minute=1, clock=lambda: now[0]
    )
    assert limits.open_connection("192.0.2.1") is None
    assert limits.open_connection("192.0.2.1") is None
    assert limits.open_connection("192.0.2.1") == "too many connections per minute"
    assert limits.open_connection("192.0.2.2") is None  # another source is not affected
    assert limits.allow_message("192.0.2.1")
    assert not limits.allow_message("192.0.2.1")
    now[0] += 61
    assert limits.open_connection("192.0.2.1") is None
    assert limits.allow_message("192.0.2.1")
    assert limits.open_connections("192.0.2.1") == 3
    for _ in range(3):
        limits.close_connection("192.0.2.1")
    assert limits.open_connections("192.0.2.1") == 0


def test_ipv6_sources_are_grouped_by_64() -> None:
    assert source_key("2001:db8:1:2::1") == source_key("2001:db8:1:2:ffff::9")
    assert source_key("2001:db8:1:2::1") != source_key("2001:db8:1:3::1")
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_key("192.0.2.7") == "192.0.2.7"
