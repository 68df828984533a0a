"""A running campaign's pacer is built from the campaign's own settings."""

from __future__ import annotations

import dataclasses

from ccd.dialer.campaign import CampaignConfig
from ccd.dialer.runner import pacer_for
from ccd.domain.campaigns import CampaignMode, CampaignStatus
from ccd.domain.dispositions import RetryRules
from ccd.pacing import PacingSnapshot
from ccd.pacing.vicidial import VicidialPacer


def _campaign(pacer: str, **settings: float) -> CampaignConfig:
    values = {"dial_ratio": 1.5, "max_ratio": 1.5, "target_abandon": 0.10, **settings}
    return CampaignConfig(
        id=1, name="c", mode=CampaignMode.PREDICTIVE, status=CampaignStatus.RUNNING,
        caller_id="", trunk_id=None, dial_timeout_s=30, max_attempts=5, pacer=pacer,
        amd=False, fax_detect=False, retry_rules=RetryRules(),
        safe_harbor_media="sound:all-reps-busy", **values,
    )  # fmt: skip


IDLE = PacingSnapshot(0.0, 10, (), (), (), 0, 1000)


def test_ratio_pacer_keeps_the_campaigns_max_ratio() -> None:
    one_free = dataclasses.replace(IDLE, ready=1)
    assert pacer_for(_campaign("ratio")).calls_to_place(one_free) == 1  # not round(1.5) = 2


def test_vicidial_pacer_takes_the_campaigns_max_ratio_and_target_abandon() -> None:
    pacer = pacer_for(_campaign("vicidial"))
    assert isinstance(pacer, VicidialPacer)
    for t in range(0, 61):  # idle agents raise the level: up to --max-ratio, not 3
        assert pacer.calls_to_place(dataclasses.replace(IDLE, now=float(t))) <= 15
    assert pacer.level == 1.5
    for i in range(60):  # 5 drops in 60 answers: under the campaign's 10 %
        pacer.record_answer(i < 5, 61.0)
    pacer.calls_to_place(dataclasses.replace(IDLE, now=75.0))
    assert pacer.level == 1.5  # not halved, as the default 3 % would
