"""Validated policies kept between processes, so `sla-clock preview` starts without YAML or pydantic.

A policy file is parsed and validated (adapters/policy_files.py: ruamel.yaml and pydantic, most of
a cold start) the first time; its domain objects are then pickled under the user's cache directory
(`$XDG_CACHE_HOME/supportdesk/sla-clock-policies`, or `SLA_CLOCK_POLICY_CACHE=<dir>`; `off`
disables it). A later start takes them from there only if the entry holds the file's exact text and
was written by the same code: this package's policy sources, the calendar library's (its objects
are pickled too), the shared vocabulary and YAML reader, the Python version and every installed
distribution (pydantic, ruamel.yaml, holidays...) as named in the environment's site-packages.
Anything else, a damaged or
foreign entry included, is a miss: the file is validated again and the entry rewritten. Invalid
files are never cached, so their errors keep naming the file, line and field.

Only the command line uses this; the service loads its policies once per process as before.
"""

from __future__ import annotations

import os
import pickle
import sys
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..domain.policy import PolicyVersions

_FORMAT = 1
_PACKAGE = Path(__file__).resolve().parent.parent
_SHIPPED = _PACKAGE / "policies"


def cache_dir() -> Path | None:
    setting = os.environ.get("SLA_CLOCK_POLICY_CACHE", "")
    if setting.lower() == "off":
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "supportdesk" / "sla-clock-policies"


_code_key: bytes | None = None


def code_key() -> bytes:
    """What the cached objects were built by; any change makes every entry a miss."""
    global _code_key
    if _code_key is None:
        import importlib.util

        import supportdesk_calendar
        import supportdesk_contract.vocabulary as vocabulary

        calendars = Path(supportdesk_calendar.__file__).resolve().parent
        # Found, not imported: importing the YAML reader would load ruamel.yaml, which the cache avoids.
        yaml_spec = importlib.util.find_spec("supportdesk_service.yaml_config")
        assert yaml_spec is not None and yaml_spec.origin is not None
        sources = [
            *sorted((_PACKAGE / "domain").glob("*.py")),
            *sorted(calendars.glob("*.py")),
            _PACKAGE / "adapters" / "policy_files.py",
            _PACKAGE / "adapters" / "holiday_packages.py",
            Path(__file__).resolve(),
            Path(vocabulary.__file__).resolve(),
            Path(yaml_spec.origin).resolve(),
        ]
        parts = [f"{_FORMAT} {pickle.HIGHEST_PROTOCOL} {sys.version}".encode()]
        parts += [str(p).encode() + b"\0" + p.read_bytes() for p in sources]
        parts += [" ".join(_distributions()).encode()]
        _code_key = b"\0\0".join(parts)
    return _code_key


def _distributions() -> list[str]:
    """Every installed distribution with its version (`pydantic-2.12.4.dist-info`), from the
    directory names alone: importing importlib.metadata would cost more than the cache saves."""
    names: list[str] = []
    for entry in sys.path:
        try:
            listed = os.listdir(entry or ".")
        except OSError:
            continue
        names += sorted(f"{entry}/{n}" for n in listed if n.endswith((".dist-info", ".egg-info")))
    return names


def _entry(text: str, source: str) -> Path | None:
    where = cache_dir()
    if where is None:
        return None
    # The name only spreads entries; what decides a hit is the exact text and code inside.
    name = f"{zlib.crc32(source.encode()):08x}-{zlib.crc32(text.encode()):08x}.pickle"
    return where / name


def _read(path: Path, text: str, source: str) -> PolicyVersions | None:
    try:
        # Unpickling runs code: only an entry of this user's, in a directory of this user's,
        # neither writable by anyone else, and not reached through a symbolic link.
        folder = os.stat(path.parent, follow_symlinks=False)
        if folder.st_uid != os.getuid() or folder.st_mode & 0o022:
            return None
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return None
            header = pickle.load(f)
            if header != (code_key(), source, text):
                return None
            versions = pickle.load(f)
    except FileNotFoundError:
        return None
    except Exception:  # a damaged or older entry is a miss, whatever unpickling raised
        return None
    from ..domain.policy import PolicyVersions

    return versions if isinstance(versions, PolicyVersions) else None


def _write(path: Path, text: str, source: str, versions: PolicyVersions) -> None:
    import tempfile  # here: with random and shutil, it is a few ms that a hit does not need

    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump((code_key(), source, text), f, pickle.HIGHEST_PROTOCOL)
                pickle.dump(versions, f, pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # whole or not at all, for a reader in another process
        except BaseException:
            os.unlink(tmp)
            raise
    except Exception:  # a read-only or full directory, or an object pickle cannot take: speed, never an answer
        pass


def parse_policy_versions(text: str, source: str) -> PolicyVersions:
    """`policy_files.parse_policy_versions`, from the cache when it holds this exact text."""
    path = _entry(text, source)
    if path is not None:
        hit = _read(path, text, source)
        if hit is not None:
            return hit
    from .policy_files import parse_policy_versions as validate

    versions = validate(text, source)  # PolicyError for an invalid file: nothing is cached
    if path is not None:
        _write(path, text, source, versions)
    return versions


def load_policy_versions(path: str | Path) -> PolicyVersions:
    """`policy_files.load_policy_versions`, through the cache."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError:
        from .policy_files import load_policy_versions as load

        return load(p)  # raises the PolicyError naming why it cannot be read
    return parse_policy_versions(text, str(p))


def load_shipped_policy_versions(name: str) -> PolicyVersions:
    """`policy_files.load_shipped_policy_versions`, through the cache."""
    file = _SHIPPED / f"{name}.yaml"
    if "/" in name or "\\" in name or name.startswith(".") or not file.is_file():
        from .policy_files import load_shipped_policy_versions as load

        return load(name)  # raises the PolicyError listing the shipped names
    return parse_policy_versions(file.read_text(encoding="utf-8"), f"sla_clock/policies/{name}.yaml")
