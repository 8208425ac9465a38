"""Scenario files: the bundled ones, and reading a TOML file with its bounds."""

from __future__ import annotations

import difflib
import stat
from importlib import resources
from pathlib import Path

import tomllib

from seoulfall.schema import MAX_FILE_BYTES, ScenarioError


def bundled_scenarios() -> dict[str, Path]:
    """Names and paths of the scenarios that ship with seoulfall."""
    folder = Path(str(resources.files("seoulfall") / "scenarios"))
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def load_raw(name_or_path: str | Path) -> dict:
    """Parse a bundled scenario or a TOML file into a dict; errors are :class:`ScenarioError`."""
    bundled = bundled_scenarios()
    key = str(name_or_path)
    if key in bundled:
        path = bundled[key]
    else:
        path = Path(key)
        if not path.exists():
            if path.suffix == "" and "/" not in key:
                near = difflib.get_close_matches(key, list(bundled), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ScenarioError(
                    f"unknown scenario {key!r}{hint}; bundled: {', '.join(bundled)} (or give a "
                    "path to a .toml file)"
                )
            raise ScenarioError(f"{key}: no such scenario file")
        if path.is_dir():
            raise ScenarioError(f"{key}: is a folder, not a scenario file")
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            raise ScenarioError(f"{path}: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ScenarioError(
                f"{path}: {info.st_size:,} bytes; a scenario file holds at most {MAX_FILE_BYTES:,}"
            )
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    if not text.strip():
        raise ScenarioError(f"{path}: empty scenario file")
    return parse_toml(text, str(path))


def parse_toml(text: str, where: str) -> dict:
    """Parse scenario TOML; every error (bad syntax, absurd nesting) is one line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"{where}: invalid TOML: nested too deeply") from None
