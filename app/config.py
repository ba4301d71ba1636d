"""Typed settings read from `LEADLINK_*` environment variables, and the secret key rules."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse as parse_rate
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = [
    "PROJECT_ROOT",
    "ConfigError",
    "Settings",
    "get_settings",
    "load_settings",
    "served_base_url",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET_LENGTH = 32
# Values people paste from examples; a production instance signing tokens with one of these
# would let anyone forge confirmation and unsubscribe links.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "please-change-me", "dev", "development", "xxx"}
)


class ConfigError(Exception):
    """The configuration cannot work; the message is one line a person can act on."""


class Settings(BaseSettings):
    """Every knob of a leadlink instance. Environment variables use the `LEADLINK_` prefix."""

    model_config = SettingsConfigDict(env_prefix="LEADLINK_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    secret_key: SecretStr = SecretStr("")
    # Former secret keys, comma-separated: connection secrets encrypted under one of them stay
    # readable until `leadlink connections rotate-key` re-encrypts them (docs/integrations.md).
    previous_secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    base_url: str = "http://127.0.0.1:8000"
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    redis_url: str | None = None
    # Every rate-limit key in Redis starts with this, so instances sharing one Redis stay apart.
    redis_key_prefix: str = Field(default="leadlink", min_length=1, pattern=r"^[A-Za-z0-9._:-]+$")

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # `/metrics` wants `Authorization: Bearer <this>`; unset, only a loopback peer may read it.
    metrics_token: SecretStr | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    mail_from: str = "leadlink <noreply@localhost>"
    # The outbox worker runs inside each app process; production with `leadlink worker`
    # processes sets this to false.
    outbox_in_process: bool = True
    # The wait after a first failed delivery, doubled after each further failure up to the
    # kind's cap; shorter than the 30 s default only for tests and demos.
    outbox_first_retry_seconds: float = Field(default=30.0, gt=0, le=3600)

    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    report_tz: str = "UTC"
    # Raw visit rows older than this many days are pruned by the worker (0: kept forever); the
    # rollups every figure is read from are kept forever either way.
    visit_retention_days: int = Field(default=400, ge=0, le=100_000)
    webhook_allow_private: bool = False
    optin_rate_per_ip: str = "20/minute"
    optin_rate_per_email: str = "5/hour"
    login_rate_per_ip: str = "10/minute"
    # Per address *and* client IP, so a guesser locks out only itself; the ceiling per address
    # across all clients brakes guessing spread over many IPs (docs/admin.md, Access).
    login_rate_per_email: str = "10/hour"
    login_rate_per_email_all_clients: str = "100/hour"
    db_pool_size: int = 10
    db_timeout_seconds: float = 5.0
    # Bulk lead exports read this many rows per query, so memory stays flat at any size.
    api_export_chunk_size: int = Field(default=1000, ge=1, le=10_000)
    # The largest gift file the admin (and the CLI) accept; a larger upload is a 413.
    max_gift_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    # The largest `/api/v1` request body; a larger one is a 413 before any of it is read.
    max_api_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # What one connection may make the server hold or wait for (app.http_protocol): a larger
    # request head is a 431; a head or a body that does not arrive in time closes it.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    max_header_count: int = Field(default=100, ge=10)
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    # On SIGTERM, `/readyz` answers 503 this long before `leadlink serve` stops accepting, so a
    # proxy's health checks move traffic away first (app.draining). 0: stop at once.
    shutdown_drain_seconds: float = Field(default=0.0, ge=0, le=300)
    # Where the connectors call each provider's API instead of its public address, by provider
    # name (JSON: {"youtube": "http://127.0.0.1:9000"}): for an egress proxy, or for the tests'
    # local servers that speak the provider's documented contract. Empty: the public APIs.
    provider_api_urls: dict[str, str] = Field(default_factory=dict)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("previous_secret_keys", mode="before")
    @classmethod
    def _split_previous_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("provider_api_urls")
    @classmethod
    def _check_provider_urls(cls, value: dict[str, str]) -> dict[str, str]:
        checked = {}
        for provider, url in value.items():
            if not re.fullmatch(r"[a-z]{2,16}", provider):
                raise ValueError(f"{provider!r} is not a provider name")
            if not re.match(r"https?://[^/\s]+", url):
                raise ValueError(f"the API address of {provider} must be an http(s) URL")
            checked[provider] = url.rstrip("/")
        return checked

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an IP address or network: {network!r}") from exc
        return value

    @field_validator(
        "optin_rate_per_ip",
        "optin_rate_per_email",
        "login_rate_per_ip",
        "login_rate_per_email",
        "login_rate_per_email_all_clients",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        try:
            parse_rate(value)
        except ValueError as exc:
            raise ValueError(f"not a rate like '20/minute': {value!r}") from exc
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("report_tz")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            return ZoneInfo(value).key
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"not an IANA time zone like 'Europe/Berlin': {value!r}") from exc

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'leadlink.db'}"

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def _secret_file(settings: Settings) -> Path:
    return settings.data_dir / "secret_key"


def _development_secret(settings: Settings) -> str:
    """Read the generated development secret, creating it (mode 0600) on first use.

    The new secret is written under a private name and then hard-linked into place, so that
    processes starting at once (`make run` beside a CLI command) agree on one secret: each either
    wins the link or reads the winner's complete file, never a missing or half-written one.
    """
    path = _secret_file(settings)
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
    finally:
        os.unlink(draft)
    return secret


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment and make sure a usable secret key exists.

    Production refuses a missing, short or placeholder secret; development generates one into
    the data directory on first run so that tokens survive restarts.
    """
    settings = Settings(**overrides)  # type: ignore[arg-type]
    secret = settings.secret_key.get_secret_value()
    usable = secret.lower() not in PLACEHOLDER_SECRETS and len(secret) >= MIN_SECRET_LENGTH
    if usable:
        return settings
    if settings.is_production:
        raise ConfigError(
            "LEADLINK_SECRET_KEY is missing or a placeholder; production needs a random value of "
            f"at least {MIN_SECRET_LENGTH} characters (python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')"
        )
    return settings.model_copy(update={"secret_key": SecretStr(_development_secret(settings))})


def served_base_url(host: str, port: int) -> str:
    """The base URL of a server bound to `host:port`, for `LEADLINK_BASE_URL` left unset: links
    in emails must reach the port actually served. An all-interfaces bind is reached on the
    loopback address; an IPv6 address goes in brackets."""
    address = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    try:
        if ipaddress.ip_address(address).version == 6:
            address = f"[{address}]"
    except ValueError:
        pass  # a host name, e.g. localhost
    return f"http://{address}:{port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
