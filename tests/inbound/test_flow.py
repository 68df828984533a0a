"""The flow model and checker: error lines name file, node and field; graph problems."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccd.cli import app
from ccd.inbound.flow import FlowError, HoursNode, MenuNode, load_flow, load_flows

FLOWS = Path(__file__).resolve().parents[2] / "flows"


def write(tmp_path: Path, text: str, name: str = "main.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(FlowError) as info:
        load_flow(path)
    return info.value.problems


def test_shipped_flows_load() -> None:
    flows = load_flows(FLOWS)
    assert set(flows) == {"main", "tollfree"}
    menu = flows["main"].nodes["menu"]
    assert isinstance(menu, MenuNode) and menu.options["1"] == "support"


def test_unknown_target_names_file_node_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
start: menu1
nodes:
  menu1:
    kind: menu
    prompt: sound:main
    options: {"1": support, "5": sales}
    fallback: bye
  support: {kind: queue, queue: support, overflow: bye}
  bye: {kind: hangup}
""",
    )
    assert problems(path) == [f"{path}: node 'menu1': field 'options.5': unknown node 'sales'"]


def test_recording_settings_of_a_flow(tmp_path: Path) -> None:
    base = "start: a\nnodes:\n  a: {kind: hangup}\n"
    flow = load_flow(write(tmp_path, "record: 40%\nrecord_format: ulaw\n" + base))
    policy = flow.record_policy
    assert (policy.pct, policy.format, policy.notice) == (40, "ulaw", None)
    assert load_flow(write(tmp_path, base)).record_policy.pct == 0
    path = write(tmp_path, "record: often\nrecord_format: mp3\nrecord_notice: beep\n" + base)
    lines = problems(path)
    assert any("record" in line and "all, none or a percentage" in line for line in lines), lines
    assert any("record_format" in line for line in lines), lines
    assert any("record_notice" in line for line in lines), lines
    assert all(line.startswith(str(path)) for line in lines)


def test_field_errors_name_node_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
start: a
nodes:
  a: {kind: collect, prompt: "sound:x", into: "9bad", min_digits: 4, max_digits: 2,
      next: b, fallback: b, colour: red}
  b: {kind: hangup, prompt: "beep"}
  c: {kind: teleport}
  d: {kind: hours, time_zone: Mars/Olympus, weekly: {mon-fri: ["18:00-09:00"]}, open: b,
      closed: b}
""",
    )
    lines = problems(path)
    p = str(path)
    assert (
        f"{p}: node 'a': field 'into': '9bad' is not a variable name (letters, digits, _)" in lines
    )
    assert f"{p}: node 'a': field 'max_digits': must be at least min_digits" in lines
    assert f"{p}: node 'a': field 'colour': unknown field" in lines
    assert any(line.startswith(f"{p}: node 'b': field 'prompt': item 0: 'beep' is not media")
               for line in lines)  # fmt: skip
    assert any(line.startswith(f"{p}: node 'c': unknown kind") for line in lines)
    assert f"{p}: node 'd': field 'time_zone': unknown time zone 'Mars/Olympus'" in lines
    assert any(line.startswith(f"{p}: node 'd': field 'weekly':") for line in lines)


def test_missing_field_and_bad_digit(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
start: m
nodes:
  m: {kind: menu, prompt: "sound:x", options: {"12": m}}
""",
    )
    lines = problems(path)
    assert f"{path}: node 'm': field 'fallback': required" in lines
    assert any("field 'options'" in line and "not one DTMF digit" in line for line in lines)


def test_unreachable_node_and_unknown_start(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
start: m
nodes:
  m: {kind: menu, prompt: "sound:x", options: {"1": bye}, fallback: bye}
  bye: {kind: hangup}
  orphan: {kind: play, prompt: "sound:x", next: bye}
""",
    )
    assert problems(path) == [f"{path}: node 'orphan': unreachable from start 'm'"]
    path2 = write(tmp_path, "start: nowhere\nnodes:\n  bye: {kind: hangup}\n", "other.yaml")
    assert f"{path2}: field 'start': unknown node 'nowhere'" in problems(path2)


def test_loop_without_input_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
start: hello
nodes:
  hello: {kind: play, prompt: "sound:hello", next: again}
  again: {kind: set, var: n, value: "1", next: back}
  back: {kind: goto, next: hello}
""",
    )
    assert problems(path) == [
        f"{path}: node 'again': loop without caller input: again -> back -> hello -> again"
    ]


