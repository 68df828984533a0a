"""Campaign rows: create, list, look up, change status (with NOTIFY), delete, live counts."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

import asyncpg
from pydantic import BaseModel, Field, field_validator, model_validator

from ccd.domain.calling_hours import CallingHours, zone
from ccd.domain.campaigns import (
    DEFAULT_SAFE_HARBOR_MEDIA,
    AbandonWindow,
    CampaignMode,
    CampaignStatus,
    check_transition,
)
from ccd.domain.dispositions import RetryRules
from ccd.domain.names import check_one_line
from ccd.domain.recording import DEFAULT_RETENTION_DAYS, RecordFormat
from ccd.log import get_logger
from ccd.pacing.registry import PACERS, campaign_pacer
from ccd.store.abandon import AbandonCounts, abandon_counts
from ccd.store.db import CAMPAIGN_CHANNEL, AnyConnection

log = get_logger(__name__)


# The number callees see, optionally with a name: Asterisk's callerid syntax, nothing that
# could smuggle another header or variable into the originate.
_CALLER_ID = re.compile(
    r'"(?P<name>[^"\\]{1,64})" <\+?[0-9]{1,20}>'  # "Name" <number>
    r"|\+?[0-9]{1,20}|"  # a bare number, or none
)


_MEDIA = re.compile(r"(sound|recording|tone):\S{1,200}")


class CampaignError(ValueError):
    """A campaign command that cannot be done; the message says why."""


class CampaignNotFound(CampaignError, LookupError):
    pass


class CampaignSpec(BaseModel):
    """A new campaign, validated before it reaches the database."""

    name: str = Field(min_length=1, max_length=100)
    mode: CampaignMode
    caller_id: str = ""  # '', '+74951234567' or '"Name" <+74951234567>'
    trunk: str | None = None  # trunk name; None = choose by route prefix
    dial_timeout_s: int = Field(default=30, ge=15, le=600)
    max_attempts: int = Field(default=5, ge=1, le=1000)
    target_abandon: Decimal = Field(default=Decimal("0.03"), ge=0, le=1, decimal_places=4)
    abandon_window: AbandonWindow = AbandonWindow.DAYS_30
    pacer: str = "erlang"
    dial_ratio: Decimal = Field(default=Decimal("1.5"), ge=1, le=99)
    max_ratio: Decimal = Field(default=Decimal("3.0"), ge=1, le=99)
    amd: bool = False
    fax_detect: bool = True
    hours_start: time = time(9, 0)
    hours_end: time = time(21, 0)
    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])
    time_zone: str = "UTC"
    retry_rules: RetryRules = Field(default_factory=RetryRules)
    safe_harbor_media: str = DEFAULT_SAFE_HARBOR_MEDIA
    record_pct: int = Field(default=0, ge=0, le=100)
    record_format: RecordFormat = "wav"
    record_notice: str | None = None
    recording_retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1, le=36500)

    @field_validator("record_notice")
    @classmethod
    def _media(cls, v: str | None) -> str | None:
        if v is not None and not _MEDIA.fullmatch(v):
            raise ValueError(f"{v!r} is not a media URI such as sound:NAME or recording:NAME")
        return v

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, v: str) -> str:
        m = _CALLER_ID.fullmatch(v)
        if m is None or any(unicodedata.category(c)[0] == "C" for c in m.group("name") or ""):
            raise ValueError(
                f"{v!r} is not a number (digits, optional leading +) or"
                ' "Name" <number> with a name free of quotes and control characters'
            )
        return v

    @field_validator("name")
    @classmethod
    def _one_line(cls, v: str) -> str:
        return check_one_line(v)

    @field_validator("pacer")
    @classmethod
    def _known_pacer(cls, v: str) -> str:
        if v not in PACERS:
            raise ValueError(f"unknown pacer {v!r}; known: {', '.join(sorted(PACERS))}")
        return v

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        if zone(v) is None:
            raise ValueError(f"unknown IANA time zone {v!r}")
        return v

    @model_validator(mode="after")
    def _coherent(self) -> CampaignSpec:
        CallingHours(self.hours_start, self.hours_end, frozenset(self.days), self.time_zone)
        if self.max_ratio < self.dial_ratio:
            raise ValueError(f"max_ratio {self.max_ratio} is below dial_ratio {self.dial_ratio}")
        try:  # the runner builds this pacer when the campaign starts: refuse what it would
            campaign_pacer(self.pacer, dial_ratio=float(self.dial_ratio),
                           max_ratio=float(self.max_ratio),
                           target_abandon=float(self.target_abandon))  # fmt: skip
        except ValueError as exc:
            raise ValueError(f"pacer {self.pacer}: {exc}") from None
        return self


@dataclass(frozen=True, slots=True)
class CampaignStats:
    leads_by_status: dict[str, int]
    attempts_today: int
    answered_today: int
    drops_today: int
    live_attempts: int
    abandon_window: AbandonWindow
    window: AbandonCounts  # over the campaign's abandon window, up to now
    run: AbandonCounts | None  # since the last move to running; None if it never ran

    @property
    def abandon_pct_today(self) -> float | None:
        """Dropped calls as a share of answered calls (None before anything is answered)."""
        if not self.answered_today:
            return None
        return 100.0 * self.drops_today / self.answered_today


async def create_campaign(conn: AnyConnection, spec: CampaignSpec) -> int:
    async with conn.transaction():
        trunk_id = None
        if spec.trunk is not None:
            trunk_id = await conn.fetchval("SELECT id FROM trunks WHERE name = $1", spec.trunk)
            if trunk_id is None:
                raise CampaignError(f"trunk: no trunk named {spec.trunk!r} (see `ccd trunk list`)")
        try:
            campaign_id: int = await conn.fetchval(
                """
                INSERT INTO campaigns (name, mode, caller_id, trunk_id, dial_timeout_s,
                    max_attempts, target_abandon, pacer, dial_ratio, max_ratio, amd, fax_detect,
                    calling_hours_start, calling_hours_end, calling_days, time_zone, retry_rules,
                    safe_harbor_media, abandon_window, record_pct, record_format, record_notice,
                    recording_retention_days)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                    $17, $18, $19, $20, $21, $22, $23)
                RETURNING id
                """,
                spec.name, spec.mode.value, spec.caller_id, trunk_id, spec.dial_timeout_s,
                spec.max_attempts, spec.target_abandon, spec.pacer, spec.dial_ratio,
                spec.max_ratio, spec.amd, spec.fax_detect, spec.hours_start, spec.hours_end,
                sorted(set(spec.days)), spec.time_zone, spec.retry_rules.model_dump(mode="json"),
                spec.safe_harbor_media, spec.abandon_window.value, spec.record_pct,
                spec.record_format, spec.record_notice, spec.recording_retention_days,
            )  # fmt: skip
        except asyncpg.UniqueViolationError:
            raise CampaignError(f"name: a campaign named {spec.name!r} exists already") from None
    log.info("campaign.created", campaign_id=campaign_id, name=spec.name, mode=spec.mode.value)
    return campaign_id


async def get_campaign(conn: asyncpg.Connection, name: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT c.*, t.name AS trunk FROM campaigns c LEFT JOIN trunks t ON t.id = c.trunk_id"
        " WHERE c.name = $1",
        name,
    )
    if row is None:
        raise CampaignNotFound(f"no campaign named {name!r} (see `ccd campaign list`)")
    return row


async def list_campaigns(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT c.id, c.name, c.mode, c.status, c.created_at,
               (SELECT count(*) FROM leads l WHERE l.campaign_id = c.id) AS leads
        FROM campaigns c ORDER BY c.id
        """
    )


