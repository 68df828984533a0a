"""ARI REST calls of one node: the resources ccd uses, with typed errors and timeouts.

Scalars go in the query string as Asterisk documents them; `variables` go in a JSON body with
real JSON types. Error statuses become the exceptions of `errors.py`, keeping Asterisk's message
(`{"message": ...}`, or `{"error": ...}` for originate's 500s).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from ccd.config import AsteriskNode
from ccd.telephony import ari_models as m
from ccd.telephony.errors import PbxTimeout, PbxUnavailable, ari_error

# (node, operation, seconds) of every REST round trip, answered or not: /metrics latency.
RestObserver = Callable[[str, str, float], None]


def _q(ident: str) -> str:
    return quote(ident, safe="")


def _params(**kw: object) -> dict[str, str]:
    """Query parameters without the unset ones; booleans as ARI spells them."""
    out: dict[str, str] = {}
    for k, v in kw.items():
        if v is None:
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


@contextlib.asynccontextmanager
async def node_rest(node: AsteriskNode, *, timeout_s: float = 10.0) -> AsyncIterator[AriRest]:
    """REST calls to one configured node outside the daemon (the CLI), on a session of their
    own."""
    auth = aiohttp.encode_basic_auth(node.ari_user, node.ari_password)
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as session:
        yield AriRest(node.name, str(node.ari_url), session, timeout_s=timeout_s)


class AriRest:
    """REST calls of one node; the session carries the node's Authorization header."""

    def __init__(
        self,
        node: str,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float = 10.0,
        observe: RestObserver | None = None,
    ) -> None:
        self.node = node
        self._observe = observe
        self._base = base_url.rstrip("/")
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """One call; returns the decoded JSON (None for 204). Raises AriError subclasses,
        PbxTimeout, or PbxUnavailable when no HTTP answer came."""
        url = self._base + path
        started = time.perf_counter()
        try:
            async with self._session.request(
                method, url, params=params, json=body, timeout=self._timeout
            ) as resp:
                if resp.status == 204:
                    return None
                text = await resp.text()
                data: Any = None
                if text and resp.content_type == "application/json":
                    data = await resp.json(content_type=None)
                if resp.status >= 400:
                    message = text.strip()[:300]
                    if isinstance(data, dict):
                        message = str(data.get("message") or data.get("error") or message)
                    raise ari_error(resp.status, message, node=self.node, method=method, path=path)
                return data
        except TimeoutError as exc:
            raise PbxTimeout(f"{method} {path}: no answer in time", node=self.node) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise PbxUnavailable(f"{method} {path}: {exc}", node=self.node) from exc
        finally:
            if self._observe is not None:
                # "POST channels", "DELETE bridges": few label values, never ids.
                operation = f"{method} {path.lstrip('/').split('/', 1)[0]}"
                self._observe(self.node, operation, time.perf_counter() - started)

    # --- asterisk, applications ---

    async def asterisk_info(self) -> m.AsteriskInfo:
        return m.AsteriskInfo.model_validate(await self.request("GET", "/asterisk/info"))

    async def get_application(self, app: str) -> m.Application:
        return m.Application.model_validate(await self.request("GET", f"/applications/{_q(app)}"))

    async def subscribe(self, app: str, event_source: str) -> None:
        await self.request(
            "POST",
            f"/applications/{_q(app)}/subscription",
            params=_params(eventSource=event_source),
        )

    # --- sounds ---

    async def sound_ids(self) -> set[str]:
        """The ids of every sound installed on the node, any language ("custom/hello", ...).
        One list rather than GET /sounds/{id} per name: ids of sounds in subdirectories hold
        a "/"."""
        return {m.Sound.model_validate(s).id for s in await self.request("GET", "/sounds")}

    # --- channels ---

    async def list_channels(self) -> list[m.Channel]:
        return [m.Channel.model_validate(c) for c in await self.request("GET", "/channels")]

    async def get_channel(self, channel_id: str) -> m.Channel:
        return m.Channel.model_validate(await self.request("GET", f"/channels/{_q(channel_id)}"))

    async def originate(
        self,
        endpoint: str,
        *,
        channel_id: str,
        app: str | None = None,
        app_args: Sequence[str] = (),
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        caller_id: str | None = None,
        timeout_s: int | None = None,
        formats: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> m.Channel:
        params = _params(
            endpoint=endpoint,
            channelId=channel_id,
            app=app,
            appArgs=",".join(app_args) if app_args else None,
            context=context,
            extension=extension,
            priority=priority,
            callerId=caller_id,
            timeout=timeout_s,
            formats=formats,
        )
        body = {"variables": dict(variables)} if variables else None
        return m.Channel.model_validate(
            await self.request("POST", "/channels", params=params, body=body)
        )

    async def hangup(self, channel_id: str, reason: str | None = None) -> None:
        await self.request("DELETE", f"/channels/{_q(channel_id)}", params=_params(reason=reason))

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_q(channel_id)}/answer")

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        params = _params(context=context, extension=extension, priority=priority, label=label)
        await self.request("POST", f"/channels/{_q(channel_id)}/continue", params=params)

    async def redirect(self, channel_id: str, endpoint: str) -> None:
        await self.request(
            "POST", f"/channels/{_q(channel_id)}/redirect", params=_params(endpoint=endpoint)
        )

    async def ring(self, channel_id: str, on: bool = True) -> None:
        await self.request("POST" if on else "DELETE", f"/channels/{_q(channel_id)}/ring")

    async def moh(self, channel_id: str, on: bool, moh_class: str | None = None) -> None:
        path = f"/channels/{_q(channel_id)}/moh"
        if on:
            await self.request("POST", path, params=_params(mohClass=moh_class))
        else:
            await self.request("DELETE", path)

    async def play(
        self, channel_id: str, media: Sequence[str], playback_id: str, lang: str | None = None
    ) -> m.Playback:
        params = _params(media=",".join(media), lang=lang)
        path = f"/channels/{_q(channel_id)}/play/{_q(playback_id)}"
        return m.Playback.model_validate(await self.request("POST", path, params=params))

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{_q(playback_id)}")

    async def snoop(
        self,
        channel_id: str,
        snoop_id: str,
        *,
        app: str,
        app_args: Sequence[str] = (),
        spy: str = "both",
        whisper: str = "none",
    ) -> m.Channel:
        params = _params(
            app=app, appArgs=",".join(app_args) if app_args else None, spy=spy, whisper=whisper
        )
        path = f"/channels/{_q(channel_id)}/snoop/{_q(snoop_id)}"
        return m.Channel.model_validate(await self.request("POST", path, params=params))

    async def get_var(self, channel_id: str, variable: str) -> str:
        data = await self.request(
            "GET", f"/channels/{_q(channel_id)}/variable", params=_params(variable=variable)
        )
        return m.Variable.model_validate(data).value

    async def set_var(self, channel_id: str, variable: str, value: str) -> None:
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/variable",
            params=_params(variable=variable, value=value),
        )

    async def send_dtmf(
        self, channel_id: str, dtmf: str, *, between_ms: int = 100, duration_ms: int = 100
    ) -> None:
        params = _params(dtmf=dtmf, between=between_ms, duration=duration_ms)
        await self.request("POST", f"/channels/{_q(channel_id)}/dtmf", params=params)

    # --- bridges ---

    async def list_bridges(self) -> list[m.Bridge]:
        return [m.Bridge.model_validate(b) for b in await self.request("GET", "/bridges")]

    async def create_bridge(self, bridge_id: str, kind: str, name: str | None = None) -> m.Bridge:
        params = _params(type=kind, name=name)
        data = await self.request("POST", f"/bridges/{_q(bridge_id)}", params=params)
        return m.Bridge.model_validate(data)

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_q(bridge_id)}")

    async def add_channels(
        self,
        bridge_id: str,
        channel_ids: Sequence[str],
        *,
        role: str | None = None,
        mute: bool | None = None,
    ) -> None:
        params = _params(channel=",".join(channel_ids), role=role, mute=mute)
        await self.request("POST", f"/bridges/{_q(bridge_id)}/addChannel", params=params)

    async def remove_channels(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        params = _params(channel=",".join(channel_ids))
        await self.request("POST", f"/bridges/{_q(bridge_id)}/removeChannel", params=params)

    async def bridge_moh(self, bridge_id: str, on: bool, moh_class: str | None = None) -> None:
        path = f"/bridges/{_q(bridge_id)}/moh"
        if on:
            await self.request("POST", path, params=_params(mohClass=moh_class))
        else:
            await self.request("DELETE", path)

    async def record_bridge(
        self,
        bridge_id: str,
        name: str,
        *,
        fmt: str = "wav",
        max_duration_s: int | None = None,
        if_exists: str = "fail",
    ) -> m.LiveRecording:
        params = _params(
            name=name, format=fmt, maxDurationSeconds=max_duration_s, ifExists=if_exists
        )
        data = await self.request("POST", f"/bridges/{_q(bridge_id)}/record", params=params)
        return m.LiveRecording.model_validate(data)

    async def record_channel(
        self, channel_id: str, name: str, *, fmt: str = "wav", if_exists: str = "fail"
    ) -> m.LiveRecording:
        params = _params(name=name, format=fmt, ifExists=if_exists)
        data = await self.request("POST", f"/channels/{_q(channel_id)}/record", params=params)
        return m.LiveRecording.model_validate(data)

    # --- recordings ---

    async def stop_recording(self, name: str) -> None:
        await self.request("POST", f"/recordings/live/{_q(name)}/stop")

    async def pause_recording(self, name: str, paused: bool) -> None:
        await self.request("POST" if paused else "DELETE", f"/recordings/live/{_q(name)}/pause")

    async def get_live_recording(self, name: str) -> m.LiveRecording:
        data = await self.request("GET", f"/recordings/live/{_q(name)}")
        return m.LiveRecording.model_validate(data)

    async def get_stored_recording(self, name: str) -> m.StoredRecording:
        data = await self.request("GET", f"/recordings/stored/{_q(name)}")
        return m.StoredRecording.model_validate(data)

    @contextlib.asynccontextmanager
    async def stored_file(self, name: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET /recordings/stored/{name}/file as a response to stream from (no total
        timeout: a long file takes its time; a stalled read still times out)."""
        path = f"/recordings/stored/{_q(name)}/file"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self._timeout.total)
        try:
            resp = await self._session.get(self._base + path, timeout=timeout)
        except TimeoutError as exc:
            raise PbxTimeout(f"GET {path}: no answer in time", node=self.node) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise PbxUnavailable(f"GET {path}: {exc}", node=self.node) from exc
        try:
            if resp.status >= 400:
                text = (await resp.text()).strip()[:300]
                with contextlib.suppress(ValueError):
                    data = await resp.json(content_type=None)
                    if isinstance(data, dict):
                        text = str(data.get("message") or text)
                raise ari_error(resp.status, text, node=self.node, method="GET", path=path)
            yield resp
        finally:
            resp.release()

    async def list_stored_recordings(self) -> list[m.StoredRecording]:
        data = await self.request("GET", "/recordings/stored")
        return [m.StoredRecording.model_validate(r) for r in data]

    async def delete_stored_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{_q(name)}")
