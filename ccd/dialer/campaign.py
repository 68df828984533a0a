"""A campaign's dialing settings as the engine uses them, loaded from the campaigns table."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from ccd.domain.campaigns import AbandonWindow, CampaignMode, CampaignStatus
from ccd.domain.dispositions import RetryRules
from ccd.domain.recording import RecordPolicy


@dataclass(frozen=True, slots=True)
class CampaignConfig:
    id: int
    name: str
    mode: CampaignMode
    status: CampaignStatus
    caller_id: str
    trunk_id: int | None
    dial_timeout_s: int
    max_attempts: int
    target_abandon: float
    pacer: str
    dial_ratio: float
    max_ratio: float
    amd: bool
    fax_detect: bool
    retry_rules: RetryRules
    safe_harbor_media: str
    abandon_window: AbandonWindow = AbandonWindow.DAYS_30
    record: RecordPolicy = RecordPolicy()


async def load_campaign(
    conn: asyncpg.Connection | asyncpg.Pool, campaign_id: int
) -> CampaignConfig | None:
    r = await conn.fetchrow(
        "SELECT id, name, mode, status, caller_id, trunk_id, dial_timeout_s, max_attempts,"
        " target_abandon, pacer, dial_ratio, max_ratio, amd, fax_detect, retry_rules,"
        " safe_harbor_media, abandon_window, record_pct, record_format, record_notice,"
        " recording_retention_days FROM campaigns WHERE id = $1",
        campaign_id,
    )
    if r is None:
        return None
    return CampaignConfig(
        id=r["id"],
        name=r["name"],
        mode=CampaignMode(r["mode"]),
        status=CampaignStatus(r["status"]),
        caller_id=r["caller_id"],
        trunk_id=r["trunk_id"],
        dial_timeout_s=r["dial_timeout_s"],
        max_attempts=r["max_attempts"],
        target_abandon=float(r["target_abandon"]),
        pacer=r["pacer"],
        dial_ratio=float(r["dial_ratio"]),
        max_ratio=float(r["max_ratio"]),
        amd=r["amd"],
        fax_detect=r["fax_detect"],
        retry_rules=RetryRules.model_validate(r["retry_rules"] or {}),
        safe_harbor_media=r["safe_harbor_media"],
        abandon_window=AbandonWindow(r["abandon_window"]),
        record=RecordPolicy(
            r["record_pct"], r["record_format"], r["record_notice"],
            r["recording_retention_days"],
        ),  # fmt: skip
    )


async def running_campaign_ids(conn: asyncpg.Connection | asyncpg.Pool) -> list[int]:
    rows = await conn.fetch(
        "SELECT id FROM campaigns WHERE status = 'running' AND mode <> 'INBOUND' ORDER BY id"
    )
    return [r["id"] for r in rows]
