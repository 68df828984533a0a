"""What a flow names outside itself: campaigns (callback nodes) and sound files (prompts).

A flow can pass its own checks and still play nothing: `ccd ivr check` looks these names up,
campaigns in the database and sounds on each Asterisk node that answers (ARI GET /sounds:
the sounds installed, in any language).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ccd.config import AsteriskNode
from ccd.inbound.flow import CallbackNode, Flow
from ccd.telephony.ari_rest import node_rest

_PROMPT_FIELDS = ("prompt", "invalid_prompt")


@dataclass(frozen=True, slots=True)
class Ref:
    node: str  # the flow node naming it
    field: str
    name: str


def campaign_refs(flow: Flow) -> list[Ref]:
    return [
        Ref(name, "campaign", node.campaign)
        for name, node in flow.nodes.items()
        if isinstance(node, CallbackNode)
    ]


def sound_refs(flow: Flow) -> list[Ref]:
    """Every `sound:NAME` a node plays; names built from ${variables} are known only at run
    time and are left out."""
    refs = []
    for name, node in flow.nodes.items():
        for field in _PROMPT_FIELDS:
            for media in getattr(node, field, None) or ():
                if media.startswith("sound:") and "${" not in media:
                    refs.append(Ref(name, field, media.removeprefix("sound:")))
    return refs


async def sounds_missing_on(
    node: AsteriskNode, names: Iterable[str], *, timeout_s: float = 10.0
) -> set[str]:
    """The names `node` has no sound for. Raises PbxError when the node cannot be asked."""
    async with node_rest(node, timeout_s=timeout_s) as rest:
        return set(names) - await rest.sound_ids()
