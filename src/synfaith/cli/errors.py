"""Every expected failure of a command as one line naming the cause and what to do (exit code 2).

``--debug`` shows the traceback instead. An unexpected error is still one line, with exit
code 1 and the advice to rerun with ``--debug``. Every line goes through the redaction filter.
"""

from __future__ import annotations

import errno

from synfaith.secrets import redact

EXPECTED = 2
UNEXPECTED = 1

_DISK_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space or choose another --output_path",
    errno.EDQUOT: "the disk quota is exceeded: free some space or choose another --output_path",
    errno.EROFS: "the file system is read-only: choose a writable --output_path",
    errno.EACCES: "permission denied: choose a folder you can write (--output_path) or fix its permissions",
    errno.EPERM: "operation not permitted: choose a folder you can write (--output_path) or fix its permissions",
}


def _expected_types() -> tuple[type[BaseException], ...]:
    from synfaith.runs.lock import RunDirectoryBusy

    expected: list[type[BaseException]] = [ValueError, OSError, ImportError, KeyError, RunDirectoryBusy]
    try:
        from synfaith.models.remote import RemoteModelError

        expected.append(RemoteModelError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(expected)


def one_line(text: str) -> str:
    """``text`` on one line: its lines joined with "; " (indentation dropped)."""
    parts = [line.strip() for line in str(text).splitlines() if line.strip()]
    joined = ""
    for part in parts:
        joined += part if not joined else (" " if joined.endswith(":") else "; ") + part
    return joined


def describe(error: BaseException) -> tuple[str, int]:
    """``(one line, exit code)`` for an error that ended a command."""
    if isinstance(error, OSError) and error.errno in _DISK_ADVICE and not isinstance(error, FileNotFoundError):
        where = f" ({error.filename})" if error.filename else ""
        return redact(f"cannot write{where}: {_DISK_ADVICE[error.errno]}"), EXPECTED
    if isinstance(error, KeyError) and not isinstance(error, ValueError):
        message = str(error.args[0]) if error.args else ""
    else:
        message = str(error)
    if isinstance(error, _expected_types()):
        return redact(one_line(message) or type(error).__name__), EXPECTED
    line = one_line(f"{type(error).__name__}: {message}")
    return redact(f"{line} (an unexpected error: rerun with --debug for the traceback, and please report it)"), UNEXPECTED
