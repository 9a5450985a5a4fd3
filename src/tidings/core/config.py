"""The one typed configuration of tidings.

Every service, the CLI and the docs read the same model. Values come, in order of
precedence, from ``TIDINGS_*`` environment variables, then a TOML file, then the
defaults below — which are chosen so that a laptop runs the whole suite with no
file at all (SQLite, Maildir, self-signed TLS, unprivileged ports).

The appliance (NixOS module) renders a TOML file with the standard ports and
certificate paths; nothing in the code differs between the two.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "TIDINGS_"
CONFIG_ENV = "TIDINGS_CONFIG"

_ENDPOINT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]\s]+)):(?P<port>\d{1,5})$")


def _check_endpoint(value: str) -> str:
    match = _ENDPOINT.match(value)
    if not match or not 0 < int(match["port"]) < 65536:
        raise ValueError(f"expected host:port (IPv6 as [::1]:993), got {value!r}")
    return value


Endpoint = Annotated[str, AfterValidator(_check_endpoint)]


def split_endpoint(value: str) -> tuple[str, int]:
    """``"127.0.0.1:2525"`` → ``("127.0.0.1", 2525)``; ``"[::1]:993"`` → ``("::1", 993)``."""
    match = _ENDPOINT.match(value)
    if not match:
        raise ValueError(f"not an endpoint: {value!r}")
    return (match["v6"] or match["host"]), int(match["port"])


class Section(BaseModel):
    """A TOML table: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class Listen(Section):
    """Where each endpoint listens. The appliance uses the standard ports instead."""

    smtp: Endpoint = Field(
        "127.0.0.1:2525", description="Inbound SMTP (MX), port 25 on the appliance."
    )
    submission: Endpoint = Field(
        "127.0.0.1:2587", description="Mail submission with STARTTLS (587)."
    )
    submissions: Endpoint = Field(
        "127.0.0.1:2465", description="Mail submission over implicit TLS (465)."
    )
    imap: Endpoint = Field("127.0.0.1:2143", description="IMAP with STARTTLS (143).")
    imaps: Endpoint = Field("127.0.0.1:2993", description="IMAP over implicit TLS (993).")
    web: Endpoint = Field("127.0.0.1:3000", description="Web UI and status page.")
    mail_api: Endpoint = Field("127.0.0.1:8080", description="Mail REST API.")
    chat: Endpoint = Field("127.0.0.1:8081", description="Chat (WebSocket).")
    dav: Endpoint = Field("127.0.0.1:8082", description="CalDAV/CardDAV.")
    ai: Endpoint = Field("127.0.0.1:8888", description="Assistant runtime.")
    mcp_mail: Endpoint = Field("127.0.0.1:8090", description="MCP server for mail.")
    mcp_chat: Endpoint = Field("127.0.0.1:8091", description="MCP server for chat.")
    mcp_dav: Endpoint = Field("127.0.0.1:8092", description="MCP server for calendars/contacts.")


class TLS(Section):
    """Certificates. Empty paths mean: generate a local CA and a certificate for
    ``hostname`` into ``data_dir/tls`` on first start (laptop mode)."""

    cert: Path | None = Field(None, description="PEM certificate chain (e.g. from ACME).")
    key: Path | None = Field(None, description="PEM private key for `cert`.")

    @field_validator("key")
    @classmethod
    def _both_or_neither(cls, key: Path | None, info: Any) -> Path | None:
        if (key is None) != (info.data.get("cert") is None):
            raise ValueError("set both tls.cert and tls.key, or neither")
        return key


class Auth(Section):
    """Login throttling, shared by every protocol that takes a password."""

    max_failures_per_user: int = Field(
        10,
        ge=1,
        description="Failed logins for one account within the window before it is throttled.",
    )
    max_failures_per_address: int = Field(
        30, ge=1, description="Failed logins from one client address within the window."
    )
    failure_window_seconds: int = Field(
        900, ge=1, description="Length of the sliding window for counting failures."
    )


