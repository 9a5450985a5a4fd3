"""The one command line: ``tidings ...``.

Everything an operator does goes through here: configuration, accounts, tokens,
running one service (``serve``, what systemd calls) or all of them (``up``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from tidings import __version__
from tidings.core.config import ConfigError, Settings, load_settings, redacted

if TYPE_CHECKING:  # the accounts database is imported only by commands that use it
    from tidings.core.accounts import Accounts


class State:
    def __init__(self, config: str | None, log_json: bool) -> None:
        self.config = config
        self.log_json = log_json
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
            if self.log_json:
                self._settings.log.format = "json"
            from tidings.core.logging import setup_logging

            setup_logging(self._settings.log.format, self._settings.log.level)
        return self._settings

    def cli_args(self) -> list[str]:
        """The global options again, for child processes."""
        args = ["--config", self.config] if self.config else []
        return args + (["--log-json"] if self.log_json else [])

    def accounts(self) -> Any:
        from tidings.core.accounts import Accounts
        from tidings.core.db import Database, migrate

        migrate(self.settings)
        return Accounts(Database(self.settings))


pass_state = click.make_pass_decorator(State)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "-c",
    metavar="FILE",
    envvar="TIDINGS_CONFIG",
    help="TOML configuration file (default: $TIDINGS_CONFIG, then "
    "~/.config/tidings/tidings.toml, then /etc/tidings/tidings.toml).",
)
@click.option("--log-json", is_flag=True, help="Log one JSON object per line.")
@click.version_option(__version__, prog_name="tidings")
@click.pass_context
def cli(ctx: click.Context, config: str | None, log_json: bool) -> None:
    """tidings: mail, chat, calendars and contacts you can talk to."""
    ctx.obj = State(config, log_json)


# -- config -------------------------------------------------------------------
@cli.group("config")
def config_group() -> None:
    """Show, check and document the configuration."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML-like text.")
@pass_state
def config_show(state: State, as_json: bool) -> None:
    """Print the effective configuration (file + environment + defaults), secrets redacted."""
    data = redacted(state.settings)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from tidings.core.configdocs import to_toml

    click.echo(to_toml(data), nl=False)


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def config_check(file: str) -> None:
    """Validate FILE; exit 0 if tidings would start with it."""
    try:
        load_settings(file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{file}: valid")


@config_group.command("docs")
def config_docs() -> None:
    """Print the configuration reference (docs/configuration.md) generated from the model."""
    from tidings.core.configdocs import reference

    click.echo(reference(), nl=False)


# -- accounts -----------------------------------------------------------------
def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input")
        return password
    if not sys.stdin.isatty():
        raise click.ClickException(
            "not a terminal: pass the password on standard input with --password-stdin"
        )
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@cli.group("user")
def user_group() -> None:
    """Manage the people who have an account here."""


@user_group.command("add")
@click.argument("address")
@click.option("--name", "display_name", default="", help="Display name, e.g. 'Alice Martin'.")
@click.option("--admin", is_flag=True, help="May manage accounts.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_state
def user_add(
    state: State, address: str, display_name: str, admin: bool, password_stdin: bool
) -> None:
    """Create the account ADDRESS (a mailbox of this box's domain)."""
    from tidings.core.accounts import AccountError

    accounts = state.accounts()
    password = _read_password(password_stdin)
    try:
        user = accounts.add_user(address, password, display_name=display_name, admin=admin)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {user.address}{' (admin)' if user.is_admin else ''}")


@user_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def user_list(state: State, as_json: bool) -> None:
    """List accounts."""
    users = state.accounts().list_users()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "address": u.address,
                        "name": u.display_name,
                        "admin": u.is_admin,
                        "disabled": u.disabled_at is not None,
                        "created_at": u.created_at.isoformat(),
                    }
                    for u in users
                ],
                indent=2,
            )
        )
        return
    for u in users:
        flags = " ".join(
            f for f, on in (("admin", u.is_admin), ("disabled", u.disabled_at is not None)) if on
        )
        click.echo(f"{u.address}\t{u.display_name}\t{flags}".rstrip())


@user_group.command("passwd")
@click.argument("address")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_state
def user_passwd(state: State, address: str, password_stdin: bool) -> None:
    """Set a new password for ADDRESS."""
    from tidings.core.accounts import AccountError

    accounts = state.accounts()
    try:
        accounts.require_user(address)
        accounts.set_password(address, _read_password(password_stdin))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"password changed for {address}")


@user_group.command("disable")
@click.argument("address")
@pass_state
def user_disable(state: State, address: str) -> None:
    """Refuse every login and token of ADDRESS; its mail and tokens are kept."""
    _set_disabled(state, address, disabled=True)


