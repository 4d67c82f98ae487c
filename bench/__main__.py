"""``python -m bench [--json] [--only NAME ...]``: run the benchmarks, print one table."""

from __future__ import annotations

import argparse
import json
import sys

from . import modules, run_all, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help=f"run only these: {', '.join(modules())}"
    )
    args = parser.parse_args(argv)
    from loguru import logger

    logger.remove()  # components log at DEBUG by default: keep the table readable
    logger.add(sys.stderr, level="WARNING")
    rows = run_all(args.only)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(table(rows))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
