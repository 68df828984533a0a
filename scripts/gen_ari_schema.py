"""Regenerate ccd/sim/asterisk/ari_schema.json, the ARI schema the Asterisk double ships, from
Asterisk's `ari-api-docs` folder (rest-api/api-docs in Asterisk's source tree):

    python scripts/gen_ari_schema.py PATH/TO/ari-api-docs           # write it
    python scripts/gen_ari_schema.py PATH/TO/ari-api-docs --check   # exit 1 if it differs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ccd.sim.asterisk.schema import RESOURCE, schema_data


def render(docs: Path) -> str:
    return json.dumps(schema_data(docs), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", type=Path, help="the ari-api-docs folder (holds channels.json)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the shipped file instead of writing it")
    parser.add_argument("--out", type=Path, default=RESOURCE, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not (args.docs / "channels.json").is_file():
        parser.error(f"{args.docs}: no channels.json there (not an ari-api-docs folder)")
    text = render(args.docs)
    data = json.loads(text)
    summary = f"{len(data['operations'])} operations, {len(data['models'])} models"
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out.name} differs from {args.docs} ({summary}): regenerate it",
                  file=sys.stderr)
            return 1
        print(f"{args.out.name} is current ({summary})")
        return 0
    args.out.write_text(text)
    print(f"{args.out.name}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
