"""`ccd inbound route add|list|remove` against a real database."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from ccd.sim.asterisk import AsteriskDouble
from tests.cli.conftest import _invoker
from tests.dialer.conftest import node_for
from tests.dialer.helpers import make_campaign

pytest_plugins = ["tests.dialer.conftest"]

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


def _config(tmp_path: Path, double: AsteriskDouble) -> str:
    node = node_for(double)
    path = tmp_path / "ccd.toml"
    path.write_text(
        f'[[nodes]]\nname = "{node.name}"\nari_url = "{node.ari_url}"\n'
        f'ari_password = "{node.ari_password}"\n'
    )
    return str(path)


async def test_ivr_check_looks_up_campaigns_and_the_nodes_sounds(
    db_url: str, pool: asyncpg.Pool, double: AsteriskDouble, tmp_path: Path
) -> None:
    ccd = _invoker(db_url)
    config = _config(tmp_path, double)
    flow = tmp_path / "line.yaml"
    flow.write_text(
        "start: hi\nnodes:\n"
        "  hi: {kind: play, prompt: [sound:custom/welcome, sound:beep], next: cb}\n"
        "  cb: {kind: callback, campaign: callbacks, next: bye}\n"
        "  bye: {kind: hangup, prompt: sound:vm-goodbye}\n"
    )
    res = await ccd("-c", config, "ivr", "check", str(flow))
    assert res.exit_code == 2, res.output
    assert res.stderr.splitlines() == [
        f"{flow}: node 'cb': field 'campaign': no campaign named 'callbacks'",
        f"{flow}: node 'hi': field 'prompt': sound 'custom/welcome' is not on Asterisk node pbx1",
    ]
    await make_campaign(pool, "callbacks", mode="MANUAL")
    double.installed_sounds.add("custom/welcome")  # recorded on the node
    res = await ccd("-c", config, "ivr", "check", str(flow))
    assert res.exit_code == 0, res.output
    assert f"{flow}: ok (3 nodes)" in res.stdout


async def test_the_example_flows_play_stock_sounds(
    db_url: str, pool: asyncpg.Pool, double: AsteriskDouble, tmp_path: Path
) -> None:
    ccd = _invoker(db_url)
    await make_campaign(pool, "callbacks", mode="MANUAL")
    files = [f"{FLOWS}/main.yaml", f"{FLOWS}/tollfree.yaml"]
    res = await ccd("-c", _config(tmp_path, double), "ivr", "check", *files)
    assert res.exit_code == 0, res.output


async def test_ivr_check_skips_the_sounds_of_a_node_that_does_not_answer(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    ccd = _invoker(db_url)
    config = tmp_path / "ccd.toml"
    config.write_text('[[nodes]]\nname = "pbx9"\nari_url = "http://127.0.0.1:9/ari"\n')
    flow = tmp_path / "line.yaml"
    flow.write_text("start: bye\nnodes:\n  bye: {kind: hangup, prompt: sound:custom/bye}\n")
    res = await ccd("-c", str(config), "ivr", "check", str(flow))
    assert res.exit_code == 0, res.output
    assert "note: Asterisk node pbx9 not reachable, its sounds are not checked" in res.stderr
