"""The kernels' layout: the state byte, the count table, the parameters' slots, shared constants."""

from __future__ import annotations

import numpy as np

from seoulfall.engine import parameters, states

# Agent states (declared in ``engine/states.py``): the low three bits of the ``state`` byte.
STATE_NAMES = states.NAMES

HUMAN, INFECTED, ZOMBIE, EVOLVED, HYBRID, DEAD, EVACUATED, RESERVE = (
    STATE_NAMES.index(n)
    for n in ("human", "infected", "zombie", "evolved", "hybrid", "dead", "evacuated", "reserve")
)

SOLDIER = STATE_NAMES.index("soldier")  # reported apart: a human of the soldiers' level
FLED, ESCAPED = STATE_NAMES.index("fled"), STATE_NAMES.index("escaped")  # evacuated, by land
NBYTE_STATES = states.NBYTE  # the states the byte holds (the variants follow them)
NLIVING = states.NCOUNTED  # the living: they stand on the map and are counted per cell

# Why a named character's state changed (declared in ``engine/states.py``), by code.
CAUSE_NAMES = states.CAUSE_NAMES
(
    CAUSE_BITE_Z, CAUSE_BITE_E, CAUSE_BITE_Y, CAUSE_KILLED_BY_Y, CAUSE_WOUND, CAUSE_KILLED_BY_H,
    CAUSE_KILLED_BY_YS, CAUSE_LINE, CAUSE_EVOLVED, CAUSE_TURNED, CAUSE_TURNED_HYBRID,
    CAUSE_KILLED_AFTER_BITE, CAUSE_EVACUATED, CAUSE_FLED, CAUSE_ESCAPED,
) = (
    CAUSE_NAMES.index(n)
    for n in (
        "bitten_by_zombie", "bitten_by_evolved", "bitten_by_hybrid", "killed_by_hybrid",
        "wounded", "killed_by_humans", "killed_by_hybrids", "shot_at_line", "evolved",
        "turned", "turned_hybrid", "killed_after_bite", "evacuated", "fled_the_city",
        "escaped_the_city",
    )
)  # fmt: skip

assert NLIVING == 5, "the kernels' sums over a cell's living are written out for five states"

# The other bits of the state byte: per-agent traits that cost no extra memory.
STATE_MASK = 7

CARRIER = 8  # a hybrid whose bite infects (else immune)

EVACUATING = 8  # the same bit on a human: it is evacuating

SHELTER = 16  # a human in shelter

LEVEL_SHIFT = 5  # bits 5-7: strength level, an index into STRENGTH_LEVELS

#: The strength levels and their units per cell (declared in ``engine/parameters.py``).
STRENGTH_LEVELS = np.array(parameters.STRENGTH_LEVELS)

STRENGTH_UNITS = np.array(parameters.STRENGTH_UNITS, np.int32)

LEVEL_ONE = 0  # strength 1.0

SOLDIER_LEVEL = parameters.SOLDIER_LEVEL

MAX_CIVILIAN_LEVEL = 3  # strength 3.0: the strongest a civilian can be

DEAD_BYTE = DEAD

#: The levels of an evacuated agent's byte that say it left by land, over the city's edge
#: (``world.edge = "open"``): a human (``FLED``), or infected (``ESCAPED``). Level 0: the
#: evacuation's. Such an agent's cell is ``LEFT_AT - c``, ``c`` the cell it left from.
FLED_LEVEL, ESCAPED_LEVEL = 1, 2

LEFT_AT = -2

#: A neighbour-table entry (``nbr``) for the land beyond the map's edge (``world.edge =
#: "open"``): no cell to stand on, but a way out. -1 is a wall.
EXIT = -2

# Columns of the per-cell count table (int32, one 32-byte row per cell).
C_STR = 5  # sum of the strength units of the cell's humans not in shelter

C_ATT = 6  # hybrid attacks in the cell last step: carrier + 65536 x immune

C_KILLS = 7  # zombies destroyed in the cell last step

NCOLS = 8

# Event kinds in the per-step event list (``ev``: cell << 2 | kind): a zombie destroyed, a
# carrier's attack, an immune hybrid's, a human infected aboard a train (``cell``: its car).
EV_KILL, EV_CARRIER, EV_IMMUNE, EV_ABOARD = 0, 1, 2, 3

