"""Regenerate ccd/sim/asterisk/ari_routes.json (the double's fallback route table) from Asterisk's
ARI schema folder: `python scripts/gen_ari_routes.py PATH/TO/ari-api-docs`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ccd.sim.asterisk.schema import operations_table


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: gen_ari_routes.py ARI_API_DOCS_DIR")
    table = operations_table(Path(sys.argv[1]))
    out = Path(__file__).resolve().parent.parent / "ccd" / "sim" / "asterisk" / "ari_routes.json"
    out.write_text(json.dumps(table, separators=(",", ":")) + "\n")
    print(f"{out.name}: {len(table)} operations")


if __name__ == "__main__":
    main()
