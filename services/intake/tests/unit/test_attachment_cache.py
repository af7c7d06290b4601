"""The attachment cache (files written once per hash so ranges can be served) does not grow
forever: a file unused for INTAKE_ATTACHMENT_CACHE_SECONDS is swept; one just served is kept."""

import os
from pathlib import Path

from intake.adapters import attachment_cache
from intake.adapters.attachment_cache import cached, sweep

HOUR = 3600.0
T0 = 1_800_000_000.0


def test_a_file_unused_longer_than_the_limit_is_swept_and_one_used_since_is_kept(tmp_path: Path) -> None:
    old = cached(tmp_path, "a" * 64, b"old", T0, HOUR)
    used = cached(tmp_path, "b" * 64, b"used", T0, HOUR)
    cached(tmp_path, "b" * 64, b"used", T0 + HOUR, HOUR)  # served again an hour later
    assert sweep(tmp_path, HOUR, T0 + HOUR + 10) == 1
    assert not old.exists() and used.read_bytes() == b"used"


def test_serving_sweeps_at_most_once_a_minute(tmp_path: Path) -> None:
    attachment_cache._swept.clear()
    stale = cached(tmp_path, "c" * 64, b"stale", T0, HOUR)
    os.utime(stale, (T0 - 2 * HOUR, T0 - 2 * HOUR))
    cached(tmp_path, "d" * 64, b"new", T0 + 30, HOUR)  # within a minute of the first sweep: none
    assert stale.exists()
    cached(tmp_path, "d" * 64, b"new", T0 + 61, HOUR)
    assert not stale.exists()
