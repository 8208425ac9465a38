"""Counter-based random numbers keyed by (seed, stream, step, agent).

Every random decision is a pure function of its key, so results do not depend on thread
count, agent order or how work is split, and each purpose (movement, bites, kills, turning,
...) has its own stream: changing one mechanism does not reshuffle the noise of the others
(common random numbers). The generator is SplitMix64: a Weyl sequence ``key + agent * G``
passed through the SplitMix64 finaliser, with the per-step key itself made by chaining the
finaliser over (seed, stream, step).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_G = np.uint64(0x9E3779B97F4A7C15)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0

#: Every random stream, by name: one per purpose. The id is part of every draw's key, so a
#: stream keeps its id for ever (changing one changes every result that draws from it); a new
#: mechanism takes a new name and an unused id. ``hop`` + h is the h-th extra hop of a step
#: (ids 16-23); ``commute`` draws each agent's hours once per run (step 0) and whether a
#: commuter near its goal heads there (step + 1); ``setup`` draws the initial population and
#: the places of events.
STREAMS = {
    "move": 1, "bite": 2, "kill": 3, "turn": 4, "hybrid": 5, "evolve": 6, "shelter": 7,
    "lapse": 8, "carrier": 9, "line": 10, "strike": 11, "commute": 12, "hop": 16, "setup": 100,
}  # fmt: skip
assert len(set(STREAMS.values())) == len(STREAMS), "two streams share an id"
(MOVE, BITE, KILL, TURN, HYBRID, EVOLVE, SHELTER, LAPSE, CARRIER, LINE, STRIKE, COMMUTE, HOP,
 SETUP) = (
    STREAMS[n]
    for n in (
        "move", "bite", "kill", "turn", "hybrid", "evolve", "shelter", "lapse", "carrier",
        "line", "strike", "commute", "hop", "setup",
    )
)  # fmt: skip


@njit(inline="always", cache=True)
def mix64(z):
    """SplitMix64 finaliser: a bijection on uint64 with full avalanche."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(inline="always", cache=True)
def step_key(seed, stream, step):
    """Key of one stream at one step (uint64)."""
    k = mix64(np.uint64(seed) + _G)
    k = mix64(k ^ np.uint64(stream))
    return mix64(k + np.uint64(step) * _G)


@njit(inline="always", cache=True)
def agent_bits(key, agent):
    """64 random bits for one agent under a step key."""
    return mix64(key + np.uint64(agent) * _G)


@njit(inline="always", cache=True)
def to_unit(bits):
    """Uniform double in [0, 1) from the top 53 bits."""
    return float(bits >> _S11) * _INV53


@njit(inline="always", cache=True)
def unit_threshold(p):
    """The bits below which ``to_unit(bits) < p``, for ``0 <= p < 1``: one integer compare.

    ``to_unit(bits) < p`` exactly when ``bits >> 11 < p 2^53`` (both sides exact), that is
    when ``bits < ceil(p 2^53) 2^11``, which is below 2^64 for ``p < 1``.
    """
    return np.uint64(math.ceil(p * 9007199254740992.0)) << _S11


@njit(cache=True)
def uniform_array(seed, stream, step, agents):
    """Uniform doubles for a set of agent ids (the same numbers the kernels draw)."""
    key = step_key(seed, stream, step)
    out = np.empty(agents.size, np.float64)
    for i in range(agents.size):
        out[i] = to_unit(agent_bits(key, agents[i]))
    return out
