"""`ccd run` (the daemon), `ccd demo` (a simulated call center) and `ccd agent` (agent accounts)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import asyncpg
import typer
from rich.table import Table
from rich.text import Text

from ccd.cli.common import EXIT_USAGE, console, fail, run, state, with_conn
from ccd.log import get_logger
from ccd.store import agents as agent_store

if TYPE_CHECKING:
    from ccd.dialer.daemon import EngineConfig
    from ccd.inbound.flow import Flow

log = get_logger(__name__)

agent_app = typer.Typer(
    help="Agent accounts: add, list, new token, disable, enable.", no_args_is_help=True
)


def run_cmd(
    orphan_after: Annotated[
        float, typer.Option(help="seconds before an attempt no process holds is settled")
    ] = 60.0,
    wrapup_timeout: Annotated[
        float, typer.Option(help="seconds of wrap-up before a talked call is END automatically")
    ] = 120.0,
    reconcile_every: Annotated[
        float, typer.Option(help="seconds between reconciliation passes")
    ] = 30.0,
    time_scale: Annotated[
        float,
        typer.Option(
            min=1.0, hidden=True,
            help="simulated seconds per real second, for a simulated PBX and agents (tests)",
        ),
    ] = 1.0,
) -> None:
    """Run the daemon: every running campaign, the agent API; SIGTERM stops it gracefully."""
    from ccd.dialer.daemon import EngineConfig

    settings = state.settings()
    if not settings.nodes:
        fail("no Asterisk node configured: add [[nodes]] to the config file", code=EXIT_USAGE)
    config = EngineConfig(
        orphan_after_s=orphan_after,
        wrapup_timeout_s=wrapup_timeout,
        wrapup_grace_s=wrapup_timeout + 60.0,
        reconcile_interval_s=reconcile_every,
    )
    if time_scale != 1.0:
        config = config.accelerated(time_scale)
    run(lambda: _daemon(config))


async def _daemon(config: EngineConfig) -> None:
    from ccd.ops.heap import freeze_startup_objects
    from ccd.service import Service
    from ccd.telephony.errors import AmiAuthError

    try:
        service = await Service.create(
            state.settings(), state.db_url(), config, flows=_inbound_flows
        )
    except (OSError, asyncpg.PostgresError) as exc:
        fail(f"cannot connect to the database: {exc}")
    try:
        try:
            await service.start()
        except AmiAuthError as exc:
            fail(str(exc))
        log.info(
            "daemon.serving", http=f"{service.settings.http.host}:{service.http_port}",
            heap_frozen=freeze_startup_objects(),
        )  # fmt: skip
        await service.serve()
    finally:
        await service.stop()


def _inbound_flows() -> dict[str, Flow]:
    """The IVR flows for inbound calls; none (inbound not answered) without a flows directory."""
    from ccd.inbound.flow import FlowError, load_flows
    from ccd.inbound.settings import flows_dir

    directory = flows_dir()
    if not directory.is_dir():
        log.warning("daemon.no_inbound_flows", directory=str(directory))
        return {}
    try:
        return load_flows(directory)
    except FlowError as exc:
        fail(str(exc), code=EXIT_USAGE)


def demo_cmd(
    leads: Annotated[int, typer.Option(help="leads in the sample campaign")] = 3000,
    agents: Annotated[int, typer.Option(help="simulated agents")] = 12,
    speed: Annotated[float, typer.Option(help="simulated seconds per real second")] = 150.0,
    max_seconds: Annotated[float, typer.Option(help="stop after this many real seconds")] = 75.0,
    mailing: Annotated[
        bool, typer.Option("--mailing", help="an SMS and e-mail mailing instead of calls")
    ] = False,
) -> None:
    """A simulated call center: embedded PostgreSQL, simulated PBX, a predictive campaign
    (or, with --mailing, a segmented mailing through a simulated SMSC and mail relay)."""
    from ccd.log import configure_logging
    from ccd.sim.demo import DemoOptions, run_demo
    from ccd.store import migrate

    url = state.db_url()
    # The live table is the demo's output; only warnings and errors go to the log.
    configure_logging("warning", state.settings().log_format)
    migrate.upgrade(url)
    if mailing:
        from ccd.sim.mailing_demo import MailingDemoOptions, run_mailing_demo

        demo = MailingDemoOptions(max_seconds=max_seconds)
        run(lambda: run_mailing_demo(state.settings(), url, demo, console))
        return
    opts = DemoOptions(leads=leads, agents=agents, speed=speed, max_seconds=max_seconds)
    run(lambda: run_demo(state.settings(), url, opts, console))


@agent_app.command("add")
def agent_add(
    login: Annotated[str, typer.Argument(help="login name")],
    endpoint: Annotated[str, typer.Option("--endpoint", help="the agent's phone, PJSIP/agent101")],
    name: Annotated[str, typer.Option("--name", help="display name")] = "",
    campaign: Annotated[
        list[str] | None, typer.Option("--campaign", help="campaign name (repeatable); none = all")
    ] = None,
) -> None:
    """Add an agent and print its API token (shown once; only its hash is kept)."""
    if "/" not in endpoint:
        fail("--endpoint: give a channel endpoint such as PJSIP/agent101", code=EXIT_USAGE)

    async def go(conn: asyncpg.Connection) -> tuple[int, str]:
        ids: list[int] = []
        for cname in campaign or []:
            cid = await conn.fetchval("SELECT id FROM campaigns WHERE name = $1", cname)
            if cid is None:
                fail(f"--campaign: no campaign named {cname!r}", code=EXIT_USAGE)
            ids.append(cid)
        try:
            return await agent_store.add_agent(
                conn, login, name or login, endpoint, tuple(ids), token_ttl=_token_ttl()
            )
        except agent_store.AgentError as exc:
            fail(str(exc), code=EXIT_USAGE)

    agent_id, token = run(lambda: with_conn(go))
    console.print(f"agent {login} added (id {agent_id})")
    _print_token(token)


def _token_ttl() -> timedelta:
    return timedelta(days=state.settings().http.agent_token_days)


def _print_token(token: str) -> None:
    days = state.settings().http.agent_token_days
    console.print(
        Text.assemble("token (shown once): ", (token, "bold"), f" (works {days} days)"),
        highlight=False,
    )


@agent_app.command("token")
def agent_token(login: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Issue a new API token for an agent (the old one stops working, its sockets close)."""

    async def go(conn: asyncpg.Connection) -> str:
        agent_id = await conn.fetchval("SELECT id FROM agents WHERE login = $1", login)
        if agent_id is None:
            fail(f"no agent {login!r}", code=EXIT_USAGE)
        return await agent_store.set_token(conn, agent_id, token_ttl=_token_ttl())

    _print_token(run(lambda: with_conn(go)))


