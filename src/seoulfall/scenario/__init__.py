"""Scenarios: the single definition of every parameter, its unit, range and default.

A scenario is a TOML file validated strictly by pydantic models: unknown keys, wrong types and
out-of-range values are errors naming the key, the value given and what is allowed. One
module per concept: ``tables`` (the tables), ``model`` (:class:`Scenario`), ``files``
(bundled and user files), ``grammar`` (``--set``), ``errors`` (one-line messages), ``docs``
(the key reference). Everything is re-exported here.
"""

from __future__ import annotations

from seoulfall.scenario.docs import (  # noqa: F401
    _key_row,
    _key_table,
    keys_markdown,
)
from seoulfall.scenario.errors import (  # noqa: F401
    TAGGED,
    _allowed_keys,
    _plain_loc,
    _table_model,
    format_validation_error,
)
from seoulfall.scenario.files import (  # noqa: F401
    bundled_scenarios,
    load_raw,
    parse_toml,
)
from seoulfall.scenario.grammar import (  # noqa: F401
    _assignment,
    _item,
    _key_parts,
    _override_items,
    get_path,
    parse_value,
    set_path,
)
from seoulfall.scenario.model import (  # noqa: F401
    _REFERENCE_OFF,
    MAP_DEFAULTS,
    Scenario,
    _drop_none,
)
from seoulfall.scenario.tables import (  # noqa: F401
    Character,
    Engine,
    Evolved,
    Human,
    Hybrid,
    Infection,
    Interaction,
    Noise,
    Outbreak,
    Output,
    Population,
    Sound,
    Time,
    World,
    Zombie,
)
from seoulfall.schema import (  # noqa: F401
    BUILTIN_MAPS,
    KST,
    MAX_FILE_BYTES,
    MAX_MINUTES,
    MAX_STEPS,
    SYNTHETIC_MAPS,
    ScenarioError,
)
