"""The double's control API: what a test (or `ccd demo`) does to the double in another process.

Asterisk runs beside ccd in a process of its own; so does the double when the product is
tested as it runs (`python -m ccd.sim.asterisk`). Its far ends, inbound callers and faults are
then driven over a small JSON HTTP API on a separate port, never through ARI:

    POST /program    {"number": "+7495...", "far_end": {"kind": "answer", "after": 1}}
    POST /default    {"far_end": {"kind": "busy"}}
    POST /inbound    {"did": "100", "caller": "+7916...", "far_end": {...}} -> {"channel_id"}
    POST /hangup     {"channel_id": "...", "cause": 16}       the far end hangs up
    POST /restart    {"down_for": 1.8}                        Asterisk restarts
    POST /lose-events {"lose": true}                          half-open event link
    POST /missing-sounds {"names": ["ccd-safe-harbor"]}       sounds that fail to play
    POST /fail-recordings {"cause": "disk full"}              new recordings fail (null: work)
    GET  /state      channels (id, name, state, bridge) and bridges (id -> channel ids)
    GET  /requests   the ARI requests received (method, path, query), in order

A far end is {"kind": one of FAR_END_KINDS, ...keyword arguments of that FarEnd constructor}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ccd.sim.asterisk.farend import FarEnd

if TYPE_CHECKING:
    from ccd.sim.asterisk.double import AsteriskDouble

FAR_END_KINDS = (
    "answer", "machine", "fax", "busy", "congestion", "unallocated", "rejected", "no_answer",
)  # fmt: skip


def far_end(spec: dict[str, Any]) -> FarEnd:
    """{"kind": "answer", "after": 2} -> FarEnd.answer(after=2); a clear error otherwise."""
    args = dict(spec)
    kind = args.pop("kind", None)
    if kind not in FAR_END_KINDS:
        raise web.HTTPBadRequest(text=f"far_end.kind must be one of {', '.join(FAR_END_KINDS)}")
    try:
        made: FarEnd = getattr(FarEnd, kind)(**args)
    except TypeError as exc:
        raise web.HTTPBadRequest(text=f"far_end ({kind}): {exc}") from None
    return made


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body: expected a JSON object") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="body: expected a JSON object")
    return data


def _field(data: dict[str, Any], name: str) -> Any:
    if name not in data:
        raise web.HTTPBadRequest(text=f"{name}: required")
    return data[name]


def control_app(double: AsteriskDouble) -> web.Application:
    async def program(request: web.Request) -> web.Response:
        data = await _body(request)
        double.program(str(_field(data, "number")), far_end(_field(data, "far_end")))
        return web.json_response({})

    async def default(request: web.Request) -> web.Response:
        data = await _body(request)
        double.default_far_end = far_end(_field(data, "far_end"))
        return web.json_response({})

    async def inbound(request: web.Request) -> web.Response:
        data = await _body(request)
        fe = far_end(data["far_end"]) if "far_end" in data else None
        channel_id = await double.inbound_call(
            str(_field(data, "did")), str(_field(data, "caller")), fe,
            caller_name=str(data.get("caller_name", "")),
        )  # fmt: skip
        return web.json_response({"channel_id": channel_id})

    async def hangup(request: web.Request) -> web.Response:
        data = await _body(request)
        try:
            await double.hangup_far_end(str(_field(data, "channel_id")), int(data.get("cause", 16)))
        except KeyError as exc:
            raise web.HTTPNotFound(text=str(exc)) from None
        return web.json_response({})

    async def restart(request: web.Request) -> web.Response:
        data = await _body(request)
        await double.restart(down_for=float(data.get("down_for", 0.2)))
        return web.json_response({"asterisk_id": double.asterisk_id})

    async def lose_events(request: web.Request) -> web.Response:
        data = await _body(request)
        double.lose_events(bool(data.get("lose", True)))
        return web.json_response({})

    async def missing_sounds(request: web.Request) -> web.Response:
        data = await _body(request)
        double.missing_sounds.update(str(n) for n in _field(data, "names"))
        return web.json_response({})

    async def fail_recordings(request: web.Request) -> web.Response:
        data = await _body(request)
        cause = data.get("cause")
        double.fail_recordings(None if cause is None else str(cause))
        return web.json_response({})

    async def state(_request: web.Request) -> web.Response:
        bridges = {b.id: [c.id for c in b.channels] for b in double.bridges.values()}
        in_bridge = {c: b for b, chans in bridges.items() for c in chans}
        channels = [
            {"id": c.id, "name": c.name, "state": c.state, "bridge": in_bridge.get(c.id)}
            for c in double.channels.values()
        ]
        return web.json_response(
            {"asterisk_id": double.asterisk_id, "channels": channels, "bridges": bridges}
        )

    async def requests(_request: web.Request) -> web.Response:
        return web.json_response(
            [{"method": r.method, "path": r.path, "query": r.query} for r in double.requests]
        )

    app = web.Application()
    app.router.add_post("/program", program)
    app.router.add_post("/default", default)
    app.router.add_post("/inbound", inbound)
    app.router.add_post("/hangup", hangup)
    app.router.add_post("/restart", restart)
    app.router.add_post("/lose-events", lose_events)
    app.router.add_post("/missing-sounds", missing_sounds)
    app.router.add_post("/fail-recordings", fail_recordings)
    app.router.add_get("/state", state)
    app.router.add_get("/requests", requests)
    return app
