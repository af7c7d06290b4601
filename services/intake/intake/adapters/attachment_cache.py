"""The attachment cache: content-addressed files, written once per hash, that the attachment route
serves with ranges (Starlette's FileResponse reads a file). A file unused for a while is swept;
erasing a requester drops their files from it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def attachment_cache_dir(database_name: str, configured: str) -> Path:
    return Path(configured or Path(tempfile.gettempdir()) / f"supportdesk-attachments-{database_name}")


def _write_once(directory: Path, sha256: str, content: bytes, now: float) -> Path:
    """Content-addressed: the file's name is its hash, written whole (temp file + rename). Its
    modification time says when it was last served (set to `now`), for the sweep."""
    target = directory / sha256
    if not target.exists():
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{sha256}.")
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, target)
    os.utime(target, (now, now))
    return target


SWEEP_EVERY = 60.0  # seconds between sweeps of one cache directory, per process
_swept: dict[Path, float] = {}


def sweep(directory: Path, unused_for: float, now: float) -> int:
    """Delete cached files (and stray temp files) last served more than `unused_for` seconds before
    `now`; returns how many. A file being served now was touched by `_write_once` just before."""
    removed = 0
    if not directory.is_dir():
        return 0
    for entry in directory.iterdir():
        try:
            if entry.is_file() and now - entry.stat().st_mtime > unused_for:
                entry.unlink()
                removed += 1
        except FileNotFoundError:  # another worker swept it first
            continue
    return removed


def cached(directory: Path, sha256: str, content: bytes, now: float, unused_for: float) -> Path:
    """The file to serve for this content (written if absent), sweeping the directory at most
    every SWEEP_EVERY seconds."""
    if now - _swept.get(directory, 0.0) >= SWEEP_EVERY:
        _swept[directory] = now
        sweep(directory, unused_for, now)
    return _write_once(directory, sha256, content, now)


def drop(directory: Path, sha256s: Iterable[str]) -> None:
    """Remove these files from the cache (those not there are fine)."""
    for sha256 in sha256s:
        with contextlib.suppress(FileNotFoundError):
            (directory / sha256).unlink()
