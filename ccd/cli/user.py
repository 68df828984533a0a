"""`ccd user`: console users (agents, supervisors, admins) and their passwords."""

from __future__ import annotations

from typing import Annotated

import asyncpg
import typer
from rich.table import Table

from ccd.cli.common import EXIT_USAGE, console, fail, run, with_conn
from ccd.store import users as user_store

app = typer.Typer(help="Console users: add, list, change password, disable.", no_args_is_help=True)

PasswordOpt = Annotated[
    str,
    typer.Option(
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="CCD_USER_PASSWORD",
        help="the password (prompted when not given; or env CCD_USER_PASSWORD)",
    ),
]


@app.command()
def add(
    login: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[
        str, typer.Option("--role", help="agent, supervisor, admin or manager (SMS inbox)")
    ],
    password: PasswordOpt,
    name: Annotated[str, typer.Option("--name", help="display name")] = "",
    agent: Annotated[
        str | None, typer.Option("--agent", help="agent login (or id) this agent user is")
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint", help="supervisor's phone for listen/whisper/barge, e.g. PJSIP/sup1"
        ),
    ] = None,
) -> None:
    """Add a user. An agent user is linked to an existing agent with --agent."""

    async def go(conn: asyncpg.Connection) -> user_store.User:
        agent_id = None
        if agent is not None:
            agent_id = await conn.fetchval(
                "SELECT id FROM agents WHERE login = $1 OR id::text = $1", agent
            )
            if agent_id is None:
                fail(f"--agent: no agent {agent!r}", code=EXIT_USAGE)
        try:
            return await user_store.add_user(
                conn, login, password, role, name=name, agent_id=agent_id, endpoint=endpoint
            )
        except user_store.UserError as exc:
            fail(str(exc), code=EXIT_USAGE)

    user = run(lambda: with_conn(go))
    console.print(f"user {user.login} ({user.role}) added with id {user.id}")


@app.command("list")
def list_() -> None:
    """List users."""
    users = run(lambda: with_conn(user_store.list_users))
    table = Table("id", "login", "name", "role", "agent", "endpoint", "disabled")
    for u in users:
        table.add_row(
            str(u.id), u.login, u.name, u.role, str(u.agent_id or ""), u.endpoint or "",
            "yes" if u.disabled else "",
        )  # fmt: skip
    console.print(table)


@app.command()
def passwd(login: Annotated[str, typer.Argument(help="login name")], password: PasswordOpt) -> None:
    """Set a new password; the user's open sessions end."""

    async def go(conn: asyncpg.Connection) -> None:
        try:
            await user_store.set_password(conn, login, password)
        except user_store.UserError as exc:
            fail(str(exc), code=EXIT_USAGE)

    run(lambda: with_conn(go))
    console.print(f"password of {login} changed")


@app.command()
def disable(
    login: Annotated[str, typer.Argument(help="login name")],
    enable: Annotated[bool, typer.Option("--enable", help="enable the user again instead")] = False,
) -> None:
    """Disable a user (their sessions end at once), or enable again with --enable."""

    async def go(conn: asyncpg.Connection) -> None:
        try:
            await user_store.set_disabled(conn, login, not enable)
        except user_store.UserError as exc:
            fail(str(exc), code=EXIT_USAGE)

    run(lambda: with_conn(go))
    console.print(f"user {login} {'enabled' if enable else 'disabled'}")
