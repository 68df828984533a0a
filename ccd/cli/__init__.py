"""The `ccd` command line: one typer app, one module per command group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ccd.cli import (
    blacklist,
    campaign,
    contacts,
    db,
    export,
    inbound,
    mailing,
    report,
    routing,
    segment,
    simulate,
    sms,
    smsc,
    user,
)  # fmt: skip
from ccd.cli import run as run_cli
from ccd.cli.common import state

app = typer.Typer(
    name="ccd",
    help="ccd: call-center back end beside Asterisk.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML settings file (default /etc/ccd/ccd.toml)"),
    ] = None,
) -> None:
    state.config_file = config


app.add_typer(db.app, name="db")
app.add_typer(campaign.app, name="campaign")
app.add_typer(routing.trunk_app, name="trunk")
app.add_typer(routing.route_app, name="route")
app.add_typer(blacklist.app, name="blacklist")
app.add_typer(user.app, name="user")
app.add_typer(inbound.app, name="inbound")
app.add_typer(inbound.ivr_app, name="ivr")
app.add_typer(run_cli.agent_app, name="agent")
app.add_typer(report.app, name="report")
app.add_typer(export.app, name="export")
app.add_typer(contacts.app, name="contacts")
app.add_typer(segment.app, name="segment")
app.add_typer(mailing.app, name="mailing")
app.add_typer(smsc.app, name="smsc")
app.add_typer(sms.app, name="sms")
app.command("run")(run_cli.run_cmd)
app.command("demo")(run_cli.demo_cmd)
app.command("simulate")(simulate.simulate_cmd)
app.command("erlang")(simulate.erlang_cmd)


def main() -> None:
    app()
