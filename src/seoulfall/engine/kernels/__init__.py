"""Compiled kernels: one simulation step over flat agent arrays.

The kernels know nothing of scenarios, files or the command line: they take arrays and a
parameter vector (:mod:`seoulfall.engine.params` builds it). One step is a single fused pass
over the agents, split into contiguous chunks:

1. **Interact** using the per-cell counts at the start of the step (frequency-dependent):
   a human in cell c is bitten with probability ``1 - exp(-dt (b_z Z_c + b_e E_c) / N_c)``;
   a zombie is destroyed with probability ``1 - exp(-dt k (H_c + s_y Y_c) / N_c)`` (an
   evolved zombie with ``k / resist``); ``N_c`` counts the living agents in the cell (human,
   infected, zombie, evolved, hybrid).
2. **Turn**: a bitten human becomes ``infected`` with a turn time drawn from a log-normal;
   when it has elapsed the agent becomes a zombie, or a hybrid with a small probability.
   Ordinary zombies evolve with a constant per-step probability.
3. **Move** by hops to passable von Neumann neighbours: the number of hops per step is
   ``floor(x)`` plus one with probability ``frac(x)``, ``x`` being the speed in cells per
   step of the agent's current mode. Zombies climb the field of humans they sense (box sum
   within their sensing radius) and stop on a cell with humans; humans flee down the field of
   zombies they sense, and otherwise drift at random; hybrids drift and never flee.
4. **Count** each living agent into the per-cell counts of the next step. Each chunk owns a
   disjoint range of cells (agents are kept sorted by cell, so a chunk's agents mostly stand
   in its range) and counts there without atomics; the few agents that stand outside their
   chunk's range go to an overflow list added afterwards. With several threads there are
   16 chunks per thread, dealt out in turn (:func:`pass_parallel`), so that a thread whose
   chunks hold the front does not leave the others idle.

Every random draw comes from :mod:`seoulfall.engine.rng` keyed by (seed, stream, step,
agent id), and counts are integers, so a step's outcome does not depend on the number of
threads or the order of agents.

The kernels live in one module per concept: ``layout`` (the state byte, the count table,
the parameters' slots), ``fields`` (sensing), ``agent`` (one agent's step), ``commute``
(the daily journeys), ``passes`` (the chunked pass and its counting), ``sort`` (by cell) and
``sound``. Everything is re-exported
here: callers write ``kernels.NAME``.
"""

from __future__ import annotations

