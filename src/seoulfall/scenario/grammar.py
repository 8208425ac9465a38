"""The ``--set KEY=VALUE`` grammar: values as TOML, key paths into tables and arrays."""

from __future__ import annotations

from typing import Any

import tomllib

from seoulfall.playbook import WHEN
from seoulfall.schema import ScenarioError


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax (numbers, booleans, strings, arrays), else a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ScenarioError(f"--set value {text[:40]!r}...: nested too deeply") from None


def _override_items(overrides: Any):
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return list(overrides.items())
    items = []
    for item in overrides:
        if isinstance(item, tuple):
            items.append(item)
            continue
        cut = _assignment(item)
        if cut < 0:
            raise ScenarioError(f"--set {item!r}: expected KEY=VALUE, e.g. zombie.bite_rate=0.3")
        items.append((item[:cut].strip(), parse_value(item[cut + 1 :].strip())))
    return items


def _assignment(item: str) -> int:
    """Where ``KEY=VALUE`` splits: the first ``=`` outside the key's quoted parts (or -1)."""
    quote, i = None, 0
    while i < len(item):
        ch = item[i]
        if quote is None and ch == "=":
            return i
        if quote is None and ch in "\"'":
            quote = ch
        elif ch == quote:
            quote = None
        elif quote == '"' and ch == "\\":
            i += 1  # an escaped character of a basic string
        i += 1
    return -1


def set_path(raw: dict, key: str, value: Any) -> None:
    """Set ``raw['a']['b'] = value`` for ``key = 'a.b'``, creating tables as needed.

    A number indexes an array of tables (``events.1.day``); a key ending in ``+`` appends
    a table to an array (``events+`` with an inline table as the value).
    """
    append = key.endswith("+")
    parts = _key_parts(key.removesuffix("+"))
    if not key or any(not p for p in parts):
        raise ScenarioError(f"--set {key!r}: not a key path like zombie.bite_rate")
    node: Any = raw
    for i, p in enumerate(parts[:-1]):
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            node = _item(node, p, here, key)
            continue
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, (dict, list)):
            raise ScenarioError(f"--set {key}: {here} is not a table")
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        if append:
            raise ScenarioError(f"--set {key}: append to an array by its name, e.g. events+=...")
        node[node.index(_item(node, last, key, key))] = value
        return
    if last in WHEN and len(parts) >= 3 and parts[0] == "events":
        for other in WHEN:  # a new timing replaces the event's old one (a trigger included)
            if other != last:
                node.pop(other, None)
        if last != "trigger":
            node.pop("trigger_district", None)
    if append:
        if not isinstance(value, dict):
            raise ScenarioError(
                f'--set {key}: expected an inline table, e.g. {key}={{type = "airstrike", ...}}'
            )
        arr = node.setdefault(last, [])
        if not isinstance(arr, list):
            raise ScenarioError(f"--set {key}: {last} is not an array of tables")
        arr.append(value)
        return
    node[last] = value


def get_path(raw: dict, key: str) -> Any:
    """The value at ``key`` in ``raw`` (as :func:`set_path` addresses it), or ``None`` if unset."""
    parts = _key_parts(key)
    node: Any = raw
    for i, p in enumerate(parts):
        if isinstance(node, list):
            node = _item(node, p, ".".join(parts[: i + 1]), key)
        elif isinstance(node, dict):
            node = node.get(p)
        else:
            return None
    return node


def _key_parts(key: str) -> list[str]:
    """A key path's parts, with TOML's own grammar for dotted keys.

    ``events.0.day`` or ``events."army at the outbreak".day`` (a quoted part may hold dots and
    any Unicode, with TOML's escapes).
    """
    try:
        node = tomllib.loads(f"{key} = 0")
    except (tomllib.TOMLDecodeError, RecursionError):
        return key.split(".")
    parts = []
    while isinstance(node, dict) and len(node) == 1:
        ((k, node),) = node.items()
        parts.append(k)
    return parts


def _item(arr: list, index: str, here: str, key: str):
    """An item of an array of tables, by its index or by its ``name``."""
    if index.isdigit() and int(index) < len(arr):
        return arr[int(index)]
    named = [x for x in arr if isinstance(x, dict) and x.get("name") == index]
    if len(named) == 1:
        return named[0]
    names = [x.get("name") for x in arr if isinstance(x, dict) and x.get("name") is not None]
    shown = ", ".join(repr(n) for n in names) or "none"
    if len(named) > 1:
        raise ScenarioError(f"--set {key}: {len(named)} entries are named {index!r}")
    raise ScenarioError(
        f"--set {key}: {here!r} needs an index below {len(arr)} or a name (the array has "
        f"{len(arr)} entries; named: {shown})"
    )
