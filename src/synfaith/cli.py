"""The ``synfaith`` command line: a thin layer over the Python API.

Each subcommand is a function that adds its parser; ``main`` dispatches to the handler.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from synfaith import __version__

Handler = Callable[[argparse.Namespace], int]
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def command(add_parser: Callable[[argparse._SubParsersAction], None]):
    """Register a function that adds a subcommand parser (and sets ``handler``)."""
    COMMANDS.append(add_parser)
    return add_parser


@command
def _demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="score oracle, random and reversed rankings on analytic games with known answers",
        description=(
            "Runs unimodal deletion/insertion, F_syn and the exact SII ground truth on the AND "
            "(synergy), OR (redundancy), XOR and additive games, and prints one table."
        ),
    )
    parser.add_argument("--image-units", type=int, default=16, help="visual units m (default 16)")
    parser.add_argument("--text-units", type=int, default=6, help="text units n (default 6)")
    parser.add_argument("--steps", type=int, default=11, help="K, points of the step grid (default 11)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random ranking and SII shuffles")

    def handler(args: argparse.Namespace) -> int:
        from synfaith.demo import analytic_demo, format_table

        print(format_table(analytic_demo(args.image_units, args.text_units, args.steps, args.seed)))
        return 0

    parser.set_defaults(handler=handler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synfaith",
        description="Synergistic faithfulness of post-hoc explainers for vision-language models.",
    )
    parser.add_argument("--version", action="version", version=f"synfaith {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add_parser in COMMANDS:
        add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"synfaith: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
