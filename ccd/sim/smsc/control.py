"""The SMSC double's control API: what a test (or a benchmark) does to it from another process.

    GET  /state                 binds, counts (deliver_sm acked, unacked, redelivered),
                                sessions (accepted, throttled, max_per_second, max_outstanding,
                                unacked per session)
    GET  /submits?since=N       the submit_sm received from index N on, decoded
    POST /config   {"tps": 50, "window": 10, "resp_delay": 0.5, "hold": true, "nacks": [88],
                    "retry_s": 1.0}
                   (any subset; null tps/window: no limit; nacks: generic_nack statuses that
                   answer the next submit_sm; retry_s: a deliver_sm answered with an error
                   is delivered again after it)
    POST /receipts {"prefix": "7916", "state": "delivered"|null, "delay": 1, "before_resp":
                   false, "tlv": true}     the receipt rule for destinations with that prefix
    POST /release               send every held submit_sm_resp -> {"released": n}
    POST /mo       {"sender", "recipient", "text", "order": [2, 1], "system_id", "ref",
                    "count": 1}  count > 1: a burst, the n-th from the sender's number + n
    POST /drop     {"system_id"?}          cut sessions (TCP reset) -> {"dropped": n}
    POST /mute     {"system_id"?}          sessions that answer nothing more (half-open)
    POST /restart  {"down_for": 1.0}       the SMSC restarts on the same port (answers at once)
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ccd.messaging.sms.receipts import DeliveryState
from ccd.sim.smsc.double import ReceiptRule, SmscDouble


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConfigBody(_Body):
    tps: int | None = Field(default=None, ge=1)
    window: int | None = Field(default=None, ge=1)
    resp_delay: float = Field(default=0.0, ge=0)
    hold: bool = False
    nacks: list[int] = []
    retry_s: float = Field(default=1.0, gt=0)


class ReceiptBody(_Body):
    prefix: str = ""
    state: DeliveryState | None = DeliveryState.DELIVERED
    delay: float = Field(default=0.0, ge=0)
    before_resp: bool = False
    tlv: bool = True


class MoBody(_Body):
    sender: str = Field(min_length=1, max_length=20)
    recipient: str = Field(min_length=1, max_length=20)
    text: str = Field(min_length=1)
    order: list[int] | None = None
    system_id: str | None = None
    ref: int = Field(default=0x42, ge=0, le=255)
    count: int = Field(default=1, ge=1, le=1_000_000)


class TargetBody(_Body):
    system_id: str | None = None


class RestartBody(_Body):
    down_for: float = Field(default=1.0, ge=0)


M = TypeVar("M", bound=BaseModel)


async def _parse(request: web.Request, model: type[M]) -> M:
    raw = await request.text()
    try:
        return model.model_validate_json(raw or "{}")
    except ValidationError as exc:
        why = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                        for e in exc.errors())  # fmt: skip
        raise web.HTTPBadRequest(text=why) from None


def control_app(smsc: SmscDouble) -> web.Application:
    restarts: set[asyncio.Task[None]] = set()

    async def state(request: web.Request) -> web.Response:
        return web.json_response(smsc.state())

    async def submits(request: web.Request) -> web.Response:
        since = request.query.get("since", "0")
        if not since.isdigit():
            raise web.HTTPBadRequest(text="since: expected a non-negative integer")
        return web.json_response([s.as_json() for s in smsc.submits[int(since) :]])

    async def config(request: web.Request) -> web.Response:
        body = await _parse(request, ConfigBody)
        for name in body.model_fields_set:  # only the fields given change
            setattr(smsc, name, getattr(body, name))
        return web.json_response({})

    async def receipts(request: web.Request) -> web.Response:
        body = await _parse(request, ReceiptBody)
        smsc.rules[body.prefix.lstrip("+")] = ReceiptRule(
            body.state, body.delay, body.before_resp, body.tlv
        )
        return web.json_response({})

    async def release(request: web.Request) -> web.Response:
        return web.json_response({"released": smsc.release()})

    async def mo(request: web.Request) -> web.Response:
        body = await _parse(request, MoBody)
        if body.count > 1 and not body.sender.isdigit():
            raise web.HTTPBadRequest(text="count: a burst needs a numeric sender")
        try:
            for n in range(body.count):
                sender = str(int(body.sender) + n) if body.count > 1 else body.sender
                parts = smsc.inject_mo(sender, body.recipient, body.text, order=body.order,
                                       system_id=body.system_id, ref=body.ref)  # fmt: skip
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response({"parts": parts})

    async def drop(request: web.Request) -> web.Response:
        body = await _parse(request, TargetBody)
        return web.json_response({"dropped": smsc.drop(body.system_id)})

    async def mute(request: web.Request) -> web.Response:
        body = await _parse(request, TargetBody)
        return web.json_response({"muted": smsc.mute(body.system_id)})

    async def restart(request: web.Request) -> web.Response:
        body = await _parse(request, RestartBody)
        task = asyncio.create_task(smsc.restart(body.down_for))  # answered while it is down
        restarts.add(task)
        task.add_done_callback(restarts.discard)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/state", state)
    app.router.add_get("/submits", submits)
    app.router.add_post("/config", config)
    app.router.add_post("/receipts", receipts)
    app.router.add_post("/release", release)
    app.router.add_post("/mo", mo)
    app.router.add_post("/drop", drop)
    app.router.add_post("/mute", mute)
    app.router.add_post("/restart", restart)
    return app