class Log(Section):
    """Logging to stderr (journald on the appliance)."""

    format: Literal["text", "json"] = Field(
        "text", description="`text` for people, `json` for log collectors (one object a line)."
    )
    level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Minimum level."
    )


class Web(Section):
    """The web app: sign-in sessions."""

    session_hours: int = Field(
        12,
        ge=1,
        le=24 * 30,
        description="How long a web sign-in lasts. The session's credential towards the "
        "assistant and the mail API expires with it and is revoked at sign-out.",
    )


class McpServer(Section):
    """One MCP server whose tools the assistant may use."""

    name: str = Field(description="Short name, shown in tool-call events and logs.")
    url: str = Field(
        pattern=r"^https?://",
        description="Streamable HTTP endpoint, e.g. `http://127.0.0.1:8090/mcp`.",
    )
    send_user_token: bool = Field(
        True,
        description="Call it with the requesting user's own API token (the box's own "
        "servers); off for a server that takes no tidings token.",
    )


class Ai(Section):
    """The assistant's model runtime: an in-process GGUF model (llama.cpp) or any
    OpenAI-compatible endpoint (Ollama, llama-server, vLLM)."""

    backend: Literal["llama", "openai"] = Field(
        "llama",
        description="`llama`: run a GGUF model in-process with llama-cpp-python; "
        "`openai`: call an OpenAI-compatible HTTP endpoint.",
    )
    model_path: Path | None = Field(
        None,
        description="GGUF file for the `llama` backend. Unset: the bundled Gemma 3 270M "
        "(Q4_K_M), assembled into `data_dir/models/` on first use.",
    )
    threads: int = Field(
        0, ge=0, description="CPU threads for the `llama` backend; 0 means one per core."
    )
    n_ctx: int = Field(4096, ge=256, description="Context window (tokens) of the `llama` backend.")
    n_gpu_layers: int = Field(
        0,
        ge=-1,
        description="Layers offloaded to the GPU (`llama` backend; -1 = all, 0 = CPU only).",
    )
    native_tools: bool = Field(
        False,
        description="The model chooses tools itself through the backend's tool calling "
        "(a capable instruct model); off: intent patterns and the trained router choose.",
    )
    openai_base_url: str = Field(
        "http://127.0.0.1:11434/v1",
        description="Base URL of the OpenAI-compatible API, up to and including `/v1`.",
    )
    openai_model: str = Field("", description="Model name sent to the OpenAI-compatible endpoint.")
    openai_json_mode: Literal["json_schema", "json_object"] = Field(
        "json_schema",
        description="How the endpoint is asked for schema-constrained JSON: OpenAI's "
        "`json_schema` response format (OpenAI, vLLM, Ollama, llama-server) or "
        "`json_object` with a `schema` (llama-cpp-python's server).",
    )
    api_key: SecretStr | None = Field(
        None, description="Bearer token for the OpenAI-compatible endpoint, if it needs one."
    )
    request_timeout: float = Field(
        300.0, gt=0, description="Seconds to wait for one answer from the endpoint."
    )
    mcp_servers: list[McpServer] = Field(
        default_factory=list,
        description="MCP servers whose tools the assistant uses (TOML: `[[ai.mcp_servers]]`). "
        "Empty: this box's own (mail on `listen.mcp_mail`, calendars and contacts on "
        "`listen.mcp_dav`).",
    )
    confirmation_timeout: float = Field(
        300.0,
        gt=0,
        description="Seconds the assistant waits for the user to approve a send or a "
        "change; unanswered means refused.",
    )
    default_language: Literal["fr", "en"] = Field(
        "en",
        description="Language of answers when a request does not show its own.",
    )


