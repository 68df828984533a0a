"""The ARI schema shipped in the package (ari_schema.json) and the script that makes it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ccd.sim.asterisk import AsteriskDouble
from ccd.sim.asterisk.schema import RESOURCE, AriSchema, packaged

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gen_ari_schema.py"

CHANNELS = {
    "apiVersion": "2.0.0", "swaggerVersion": "1.1", "resourcePath": "/api-docs/channels.{format}",
    "apis": [{"path": "/channels/{channelId}/play", "description": "Play media", "operations": [{
        "httpMethod": "POST", "summary": "Start playback.", "nickname": "play",
        "responseClass": "Playback",
        "parameters": [
            {"name": "channelId", "paramType": "path", "required": True,
             "allowMultiple": False, "dataType": "string"},
            {"name": "media", "paramType": "query", "required": True, "allowMultiple": True,
             "dataType": "string"},
            {"name": "lang", "paramType": "query", "required": False, "allowMultiple": False,
             "dataType": "string", "allowableValues": {"valueType": "LIST",
                                                       "values": ["en", "fr"]}},
        ]}]}],
    "models": {"Channel": {"id": "Channel", "description": "A channel.", "properties": {
        "id": {"required": True, "type": "string", "description": "Unique id."},
        "state": {"required": True, "type": "string", "description": "State.",
                  "allowableValues": {"valueType": "LIST", "values": ["Down", "Up"]}}}}},
}  # fmt: skip
RESOURCES = {"apiVersion": "10.0.0", "swaggerVersion": "1.1",
             "apis": [{"path": "/api-docs/channels.{format}", "description": "Channels"}]}


def _gen(docs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(docs), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_the_script_extracts_operations_and_models_and_checks_the_copy(tmp_path: Path) -> None:
    docs = tmp_path / "ari-api-docs"
    docs.mkdir()
    (docs / "channels.json").write_text(json.dumps(CHANNELS))
    (docs / "resources.json").write_text(json.dumps(RESOURCES))
    out = tmp_path / "ari_schema.json"
    assert _gen(docs, out, "--check").returncode == 1  # nothing there yet
    made = _gen(docs, out)
    assert made.returncode == 0, made.stderr
    assert "1 operations, 1 models" in made.stdout
    data = json.loads(out.read_text())
    assert data == {
        "apiVersion": "10.0.0",
        "operations": [{"m": "POST", "p": "/channels/{channelId}/play", "n": "play",
                        "a": [["channelId", "path", True, False, None],
                              ["media", "query", True, True, None],
                              ["lang", "query", False, False, ["en", "fr"]]],
                        "r": "Playback"}],
        "models": {"Channel": {"properties": {
            "id": {"type": "string", "required": True},
            "state": {"type": "string", "required": True,
                      "allowableValues": {"valueType": "LIST", "values": ["Down", "Up"]}}}}},
    }  # fmt: skip
    assert _gen(docs, out, "--check").returncode == 0
    renamed = json.dumps(CHANNELS).replace('"nickname": "play"', '"nickname": "playMedia"')
    (docs / "channels.json").write_text(renamed)
    stale = _gen(docs, out, "--check")
    assert stale.returncode == 1 and "differs" in stale.stderr and "regenerate" in stale.stderr
    refused = _gen(tmp_path, out)
    assert refused.returncode == 2 and "no channels.json" in refused.stderr


def test_the_shipped_schema_covers_everything_the_double_serves() -> None:
    data = packaged()
    assert RESOURCE.parent.name == "asterisk" and data["apiVersion"]
    schema = AriSchema.load()
    served = AsteriskDouble().ari.handlers
    for method, path in served:
        op, _ = schema.resolve(method, path.replace("{", "x").replace("}", ""))
        assert (op.method, op.path) == (method, path)
    assert len(served) >= 40
    # And the models the double's events and answers are checked against.
    assert {"Channel", "Bridge", "Playback", "StasisStart", "ChannelDestroyed", "Dial",
            "ChannelHangupRequest", "Event", "Message"} <= set(data["models"])  # fmt: skip
