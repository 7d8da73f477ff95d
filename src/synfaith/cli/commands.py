"""The subcommand registry of the CLI: each command module adds its parser with ``@command``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def command(add_parser: Callable[[argparse._SubParsersAction], None]):
    """Register a function that adds a subcommand parser (and sets ``handler``)."""
    COMMANDS.append(add_parser)
    return add_parser
