"""Bounded calls to the Hugging Face hub: nothing waits on a stalled network for long.

``huggingface_hub``'s ``repo_info`` (which ``snapshot_download`` calls first) has no timeout,
and a hub that accepts connections but never answers blocked a run for minutes. Before any
download, :func:`reachable` asks the hub about the repository under a hard deadline —
``SYNFAITH_HUB_TIMEOUT`` seconds (default 20) in all — and raises :class:`HubUnreachableError`
when it does not answer; ``HF_HUB_OFFLINE=1`` skips the hub entirely. File downloads then run
under the hub library's own per-request timeouts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

TIMEOUT_ENV = "SYNFAITH_HUB_TIMEOUT"
DEFAULT_TIMEOUT = 20.0

T = TypeVar("T")


class HubUnreachableError(ConnectionError):
    """The hub did not answer in time, or refused the request."""


def hub_timeout(seconds: float | None = None) -> float:
    """The deadline for one hub exchange: ``seconds``, else ``$SYNFAITH_HUB_TIMEOUT``, else 20 s."""
    if seconds is None:
        text = os.environ.get(TIMEOUT_ENV, "")
        try:
            seconds = float(text) if text else DEFAULT_TIMEOUT
        except ValueError:
            raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds, got {text!r}") from None
    if not seconds > 0:
        raise ValueError(f"the hub timeout must be positive, got {seconds!r}")
    return float(seconds)


def offline() -> bool:
    """Whether hub access is disabled (``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE``, read now, not at import)."""
    from huggingface_hub import constants

    flags = (os.environ.get(name, "").strip().lower() for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any(flag in ("1", "true", "yes", "on") for flag in flags)


def with_deadline(function: Callable[[], T], seconds: float, what: str) -> T:
    """``function()`` in a daemon thread; :class:`HubUnreachableError` if it has not returned in ``seconds``.

    The abandoned thread cannot be killed, but it holds no lock and dies with the process.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = function()
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = error

    worker = threading.Thread(target=target, name=f"synfaith-hub: {what}", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise HubUnreachableError(f"{what}: the hub did not answer within {seconds:g} s (set {TIMEOUT_ENV} to wait longer)")
    if "error" in result:
        raise result["error"]
    return result["value"]


def reachable(repo_id: str, repo_type: str = "model", timeout: float | None = None) -> None:
    """Return when the hub answers about ``repo_id`` within the deadline; raise otherwise.

    Raises:
        HubUnreachableError: no answer in time, a connection error, or an error status
            (including "repository not found"), with the hub's reason in one line.
    """
    from huggingface_hub import HfApi

    seconds = hub_timeout(timeout)
    what = f"asking the hub for {repo_type} {repo_id!r}"
    try:
        with_deadline(lambda: HfApi().repo_info(repo_id, repo_type=repo_type, timeout=seconds), seconds, what)
    except HubUnreachableError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure here means "cannot get it from the hub"
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        raise HubUnreachableError(f"{what}: {type(error).__name__}: {reason}") from None
