"""A queued message survives SIGKILL — of the process that enqueued it and of the
delivery service — and is sent again only inside the documented window (the
remote's 250 to our commit), so at most one duplicate per delivery in flight."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

from tests.conftest import ServiceProcess
from tests.outbound_support import DnsServer, RemoteSmtp, wait_for
from tests.test_outbound import SENDER, message, publish_dkim, remote_domain, write_config
from tidings.core.config import load_settings
from tidings.mail.outbound import OutboundQueue

MAX_CONNECTIONS = 4


def test_sigkill_of_the_delivery_service_loses_nothing(
    tmp_path: Path, dns_server: DnsServer, remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    remote_domain(dns_server)
    config = write_config(
        tmp_path,
        dns_server,
        remote.port,
        max_connections=MAX_CONNECTIONS,
        max_per_domain=MAX_CONNECTIONS,
    )
    settings = load_settings(config)
    publish_dkim(settings, dns_server)
    remote.sink.data_delay = 0.03  # so that the kill lands while deliveries are in flight
    queue = OutboundQueue(settings)
    sent = [f"<crash-{n}@example.test>" for n in range(80)]
    for msgid in sent:
        queue.enqueue(SENDER, ["bob@remote.test"], message("bob@remote.test", msgid=msgid))

    service = serve("outbound", config)
    service.start()
    wait_for(lambda: len(remote.sink.received) >= 20, what="some deliveries")
    service.kill()
    left = len(queue.list())
    assert 0 < left < len(sent)

    serve("outbound", config).start()
    wait_for(lambda: not queue.list(), timeout=60, what="the rest after restart")
    counts = Counter(r.message_id for r in remote.sink.received)
    assert set(counts) == set(sent)  # nothing lost
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= MAX_CONNECTIONS  # only those between the 250 and the commit


ENQUEUER = textwrap.dedent(
    """
    import sys
    from tidings.core.config import load_settings
    from tidings.mail.outbound import OutboundQueue
    queue = OutboundQueue(load_settings(sys.argv[1]))
    n = 0
    while True:
        msg = f"Message-ID: <k{n}@example.test>\\r\\nSubject: {n}\\r\\n\\r\\nbody\\r\\n"
        queue_id = queue.enqueue("alice@example.test", ["bob@remote.test"], msg.encode())
        print(queue_id, flush=True)
        n += 1
    """
)


def test_sigkill_while_enqueueing_keeps_every_acknowledged_message(
    tmp_path: Path, dns_server: DnsServer, remote: RemoteSmtp
) -> None:
    config = write_config(tmp_path, dns_server, remote.port)
    process = subprocess.Popen(
        [sys.executable, "-c", ENQUEUER, str(config)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    acknowledged = [process.stdout.readline().strip() for _ in range(30)]
    process.kill()
    process.wait()
    acknowledged += [line.strip() for line in process.stdout if line.strip()]
    stored = {e.message_id for e in OutboundQueue(load_settings(config)).list()}
    assert set(acknowledged) <= stored
