"""``python -m lnra.schema``: print the options table (``--markdown``: as in the README; ``--write
README.md``: refresh the README's table between its markers)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lnra.schema.docs import markdown, plain_text, write_readme


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m lnra.schema", description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="print the Markdown table")
    parser.add_argument("--write", type=Path, metavar="README", help="refresh the table in this file")
    args = parser.parse_args()
    if args.write:
        print(f"{args.write}: {'updated' if write_readme(args.write) else 'already up to date'}")
    else:
        print(markdown() if args.markdown else plain_text())


if __name__ == "__main__":
    main()