class Smarthost(Section):
    """Relay every outgoing message through one server (your provider's submission
    port) instead of the recipients' MX hosts — for home lines where port 25 is
    blocked. Empty `host` means: deliver directly."""

    host: str = Field("", description="Relay host name; empty to deliver directly to MX hosts.")
    port: int = Field(587, ge=1, le=65535, description="Relay port (587 STARTTLS, 465 TLS).")
    tls: Literal["starttls", "implicit", "none"] = Field(
        "starttls",
        description="`starttls` (required, certificate verified), `implicit` (TLS from the "
        "first byte) or `none` (loopback or trusted networks only).",
    )
    username: str = Field("", description="Login at the relay; empty for no AUTH.")
    password: SecretStr | None = Field(None, description="Password for `username`.")


class Outbound(Section):
    """The outgoing queue: retries, lifetime, concurrency (see docs/decisions.md)."""

    retry_first_seconds: float = Field(
        450.0, gt=0, description="Delay before the first retry; each next one doubles (mox)."
    )
    retry_max_seconds: float = Field(
        14400.0, gt=0, description="Upper bound of the delay between two attempts."
    )
    retry_jitter: float = Field(
        0.1, ge=0, le=0.5, description="Random spread of each delay, as a fraction (0.1 = ±10%)."
    )
    delay_warning_seconds: float = Field(
        14400.0, gt=0, description="Tell the sender once that a message is delayed after this."
    )
    max_lifetime_seconds: float = Field(
        432000.0, gt=0, description="Give up and bounce a message after this long (5 days)."
    )
    max_connections: int = Field(20, ge=1, description="Deliveries in progress at once.")
    max_per_domain: int = Field(
        4, ge=1, description="Deliveries in progress at once to one destination domain."
    )
    remote_smtp_port: int = Field(
        25,
        ge=1,
        le=65535,
        description="Port of remote MX hosts. Always 25 on the Internet; other values "
        "only for tests and lab networks.",
    )
    timeout_seconds: float = Field(
        300.0, gt=0, description="Timeout of one SMTP command towards a remote server."
    )


class Dkim(Section):
    """DKIM signing of everything that leaves. Keys are generated on first use into
    `data_dir/dkim/` (mode 0600); `tidings dns` prints the records to publish."""

    rsa_selector: str = Field("rsa2026", description="Selector of the RSA-2048 key.")
    ed25519_selector: str = Field("ed2026", description="Selector of the Ed25519 key.")


class Mail(Section):
    """Mail transport: receiving and submitting (limits apply per client address),
    and sending."""

    max_message_size: int = Field(
        25 * 1024 * 1024,
        ge=1024,
        description="Largest message accepted, in bytes (advertised as SIZE; 552 beyond).",
    )
    max_recipients: int = Field(
        100,
        ge=1,
        description="Recipients per message; more get 452 4.5.3 (RFC 5321 asks for >= 100).",
    )
    dns_resolver: Endpoint | None = Field(
        None,
        description="DNS server (host:port) for every mail lookup: SPF, DKIM and DMARC "
        "checks of inbound mail, MX of outbound mail, `tidings doctor`. Unset: the system "
        "resolver (/etc/resolv.conf). A local validating resolver is best (DNSBLs refuse "
        "public ones).",
    )
    dns_timeout_seconds: float = Field(
        5.0, gt=0, description="How long one sender check waits for DNS before `temperror`."
    )
    max_connections_per_source: int = Field(
        50, ge=1, description="Simultaneous SMTP connections from one client address."
    )
    max_connections_per_minute: int = Field(
        600, ge=1, description="New SMTP connections from one client address per minute."
    )
    max_messages_per_minute: int = Field(
        3000, ge=1, description="Messages accepted from one client address per minute."
    )
    command_timeout_seconds: int = Field(
        300, ge=10, description="Idle time after which an SMTP session is closed (RFC 5321: 5 min)."
    )
    smtp_workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Processes of `tidings serve smtp` accepting on the same listeners "
        "(Python runs one core per process; the per-source limits count for all of them "
        "together); 0: one per CPU, at most 2. `tidings up` runs smtp in one process.",
    )
    imap_engine: Literal["tidings", "pymap"] = Field(
        "tidings",
        description="IMAP server engine: tidings' own, answering from the index, or the "
        "pymap-based one of earlier releases (kept for one release as a fallback).",
    )
    smarthost: Smarthost = Field(default_factory=Smarthost)
    outbound: Outbound = Field(default_factory=Outbound)
    dkim: Dkim = Field(default_factory=Dkim)


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tidings"


