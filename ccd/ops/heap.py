"""The daemon's heap after startup.

Everything allocated while starting (modules, pydantic and ARI schemas, settings, pools, the
engine's wiring) lives as long as the process. Left to the cyclic collector, each full
collection walks all of it with the event loop stopped: about 70 ms on the 2-core reference
machine, landing on whichever calls were being bridged at that moment
(bench/engine_throughput.py, answer -> bridge p99). Frozen, a full collection walks only what
was allocated since, which takes a millisecond or two.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect startup garbage, then exempt every object still alive from later collections.
    Call once, when the process has finished starting. Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
