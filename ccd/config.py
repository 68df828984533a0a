"""Settings: env CCD_* over an optional TOML file over defaults.

Precedence, highest first: explicit keyword arguments, environment (CCD_*), the TOML file
(--config, else CCD_CONFIG, else /etc/ccd/ccd.toml when it exists), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("/etc/ccd/ccd.toml")


class ConfigError(Exception):
    """Settings that cannot be used; the message names the file and the field."""


class AsteriskNode(BaseModel):
    """One Asterisk server: ccd speaks ARI and AMI to each configured node."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    ari_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8088/ari")
    ari_user: str = "ccd"
    ari_password: str = Field(default="", repr=False)
    ari_app: str = "ccd"
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, ge=1, le=65535)
    ami_user: str = "ccd"
    ami_secret: str = Field(default="", repr=False)


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # The console's session cookie is sent over HTTPS only: set behind a TLS proxy.
    secure_cookies: bool = False
    # Origins (scheme://host[:port]) besides the API's own that may use the session cookie,
    # e.g. the public URL of a TLS proxy in front of ccd.
    allowed_origins: list[str] = Field(default_factory=list)
    # Reverse proxies in front of ccd (addresses or networks): requests from them take the
    # client's address from X-Forwarded-For (login limits count per client, not per proxy).
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    # Days an agent API token works after `ccd agent add` / `ccd agent token` issued it.
    agent_token_days: int = Field(default=90, ge=1, le=3650)


class SmtpRelay(BaseModel):
    """One SMTP relay of the email channel; messages are spread over the relays."""

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    username: str | None = None
    password: str = Field(default="", repr=False)
    starttls: bool = False  # upgrade with STARTTLS (port 587)
    tls: bool = False  # TLS from the start (port 465)
    ca_file: Path | None = None  # CA bundle (PEM) that signed the relay's certificate
    connections: int = Field(default=4, ge=1, le=64)
    rate_per_s: float = Field(default=100.0, gt=0)


class FaxSettings(BaseModel):
    """The fax channel: SendFAX() through Asterisk, over the trunks and routes of calls."""

    # Where ccd puts each document as TIFF-F for Asterisk to read (same path on both sides:
    # one host, or a shared mount); ccd writes it, Asterisk's user must be able to read it.
    spool_dir: Path
    context: str = Field(default="ccd-fax", pattern=r"^[A-Za-z0-9_-]+$")  # runs SendFAX()
    caller_id: str = ""
    station_id: str = Field(default="", max_length=20)  # FAXOPT(localstationid): the TSI
    header: str = Field(default="", max_length=50)  # FAXOPT(headerinfo): atop each page
    dial_timeout: int = Field(default=45, ge=15, le=300)  # ring time, seconds
    max_call_s: float = Field(default=1800.0, gt=0)  # a fax call still up then is hung up
    # Unanswered faxes are tried again as calls are (their default retry rules), up to
    # max_attempts sends in all.
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_busy_s: float = Field(default=7200.0, ge=0)
    retry_no_answer_s: float = Field(default=7200.0, ge=0)
    retry_congestion_s: float = Field(default=300.0, ge=0)  # also: no free trunk channel

    @field_validator("spool_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        if not v.is_absolute():
            raise ValueError("must be an absolute path (Asterisk reads the files at that path)")
        return v


class MailingSettings(BaseModel):
    # Marketing messages per contact: at most one in this many days, over every channel.
    cap_days: int = Field(default=14, ge=0)
    # Where recipients reach ccd's HTTP API (unsubscribe links); unset = http://host:port.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    from_address: str = "ccd@localhost"
    smtp: list[SmtpRelay] = Field(default_factory=list)
    fax: FaxSettings | None = None  # [mailing.fax]: the fax channel; unset = no faxes
    batch: int = Field(default=50, ge=1, le=1000)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CCD_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    database_url: str | None = Field(
        default=None,
        description="postgresql://user:pass@host:port/db; unset = the embedded PostgreSQL",
    )
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("ccd")))
    db_pool_min: int = Field(default=2, ge=1)
    db_pool_max: int = Field(default=10, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "console", "json"] = "auto"
    http: HttpSettings = HttpSettings()
    nodes: list[AsteriskNode] = Field(default_factory=list)
    mailing: MailingSettings = MailingSettings()

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// (or be unset for the embedded server)")
        return v

    @field_validator("nodes")
    @classmethod
    def _unique_node_names(cls, v: list[AsteriskNode]) -> list[AsteriskNode]:
        names = [n.name for n in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate node name(s): {', '.join(dupes)}")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _config_file_in_use
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


# The TOML path for the load in progress; pydantic-settings builds sources from the class.
_config_file_in_use: Path | None = None


def resolve_config_file(explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: config file not found")
        return explicit
    env = os.environ.get("CCD_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found (from CCD_CONFIG)")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load and validate settings; raise ConfigError naming the source and the field."""
    global _config_file_in_use
    path = resolve_config_file(config_file)
    _config_file_in_use = path
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        source = str(path) if path else "environment (CCD_*)"
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(root)"
            lines.append(f"  {field}: {err['msg']}")
        raise ConfigError(f"invalid settings in {source}:\n" + "\n".join(lines)) from None
    except Exception as exc:  # TOML syntax errors come out of the source as plain exceptions
        if path is not None:
            raise ConfigError(f"{path}: {exc}") from None
        raise
    finally:
        _config_file_in_use = None
