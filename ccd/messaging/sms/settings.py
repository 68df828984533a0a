"""One SMSC link as the operator configures it (validated at the edge, pydantic)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_PREFIX = re.compile(r"\+?\d{1,15}")


class LinkSettings(BaseModel):
    """`ccd smsc add NAME --host --port --system-id --password --system-type --tps --window
    --prefix --source-addr`; the timing fields have defaults that suit carriers' SMSCs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    system_id: str = Field(min_length=1, max_length=15)  # SMPP 3.4 C-octet string sizes
    password: str = Field(max_length=8)
    system_type: str = Field(default="", max_length=12)
    tps: int | None = Field(default=None, ge=1, description="submit_sm per second; None: no limit")
    window: int = Field(default=10, ge=1, le=1000, description="submit_sm awaiting their resp")
    prefixes: tuple[str, ...] = ()
    source_addr: str = Field(default="", max_length=20)
    enquire_interval: float = Field(default=30.0, gt=0)
    dead_after: float = Field(default=90.0, gt=0, description="silence that means a dead link")
    response_timeout: float = Field(default=30.0, gt=0)
    reconnect_min: float = Field(default=0.5, gt=0)
    reconnect_max: float = Field(default=30.0, gt=0)
    throttle_pause: float = Field(default=0.2, gt=0, description="first pause after THROTTLED")
    max_throttle_retries: int = Field(default=50, ge=0)

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for p in value:
            if not _PREFIX.fullmatch(p):
                raise ValueError(f"prefix {p!r}: expected digits with an optional leading +")
        return value