class Settings(BaseSettings):
    """The whole configuration. See docs/configuration.md (generated from this model)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    domain: str = Field(
        "example.test", description="Mail domain served by this box (the part after @)."
    )
    hostname: str = Field(
        "localhost",
        description="Name clients use to reach the box; in the TLS certificate and SMTP banner.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        json_schema_extra={"default_shown": "$XDG_DATA_HOME/tidings"},
        description="Where all state lives (database, mail, certificates). "
        "Default: `$XDG_DATA_HOME/tidings`; `/var/lib/tidings` on the appliance.",
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the accounts database. Default: SQLite at "
        "`data_dir/tidings.sqlite`; e.g. `postgresql+psycopg://...` for PostgreSQL.",
    )
    listen: Listen = Field(default_factory=Listen)
    tls: TLS = Field(default_factory=TLS)
    auth: Auth = Field(default_factory=Auth)
    log: Log = Field(default_factory=Log)
    ai: Ai = Field(default_factory=Ai)
    mail: Mail = Field(default_factory=Mail)
    web: Web = Field(default_factory=Web)

    @field_validator("domain", "hostname")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        value = value.strip().lower().rstrip(".")
        if not re.fullmatch(
            r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*", value
        ):
            raise ValueError(f"expected a DNS name such as mail.example.org, got {value!r}")
        return value

    @property
    def db_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'tidings.sqlite'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file (init_settings carries the parsed TOML).
        return (env_settings, init_settings)


class ConfigError(Exception):
    """A configuration problem, worded for the operator who has to fix it."""


def default_config_paths() -> list[Path]:
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path(xdg) / "tidings" / "tidings.toml", Path("/etc/tidings/tidings.toml")]


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    """``--config`` first, then ``$TIDINGS_CONFIG``, then the first default path that exists."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return next((p for p in default_config_paths() if p.is_file()), None)


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort line number of a dotted key in TOML text (tables and plain keys)."""
    if not loc:
        return None
    *tables, key = [str(part) for part in loc]
    current: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", line)
        if header:
            current = [p.strip().strip('"') for p in header[1].split(".")]
            if current == [*tables, key]:
                return number
            continue
        match = re.match(r"([A-Za-z0-9_.\"-]+)\s*=", line)
        if match:
            parts = [p.strip('"') for p in match[1].split(".")]
            if [*current, *parts] == [*tables, key]:
                return number
    return None


def _env_names(loc: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc)


def _describe(error: ValidationError, source: Path | None, text: str) -> str:
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        where = str(source) if source else "configuration"
        line = _line_of(text, loc) if text else None
        if line:
            where += f":{line}"
        from_env = _env_names(loc) in os.environ
        if from_env:
            where = f"environment variable {_env_names(loc)}"
        if item["type"] == "extra_forbidden":
            message = "unknown key (not a tidings setting; see docs/configuration.md)"
        else:
            message = item["msg"]
        lines.append(f"{where}: {key}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load and validate the effective configuration, or raise :class:`ConfigError`."""
    source = resolve_config_path(path)
    text = ""
    data: dict[str, Any] = {}
    if source is not None:
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read configuration: {exc.strerror}") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, text)) from exc


def redacted(settings: Settings) -> dict[str, Any]:
    """The effective configuration as JSON-able data, secrets replaced by ``"**********"``."""
    return settings.model_dump(mode="json")
