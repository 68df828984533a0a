"""Pacers by name, as campaigns and the simulator configure them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ccd.pacing.base import Pacer
from ccd.pacing.predictive import ErlangPacer
from ccd.pacing.simple import PowerPacer, RatioPacer
from ccd.pacing.vicidial import VicidialPacer

PACERS: dict[str, Callable[..., Pacer]] = {
    "power": PowerPacer,
    "ratio": RatioPacer,
    "vicidial": VicidialPacer,
    "erlang": ErlangPacer,
}


def create_pacer(name: str, **params: Any) -> Pacer:
    """A new pacer of kind `name`; ValueError names an unknown kind or parameter."""
    factory = PACERS.get(name)
    if factory is None:
        raise ValueError(f"unknown pacer {name!r}; known: {', '.join(sorted(PACERS))}")
    accepted = set(inspect.signature(factory).parameters)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(
            f"pacer {name!r} takes no parameter {', '.join(map(repr, unknown))}; "
            f"it takes: {', '.join(sorted(accepted)) or 'none'}"
        )
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"pacer {name!r} parameter {key!r} must be a number, got {value!r}")
    return factory(**{k: float(v) for k, v in params.items()})


def campaign_pacer(
    name: str, *, dial_ratio: float, max_ratio: float, target_abandon: float
) -> Pacer:
    """The pacer a campaign's settings ask for: --max-ratio caps every pacer (power never
    needs it: one line per free agent), --ratio is the ratio pacer's, --target-abandon the
    erlang and vicidial pacers' limit. ValueError says which setting a pacer refuses."""
    params: dict[str, float] = {}
    if name != "power":
        params["max_ratio"] = max_ratio
    if name == "ratio":
        params["ratio"] = dial_ratio
    if name in ("erlang", "vicidial"):
        params["target_abandon"] = target_abandon
    return create_pacer(name, **params)
