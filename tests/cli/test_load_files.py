"""`ccd campaign load` of awkward files, and `kill -9` of a load (workers, part files)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from typer.testing import Result

from ccd.store import leads_import
from ccd.store.leads_import import PARALLEL_MIN_BYTES

Invoke = Callable[..., Awaitable[Result]]


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(name)] = (int(fields[1]), fields[0])
    return out


def _descendants(pid: int) -> tuple[set[int], set[int]]:
    """(children, grandchildren and deeper) of `pid`."""
    procs = _processes()
    children = {p for p, (ppid, _) in procs.items() if ppid == pid}
    deeper: set[int] = set()
    todo = list(children)
    while todo:
        parent = todo.pop()
        for p, (ppid, _) in procs.items():
            if ppid == parent and p not in deeper:
                deeper.add(p)
                todo.append(p)
    return children, deeper


def _parts(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".part"))


def _running(pids: set[int]) -> set[int]:
    procs = _processes()
    return {p for p in pids if p in procs and procs[p][1] != "Z"}


async def test_sigkill_of_a_load_leaves_no_worker_and_no_part_file(
    ccd: Invoke, db_url: str, tmp_path: Path
) -> None:
    assert (await ccd("campaign", "create", "k")).exit_code == 0
    src = tmp_path / "big.csv"
    with src.open("w") as f:  # noqa: ASYNC230 - a test's setup
        f.write("phone,name\nnot-a-phone,rejected at once\n")
        i = 0
        while f.tell() < 2 * PARALLEL_MIN_BYTES:  # big enough for worker processes
            f.write("".join(f"+7916{n:07d},name number {n}\n" for n in range(i, i + 10_000)))
            i += 10_000
    rejects = tmp_path / "big-rejects.csv"
    env = {**os.environ, "CCD_DATABASE_URL": db_url, "CCD_LOG_LEVEL": "warning"}
    env.pop("CCD_CONFIG", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ccd", "campaign", "load", "k", str(src), env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        workers: set[int] = set()
        for _ in range(600):  # the workers are the forkserver's children
            _, workers = _descendants(proc.pid)
            if len(workers) >= 2 and _parts(tmp_path):
                break
            assert proc.returncode is None, "the load ended before it could be killed"
            await asyncio.sleep(0.05)
        assert workers, "no worker process started"
        helpers = _descendants(proc.pid)[0] | workers
    finally:
        proc.kill()  # SIGKILL
        await proc.wait()
    part = f"big-rejects.csv.{proc.pid}.part"
    assert _parts(tmp_path) == [part]
    for _ in range(100):
        if not _running(helpers):
            break
        await asyncio.sleep(0.1)
    left = _running(helpers)
    for pid in left:  # a failing run must not leave them behind either
        os.kill(pid, signal.SIGKILL)
    assert not left, "worker processes outlived the killed import"

    small = tmp_path / "small.csv"
    small.write_text("phone\nbad\n+74951234567\n")
    r = await ccd("campaign", "load", "k", str(small), "--rejects", str(rejects))
    assert r.exit_code == 0, r.output
    assert _parts(tmp_path) == []  # the dead run's part is gone
    assert rejects.exists()


async def test_encoding_guess_is_printed_with_its_confidence(ccd: Invoke, tmp_path: Path) -> None:
    assert (await ccd("campaign", "create", "e")).exit_code == 0
    src = tmp_path / "latin.csv"
    src.write_bytes("phone;name\n+74951234567;Müller\n+74951234568;Françoise\n".encode("latin-1"))
    r = await ccd("campaign", "load", "e", str(src))
    assert r.exit_code == 0, r.output
    assert "2 rows in the file, read as cp1252 (guessed, 75% sure; --encoding overrides)" in (
        r.stdout
    )
    r = await ccd("campaign", "load", "e", str(src), "--encoding", "latin-1")
    assert r.exit_code == 0, r.output
    assert "read as latin-1 (as --encoding said)" in r.stdout
    r = await ccd("campaign", "load", "e", str(src), "--encoding", "utf-8")
    assert r.exit_code == 2
    assert "not utf-8: byte 25 on line 2 cannot be decoded" in " ".join(r.stderr.split())


async def test_a_rejects_file_over_its_limit_says_so(
    ccd: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leads_import, "REJECTS_LIMIT", 100)
    assert (await ccd("campaign", "create", "r")).exit_code == 0
    src = tmp_path / "junk.csv"
    src.write_text("phone\n" + "".join(f"junk{i}\n" for i in range(10)))
    r = await ccd("campaign", "load", "r", str(src))
    assert r.exit_code == 0, r.output
    assert f"rejected:    10 -> {tmp_path / 'junk-rejects.csv'} (7 of them not written:" in r.stdout
