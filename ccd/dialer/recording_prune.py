"""Retention of call recordings: delete the files of recordings older than their campaign's
retention (90 days without one) from their Asterisk node through ARI, and mark the rows.

A file the node no longer has is reported and its row marked 'missing', never retried; a
node that does not answer leaves its rows as they are, for the next prune.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ccd.log import get_logger
from ccd.store import recordings as store
from ccd.telephony.ari_rest import AriRest
from ccd.telephony.errors import AriNotFound, PbxError

log = get_logger(__name__)


@dataclass
class PruneReport:
    deleted: int = 0
    missing: list[str] = field(default_factory=list)  # names the node no longer had
    failed: dict[str, str] = field(default_factory=dict)  # name -> why (left for next time)


async def prune_recordings(
    conn: store.Conn, nodes: Mapping[str, AriRest], now: datetime
) -> PruneReport:
    report = PruneReport()
    for row in await store.expired(conn, now):
        name, node = row["name"], row["node"]
        rest = nodes.get(node)
        if rest is None:
            report.failed[name] = f"node {node!r} is not configured"
            continue
        try:
            await rest.delete_stored_recording(name)
        except AriNotFound:
            await store.pruned(conn, name, now, found=False)
            report.missing.append(name)
            log.warning("recording.prune_missing", name=name, node=node)
            continue
        except PbxError as exc:
            report.failed[name] = str(exc)
            continue
        await store.pruned(conn, name, now, found=True)
        report.deleted += 1
        log.info("recording.pruned", name=name, node=node)
    return report
