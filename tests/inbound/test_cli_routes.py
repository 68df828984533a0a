"""`ccd inbound route add|list|remove` against a real database."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.cli.conftest import _invoker
from tests.dialer.helpers import make_campaign

FLOWS = str(Path(__file__).resolve().parents[2] / "flows")


async def test_route_add_list_remove(db_url: str, pool: asyncpg.Pool) -> None:
    ccd = _invoker(db_url)
    campaign_id = await make_campaign(pool, "callbacks", mode="INBOUND")
    res = await ccd("inbound", "route", "add", "74951234567", "main", "--flows-dir", FLOWS,
                    "--campaign", "callbacks")  # fmt: skip
    assert res.exit_code == 0, res.output
    res = await ccd("inbound", "route", "add", "88005550100", "tollfree", "--flows-dir", FLOWS)
    assert res.exit_code == 0, res.output
    rows = await pool.fetch("SELECT did, flow, campaign_id FROM inbound_routes ORDER BY did")
    assert [tuple(r) for r in rows] == [
        ("74951234567", "main", campaign_id),
        ("88005550100", "tollfree", None),
    ]
    listed = await ccd("inbound", "route", "list")
    assert "74951234567" in listed.output and "tollfree" in listed.output
    res = await ccd("inbound", "route", "remove", "88005550100")
    assert res.exit_code == 0
    assert await pool.fetchval("SELECT count(*) FROM inbound_routes") == 1
    res = await ccd("inbound", "route", "remove", "88005550100")
    assert res.exit_code == 2 and "no route for 88005550100" in res.output


async def test_route_add_refuses_missing_or_broken_flow(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    ccd = _invoker(db_url)
    res = await ccd("inbound", "route", "add", "5550013", "nosuch", "--flows-dir", FLOWS)
    assert res.exit_code == 2 and "no flow 'nosuch'" in res.output
    (tmp_path / "bad.yaml").write_text("start: g\nnodes:\n  g: {kind: goto, next: g}\n")
    res = await ccd("inbound", "route", "add", "5550013", "bad", "--flows-dir", str(tmp_path))
    assert res.exit_code == 2 and "loop without caller input" in res.output
    res = await ccd("inbound", "route", "add", "5550013", "main", "--flows-dir", FLOWS,
                    "--campaign", "nosuch")  # fmt: skip
    assert res.exit_code == 2 and "no campaign named 'nosuch'" in res.output
    assert await pool.fetchval("SELECT count(*) FROM inbound_routes") == 0
