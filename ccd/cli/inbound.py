"""`ccd inbound route add|list|remove` (DID -> IVR flow) and `ccd ivr check FILE...`.

The flows directory is `--flows-dir`, else the environment variable CCD_FLOWS_DIR, else
/etc/ccd/flows (ccd.config.Settings has no field for it; see ccd.inbound.settings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.table import Table

from ccd.cli.common import EXIT_USAGE, console, err_console, fail, run, state, with_conn
from ccd.inbound.flow import Flow, FlowError, load_flow
from ccd.inbound.flow_refs import campaign_refs, sound_refs, sounds_missing_on
from ccd.inbound.settings import flows_dir
from ccd.store import inbound as store
from ccd.telephony.errors import PbxError

app = typer.Typer(help="Inbound lines: which IVR flow answers which DID.", no_args_is_help=True)
route_app = typer.Typer(help="DID -> flow routes.", no_args_is_help=True)
app.add_typer(route_app, name="route")
ivr_app = typer.Typer(help="IVR flow files.", no_args_is_help=True)

FlowsDir = Annotated[
    Path | None,
    typer.Option(
        "--flows-dir", help="directory of flow files (default: $CCD_FLOWS_DIR or /etc/ccd/flows)"
    ),
]


@route_app.command("add")
def route_add(
    did: Annotated[str, typer.Argument(help="the dialed number as the dialplan passes it")],
    flow: Annotated[str, typer.Argument(help="flow name: the file stem in the flows directory")],
    campaign: Annotated[
        str | None, typer.Option(help="campaign name whose agents take these calls")
    ] = None,
    directory: FlowsDir = None,
) -> None:
    """Answer calls to DID with FLOW (replaces an existing route of DID)."""
    path = _flow_file(flows_dir(directory), flow)
    try:
        load_flow(path)
    except FlowError as exc:
        fail(f"flow {flow!r} is not usable:\n{exc}", code=EXIT_USAGE)

    async def go(conn: asyncpg.Connection) -> None:
        campaign_id = None
        if campaign is not None:
            campaign_id = await store.campaign_id_by_name(conn, campaign)
            if campaign_id is None:
                fail(f"no campaign named {campaign!r}", code=EXIT_USAGE)
        await store.add_route(conn, did, flow, campaign_id)

    run(lambda: with_conn(go))
    console.print(f"{did} -> {flow}")


@route_app.command("list")
def route_list() -> None:
    """Show every DID route."""

    table = Table("DID", "flow", "campaign id")
    for r in run(lambda: with_conn(store.list_routes)):
        table.add_row(r.did, r.flow, "" if r.campaign_id is None else str(r.campaign_id))
    console.print(table)


@route_app.command("remove")
def route_remove(did: Annotated[str, typer.Argument()]) -> None:
    """Remove the route of DID; its calls then get no flow (they are hung up)."""

    if not run(lambda: with_conn(lambda conn: store.remove_route(conn, did))):
        fail(f"no route for {did}", code=EXIT_USAGE)
    console.print(f"removed {did}")


@ivr_app.command("check")
def check(files: Annotated[list[Path], typer.Argument(help="flow files", min=1)]) -> None:
    """Validate flow files: fields, node targets, unreachable nodes, loops without input,
    callback campaigns that do not exist, and sounds an Asterisk node that answers lacks."""
    bad = 0
    flows: dict[Path, Flow] = {}
    for path in files:
        try:
            flows[path] = load_flow(path)
        except FlowError as exc:
            bad += 1
            _print_problems(exc.problems)
    outside = run(lambda: _outside_problems(flows))
    for path, flow in flows.items():
        if outside.get(path):
            bad += 1
            _print_problems(outside[path])
        else:
            console.print(f"{path}: ok ({len(flow.nodes)} nodes)", highlight=False, soft_wrap=True)
    if bad:
        raise typer.Exit(EXIT_USAGE)


def _print_problems(lines: list[str]) -> None:
    for line in lines:
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)


async def _outside_problems(flows: dict[Path, Flow]) -> dict[Path, list[str]]:
    """What the flows name that does not exist: campaigns (in the database, asked only when a
    flow has a callback node) and sounds (on every configured node that answers)."""
    problems: dict[Path, list[str]] = {path: [] for path in flows}
    campaigns = {path: campaign_refs(flow) for path, flow in flows.items()}
    if any(campaigns.values()):
        names = {r.name for refs in campaigns.values() for r in refs}
        known = await with_conn(lambda conn: store.existing_campaigns(conn, names))
        for path, refs in campaigns.items():
            problems[path] += [
                f"{path}: node {r.node!r}: field {r.field!r}: no campaign named {r.name!r}"
                for r in refs if r.name not in known
            ]  # fmt: skip
    sounds = {path: sound_refs(flow) for path, flow in flows.items()}
    wanted = {r.name for refs in sounds.values() for r in refs}
    for node in state.settings().nodes if wanted else []:
        try:
            missing = await sounds_missing_on(node, wanted)
        except PbxError as exc:
            err_console.print(
                f"note: Asterisk node {node.name} not reachable, its sounds are not checked: {exc}",
                highlight=False, markup=False, soft_wrap=True,
            )  # fmt: skip
            continue
        for path, refs in sounds.items():
            problems[path] += [
                f"{path}: node {r.node!r}: field {r.field!r}: sound {r.name!r} is not on"
                f" Asterisk node {node.name}"
                for r in refs if r.name in missing
            ]  # fmt: skip
    return problems


def _flow_file(directory: Path, name: str) -> Path:
    for ext in (".yaml", ".yml"):
        if (directory / f"{name}{ext}").is_file():
            return directory / f"{name}{ext}"
    fail(
        f"no flow {name!r} in {directory} (looked for {name}.yaml and {name}.yml)", code=EXIT_USAGE
    )
