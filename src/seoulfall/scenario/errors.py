"""One-line messages for a scenario that does not validate."""

from __future__ import annotations

import difflib
import typing

from pydantic import BaseModel, ValidationError

from seoulfall.playbook import EVENT_CLASSES, EVENT_TYPES

#: Arrays of tables whose items are chosen by a tag (``type``): the tag's models.
TAGGED = {"events": dict(zip(EVENT_TYPES, EVENT_CLASSES))}


def _plain_loc(loc) -> tuple:
    """An error's location without the union tags pydantic inserts (``events.0.airstrike``)."""
    out = []
    for k, part in enumerate(loc):
        tagged = k >= 2 and isinstance(loc[k - 1], int) and loc[k - 2] in TAGGED
        if not (tagged and part in TAGGED[loc[k - 2]]):
            out.append(part)
    return tuple(out)


def format_validation_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """One line naming the key, the value given and what is allowed."""
    err = exc.errors()[0]
    raw_loc = err["loc"]
    parts = _plain_loc(raw_loc)
    loc = ".".join(str(p) for p in parts)
    given = err.get("input")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, raw_loc[:-1])
        near = difflib.get_close_matches(str(raw_loc[-1]), allowed, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        return f"unknown key {loc!r}{hint}; allowed here: {', '.join(allowed)}{more}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] == "event_type":  # the tag itself is wrong or missing
        if not isinstance(given, dict):
            return f"{loc}: must be a table (`[[events]]`); {msg}{more}"
        if "type" not in given:
            return f"{loc}.type: missing; allowed: {', '.join(EVENT_TYPES)}{more}"
        return f"{loc}.type = {given['type']!r}: {msg}{more}"
    if not loc:
        return f"{msg}{more}"
    return f"{loc} = {given!r}: {msg}{more}"


def _allowed_keys(model: type[BaseModel], loc) -> list[str]:
    """The keys allowed at ``loc`` of ``model`` (the scenario: the tagged arrays at its top)."""
    tags: dict | None = None
    for depth, part in enumerate(loc):
        if isinstance(part, int):
            continue  # an item of an array of tables
        if tags is not None and part in tags:
            model, tags = tags[part], None  # the item's own type
            continue
        tags = TAGGED.get(str(part)) if depth == 0 else None
        field = model.model_fields.get(str(part))
        sub = _table_model(getattr(field, "annotation", None))
        if sub is None:
            if tags is None:
                break
            continue
        model = sub
    return list(model.model_fields)


def _table_model(ann) -> type[BaseModel] | None:
    """The table model behind a field's annotation: ``Model``, ``Model | None``, ``list[Model]``."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    args = typing.get_args(ann)
    if len(args) == 2 and type(None) in args:  # an optional table
        return _table_model(next(a for a in args if a is not type(None)))
    if typing.get_origin(ann) is list and args and isinstance(args[0], type):
        if issubclass(args[0], BaseModel):
            return args[0]
    return None
