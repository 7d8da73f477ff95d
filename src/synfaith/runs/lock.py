"""An OS-level lock on a run directory, released by the kernel when its holder dies.

A whole run takes ``RUN_DIR/.lock`` exclusively; ``--shard i/n`` processes (SLURM arrays) take
it shared, plus ``.lock.shard-i-of-n`` exclusively, so shards of one run write side by side
while a second whole run, or a second copy of one shard, exits at once naming the holder.
Ray workers write under their driver's lock. ``flock`` locks vanish with the process, so a
SIGKILLed holder never leaves a stale lock behind (the file itself stays and is reused).
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path


class RunDirectoryBusy(RuntimeError):
    """Another live process holds the run directory."""


def _holder(path: Path) -> str:
    """Who holds ``path``: the live shard processes when shards hold it shared, else what its holder wrote."""
    held = []
    for shard_lock in sorted(path.parent.glob(".lock.shard-*")) if path.name == ".lock" else ():
        with open(shard_lock, "a+", encoding="utf-8") as probe:
            try:
                fcntl.flock(probe.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(probe.fileno(), fcntl.LOCK_UN)
            except BlockingIOError:
                held.append(_read(shard_lock))
    return "; ".join(held) if held else _read(path)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "another process"
    except OSError:
        return "another process"


class RunLock:
    """``with RunLock(run_dir, shard=None):`` holds the directory for this process.

    Attributes:
        exclusive: True for a whole run (it may sweep debris: no other writer is alive).
    """

    def __init__(self, run_dir: str | os.PathLike, shard: tuple[int, int] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.shard = shard
        self.exclusive = shard is None
        self._handles: list = []

    def _take(self, path: Path, mode: int, what: str) -> None:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunDirectoryBusy(
                f"{self.run_dir} is in use by {_holder(path)} ({what}); wait for it to finish, or use another --output_path"
            ) from None
        if mode == fcntl.LOCK_EX:
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()} on {socket.gethostname()}")
            handle.flush()
        self._handles.append(handle)

    def acquire(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            if self.shard is None:
                self._take(self.run_dir / ".lock", fcntl.LOCK_EX, "a run of this directory")
            else:
                index, count = self.shard
                self._take(self.run_dir / f".lock.shard-{index}-of-{count}", fcntl.LOCK_EX, f"shard {index}/{count}")
                self._take(self.run_dir / ".lock", fcntl.LOCK_SH, "a whole run of this directory")
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        for handle in reversed(self._handles):
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()
        self._handles.clear()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