async def set_status(
    conn: AnyConnection, name: str, target: CampaignStatus
) -> tuple[CampaignStatus, CampaignStatus]:
    """Move the campaign to `target` and NOTIFY CAMPAIGN_CHANNEL in the same transaction.

    Raises CampaignNotFound, or TransitionError for a move the state machine forbids.
    Returns (old, new). A move to the status it already has changes nothing and notifies
    nobody.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, status FROM campaigns WHERE name = $1 FOR NO KEY UPDATE", name
        )
        if row is None:
            raise CampaignNotFound(f"no campaign named {name!r} (see `ccd campaign list`)")
        current = CampaignStatus(row["status"])
        check_transition(current, target)
        if current == target:
            return current, target
        # A move to running starts a run: the pacer's own counts start again there.
        await conn.execute(
            "UPDATE campaigns SET status = $2, updated_at = now(),"
            " run_started_at = CASE WHEN $2 = 'running' THEN now() ELSE run_started_at END"
            " WHERE id = $1",
            row["id"], target.value,
        )  # fmt: skip
        payload = json.dumps({"id": row["id"], "name": name, "status": target.value})
        await conn.execute("SELECT pg_notify($1, $2)", CAMPAIGN_CHANNEL, payload)
    log.info(
        "campaign.status", campaign_id=row["id"], name=name, old=current.value, new=target.value
    )
    return current, target


DELETABLE = (CampaignStatus.DRAFT, CampaignStatus.STOPPED, CampaignStatus.COMPLETED)


async def delete_campaign(conn: asyncpg.Connection, name: str) -> int:
    """Delete a campaign that is not running or paused, with its leads and attempts.

    Returns how many leads went with it.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, status FROM campaigns WHERE name = $1 FOR UPDATE", name
        )
        if row is None:
            raise CampaignNotFound(f"no campaign named {name!r} (see `ccd campaign list`)")
        if CampaignStatus(row["status"]) not in DELETABLE:
            raise CampaignError(f"campaign {name!r} is {row['status']}: stop it first")
        leads: int = await conn.fetchval(
            "SELECT count(*) FROM leads WHERE campaign_id = $1", row["id"]
        )
        await conn.execute("DELETE FROM campaigns WHERE id = $1", row["id"])
    log.info("campaign.deleted", campaign_id=row["id"], name=name, leads=leads)
    return leads


