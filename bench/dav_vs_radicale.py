"""CalDAV: tidings (`tidings serve dav`) vs Radicale (Debian's), same machine, same
data, one run; bare Xandikos (its own aiohttp server, no auth) as a third column to
show what tidings' front costs.

Each server gets one user and one calendar holding the same N events (spread over
a year), written straight into its storage in one go (a git commit of N files for
tidings and Xandikos, N files for Radicale: loading 5,000 events by PUT takes the
git-backed servers most of an hour, each commit rewriting the whole tree). Then, on
each in turn: PUT of new events into that full calendar, PROPFIND Depth 1 on it,
REPORT calendar-query over one month, REPORT sync-collection from scratch and from
the latest token, each repeated and timed (median, p90). RSS of each server idle
(before loading) and after the load.
Also: while a sync-collection of the whole calendar runs, how long `/healthz` takes
on tidings — the event loop must stay free (docs/decisions.md, "dav").

    .venv/bin/python bench/dav_vs_radicale.py --events 5000 --repeat 10 --puts 50
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "alice@example.test", "alice-password"
XML = {"Content-Type": "application/xml; charset=utf-8"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (the tidings CLI is one)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def event(n: int, count: int, start: datetime) -> str:
    when = start + timedelta(hours=n * (24 * 365) // count)  # spread over the year
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    end = (when + timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:bench-{n}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{stamp}\r\nDTEND:{end}\r\n"
        f"SUMMARY:Event {n}\r\nDESCRIPTION:Benchmark event number {n}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@dataclass
class Server:
    name: str
    base: str
    calendar: str  # path of the calendar collection
    storage: Path  # where the calendar's files live on disk
    git: bool  # a Xandikos git store (else Radicale's plain files)
    process: subprocess.Popen[bytes]
    auth: tuple[str, str] | None
    timings: dict[str, list[float]] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, auth=self.auth, timeout=600)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url}: not up")


def start_tidings(work: Path) -> Server:
    port = free_port()
    data = work / "tidings"
    env = {
        **os.environ,
        "TIDINGS_DATA_DIR": str(data),
        "TIDINGS_LISTEN__DAV": f"127.0.0.1:{port}",
        "TIDINGS_LOG__LEVEL": "warning",
    }
    tidings = [sys.executable, "-m", "tidings"]
    subprocess.run(
        [*tidings, "user", "add", USER, "--password-stdin"],
        input=PASSWORD.encode(),
        env=env,
        check=True,
        capture_output=True,
    )
    process = subprocess.Popen([*tidings, "serve", "dav"], env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_up(base + "/healthz", process)
    return Server(
        "tidings",
        base,
        f"/dav/{USER}/calendars/calendar/",
        data / "dav" / USER / "calendars" / "calendar",
        True,
        process,
        (USER, PASSWORD),
    )


def start_radicale(work: Path) -> Server:
    port = free_port()
    users = work / "radicale.users"
    users.write_text(f"{USER}:{PASSWORD}\n")
    process = subprocess.Popen(
        [
            "radicale",
            "--config",
            "",
            "--server-hosts",
            f"127.0.0.1:{port}",
            "--storage-filesystem-folder",
            str(work / "radicale"),
            "--auth-type",
            "htpasswd",
            "--auth-htpasswd-filename",
            str(users),
            "--auth-htpasswd-encryption",
            "plain",
            "--rights-type",
            "owner_only",
            "--logging-level",
            "warning",
        ],
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_up(base + "/.web/", process)
    storage = work / "radicale" / "collection-root" / USER / "calendar"
    server = Server(
        "Radicale", base, f"/{USER}/calendar/", storage, False, process, (USER, PASSWORD)
    )
    with server.client() as http:
        made = http.request(
            "MKCALENDAR",
            server.calendar,
            content='<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:set><D:prop><D:displayname>calendar</D:displayname></D:prop></D:set>"
            "</C:mkcalendar>",
            headers=XML,
        )
        made.raise_for_status()
    return server


def start_xandikos(work: Path) -> Server:
    port = free_port()
    xandikos = shutil.which("xandikos", path=str(Path(sys.executable).parent))
    assert xandikos
    process = subprocess.Popen(
        [xandikos, "--defaults", "--autocreate", "-d", str(work / "xandikos"),
         "-l", "127.0.0.1", "-p", str(port)],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_up(base + "/", process)
    storage = work / "xandikos" / "user" / "calendars" / "calendar"
    return Server(
        "Xandikos (bare)", base, "/user/calendars/calendar/", storage, True, process, None
    )


def timed(server: Server, name: str, repeat: int, run: callable) -> None:  # type: ignore[valid-type]
    samples = server.timings.setdefault(name, [])
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)


def bulk_load(server: Server, bodies: list[str]) -> None:
    """The same events, written where the server keeps them."""
    names = [f"bench-{n}.ics" for n in range(len(bodies))]
    for name, body in zip(names, bodies, strict=True):
        (server.storage / name).write_bytes(body.encode())
    if server.git:
        from dulwich import porcelain

        porcelain.add(str(server.storage), [str(server.storage / n) for n in names])
        porcelain.commit(str(server.storage), message=b"bench: bulk load", author=b"bench <b@x>")


def workload(server: Server, count: int, repeat: int, puts: int) -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    server.rss["idle"] = rss_mib(server.process.pid)
    with server.client() as http:
        # The calendar exists (first use made it); fill it behind the server's back.
        http.request("PROPFIND", server.calendar, headers={"Depth": "0"}).raise_for_status()
        bulk_load(server, [event(n, count, first) for n in range(count)])
        sequence = iter(range(count, count + puts))

        def put() -> None:
            n = next(sequence)
            answer = http.put(
                f"{server.calendar}bench-{n}.ics",
                content=event(n, count, first),
                headers={"Content-Type": "text/calendar"},
            )
            assert answer.status_code in (201, 204), answer.text

        # The first request after the load builds the server's caches: not timed.
        http.request("PROPFIND", server.calendar, headers={"Depth": "1"}).raise_for_status()
        timed(server, f"PUT one event into the {count}-event calendar", puts, put)

        def propfind() -> None:
            answer = http.request(
                "PROPFIND",
                server.calendar,
                content='<propfind xmlns="DAV:"><prop><getetag/><resourcetype/></prop></propfind>',
                headers={**XML, "Depth": "1"},
            )
            assert answer.status_code == 207 and answer.text.count("bench-") >= count

        def month() -> None:
            answer = http.request(
                "REPORT",
                server.calendar,
                content='<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                "<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter>"
                '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                '<C:time-range start="20260301T000000Z" end="20260401T000000Z"/>'
                "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>",
                headers={**XML, "Depth": "1"},
            )
            assert answer.status_code == 207 and "Event" in answer.text

        tokens: list[str] = []

        def sync(token: str = "") -> None:
            answer = http.request(
                "REPORT",
                server.calendar,
                content=f'<sync-collection xmlns="DAV:"><sync-token>{token}</sync-token>'
                "<sync-level>1</sync-level><prop><getetag/></prop></sync-collection>",
                headers={**XML, "Depth": "1"},
            )
            assert answer.status_code == 207, answer.text
            marker = "sync-token>"
            text = answer.text
            tokens.append(
                text[text.rfind(marker, 0, text.rfind(marker)) + len(marker) :].split("<")[0]
            )

        timed(server, "PROPFIND Depth 1 (whole calendar)", repeat, propfind)
        timed(server, "REPORT calendar-query, one month", repeat, month)
        timed(server, "REPORT sync-collection, from scratch", repeat, sync)
        latest = tokens[-1]
        timed(server, "REPORT sync-collection, nothing new", repeat, lambda: sync(latest))
    server.rss["after load"] = rss_mib(server.process.pid)


def loop_stays_free(server: Server, probe: str) -> tuple[float, float]:
    """Median and worst time of a trivial request (``probe``, answered without
    storage) while whole-calendar syncs run on another connection."""
    stop = threading.Event()

    def hammer() -> None:
        with server.client() as http:
            while not stop.is_set():
                http.request(
                    "REPORT",
                    server.calendar,
                    content='<sync-collection xmlns="DAV:"><sync-token/><sync-level>1'
                    "</sync-level><prop><getetag/></prop></sync-collection>",
                    headers={**XML, "Depth": "1"},
                )

    worker = threading.Thread(target=hammer)
    worker.start()
    samples = []
    try:
        with httpx.Client(base_url=server.base) as http:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                start = time.perf_counter()
                http.request("OPTIONS" if probe != "/healthz" else "GET", probe)
                samples.append(time.perf_counter() - start)
                time.sleep(0.02)
    finally:
        stop.set()
        worker.join()
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--puts", type=int, default=50, help="PUTs timed into the full calendar")
    parser.add_argument("--no-xandikos", action="store_true", help="skip bare Xandikos")
    args = parser.parse_args()
    assert shutil.which("radicale"), "apt-get install radicale"
    with tempfile.TemporaryDirectory(prefix="bench-dav-") as tmp:
        work = Path(tmp)
        starters = [start_tidings, start_radicale] + ([] if args.no_xandikos else [start_xandikos])
        servers = []
        try:
            for start in starters:
                server = start(work)
                servers.append(server)
                workload(server, args.events, args.repeat, args.puts)
                print(f"{server.name}: done", file=sys.stderr)
            free = {
                s.name: loop_stays_free(s, "/healthz" if s is servers[0] else "/")
                for s in servers
                if s.name != "Radicale"
            }
        finally:
            for server in servers:
                server.stop()
    names = [s.name for s in servers]
    print(f"\n{args.events} events, {args.repeat} repeats; median (p90) in ms\n")
    print("| request | " + " | ".join(names) + " | tidings/Radicale |")
    print("|---" * (len(names) + 2) + "|")
    for step in servers[0].timings:
        cells = []
        for server in servers:
            samples = sorted(server.timings[step])
            p90 = samples[min(len(samples) - 1, math.ceil(len(samples) * 0.9) - 1)]
            cells.append(f"{statistics.median(samples) * 1000:.1f} ({p90 * 1000:.1f})")
        ratio = statistics.median(servers[0].timings[step]) / statistics.median(
            servers[1].timings[step]
        )
        print(f"| {step} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    for key in ("idle", "after load"):
        print(
            f"| RSS {key} (MiB) | "
            + " | ".join(f"{s.rss[key]:.1f}" for s in servers)
            + f" | {servers[0].rss[key] / servers[1].rss[key]:.2f} |"
        )
    print("\nA trivial request while whole-calendar syncs run (median / worst, ms):")
    for name, (median, worst) in free.items():
        print(f"- {name}: {median * 1000:.1f} / {worst * 1000:.1f}")


if __name__ == "__main__":
    main()
