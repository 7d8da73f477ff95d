"""Secrets never written: one redaction filter for every message that reaches a row, a file or the terminal.

A secret is known to this process when it is :func:`register_secret`-ed (an inline
``api_key``, or the key read from ``api_key_env``); :func:`redact` replaces every registered
value with ``***`` and also hides what looks like a secret in any text: credentials inside URLs
(``http://user:KEY@host`` → ``http://user:***@host``), ``Bearer`` tokens, and ``key=value``
pairs whose key names a secret (``api_key=…``, ``token: …``, ``password=…``).
"""

from __future__ import annotations

import re
import threading
from typing import Any

MASK = "***"

# option names that hold secrets (matched case-insensitively, whole name)
SECRET_NAME = re.compile(r"(?i)^(.*_)?(api_?key|key|token|secret|password|passwd|auth|authorization|credentials?)$")

_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@]*):([^/\s@]*)@")
_URL_USER_ONLY = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@]+)@")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_PAIR = re.compile(r"(?i)\b((?:[a-z0-9]+_)*(?:api_?key|token|secret|password|passwd))(\s*[=:]\s*)(['\"]?)([^\s,'\"}]+)")

_known: set[str] = set()
_lock = threading.Lock()


def is_secret_name(name: str) -> bool:
    """Whether an option called ``name`` holds a secret (``api_key``, ``hf_token``, ``password``, …)."""
    return bool(SECRET_NAME.match(name))


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact` hides it wherever it appears (short values are ignored)."""
    if value and len(str(value)) >= 4:
        with _lock:
            _known.add(str(value))


def redact(text: Any) -> Any:
    """``text`` with every known secret and every secret-looking fragment replaced by ``***``.

    Non-strings pass through unchanged; dicts and lists are redacted recursively (secret-named
    keys lose their values whatever they are).
    """
    if isinstance(text, dict):
        return {k: (MASK if isinstance(k, str) and is_secret_name(k) and v not in (None, "") else redact(v)) for k, v in text.items()}
    if isinstance(text, (list, tuple)):
        return type(text)(redact(v) for v in text)
    if not isinstance(text, str):
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@", text)
    text = _URL_USER_ONLY.sub(lambda m: f"{m.group(1)}{MASK}@" if m.group(2) != MASK else m.group(0), text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}", text)


def url_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``(url without credentials, user, password)`` for ``scheme://user:password@host/…``."""
    match = re.match(r"(?i)^([a-z][a-z0-9+.-]*://)([^/@]*)@(.*)$", url)
    if not match:
        return url, None, None
    user, _, password = match.group(2).partition(":")
    return match.group(1) + match.group(3), user or None, password or None