async def campaign_stats(conn: asyncpg.Connection, campaign_id: int) -> CampaignStats:
    """Leads by status, and today's attempts ("today" in the campaign's time zone)."""
    by_status = {
        r["status"]: r["n"]
        for r in await conn.fetch(
            "SELECT status, count(*) AS n FROM leads WHERE campaign_id = $1 GROUP BY status",
            campaign_id,
        )
    }
    row = await conn.fetchrow(
        """
        SELECT count(*) AS attempts,
               count(a.answered_at) AS answered,
               count(*) FILTER (WHERE a.outcome = 'DROPPED' OR a.disposition = 'DROPPED') AS drops,
               count(*) FILTER (WHERE a.ended_at IS NULL) AS live
        FROM campaigns c
        JOIN attempts a ON a.campaign_id = c.id
        WHERE c.id = $1
          AND a.created_at >= date_trunc('day', now() AT TIME ZONE c.time_zone)
                               AT TIME ZONE c.time_zone
        """,
        campaign_id,
    )
    assert row is not None  # an aggregate without GROUP BY: always one row
    c = await conn.fetchrow(
        "SELECT abandon_window, run_started_at, now() AS now FROM campaigns WHERE id = $1",
        campaign_id,
    )
    assert c is not None  # the caller looked the campaign up
    window = AbandonWindow(c["abandon_window"])
    since: datetime = c["now"] - timedelta(seconds=window.seconds)
    started = c["run_started_at"]
    return CampaignStats(
        leads_by_status=by_status,
        attempts_today=row["attempts"],
        answered_today=row["answered"],
        drops_today=row["drops"],
        live_attempts=row["live"],
        abandon_window=window,
        window=await abandon_counts(conn, campaign_id, since),
        run=None if started is None else await abandon_counts(conn, campaign_id, started),
    )