@user_group.command("enable")
@click.argument("address")
@pass_state
def user_enable(state: State, address: str) -> None:
    """Let a disabled ADDRESS sign in again (its tokens work again too)."""
    _set_disabled(state, address, disabled=False)


def _set_disabled(state: State, address: str, *, disabled: bool) -> None:
    from tidings.core.accounts import AccountError

    try:
        user = state.accounts().set_disabled(address, disabled)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'disabled' if disabled else 'enabled'} {user.address}")


@user_group.command("del")
@click.argument("address")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def user_del(state: State, address: str, yes: bool) -> None:
    """Delete the account ADDRESS and its tokens (its stored mail is kept on disk)."""
    from tidings.core.accounts import AccountError

    accounts = state.accounts()
    if not yes:
        click.confirm(f"Delete {address} and all its tokens?", abort=True)
    try:
        accounts.delete_user(address)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"deleted {address}")


@cli.group("token")
def token_group() -> None:
    """API tokens: how apps, the assistant and scripts act for a user."""


@token_group.command("create")
@click.argument("address")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="Repeat or separate by commas: mail:read, mail:send, dav, chat, ai, admin.",
)
@click.option("--name", default="", help="What the token is for, e.g. 'phone'.")
@pass_state
def token_create(state: State, address: str, scopes: tuple[str, ...], name: str) -> None:
    """Create a token for ADDRESS and print it once (it cannot be shown again)."""
    from tidings.core.accounts import AccountError

    wanted = [s.strip() for group in scopes for s in group.split(",") if s.strip()]
    try:
        secret, record = state.accounts().create_token(address, wanted, name)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(secret)
    click.echo(
        f"token {record.id} for {address} with {record.scopes}; store it now, "
        "it is not shown again",
        err=True,
    )


@token_group.command("list")
@click.argument("address", required=False)
@pass_state
def token_list(state: State, address: str | None) -> None:
    """List tokens (never their secrets), optionally of one ADDRESS."""
    for token, user in state.accounts().list_tokens(address):
        used = token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else "never"
        state_ = "revoked" if token.revoked_at else "active"
        click.echo(
            f"{token.id}\t{user.address}\t{token.name or '-'}\t{token.scopes}\t"
            f"last used {used}\t{state_}"
        )


@token_group.command("revoke")
@click.argument("token_id", type=int)
@pass_state
def token_revoke(state: State, token_id: int) -> None:
    """Revoke token TOKEN_ID at once."""
    from tidings.core.accounts import AccountError

    try:
        state.accounts().revoke_token(token_id)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"revoked token {token_id}")


# -- outgoing mail ------------------------------------------------------------
@cli.group("queue")
def queue_group() -> None:
    """The outgoing mail queue (delivered by `tidings serve outbound`)."""


