"""Real peer servers for tests and benchmarks: Dovecot on a private config.

Dovecot refuses to touch mail as root, so when we run as root the Maildir is handed
to ``nobody`` (tidings, as root, still reads and writes it) and Dovecot's mail
processes run as that user.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def hand_to_mail_user(path: Path) -> tuple[str, str]:
    """Give ``path`` (a user's Maildir) to the account Dovecot will read it as."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.getuid())
        return me.pw_name, me.pw_name
    for each in [path, *path.rglob("*")]:
        os.chown(each, 65534, 65534)
    # Dovecot must be able to walk down to the Maildir.
    for parent in path.parents:
        mode = stat.S_IMODE(parent.stat().st_mode)
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)
    return pwd.getpwuid(65534).pw_name, grp.getgrgid(65534).gr_name


class Dovecot:
    """``dovecot -c FILE`` serving one user whose mail is ``maildir`` (plain IMAP on
    loopback; TLS is not what this peer is here to test)."""

    def __init__(
        self, maildir: Path, user: str, password: str, *, tls: tuple[Path, Path] | None = None
    ) -> None:
        """``tls=(cert, key)`` adds an implicit-TLS listener on :attr:`tls_port`."""
        self.tls = tls
        self.tls_port = _free_port() if tls else 0
        self.maildir = maildir
        self.user = user
        self.password = password
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tidings-dovecot-"))
        self.dir.chmod(0o755)
        self.config = self.dir / "dovecot.conf"

    def __enter__(self) -> Dovecot:
        mail_user, mail_group = hand_to_mail_user(self.maildir)
        (self.dir / "passwd").write_text(
            f"{self.user}:{{PLAIN}}{self.password}::::::userdb_mail=maildir:{self.maildir}\n"
        )
        root = os.geteuid() == 0
        ssl = "ssl = no"
        if self.tls:
            ssl = f"ssl = yes\nssl_cert = <{self.tls[0]}\nssl_key = <{self.tls[1]}"
        self.config.write_text(
            f"""
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain
{"default_login_user = dovenull" if root else ""}
{"default_internal_user = dovecot" if root else ""}
{"default_internal_group = dovecot" if root else ""}
mail_uid = {mail_user}
mail_gid = {mail_group}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.dir}/passwd
}}
userdb {{
  driver = passwd-file
  args = {self.dir}/passwd
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = {self.tls_port}
  }}
}}
"""
        )
        subprocess.run(["dovecot", "-c", str(self.config)], check=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("dovecot did not start: " + self.log())

    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text() if path.exists() else ""

    def pids(self) -> list[int]:
        """Every process of this Dovecot instance (for RSS measurements)."""
        master = int((self.dir / "run" / "master.pid").read_text())
        found = [master]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text().split(")")[-1].split()
                except OSError:
                    continue
                if int(stat[1]) == master:
                    found.append(int(entry.name))
        return found

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        subprocess.run(["dovecot", "-c", str(self.config), "stop"], check=False)
        time.sleep(0.2)
        shutil.rmtree(self.dir, ignore_errors=True)
