"""The scenario key reference (``docs/scenario-keys.md``), generated from the models."""

from __future__ import annotations

import inspect
import typing
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from seoulfall.playbook import EventBase, PlacedEvent
from seoulfall.scenario.errors import TAGGED, _table_model
from seoulfall.scenario.model import MAP_DEFAULTS, Scenario


def keys_markdown() -> str:
    """The scenario key reference (``docs/scenario-keys.md``), generated from the models."""
    lines = [
        "# Scenario keys",
        "",
        "Generated from `seoulfall.scenario` by `python tools/gen_scenario_docs.py`; do not edit.",
        "Every key can be set in a scenario file (`[table]` then `key = value`), with",
        "`--set table.key=value` on the command line, or `Scenario.override({...})` in Python.",
        "Rates are per minute unless the key names another unit.",
        "",
        "The reference maps (`well-mixed`, `lattice`: SPEC §7) leave the season-2 mechanisms out",
        "unless a scenario sets them: where their own default differs from the one for Seoul and",
        "Hyosan, the column *on the reference maps* gives it. A scenario file on those maps gets",
        "them too, for every key it leaves unset.",
        "",
    ]
    fields = Scenario.model_fields.items()
    top = [(n, f) for n, f in fields if _table_model(f.annotation) is None and n not in TAGGED]
    lines += ["## (top level)", "", "| key | default | on the reference maps | allowed | meaning |"]
    lines += ["|---|---|---|---|---|"]
    lines += [_key_row(n, f) for n, f in top]
    for name, field in fields:
        model = _table_model(field.annotation)
        if model is None:
            continue
        if typing.get_origin(field.annotation) is list:
            header = f"[[{name}]] (array of tables)"
        else:
            header = f"[{name}]" + ("" if model is field.annotation else " (optional)")
        lines += ["", f"## {header}", "", inspect.cleandoc(model.__doc__ or ""), ""]
        lines += _key_table(name, model)
    base, placed = EventBase.model_fields, PlacedEvent.model_fields
    where = [t for t, m in TAGGED["events"].items() if issubclass(m, PlacedEvent)]
    lines += [
        "",
        "## [[events]] (array of tables)",
        "",
        f"{Scenario.model_fields['events'].description}. Each table's `type` says which kind it "
        "is and which keys it takes: the keys every event has, those of events that happen "
        "somewhere, then each type's own.",
        "",
        "### every event",
        "",
        *_key_table("events", EventBase),
        "",
        f"### events that happen somewhere ({', '.join(where)})",
        "",
        *_key_table("events", PlacedEvent, skip=tuple(base)),
    ]
    for tag, model in TAGGED["events"].items():
        own = tuple(placed) + tuple(base)
        lines += ["", f'### type = "{tag}"', "", inspect.cleandoc(model.__doc__ or ""), ""]
        lines += _key_table("events", model, skip=own)
    return "\n".join(lines) + "\n"


def _key_table(name: str, model: type[BaseModel], skip=()) -> list[str]:
    rows = []
    for k, f in model.model_fields.items():
        if k in skip:
            continue
        own = [
            f"{m}: `{d[name, k]}`"
            for m, d in MAP_DEFAULTS.items()
            if (name, k) in d and d[name, k] != f.default
        ]
        rows.append(_key_row(f"{name}.{k}", f, "; ".join(own)))
    return [
        "| key | default | on the reference maps | allowed | meaning |",
        "|---|---|---|---|---|",
        *rows,
    ]


def _key_row(key: str, field, own: str = "") -> str:
    bounds = []
    for m in field.metadata:
        for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                bounds.append(f"{sym} {getattr(m, attr)}")
    if typing.get_origin(field.annotation) is Literal:
        bounds.append("one of " + ", ".join(f"`{v}`" for v in typing.get_args(field.annotation)))
    default = field.default
    if isinstance(default, datetime):
        default = default.isoformat()
    shown = "unset" if default is None else f"`{default}`"
    if field.is_required():
        shown = "required"
    return f"| `{key}` | {shown} | {own} | {', '.join(bounds)} | {field.description or ''} |"
