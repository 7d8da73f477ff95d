"""``--verbosity``: the CLI's log lines (python logging, to stderr, redacted).

synfaith's modules log to loggers under ``synfaith`` (the runner's progress lines when bars
are off, the announced cost of the exact SII, …). The CLI shows them at INFO by default, like
lmms-eval; ``--verbosity WARNING`` keeps only warnings and errors. A library user sees them
through ordinary logging configuration.
"""

from __future__ import annotations

import argparse
import logging
import sys

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT = "INFO"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def verbosity_argument(text: str) -> str:
    """A level name of :data:`LEVELS`, any case."""
    level = text.upper()
    if level not in LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LEVELS)}, got {text!r}")
    return level


def add_verbosity_argument(parser: argparse.ArgumentParser, default: str | None = DEFAULT) -> None:
    """Add ``--verbosity LEVEL`` (default INFO; a subcommand's copy does not override the top-level one)."""
    parser.add_argument(
        "--verbosity", type=verbosity_argument, metavar="LEVEL", default=argparse.SUPPRESS if default is None else default,
        help=f"log level of synfaith's log lines on stderr: {', '.join(LEVELS)} (default {DEFAULT})",
    )


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (pytest and callers may swap it), secrets redacted."""

    def emit(self, record: logging.LogRecord) -> None:
        from synfaith.secrets import redact

        try:
            sys.stderr.write(redact(self.format(record)) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - a log line must never end the run
            self.handleError(record)


class cli_logging:  # noqa: N801 - used as a context manager, like a function
    """Route the ``synfaith`` loggers to stderr at ``level`` for the duration of a command."""

    def __init__(self, level: str = DEFAULT) -> None:
        self.level = level
        self.handler = _StderrHandler()
        self.handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        self.logger = logging.getLogger("synfaith")
        self.saved = (self.logger.level, self.logger.propagate)

    def __enter__(self) -> cli_logging:
        self.logger.addHandler(self.handler)
        self.logger.setLevel(self.level)
        self.logger.propagate = False  # shown once, here, not again by a root handler
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.saved[0])
        self.logger.propagate = self.saved[1]
