"""`ccd simulate` and `ccd erlang`, and fitting a scenario from a campaign's attempts."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

from ccd.cli import app, common
from ccd.cli.simulate import fit_campaign, parse_pacer

# 200 ended attempts: 57 answered and bridged (ring 8 s, talk 100..140 s, wrap 12 s),
# 3 answered and dropped, 20 machines (AMD 3 s), 14 busy after 3 s, 106 rang out at 30 s.
SEED = """
INSERT INTO campaigns (name, mode, dial_timeout_s) VALUES ('fitme', 'PREDICTIVE', 30);
INSERT INTO agents (login, name, endpoint)
SELECT 'fit' || g, 'Fit ' || g, 'PJSIP/fit' || g FROM generate_series(1, 4) g;
INSERT INTO leads (campaign_id, phone)
SELECT c.id, '+7495100' || lpad(g::text, 4, '0') FROM campaigns c, generate_series(0, 199) g
WHERE c.name = 'fitme';
INSERT INTO attempts (id, campaign_id, lead_id, phone, agent_id, state, originated_at,
                      answered_at, bridged_at, ended_at, wrapup_ended_at, outcome)
SELECT gen_random_uuid(), l.campaign_id, l.id, l.phone,
       CASE WHEN k < 57 THEN (SELECT min(id) FROM agents WHERE login LIKE 'fit%') + k % 4 END,
       'ended', t0,
       CASE WHEN k < 60 THEN t0 + interval '8 s' WHEN k < 80 THEN t0 + interval '6 s' END,
       CASE WHEN k < 57 THEN t0 + interval '8 s' END,
       CASE WHEN k < 57 THEN t0 + (108 + (k % 5) * 10) * interval '1 s'
            WHEN k < 60 THEN t0 + interval '10 s'
            WHEN k < 80 THEN t0 + interval '9 s'
            WHEN k < 94 THEN t0 + interval '3 s'
            ELSE t0 + interval '30 s' END,
       CASE WHEN k < 57 THEN t0 + (120 + (k % 5) * 10) * interval '1 s' END,
       CASE WHEN k < 57 THEN 'ANSWERED' WHEN k < 60 THEN 'DROPPED' WHEN k < 80 THEN 'MACHINE'
            WHEN k < 94 THEN 'BUSY' ELSE 'NO_ANSWER' END
FROM (SELECT leads.*, (right(phone, 4))::int AS k,
             now() - (200 - (right(phone, 4))::int) * interval '1 min' AS t0
      FROM leads JOIN campaigns c ON c.id = leads.campaign_id WHERE c.name = 'fitme') l;
"""


@pytest.fixture
async def seeded(db_url: str) -> str:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(SEED)
    finally:
        await conn.close()
    return db_url


async def test_fit_campaign(seeded: str, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        fit = await fit_campaign(conn, "fitme")
    assert fit["answer_rate"] == pytest.approx(0.30)
    assert fit["machine_rate"] == pytest.approx(0.10)
    assert fit["agents"] == 4
    assert fit["dial_timeout_s"] == 30
    assert fit["ring_answer_s"] == pytest.approx(8.0)
    talks = [100 + (k % 5) * 10 for k in range(57)]
    assert fit["talk_s"] == pytest.approx(sum(talks) / 57)
    assert fit["wrap_s"] == pytest.approx(12.0)
    assert fit["amd_s"] == pytest.approx(3.0)
    assert fit["fail_rate"] == pytest.approx(14 / 120)
    assert fit["fail_s"] == pytest.approx(3.0)


async def test_fit_campaign_errors(seeded: str, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(ValueError, match="no campaign named 'nope'"):
            await fit_campaign(conn, "nope")
        await conn.execute("INSERT INTO campaigns (name, mode) VALUES ('empty', 'PREDICTIVE')")
        with pytest.raises(ValueError, match="'empty' has 0 answered attempts"):
            await fit_campaign(conn, "empty")


def test_simulate_from_campaign(seeded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.state, "_db_url", seeded)
    res = CliRunner().invoke(
        app, ["simulate", "--from-campaign", "fitme", "--hours", "0.5", "-p", "power"]
    )
    assert res.exit_code == 0, res.output
    assert "fitted from campaign fitme" in res.output
    assert "4 agents, 0.5 h, answer 0.30, talk 119 s, wrap 12 s, dial timeout 30 s" in res.output
    res = CliRunner().invoke(app, ["simulate", "--from-campaign", "nope"])
    assert res.exit_code == 2 and "no campaign named 'nope'" in res.output


def test_simulate_table_and_plot(tmp_path: Path) -> None:
    png = tmp_path / "day.png"
    res = CliRunner().invoke(
        app,
        ["simulate", "--agents", "5", "--hours", "0.5", "--answer-rate", "0.4", "-p", "power",
         "-p", "ratio:ratio=2", "-p", "erlang:target_abandon=0.03", "--plot", str(png)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    for word in ("power", "ratio", "erlang", "attempts", "abandon"):
        assert word in res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "magic"], "unknown pacer 'magic'"),
        (["-p", "ratio:ratio"], "expected key=value"),
        (["-p", "ratio:ratio=two"], "ratio must be a number"),
        (["--answer-rate", "0.9", "--machine-rate", "0.2"], "machine_rate"),
    ],
)
def test_simulate_bad_input(args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["simulate", "--hours", "0.1", *args])
    assert res.exit_code == 2
    assert message in res.output


def test_parse_pacer() -> None:
    assert parse_pacer("erlang:target_abandon=0.02, max_ratio=2.5") == (
        "erlang", {"target_abandon": 0.02, "max_ratio": 2.5},
    )  # fmt: skip
    assert parse_pacer("power") == ("power", {})


def test_erlang_staffing() -> None:
    res = CliRunner().invoke(app, ["erlang", "--rate", "200", "--handle", "180"])
    assert res.exit_code == 0, res.output
    assert "10.00 Erlangs" in res.output
    assert "agents needed: 14" in res.output
    assert "88.8 %" in res.output  # service level at 14 agents
    res = CliRunner().invoke(app, ["erlang", "--rate", "200", "--handle", "180", "--agents", "9"])
    assert res.exit_code == 0 and "overloaded" in res.output