@queue_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def queue_list(state: State, as_json: bool) -> None:
    """One line per recipient still to deliver: id, from, to, attempts, next try, error."""
    from datetime import UTC, datetime

    from tidings.mail.outbound import OutboundQueue

    entries = OutboundQueue(state.settings).list()

    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")

    if as_json:
        rows = [
            {
                "id": e.message_id,
                "from": e.mail_from,
                "to": e.rcpt,
                "attempts": e.attempts,
                "queued_at": when(e.queued_at),
                "next_attempt": when(e.next_attempt),
                "last_error": e.last_error,
                "size": e.size,
            }
            for e in entries
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not entries:
        click.echo("queue is empty")
        return
    for e in entries:
        click.echo(
            f"{e.message_id}\t{e.mail_from or '<>'}\t{e.rcpt}\t{e.attempts} attempts\t"
            f"next {when(e.next_attempt)}\t{e.last_error or '-'}"
        )


@queue_group.command("retry")
@click.argument("queue_id")
@pass_state
def queue_retry(state: State, queue_id: str) -> None:
    """Try QUEUE_ID again now instead of at its scheduled time."""
    from tidings.mail.outbound import OutboundQueue

    count = OutboundQueue(state.settings).retry(queue_id)
    if not count:
        raise click.ClickException(f"no queued message {queue_id}")
    click.echo(f"{queue_id}: {count} recipient(s) due now")


@queue_group.command("delete")
@click.argument("queue_id")
@pass_state
def queue_delete(state: State, queue_id: str) -> None:
    """Drop QUEUE_ID without delivering it and without a bounce."""
    from tidings.mail.outbound import OutboundQueue

    count = OutboundQueue(state.settings).delete(queue_id)
    if not count:
        raise click.ClickException(f"no queued message {queue_id}")
    click.echo(f"{queue_id}: deleted ({count} recipient(s))")


@cli.command("dns")
@pass_state
def dns_cmd(state: State) -> None:
    """Print the DNS records to publish for the mail domain (zone-file syntax)."""
    from tidings.mail.dkim import ensure_keys
    from tidings.mail.dnsrecords import zone_text

    settings = state.settings
    click.echo(zone_text(settings, ensure_keys(settings)), nl=False)


@cli.command("doctor")
@pass_state
def doctor_cmd(state: State) -> None:
    """Check the published DNS records through the configured resolver; exit 1 if wrong."""
    from tidings.mail.dkim import ensure_keys
    from tidings.mail.dnsrecords import check

    settings = state.settings
    findings = check(settings, ensure_keys(settings))
    for finding in findings:
        click.echo(f"{'ok     ' if finding.ok else 'PROBLEM'} {finding.message}")
    problems = sum(not f.ok for f in findings)
    if problems:
        click.echo(f"{problems} problem(s): see `tidings dns` for the records to publish")
        sys.exit(1)
    click.echo("DNS is in order")


# -- mail ---------------------------------------------------------------------
@cli.group("mail")
def mail_group() -> None:
    """The mail store: Maildirs and their search index."""


@mail_group.command("reindex")
@click.argument("address", required=False)
@pass_state
def mail_reindex(state: State, address: str | None) -> None:
    """Rebuild the index of ADDRESS (or of every mailbox) from the Maildirs."""
    from tidings.mail.store import MailStore

    store = MailStore(state.settings)
    if address and address.lower() not in store.addresses():
        raise click.ClickException(f"no mailbox for {address} in {store.mail_dir}")
    report = store.reindex(address)
    store.close()
    click.echo(f"indexed {report.added} messages ({address or 'all mailboxes'})")


# -- running ------------------------------------------------------------------
def _service_names() -> list[str]:
    from tidings.core.services import SERVICES

    return list(SERVICES)


@cli.command("serve")
@click.argument("names", nargs=-1, required=True, type=click.Choice(_service_names()))
@pass_state
def serve_cmd(state: State, names: tuple[str, ...]) -> None:
    """Run one service in the foreground (what the systemd units call); several
    names run those services in one process (what `tidings up` does)."""
    from tidings.core.services import serve_together
    from tidings.core.sockets import ListenError

    try:
        serve_together(list(dict.fromkeys(names)), state.settings)
    except ListenError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command("up")
@click.argument("names", nargs=-1, type=click.Choice(_service_names()))
@pass_state
def up_cmd(state: State, names: tuple[str, ...]) -> None:
    """Run every service (or only NAMES) until Ctrl-C; prints `ready` when all listen."""
    from tidings.core.supervisor import up

    settings = state.settings
    code = up(settings, state.cli_args(), names)
    sys.exit(code)


@cli.command("migrate")
@pass_state
def migrate_cmd(state: State) -> None:
    """Upgrade the database schema (every service also does this when it starts)."""
    from tidings.core.db import migrate

    migrate(state.settings)
    click.echo("database is up to date")


# -- tls ----------------------------------------------------------------------
@cli.group("tls")
def tls_group() -> None:
    """The box's TLS certificate."""


@tls_group.command("ensure")
@pass_state
def tls_ensure(state: State) -> None:
    """Make the local CA and the box's certificate if missing or due for renewal.

    What the appliance's local-ca mode runs before nginx and the mail services
    start; with tls.cert and tls.key set there is nothing to make. Prints the paths.
    """
    from tidings.core.tls import ensure_tls

    files = ensure_tls(state.settings)
    click.echo(f"cert {files.cert}")
    click.echo(f"key {files.key}")
    if files.ca is not None:
        click.echo(f"ca {files.ca}")


# -- ai -----------------------------------------------------------------------
@cli.group("ai")
def ai_group() -> None:
    """The assistant's model runtime."""


@ai_group.command("model")
@click.option("--check", is_flag=True, help="Also load the model and decode a few tokens.")
@pass_state
def ai_model(state: State, check: bool) -> None:
    """Prepare the configured model (assembling the bundled one on first use)."""
    from tidings.ai.backends import BackendError

    settings = state.settings
    try:
        if settings.ai.backend == "llama":
            from tidings.ai.models import model_file

            with click.progressbar(length=1, label="assembling model", file=sys.stderr) as bar:

                def progress(done: int, total: int) -> None:
                    bar.length = total
                    bar.update(done - bar.pos)

                path = model_file(settings, progress)
            click.echo(str(path))
        if check:
            import asyncio

            from tidings.ai.backends import Message, Sampling, load

            async def probe() -> str:
                backend = load(settings)
                try:
                    reply = await backend.complete([Message("user", "Bonjour")], Sampling(8))
                    return f"{backend.name}: {reply!r}"
                finally:
                    await backend.aclose()

            click.echo(asyncio.run(probe()))
    except BackendError as exc:
        raise click.ClickException(str(exc)) from exc


# -- talking to the assistant ---------------------------------------------------
def _assistant_options(func: Any) -> Any:
    func = click.option(
        "--token",
        envvar="TIDINGS_TOKEN",
        required=True,
        help="Your API token (needs the ai scope, plus those of the tools, e.g. mail:read); "
        "default: $TIDINGS_TOKEN.",
    )(func)
    func = click.option(
        "--url", help="The assistant's WebSocket (default: ws://<listen.ai>/v1/ws)."
    )(func)
    func = click.option(
        "--json", "as_json", is_flag=True, help="Print every event as a JSON line."
    )(func)
    func = click.option("--yes", "answer", flag_value="yes", help="Approve every confirmation.")(
        func
    )
    return click.option("--no", "answer", flag_value="no", help="Refuse every confirmation.")(func)


def _talk(state: State, url: str | None, run: Any) -> None:
    import asyncio

    from tidings.ai.client import ClientError, default_url

    try:
        status = asyncio.run(run(url or default_url(state.settings)))
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)


