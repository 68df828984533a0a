"""Where the IVR flow files are.

ccd.config.Settings has no `flows_dir` (and refuses unknown TOML keys), so the inbound side
reads it from an explicit argument, else the environment variable CCD_FLOWS_DIR, else the
default below.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_FLOWS_DIR = Path("/etc/ccd/flows")
ENV_FLOWS_DIR = "CCD_FLOWS_DIR"


def flows_dir(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get(ENV_FLOWS_DIR)
    return Path(env) if env else DEFAULT_FLOWS_DIR
