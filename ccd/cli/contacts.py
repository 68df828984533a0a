"""`ccd contacts`: import a contacts file, show one person, record consent by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.table import Table
from rich.text import Text

from ccd.cli.common import EXIT_USAGE, RegionOpt, RejectsOpt, console, fail, run, with_conn
from ccd.messaging.contact_rows import CHANNELS
from ccd.store import contacts as store

app = typer.Typer(help="Contacts: import, show, consent.", no_args_is_help=True)


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX contacts file")],
    region: RegionOpt = None,
    rejects: RejectsOpt = None,
    source: Annotated[
        str | None, typer.Option("--source", help="where the attributes come from (default: file)")
    ] = None,
) -> None:
    """Add or update contacts from a file, all or nothing. Columns: phone and/or email, fax,
    first_name, last_name, birth_date, age_group, gender, language, social_status, time_zone,
    preferred_channels, consent_sms / consent_email / consent_fax / consent_call (yes/no);
    other columns are kept as fields."""

    async def go(conn: asyncpg.Connection) -> store.ContactImportResult:
        try:
            return await store.import_contacts(
                conn, file, region=region, rejects_path=rejects, source=source
            )
        except store.ContactImportError as exc:
            fail(str(exc), code=EXIT_USAGE)

    r = run(lambda: with_conn(go))
    console.print(f"{r.rows} rows in the file", highlight=False)
    console.print(f"created:     {r.created}", highlight=False)
    console.print(f"updated:     {r.updated}", highlight=False)
    console.print(f"duplicate:   {r.duplicates}", highlight=False)
    console.print(f"consents:    {r.consents}", highlight=False)
    console.print(f"leads linked: {r.leads_linked}", highlight=False)
    where = f" -> {r.rejects_path}" if r.rejects_path else ""
    console.print(f"rejected:    {r.rejected}{where}", highlight=False)


@app.command()
def show(key: Annotated[str, typer.Argument(help="E.164 phone or e-mail address")]) -> None:
    """A contact: attributes (with their source), consent history, every call and message."""

    async def go(
        conn: asyncpg.Connection,
    ) -> tuple[asyncpg.Record, dict[str, list[asyncpg.Record]]]:
        contact = await store.find_contact(conn, key)
        if contact is None:
            fail(f"no contact with phone or e-mail {key!r}", code=EXIT_USAGE)
        return contact, await store.contact_history(conn, contact["id"])

    c, history = run(lambda: with_conn(go))
    sources = c["sources"]
    attrs = Table("attribute", "value", "source", title=f"contact {c['id']}")
    for name in ("phone", "email", "fax", "first_name", "last_name", "birth_date", "age_group",
                 "gender", "language", "social_status", "time_zone"):  # fmt: skip
        if c[name] is not None:
            attrs.add_row(name, str(c[name]), sources.get(name, ""))
    if c["preferred_channels"]:
        attrs.add_row("preferred_channels", ", ".join(c["preferred_channels"]),
                      sources.get("preferred_channels", ""))  # fmt: skip
    for name, value in c["fields"].items():
        attrs.add_row(f"fields.{name}", str(value), "")
    if c["email_bad_at"] is not None:
        attrs.add_row("email_bad_at", str(c["email_bad_at"]), "permanent SMTP failure")
    console.print(attrs)
    consent = Table("at", "channel", "purpose", "status", "how", "proof", title="consent history")
    for r in history["consent"]:
        consent.add_row(str(r["at"]), r["channel"], r["purpose"], r["status"], r["method"],
                        Text(json.dumps(r["proof"], ensure_ascii=False)))  # fmt: skip
    console.print(consent)
    calls = Table("at", "campaign", "phone", "outcome", "disposition", title="calls")
    for r in history["calls"]:
        calls.add_row(str(r["at"]), r["campaign"], r["phone"], r["outcome"] or "",
                      r["disposition"] or "")  # fmt: skip
    console.print(calls)
    msgs = Table("at", "mailing", "channel", "address", "state", "reason", title="messages")
    for r in history["messages"]:
        msgs.add_row(str(r["at"]), r["mailing"], r["channel"] or "", r["address"] or "",
                     r["state"], r["reason"] or "")  # fmt: skip
    console.print(msgs)
    sms = Table("at", "", "text", "keyword / kind", "state", title="SMS (inbox)")
    for r in history["sms"]:
        sms.add_row(str(r["at"]), "from" if r["direction"] == "in" else "to", Text(r["text"]),
                    r["keyword"] or "", r["state"])  # fmt: skip
    console.print(sms)


@app.command()
def consent(
    key: Annotated[str, typer.Argument(help="E.164 phone or e-mail address")],
    status: Annotated[str, typer.Argument(help="opt-in or opt-out")],
    channel: Annotated[
        list[str], typer.Option("--channel", help="call, sms, email, fax (repeat; default all)")
    ] = [],  # noqa: B006 - typer reads the default, never mutates it
    purpose: Annotated[str, typer.Option("--purpose", help="service or marketing")] = "marketing",
    note: Annotated[str, typer.Option("--note", help="the proof: who asked, how")] = "",
) -> None:
    """Record a consent change by hand (kept in the history with the note as its proof)."""
    wanted = {"opt-in": "opt_in", "opt_in": "opt_in", "opt-out": "opt_out", "opt_out": "opt_out"}
    if status not in wanted:
        raise typer.BadParameter("expected opt-in or opt-out", param_hint="'STATUS'")
    if bad := [c for c in channel if c not in CHANNELS]:
        raise typer.BadParameter(f"unknown channel {bad[0]!r}", param_hint="'--channel'")
    if purpose not in ("service", "marketing"):
        raise typer.BadParameter("expected service or marketing", param_hint="'--purpose'")

    async def go(conn: asyncpg.Connection) -> int:
        contact = await store.find_contact(conn, key)
        if contact is None:
            fail(f"no contact with phone or e-mail {key!r}", code=EXIT_USAGE)
        await store.record_consent(conn, contact["id"], channel or list(CHANNELS), purpose,
                                   wanted[status], "cli", {"note": note})  # fmt: skip
        return int(contact["id"])

    cid = run(lambda: with_conn(go))
    console.print(f"contact {cid}: {wanted[status]} ({purpose}) on "
                  f"{', '.join(channel or CHANNELS)}", highlight=False)  # fmt: skip