@cli.command("ask")
@click.argument("request", nargs=-1, required=True)
@_assistant_options
@pass_state
def ask_cmd(
    state: State,
    request: tuple[str, ...],
    token: str,
    url: str | None,
    as_json: bool,
    answer: str | None,
) -> None:
    """Ask the assistant once: tidings ask "liste mes mails"."""
    from tidings.ai.client import Terminal, ask

    terminal = Terminal(answer=answer or "ask", as_json=as_json)  # type: ignore[arg-type]
    _talk(state, url, lambda u: ask(u, token, " ".join(request), terminal))


@cli.command("chat")
@_assistant_options
@pass_state
def chat_cmd(state: State, token: str, url: str | None, as_json: bool, answer: str | None) -> None:
    """Talk with the assistant, one request per line (end with Ctrl-D)."""
    from tidings.ai.client import Terminal, chat

    terminal = Terminal(answer=answer or "ask", as_json=as_json)  # type: ignore[arg-type]
    _talk(state, url, lambda u: chat(u, token, terminal))


# -- mcp ----------------------------------------------------------------------
@cli.group("mcp")
def mcp_group() -> None:
    """MCP servers for desktop MCP clients (the box runs them with `tidings serve`)."""


@mcp_group.command("mail")
@click.option(
    "--stdio",
    is_flag=True,
    help="Speak MCP on standard input/output (how desktop clients start a server).",
)
@pass_state
def mcp_mail(state: State, stdio: bool) -> None:
    """The mail MCP server for the user whose API token is in $TIDINGS_TOKEN.

    The mail REST API (`tidings serve mail-api`) must be running; the server calls it
    with that token. Over HTTP, use `tidings serve mcp-mail` instead.
    """
    from tidings.mcp.service import run_stdio

    _serve_mcp_stdio(state, stdio, "mcp-mail", "mail:read,mail:send", run_stdio)


@mcp_group.command("dav")
@click.option(
    "--stdio",
    is_flag=True,
    help="Speak MCP on standard input/output (how desktop clients start a server).",
)
@pass_state
def mcp_dav(state: State, stdio: bool) -> None:
    """The calendar and contacts MCP server for the user whose API token is in
    $TIDINGS_TOKEN.

    The dav service (`tidings serve dav`) must be running; the server calls its REST
    API with that token. Over HTTP, use `tidings serve mcp-dav` instead.
    """
    from tidings.mcp.dav_service import run_stdio

    _serve_mcp_stdio(state, stdio, "mcp-dav", "dav:read,dav:write", run_stdio)


def _serve_mcp_stdio(
    state: State,
    stdio: bool,
    service: str,
    scopes: str,
    run_stdio: Callable[[Settings, Accounts, str], None],
) -> None:
    """An MCP server on stdin/stdout for the user of $TIDINGS_TOKEN, with clear errors
    for what a desktop client's configuration gets wrong."""
    import os

    from tidings.core.accounts import AuthFailed

    if not stdio:
        raise click.UsageError(
            f"only --stdio is served from here; the HTTP server is `tidings serve {service}`"
        )
    secret = os.environ.get("TIDINGS_TOKEN", "").strip()
    if not secret:
        raise click.ClickException(
            f"set TIDINGS_TOKEN to an API token (tidings token create ADDRESS --scope {scopes})"
        )
    try:
        run_stdio(state.settings, state.accounts(), secret)
    except AuthFailed:
        raise click.ClickException(
            "TIDINGS_TOKEN is not a valid API token (unknown or revoked)"
        ) from None


def main() -> None:
    cli(prog_name="tidings")