def _set_enabled(login: str, enabled: bool) -> None:
    async def go(conn: asyncpg.Connection) -> None:
        try:
            await agent_store.set_enabled(conn, login, enabled)
        except LookupError as exc:
            fail(str(exc), code=EXIT_USAGE)

    run(lambda: with_conn(go))
    console.print(f"agent {login} {'enabled' if enabled else 'disabled'}")


@agent_app.command("disable")
def agent_disable(login: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Disable an agent: its token and its user's sessions stop working, sockets close."""
    _set_enabled(login, False)


@agent_app.command("enable")
def agent_enable(login: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Enable a disabled agent again."""
    _set_enabled(login, True)


@agent_app.command("list")
def agent_list() -> None:
    """Agents, their phones, campaigns, current state, and until when their token works."""
    rows = run(lambda: with_conn(agent_store.list_agents))
    table = Table("id", "login", "name", "endpoint", "campaigns", "state", "token until")
    for a in rows:
        cids = ",".join(str(c) for c in sorted(a.campaign_ids)) or "all"
        state_text = a.state.value if a.enabled else f"{a.state.value} (disabled)"
        until = f"{a.token_expires_at:%Y-%m-%d}" if a.token_expires_at else "-"
        table.add_row(str(a.id), a.login, a.name, a.endpoint, cids, state_text, until)
    console.print(table)
