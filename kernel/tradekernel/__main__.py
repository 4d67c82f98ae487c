"""``python -m tradekernel``: the CLI."""

from .cli import main

main()
