"""`ccd smsc`: the SMPP links ccd binds to (one per carrier account), and a test message."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import asyncpg
import typer
from pydantic import ValidationError
from rich.table import Table

from ccd.cli.common import EXIT_FAILURE, EXIT_USAGE, console, fail, run, with_conn
from ccd.domain.phones import InvalidNumber, normalize
from ccd.messaging.sms.encoding import EncodingError, count_parts
from ccd.messaging.sms.gateway import PartStatus, SmsGateway
from ccd.messaging.sms.receipts import Receipt
from ccd.messaging.sms.settings import LinkSettings
from ccd.store import smsc as store

app = typer.Typer(help="SMSC links: SMPP accounts at carriers' SMS centers.", no_args_is_help=True)

_FLAG = {"name": "NAME", "host": "--host", "port": "--port", "system_id": "--system-id",
         "password": "--password", "system_type": "--system-type", "tps": "--tps",
         "window": "--window", "prefixes": "--prefix", "source_addr": "--source-addr"}  # fmt: skip


def _prefixes(values: list[str] | None) -> tuple[str, ...]:
    """--prefix +7916,+7903 --prefix +7925: commas or repeats, blanks ignored."""
    return tuple(p.strip() for v in values or [] for p in v.split(",") if p.strip())


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="link name (letters, digits, . _ -)")],
    host: Annotated[str, typer.Option("--host", help="the SMSC's address")],
    port: Annotated[int, typer.Option("--port", help="the SMSC's SMPP port")],
    system_id: Annotated[str, typer.Option("--system-id", help="account (at most 15 chars)")],
    password: Annotated[str, typer.Option("--password", help="account password (at most 8)")],
    system_type: Annotated[str, typer.Option("--system-type", help="if the carrier asks")] = "",
    tps: Annotated[
        int | None, typer.Option("--tps", help="submit_sm per second (default: no limit)")
    ] = None,
    window: Annotated[int, typer.Option("--window", help="submit_sm awaiting their resp")] = 10,
    prefix: Annotated[
        list[str] | None,
        typer.Option("--prefix", help="numbers it serves: +7916,+7903 (default: any number)"),
    ] = None,
    source_addr: Annotated[
        str, typer.Option("--source-addr", help="sender: alphanumeric name or number")
    ] = "",
) -> None:
    """Add an SMSC link."""
    try:
        link = LinkSettings(
            name=name, host=host, port=port, system_id=system_id, password=password,
            system_type=system_type, tps=tps, window=window, prefixes=_prefixes(prefix),
            source_addr=source_addr,
        )  # fmt: skip
    except ValidationError as exc:
        fail("; ".join(f"{_FLAG.get(str(e['loc'][0]), e['loc'][0])}: "
                       f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()),
             code=EXIT_USAGE)  # fmt: skip

    async def go(conn: asyncpg.Connection) -> int:
        try:
            return await store.add_link(conn, link)
        except store.SmscError as exc:
            fail(str(exc), code=EXIT_USAGE)

    link_id = run(lambda: with_conn(go))
    console.print(f"SMSC link {name} added (id {link_id})", highlight=False)


@app.command("list")
def list_cmd() -> None:
    """List SMSC links (passwords are not shown)."""
    links = run(lambda: with_conn(store.list_links))
    table = Table("name", "host:port", "system id", "tps", "window", "prefixes", "source")
    for s in links:
        table.add_row(s.name, f"{s.host}:{s.port}", s.system_id, str(s.tps or "no limit"),
                      str(s.window), ",".join(s.prefixes) or "any", s.source_addr)  # fmt: skip
    console.print(table)


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="the link to remove")]) -> None:
    """Remove an SMSC link."""

    async def go(conn: asyncpg.Connection) -> None:
        try:
            await store.remove_link(conn, name)
        except store.SmscError as exc:
            fail(str(exc), code=EXIT_USAGE)

    run(lambda: with_conn(go))
    console.print(f"SMSC link {name} removed", highlight=False)


@app.command("test")
def test(
    name: Annotated[str, typer.Argument(help="the link to test")],
    to: Annotated[str, typer.Option("--to", help="number to send a test message to")],
    text: Annotated[str, typer.Option("--text", help="the message")] = "ccd SMSC link test",
    wait: Annotated[float, typer.Option("--wait", help="seconds to wait for receipts")] = 10.0,
) -> None:
    """Bind NAME, send one message over it and print its parts and their receipts."""
    try:
        number = normalize(to).e164
    except InvalidNumber as exc:
        fail(f"--to: {exc}", code=EXIT_USAGE)
    parts = count_parts(text)
    if not parts:
        fail("--text: an SMS needs at least one character", code=EXIT_USAGE)

    async def go() -> None:
        links = await with_conn(store.list_links)
        link = next((s for s in links if s.name == name), None)
        if link is None:
            fail(f"NAME: no SMSC link named {name!r}", code=EXIT_USAGE)
        # the test goes over this link whatever number it is: its prefixes do not apply
        all_in = asyncio.Event()

        def heard(receipt: Receipt) -> None:
            receipts.append(receipt)
            if len(receipts) >= parts:
                all_in.set()

        gw = SmsGateway([link.model_copy(update={"prefixes": ()})],
                        on_receipt=heard, on_inbound=lambda m: None)  # fmt: skip
        gw.start()
        try:
            try:
                await gw.links[name].wait_bound(min(wait, 10.0) or 10.0)
            except TimeoutError:
                fail(f"{name}: not bound to {link.host}:{link.port} (see the log for why)")
            console.print(f"{name}: bound", highlight=False)
            try:
                result = await gw.send(number, text, "test")
            except EncodingError as exc:  # more parts than a UDH can number
                fail(f"--text: {exc}", code=EXIT_USAGE)
            for p in result.parts:
                console.print(f"part {p.part}/{parts}: {p.status.value} {p.message_id or ''}"
                              f"{p.error or ''}", highlight=False)  # fmt: skip
            if any(p.status is not PartStatus.ACCEPTED for p in result.parts):
                raise typer.Exit(EXIT_FAILURE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_in.wait(), wait)
        finally:
            await gw.close()
        for r in receipts:
            console.print(f"receipt part {r.part}: {r.state.value} at {r.at:%Y-%m-%d %H:%M}",
                          highlight=False)  # fmt: skip
        if len(receipts) < parts:
            console.print(f"{parts - len(receipts)} receipt(s) not in within {wait:g} s",
                          highlight=False)  # fmt: skip

    receipts: list[Receipt] = []
    run(go)
