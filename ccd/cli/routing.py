"""`ccd trunk` and `ccd route`: how calls go out, and which trunks serve which prefixes."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import typer
from pydantic import ValidationError
from rich.table import Table

from ccd.cli.common import EXIT_USAGE, console, fail, run, state, with_conn
from ccd.domain.campaigns import TrunkKind
from ccd.store import routing as store

trunk_app = typer.Typer(help="Trunks: SIP trunks, city lines, 8800 lines.", no_args_is_help=True)
route_app = typer.Typer(help="Routes: number prefix -> ordered trunks.", no_args_is_help=True)

_FLAG = {"name": "NAME", "kind": "--kind", "dial_template": "--template",
         "max_channels": "--channels", "node": "--node"}  # fmt: skip


@trunk_app.command("add")
def trunk_add(
    name: Annotated[str, typer.Argument(help="trunk name (letters, digits, . _ -)")],
    kind: Annotated[TrunkKind, typer.Option("--kind", help="what the line is")],
    template: Annotated[
        str,
        typer.Option("--template", help="Asterisk dial string with {number}: PJSIP/{number}@city"),
    ],
    channels: Annotated[int, typer.Option("--channels", help="most calls at once on it")],
    node: Annotated[
        str | None, typer.Option("--node", help="Asterisk node that owns it (default: any)")
    ] = None,
    allow_fork: Annotated[
        bool,
        typer.Option("--allow-fork", help="let '&' in the template dial several channels at once"),
    ] = False,
) -> None:
    """Add a trunk."""
    try:
        spec = store.TrunkSpec(
            name=name, kind=kind, dial_template=template, max_channels=channels, node=node,
            allow_fork=allow_fork,
        )  # fmt: skip
    except ValidationError as exc:
        fail(
            "; ".join(
                f"{_FLAG.get(str(e['loc'][0]), e['loc'][0])}: "
                f"{e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            ),
            code=EXIT_USAGE,
        )
    nodes = [n.name for n in state.settings().nodes]
    if node is not None and nodes and node not in nodes:
        fail(f"--node: no node named {node!r} in the settings (known: {', '.join(nodes)})",
             code=EXIT_USAGE)  # fmt: skip

    async def go(conn: asyncpg.Connection) -> int:
        try:
            return await store.add_trunk(conn, spec)
        except store.RoutingError as exc:
            fail(str(exc), code=EXIT_USAGE)

    trunk_id = run(lambda: with_conn(go))
    console.print(f"trunk {name} added (id {trunk_id})")


@trunk_app.command("list")
def trunk_list() -> None:
    """List trunks."""
    rows = run(lambda: with_conn(store.list_trunks))
    table = Table("id", "name", "kind", "dial template", "channels", "node", "enabled")
    for r in rows:
        table.add_row(
            str(r["id"]), r["name"], r["kind"], r["dial_template"], str(r["max_channels"]),
            r["node"] or "any", "yes" if r["enabled"] else "no",
        )  # fmt: skip
    console.print(table)


@route_app.command("add")
def route_add(
    prefix: Annotated[str, typer.Argument(help="E.164 prefix: +7495, +7, or + for every number")],
    trunks: Annotated[list[str], typer.Argument(help="trunk names, preferred first")],
    replace: Annotated[
        bool, typer.Option("--replace", help="replace the trunks of an existing prefix")
    ] = False,
) -> None:
    """Route numbers starting with PREFIX to TRUNKS, tried in the order given."""

    async def go(conn: asyncpg.Connection) -> None:
        try:
            await store.add_route(conn, prefix, trunks, replace=replace)
        except store.RoutingError as exc:
            fail(str(exc), code=EXIT_USAGE)

    run(lambda: with_conn(go))
    console.print(f"route {store.check_prefix(prefix)} -> {', '.join(trunks)}", highlight=False)


@route_app.command("remove")
def route_remove(prefix: Annotated[str, typer.Argument(help="the prefix to unroute")]) -> None:
    """Remove the route of PREFIX."""

    async def go(conn: asyncpg.Connection) -> int:
        try:
            return await store.remove_route(conn, prefix)
        except store.RoutingError as exc:
            fail(str(exc), code=EXIT_USAGE)

    run(lambda: with_conn(go))
    console.print(f"route {store.check_prefix(prefix)} removed", highlight=False)


@route_app.command("list")
def route_list() -> None:
    """List routes, longest (most specific) prefix first."""
    routes = run(lambda: with_conn(store.list_routes))
    table = Table("prefix", "trunks (preferred first)")
    for prefix, names in routes:
        table.add_row(prefix, ", ".join(names))
    console.print(table)