from seoulfall.engine.kernels.agent import (  # noqa: F401
    _KEY_STREAMS,
    K_BITE,
    K_CARRIER,
    K_EVOLVE,
    K_HOP,
    K_HYBRID,
    K_KILL,
    K_LAPSE,
    K_LINE,
    K_MOVE,
    K_SHELTER,
    K_TURN,
    NKEYS,
    PASS_STREAMS,
    _contacts,
    _key_tuple,
    _may_hit,
    _turn_time,
    agent_step,
    step_keys,
)
from seoulfall.engine.kernels.commute import (  # noqa: F401
    ALIGHT,
    IN_ZONE,
    NO_ROUTE,
    NO_WAY,
    cell_zones,
    commute_goal,
    commute_hop,
    commute_target,
    ride,
    zombie_boards,
    zone_ways,
)
from seoulfall.engine.kernels.fields import (  # noqa: F401
    _F_READ,
    _F_SOURCE,
    _F_WHICH,
    GRADED_BOXES,
    T_READ_H,
    T_READ_Y,
    T_READ_Z,
    T_SRC_H,
    T_SRC_Z,
    TILE,
    _field_geometry,
    box_field,
    compute_fields,
    compute_fields_parallel,
    field_cell,
    field_near,
    field_need,
    field_needs,
    field_one,
    field_plan,
    field_sources,
    field_sources_row,
    graded_radius,
    near_tiles,
)
from seoulfall.engine.kernels.layout import (  # noqa: F401
    _MODE_CHASE,
    _MODE_COMMUTE,
    _MODE_EVAC,
    _MODE_FLEE,
    _MODE_RANDOM,
    _MODE_SOUND,
    _MODE_STAY,
    ATTACK_BITS,
    C_ATT,
    C_KILLS,
    C_STR,
    CARRIER,
    CARRIER_ATTACKS,
    CAUSE_NAMES,
    COIN_HI,
    COIN_LO,
    DEAD,
    DEAD_BYTE,
    ESCAPED,
    ESCAPED_LEVEL,
    EV_ABOARD,
    EV_CARRIER,
    EV_IMMUNE,
    EV_KILL,
    EVACUATED,
    EVACUATING,
    EVOLVED,
    EXIT,
    FAR,
    FLED,
    FLED_LEVEL,
    HUMAN,
    HYBRID,
    I_GRADED,
    I_MAXHOP,
    I_NCAST,
    I_R_E,
    I_R_H,
    I_R_Y,
    I_R_Z,
    I_SORT_EVERY,
    I_UNITS,
    IMMUNE_ATTACK,
    INFECTED,
    LEFT_AT,
    LEVEL_ONE,
    LEVEL_SHIFT,
    MAX_CIVILIAN_LEVEL,
    MAXHOP,
    NBYTE_STATES,
    NCOLS,
    NIPARAMS,
    NLIVING,
    NO_BBOX,
    NO_ROW,
    NPARAMS,
    NSTATS,
    P_ALERT,
    P_BITE,
    P_BITE_E,
    P_C_HOPS,
    P_C_LOITER,
    P_C_WEEKEND,
    P_CARRIER_P,
    P_COMMUTE,
    P_DT,
    P_E_CHASE,
    P_E_WANDER,
    P_EVAC_REMOVE,
    P_EVOLVE_BITE,
    P_EVOLVE_P,
    P_EVOLVE_RATE,
    P_H_DRIFT,
    P_H_FLEE,
    P_H_RETALIATE,
    P_HYBRID_P,
    P_KILL,
    P_KILL_E,
    P_MASS_ACTION,
    P_S_WALK,
    P_SHELTER_BREACH,
    P_SHELTER_F,
    P_SHELTER_P,
    P_SUBWAY,
    P_TURN_MEDIAN,
    P_TURN_SIGMA,
    P_W_NEIGHBOUR,
    P_W_OWN,
    P_WOUND_MEDIAN,
    P_WOUND_P,
    P_WOUND_SIGMA,
    P_Y_DRIFT,
    P_Y_HUNGER,
    P_Y_HUNT,
    P_Y_LAPSE,
    P_Y_PAIN,
    P_Y_SELF,
    P_Y_STRENGTH,
    P_Z_ALIGHT,
    P_Z_BOARD,
    P_Z_CHASE,
    P_Z_WANDER,
    RESERVE,
    SHELTER,
    SOLDIER,
    SOLDIER_LEVEL,
    SOUND_EPS,
    STATE_MASK,
    STATE_NAMES,
    STRENGTH_LEVELS,
    STRENGTH_UNITS,
    ZOMBIE,
)
from seoulfall.engine.kernels.passes import (  # noqa: F401
    _PASS_BOUNDS,
    PASS_ARGS,
    any_zombie,
    chunk_bounds,
    combine_stats,
    count_cells,
    event_count,
    merge_overflow,
    pass_chunk,
    pass_mode,
    pass_parallel,
    pass_serial,
    reported_state,
    reported_states,
    tally,
    threat_bbox,
    zombie_in,
)
from seoulfall.engine.kernels.sort import (  # noqa: F401
    _sort_key,
    sort_copy_back,
    sort_count,
    sort_offsets,
    sort_scatter,
)
from seoulfall.engine.kernels.sound import (  # noqa: F401
    _add_disc,
    _shell_sort,
    fight_noise,
    noise_cell,
    noise_fade_cell,
    render_sources,
)
