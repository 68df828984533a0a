"""The product as it runs: `ccd run` and the Asterisk double, each in a process of its own.

Tests drive ccd only as its users do: the `ccd` command line for campaigns, trunks, agents and
users; the HTTP API and its WebSockets for agents and supervisors; `/metrics` and `/readyz`
for ops. The double is driven through its control API (ccd.sim.asterisk.control), as the far
ends and the operator of a real Asterisk would act on it. Assertions may read PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from tests.dialer.conftest import eventually
from tests.dialer.helpers import free_port

PASSWORD = "ccdsecret"


def _wait_for_file(path: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        tail = log.read_text()[-3000:] if log.exists() else ""
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited {proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path.name} not written in {timeout} s:\n{tail}")
        time.sleep(0.05)


class DoubleProcess:
    """`python -m ccd.sim.asterisk`: ARI, AMI and the control API on loopback."""

    def __init__(self, workdir: Path, *, time_scale: float = 0.1, trunk_cap: int = 1000) -> None:
        self.workdir = workdir
        self.time_scale = time_scale
        self.trunk_cap = trunk_cap
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "double.log"
        self.info: dict[str, Any] = {}

    def start(self) -> None:
        """Start (again, on the same ports after a kill: a crashed Asterisk coming back)."""
        ready = self.workdir / "double.json"
        ready.unlink(missing_ok=True)
        args = [
            sys.executable, "-m", "ccd.sim.asterisk", "--ready-file", str(ready),
            "--time-scale", str(self.time_scale), "--password", PASSWORD,
            "--trunk-cap", f"city-trunk={self.trunk_cap}",
        ]  # fmt: skip
        if self.info:
            args += ["--ari-port", str(self.info["ari_port"]), "--ami-port",
                     str(self.info["ami_port"]), "--control-port",
                     self.info["control_url"].rsplit(":", 1)[1]]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        _wait_for_file(ready, self.proc, self.log, 30.0)
        self.info = json.loads(ready.read_text())

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def node(self) -> dict[str, Any]:
        """The [[nodes]] table of ccd's config for this double."""
        return {
            "name": "pbx1", "ari_url": self.info["ari_url"], "ari_password": PASSWORD,
            "ami_host": self.info["ami_host"], "ami_port": self.info["ami_port"],
            "ami_secret": PASSWORD,
        }  # fmt: skip

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, self.info["control_url"] + path, json=body) as resp,
        ):
            if resp.status >= 400:
                raise AssertionError(f"double {method} {path}: {resp.status} {await resp.text()}")
            return await resp.json()

    async def program(self, number: str, kind: str, **kw: Any) -> None:
        await self.control("POST", "/program", {"number": number, "far_end": {"kind": kind, **kw}})

    async def default_far_end(self, kind: str, **kw: Any) -> None:
        await self.control("POST", "/default", {"far_end": {"kind": kind, **kw}})

    async def inbound_call(self, did: str, caller: str, **far_end: Any) -> str:
        body: dict[str, Any] = {"did": did, "caller": caller}
        if far_end:
            body["far_end"] = {"kind": "answer", **far_end}
        return str((await self.control("POST", "/inbound", body))["channel_id"])

    async def hangup(self, channel_id: str, cause: int = 16) -> None:
        await self.control("POST", "/hangup", {"channel_id": channel_id, "cause": cause})

    async def restart(self, down_for: float = 1.8) -> None:
        await self.control("POST", "/restart", {"down_for": down_for})

    async def state(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.control("GET", "/state")
        return data

    async def bridge_of(self, channel_name_part: str) -> str | None:
        """The bridge of the first channel whose name contains the text (None: in none)."""
        for ch in (await self.state())["channels"]:
            if channel_name_part in ch["name"]:
                return ch["bridge"]
        return None


@dataclass
class Reply:
    status: int
    body: Any


class TerminalCli:
    """One `ccd` command on a pseudo-terminal, as people see it: rich's live views included."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int) -> None:
        self.proc = proc
        self._master = master
        self._chunks: list[bytes] = []
        self._reader = asyncio.get_running_loop().run_in_executor(None, self._drain)

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: the command closed its terminal
                return
            if not data:
                return
            self._chunks.append(data)

    def output(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    async def wait(self, within: float) -> int:
        try:
            code = await asyncio.wait_for(self.proc.wait(), within)
            await asyncio.wait_for(self._reader, 5.0)
            return code
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
                await self.proc.wait()
            os.close(self._master)


class CcdProcess:
    """`ccd run --config FILE` in a subprocess; the CLI and the HTTP API against it."""

    def __init__(
        self,
        workdir: Path,
        db_url: str,
        double: DoubleProcess,
        *,
        run_args: tuple[str, ...] = (),
        http: dict[str, Any] | None = None,
        extra_config: str = "",
    ) -> None:
        self.workdir = workdir
        self.db_url = db_url
        self.double = double
        self.port = free_port()
        self.config = workdir / "ccd.toml"
        self.log = workdir / "ccd.log"
        self.flows_dir = workdir / "flows"
        self.flows_dir.mkdir(exist_ok=True)
        self.run_args = run_args
        self.http = http or {}
        self.extra_config = extra_config  # TOML tables after the settings above
        self.proc: subprocess.Popen[bytes] | None = None
        self.write_config()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        node = self.double.node()
        lines = [
            f'database_url = "{self.db_url}"', f'data_dir = "{self.workdir / "data"}"',
            'log_level = "info"', 'log_format = "json"', "", "[http]",
            'host = "127.0.0.1"', f"port = {self.port}",
            *(f"{k} = {json.dumps(v)}" for k, v in self.http.items()), "", "[[nodes]]",
            *(f"{k} = {json.dumps(v)}" for k, v in node.items()),
        ]  # fmt: skip
        self.config.write_text("\n".join(lines) + "\n\n" + self.extra_config)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CCD_")}
        env["CCD_FLOWS_DIR"] = str(self.flows_dir)
        return env

    async def start(self, *, within: float = 30.0) -> None:
        args = [sys.executable, "-m", "ccd", "--config", str(self.config), "run", *self.run_args]
        # A Popen handle (not asyncio's) so that stop() and kill9() work from sync code too.
        self.proc = subprocess.Popen(  # noqa: ASYNC220
            args, env=self._env(), stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        await self.wait_ready(within)

    async def wait_ready(self, within: float = 30.0) -> None:
        async def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"ccd run exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                return (await self.get("/readyz")).status == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, within=within, what="ccd run /readyz 200")

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"ccd run ignored SIGTERM:\n{self.log_tail()}") from None

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def events(self, name: str) -> list[dict[str, Any]]:
        """ccd's JSON log lines whose event is `name`."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if f'"{name}"' in line:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("event") == name:
                    out.append(rec)
        return out

    # --- the command line ---

    async def cli(self, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ccd", "--config", str(self.config), *args,
            env={**self._env(), "COLUMNS": "200", **(env or {})},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        text = out.decode(errors="replace")
        if check and proc.returncode != 0:
            raise AssertionError(f"ccd {' '.join(args)} exited {proc.returncode}:\n{text}")
        return text

    async def cli_on_terminal(self, *args: str) -> TerminalCli:
        master, slave = pty.openpty()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ccd", "--config", str(self.config), *args,
            env={**self._env(), "COLUMNS": "200", "TERM": "xterm"},
            stdin=slave, stdout=slave, stderr=slave,
        )  # fmt: skip
        os.close(slave)
        return TerminalCli(proc, master)

    async def add_agent(self, login: str, endpoint: str, *campaigns: str) -> str:
        """`ccd agent add`; returns the agent's API token."""
        extra = [a for c in campaigns for a in ("--campaign", c)]
        out = await self.cli("agent", "add", login, "--endpoint", endpoint, *extra)
        match = re.search(r"token \(shown once\): (\S+)", out)
        assert match, out
        return match.group(1)

    async def add_supervisor(self, login: str, endpoint: str) -> str:
        """`ccd user add --role supervisor`, then POST /api/login; returns the session token."""
        await self.cli(
            "user", "add", login, "--role", "supervisor", "--endpoint", endpoint,
            env={"CCD_USER_PASSWORD": "s3cret-pass"},
        )  # fmt: skip
        reply = await self.post("/api/login", {"login": login, "password": "s3cret-pass"})
        assert reply.status == 200, reply
        return str(reply.body["token"])

    async def setup_campaign(
        self, name: str, phones: list[str], *create_args: str, trunk: bool = True
    ) -> None:
        """A trunk and a route (once), a campaign and its leads, all through the CLI."""
        if trunk:
            await self.cli("trunk", "add", "city1", "--kind", "city", "--template",
                           "PJSIP/{number}@city-trunk", "--channels", "100")  # fmt: skip
            await self.cli("route", "add", "+", "city1")
        await self.cli("campaign", "create", name, "--caller-id", "+74951234567",
                       "--hours", "00:00-23:59", *create_args)  # fmt: skip
        leads = self.workdir / f"{name}.csv"
        rows = "".join(f"{p},Customer {i}\n" for i, p in enumerate(phones))
        leads.write_text("phone,name\n" + rows)
        await self.cli("campaign", "load", name, str(leads))

    async def agent_state(self, token: str) -> str:
        reply = await self.get("/api/agent/me", token=token)
        assert reply.status == 200, reply
        return str(reply.body["state"])

    async def wait_agent(self, token: str, state: str, within: float = 20.0) -> None:
        async def reached() -> bool:
            return await self.agent_state(token) == state

        await eventually(reached, within=within, what=f"agent {state}")

    async def login_agent(self, login: str, endpoint: str, *campaigns: str) -> str:
        """`ccd agent add`, POST /api/agent/login, READY once the phone leg is up."""
        token = await self.add_agent(login, endpoint, *campaigns)
        reply = await self.post("/api/agent/login", token=token)
        assert reply.status == 200, reply
        await self.wait_agent(token, "READY")
        return token

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.db_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    # --- HTTP ---

    async def request(
        self, method: str, path: str, body: Any = None, *, token: str | None = None
    ) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession() as s,
            s.request(method, self.url + path, json=body, headers=headers) as resp,
        ):
            text = await resp.text()
            try:
                data: Any = json.loads(text) if text else None
            except ValueError:
                data = text
            return Reply(resp.status, data)

    async def get(self, path: str, *, token: str | None = None) -> Reply:
        return await self.request("GET", path, token=token)

    async def post(self, path: str, body: Any = None, *, token: str | None = None) -> Reply:
        return await self.request("POST", path, body if body is not None else {}, token=token)

    async def metrics(self) -> dict[str, float]:
        """`/metrics` as {"name{labels}": value}."""
        reply = await self.get("/metrics")
        assert reply.status == 200
        out: dict[str, float] = {}
        for line in str(reply.body).splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out