#: ``C_ATT`` packs two counts in one int32: carriers' attacks in the low bits, immune hybrids'
#: attacks above ``ATTACK_BITS`` (each adds ``IMMUNE_ATTACK``).
ATTACK_BITS = 16

IMMUNE_ATTACK = 1 << ATTACK_BITS

CARRIER_ATTACKS = IMMUNE_ATTACK - 1  # the mask of the carriers' count

#: Where a running minimum of rows or columns starts (above any raster's side).
NO_ROW = 1 << 30

FAR = 1 << 30  # distance-to-target of cells from which the evacuation target is out of reach

# Slots of the parameter vectors, named from their one declaration (``engine/parameters.py``;
# an unknown name or a miscount fails here, at import).
(
    P_DT, P_BITE, P_BITE_E, P_KILL, P_KILL_E, P_Y_STRENGTH, P_TURN_MEDIAN, P_TURN_SIGMA,
    P_HYBRID_P, P_EVOLVE_P, P_H_FLEE, P_H_DRIFT, P_Z_CHASE, P_Z_WANDER, P_E_CHASE, P_E_WANDER,
    P_Y_DRIFT, P_W_OWN, P_W_NEIGHBOUR, P_MASS_ACTION, P_EVOLVE_RATE, P_EVOLVE_BITE,
    P_CARRIER_P, P_Y_HUNT, P_Y_HUNGER, P_Y_LAPSE, P_Y_SELF, P_Y_PAIN, P_H_RETALIATE,
    P_SHELTER_P, P_SHELTER_F, P_SHELTER_BREACH, P_WOUND_P, P_WOUND_MEDIAN, P_WOUND_SIGMA,
    P_EVAC_REMOVE, P_COMMUTE, P_ALERT, P_C_HOPS, P_C_LOITER, P_C_WEEKEND, P_SUBWAY, P_Z_ALIGHT,
    P_Z_BOARD, P_S_WALK,
) = parameters.FLOAT.slots(
    "dt", "bite", "bite_e", "kill", "kill_e", "y_strength", "turn_median", "turn_sigma",
    "hybrid_p", "evolve_p", "h_flee", "h_drift", "z_chase", "z_wander", "e_chase", "e_wander",
    "y_drift", "w_own", "w_neighbour", "mass_action", "evolve_rate", "evolve_bite",
    "carrier_p", "y_hunt", "y_hunger", "y_lapse", "y_self", "y_pain", "h_retaliate",
    "shelter_p", "shelter_f", "shelter_breach", "wound_p", "wound_median", "wound_sigma",
    "evac_remove", "commute", "alert", "c_hops", "c_loiter", "c_weekend", "subway", "z_alight",
    "z_board", "s_walk",
)  # fmt: skip

NPARAMS = parameters.FLOAT.size

I_R_H, I_R_Z, I_R_E, I_MAXHOP, I_SORT_EVERY, I_R_Y, I_NCAST, I_UNITS, I_GRADED = (
    parameters.INT.slots(
        "r_h", "r_z", "r_e", "maxhop", "sort_every", "r_y", "ncast", "units", "graded"
    )
)

NIPARAMS = parameters.INT.size

MAXHOP = parameters.MAXHOP

#: A move whose probability lies between these is a coin toss, decided without a branch:
#: the processor would mispredict such a branch an eighth of the time or more, each time
#: costing more than the work it skips. Outside them a branch skips the rare move (the
#: default city's humans drift 0.03 hops a step). Measured on the Mesa benchmark's model
#: (drift and wander 0.5 hops a step, 10 k agents, one thread): 0.76-0.80 of the time
#: with a branch; on day 2 of the default scenario at scale 0.25 (zombies wander 0.18 hops a
#: step) 0.76 and 0.93 in two runs; its first hours unchanged within this machine's noise.
COIN_LO, COIN_HI = 0.125, 0.875

SOUND_EPS = 1e-3  # quieter than this is silence

# Per-chunk statistics written by the pass: totals of the living states, then the bounding
# box (row min, row max, col min, col max) of cells holding infected, zombies or evolved
# zombies: the "threat box", outside which no field can matter in the next step.
NSTATS = NLIVING + 4

_MODE_STAY, _MODE_RANDOM, _MODE_CHASE, _MODE_FLEE, _MODE_SOUND, _MODE_EVAC, _MODE_COMMUTE = range(7)

NO_BBOX = np.array([1, 0, 1, 0], np.int64)  # an empty threat box