def test_loop_through_a_menu_is_fine(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
start: m
nodes:
  m: {kind: menu, prompt: "sound:x", options: {"9": again}, fallback: bye}
  again: {kind: play, prompt: "sound:x", next: m}
  bye: {kind: hangup}
""",
    )
    assert load_flow(path).name == "main"


def test_self_loop_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "start: g\nnodes:\n  g: {kind: goto, next: g}\n")
    assert problems(path) == [f"{path}: node 'g': loop without caller input: g -> g"]


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "start: a\nnodes:\n  a: [unclosed\n")
    (line,) = problems(path)
    assert line.startswith(f"{path}: line ") and "not valid YAML" in line


def test_hours_schedule_days() -> None:
    node = HoursNode(kind="hours", time_zone="Europe/Moscow", open="a", closed="b",
                     weekly={"mon-wed": ["09:00-18:00"], "sat,sun": ["10:00-24:00"]},
                     holidays=[date(2026, 1, 1)])  # fmt: skip
    spans = node.spans()
    assert sorted(spans) == [1, 2, 3, 6, 7]
    assert spans[6] == [(time(10), None)]


def test_cli_check(tmp_path: Path) -> None:
    # No callback node and no node configured: checked without a database or an Asterisk.
    good = write(tmp_path, "start: h\nnodes:\n  h: {kind: hangup, prompt: sound:vm-goodbye}\n")
    bad = write(tmp_path, "start: g\nnodes:\n  g: {kind: goto, next: g}\n", "bad.yaml")
    runner = CliRunner(env={"CCD_CONFIG": None, "CCD_DATABASE_URL": None})
    ok = runner.invoke(app, ["ivr", "check", str(good)])
    assert ok.exit_code == 0 and "ok" in ok.output, ok.output
    res = runner.invoke(app, ["ivr", "check", str(good), str(bad)])
    assert res.exit_code == 2
    assert f"{bad}: node 'g': loop without caller input: g -> g" in res.output


def test_business_hours_in_the_flow_zone() -> None:
    from datetime import UTC, datetime

    from ccd.inbound.runner import is_open

    node = HoursNode(kind="hours", time_zone="Asia/Vladivostok", open="a", closed="b",
                     weekly={"mon-fri": ["09:00-18:00"], "sat": ["20:00-24:00"]},
                     holidays=[date(2026, 3, 9)])  # fmt: skip
    # Monday 2026-03-02 23:30 UTC = Tuesday 09:30 in Vladivostok (UTC+10)
    assert is_open(node, datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    assert not is_open(node, datetime(2026, 3, 2, 22, 30, tzinfo=UTC))  # 08:30 local
    assert not is_open(node, datetime(2026, 3, 3, 8, 0, tzinfo=UTC))  # 18:00 local: closed
    assert is_open(node, datetime(2026, 3, 7, 13, 59, tzinfo=UTC))  # Saturday 23:59 local
    assert not is_open(node, datetime(2026, 3, 7, 14, 0, tzinfo=UTC))  # Sunday 00:00 local
    assert not is_open(node, datetime(2026, 3, 9, 1, 0, tzinfo=UTC))  # holiday Monday 11:00


def test_invalid_prompt_is_media_like_any_prompt() -> None:
    from ccd.inbound.flow import MenuNode

    node = MenuNode(kind="menu", prompt="sound:x", options={"1": "a"}, fallback="b",
                    invalid_prompt="sound:y")  # fmt: skip
    assert node.invalid_prompt == ["sound:y"]
    with pytest.raises(ValueError, match="invalid_prompt"):
        MenuNode(kind="menu", prompt="sound:x", options={"1": "a"}, fallback="b",
                 invalid_prompt="nope")  # fmt: skip
