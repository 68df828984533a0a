"""`ccd sms keyword`: the rules customers' SMS are matched by (first word, any case)."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import typer
from rich.table import Table

from ccd.cli.common import EXIT_USAGE, console, fail, run, with_conn
from ccd.messaging.keywords import KeywordError
from ccd.store import sms_keywords as store

app = typer.Typer(help="Inbound SMS: keyword rules.", no_args_is_help=True)
keyword_app = typer.Typer(
    help="Keyword rules: what a customer's SMS starting with CODE does.", no_args_is_help=True
)
app.add_typer(keyword_app, name="keyword")


@keyword_app.command("add")
def add(
    code: Annotated[str, typer.Argument(help="one word: VOTE, ЗАПИСЬ, 1 (any case)")],
    reply: Annotated[
        str | None,
        typer.Option("--reply", help="SMS sent back; {first_name} and {code} are filled in"),
    ] = None,
    assign: Annotated[
        str, typer.Option("--assign", help="inbox: a manager answers; auto: the reply does")
    ] = "inbox",
    opt_out: Annotated[
        bool, typer.Option("--opt-out", help="opt the sender out of marketing SMS")
    ] = False,
    opt_in: Annotated[
        bool, typer.Option("--opt-in", help="opt the sender in to marketing SMS")
    ] = False,
) -> None:
    """Add a keyword rule."""
    if opt_out and opt_in:
        fail("--opt-out, --opt-in: one or the other", code=EXIT_USAGE)
    consent = "opt_out" if opt_out else "opt_in" if opt_in else None

    async def go(conn: asyncpg.Connection) -> None:
        try:
            rule = await store.add_keyword(conn, code, reply=reply, assign=assign,
                                           consent=consent)  # fmt: skip
        except KeywordError as exc:
            fail(str(exc), code=EXIT_USAGE)
        extra = f", {rule.consent.value.replace('_', '-')}" if rule.consent else ""
        console.print(f"keyword {rule.code} added ({rule.assign.value}{extra})", highlight=False)

    run(lambda: with_conn(go))


@keyword_app.command("list")
def list_cmd() -> None:
    """The rules, the built-in STOP words included."""
    rules = run(lambda: with_conn(store.load_rules))
    table = Table("code", "assign", "consent", "reply", "")
    for r in sorted(rules.all(), key=lambda r: (r.builtin, r.code)):
        table.add_row(r.code, r.assign.value, r.consent.value if r.consent else "",
                      r.reply or "", "built in" if r.builtin else "")  # fmt: skip
    console.print(table)


@keyword_app.command("remove")
def remove(code: Annotated[str, typer.Argument(help="the rule's code")]) -> None:
    """Remove a keyword rule (the built-in STOP words stay)."""

    async def go(conn: asyncpg.Connection) -> None:
        try:
            await store.remove_keyword(conn, code)
        except KeywordError as exc:
            fail(str(exc), code=EXIT_USAGE)

    run(lambda: with_conn(go))
    console.print(f"keyword {code} removed", highlight=False)
