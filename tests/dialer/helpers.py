"""Small builders for dialer tests: campaigns, leads, trunks and agents straight in SQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from ccd.sim.asterisk import AsteriskDouble


async def make_campaign(pool: asyncpg.Pool, name: str = "c1", **cols: Any) -> int:
    values = {"mode": "PREDICTIVE", "status": "draft", "caller_id": "+74950000000",
              "calling_hours_start": None, "dial_timeout_s": 15, **cols}  # fmt: skip
    if values["calling_hours_start"] is None:  # around the clock unless a test asks otherwise
        values["calling_hours_start"] = dt.time(0, 0)
        values.setdefault("calling_hours_end", dt.time.max)
    keys = ["name", *values]
    params = ", ".join(f"${i + 1}" for i in range(len(keys)))
    return await pool.fetchval(
        f"INSERT INTO campaigns ({', '.join(keys)}) VALUES ({params}) RETURNING id",
        name, *values.values(),
    )  # fmt: skip


async def add_leads(
    pool: asyncpg.Pool, campaign_id: int, phones: list[str], **cols: Any
) -> list[int]:
    cols.setdefault("next_attempt_at", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))  # due long ago
    keys = ["campaign_id", "phone", *cols]
    rows = [(campaign_id, p, *cols.values()) for p in phones]
    await pool.copy_records_to_table("leads", records=rows, columns=keys)
    got = await pool.fetch(
        "SELECT id FROM leads WHERE campaign_id = $1 AND phone = ANY($2) ORDER BY id",
        campaign_id, phones,
    )  # fmt: skip
    return [r["id"] for r in got]


async def add_trunk(
    pool: asyncpg.Pool, name: str = "city", template: str = "PJSIP/{number}@city-trunk",
    max_channels: int = 1000, prefix: str = "+",
) -> int:  # fmt: skip
    tid = await pool.fetchval(
        "INSERT INTO trunks (name, kind, dial_template, max_channels) VALUES ($1, 'sip', $2, $3)"
        " RETURNING id",
        name, template, max_channels,
    )  # fmt: skip
    await pool.execute("INSERT INTO routes (prefix, trunk_id) VALUES ($1, $2)", prefix, tid)
    return tid


def phones(n: int, start: int = 0, prefix: str = "+7495") -> list[str]:
    return [f"{prefix}{start + i:07d}" for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_daemon(
    db_url: str, double: AsteriskDouble, port: int, log: Path, **env_extra: str
) -> subprocess.Popen[bytes]:
    """`ccd run` in a subprocess, configured for one node: the double's ARI and AMI."""
    env = dict(os.environ)
    env.update(
        CCD_DATABASE_URL=db_url,
        CCD_NODES=json.dumps(
            [
                {
                    "name": "pbx1",
                    "ari_url": double.ari_url,
                    "ari_password": "ccdsecret",
                    "ami_host": double.ami_host,
                    "ami_port": double.ami_port,
                    "ami_secret": "ccdsecret",
                }
            ]  # fmt: skip
        ),
        CCD_HTTP__PORT=str(port),
        CCD_LOG_FORMAT="json",
        **env_extra,
    )
    env.pop("CCD_CONFIG", None)
    args = [sys.executable, "-m", "ccd", "run", "--orphan-after", "0.5",
            "--wrapup-timeout", "0.2", "--reconcile-every", "0.5"]  # fmt: skip
    return subprocess.Popen(args, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


@asynccontextmanager
async def database_down(pg_admin_url: str, db_url: str) -> AsyncIterator[None]:
    """Every connection to the test database is cut and new ones are refused until exit."""
    name = urlsplit(db_url).path.lstrip("/")
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
