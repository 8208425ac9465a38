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

# Streams: one per purpose.
MOVE = 1
BITE = 2
KILL = 3
TURN = 4
HYBRID = 5
EVOLVE = 6
SHELTER = 7
LAPSE = 8
CARRIER = 9
LINE = 10
STRIKE = 11
HOP = 16  # HOP + h for the h-th extra hop of a step
SETUP = 100


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
