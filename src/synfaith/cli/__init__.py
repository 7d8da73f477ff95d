"""The ``synfaith`` command line: a thin layer over the Python API.

Each subcommand is a function that adds its parser (one module per group of commands);
:func:`main` sets up the log lines (``--verbosity``), then dispatches; each command that reads a
registry loads plugins first (entry points, ``--include_path``, ``--imports``; :mod:`synfaith.plugins`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from synfaith import __version__
# each module registers its commands, in the order the help lists them
from synfaith.cli import world  # noqa: F401, I001
from synfaith.cli import explainers  # noqa: F401
from synfaith.cli import explain  # noqa: F401
from synfaith.cli import benchmark  # noqa: F401
from synfaith.cli import serve  # noqa: F401
from synfaith.cli.commands import COMMANDS, command
from synfaith.cli.flags import run_config_from_args
from synfaith.cli.logs import DEFAULT, add_verbosity_argument, cli_logging

__all__ = ["COMMANDS", "build_parser", "command", "main", "run_config_from_args"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synfaith",
        description="Synergistic faithfulness of post-hoc explainers for vision-language models.",
    )
    parser.add_argument("--version", action="version", version=f"synfaith {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    add_verbosity_argument(parser)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add_parser in COMMANDS:
        add_parser(subparsers)
    for subparser in subparsers.choices.values():
        if not any("--debug" in action.option_strings for action in subparser._actions):
            subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error")
        if not any("--verbosity" in action.option_strings for action in subparser._actions):
            add_verbosity_argument(subparser, default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; an error ends it with one line on stderr (exit 2; 1 if unexpected)."""
    from synfaith.cli.errors import describe
    from synfaith.threads import apply_thread_policy

    apply_thread_policy()  # before anything imports torch: threads = usable cores, passive waiting
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 0
    try:
        with cli_logging(getattr(args, "verbosity", DEFAULT)):
            return args.handler(args)
    except KeyboardInterrupt:
        print("synfaith: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every error becomes one line unless --debug
        if getattr(args, "debug", False):
            raise
        line, code = describe(error)
        print(f"synfaith: error: {line}", file=sys.stderr)
        return code
