"""Alemi, Bierbaum, Myers & Sethna (2015), "You can run, you can hide" (Phys. Rev. E 92, 052801).

S + Z -> 2Z at rate β and S + Z -> S + R at rate κ = α β, per S-Z pair divided by the
population N (so that β is the bite rate a human meets when everyone else is a zombie).
The fully connected ODE, its exact stochastic (Gillespie) version, and the 2-D lattice model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit
from scipy.integrate import solve_ivp


def alemi_ode(
    N: float, Z0: float, alpha: float, beta: float, t_end: float, npoints: int = 201
) -> pd.DataFrame:
    """Solve Ṡ = −β S Z / N, Ż = (β − κ) S Z / N, Ṙ = κ S Z / N with S0 = N − Z0, κ = α β.

    Returns a DataFrame with columns ``t, S, Z, R`` (``npoints`` rows, the last at ``t_end``),
    solved with LSODA at rtol 1e-10.
    """
    kappa = alpha * beta

    def f(t, y):
        s, z, _ = y
        return [-beta * s * z / N, (beta - kappa) * s * z / N, kappa * s * z / N]

    t = np.linspace(0.0, t_end, npoints)
    sol = solve_ivp(
        f, (0.0, t_end), [N - Z0, Z0, 0.0], method="LSODA", t_eval=t, rtol=1e-10, atol=1e-12
    )
    return pd.DataFrame({"t": sol.t, "S": sol.y[0], "Z": sol.y[1], "R": sol.y[2]})


def alemi_closed_form(N: float, Z0: float, alpha: float, beta: float, t) -> pd.DataFrame:
    """The ODE's closed-form solution.

    Z + (1 − α) S = C is conserved, so Ṡ = −(β / N) S (C − (1 − α) S) and
    S(t) = C S0 / ((1 − α) S0 + Z0 exp(β C t / N)), Z = C − (1 − α) S, R = N − S − Z.
    """
    t = np.asarray(t, float)
    S0 = N - Z0
    C = Z0 + (1.0 - alpha) * S0
    if C == 0.0:  # no zombie and alpha = 1: nothing ever happens
        S = np.full_like(t, float(S0))
    else:
        S = C * S0 / ((1.0 - alpha) * S0 + Z0 * np.exp(beta * C * t / N))
    Z = C - (1.0 - alpha) * S
    return pd.DataFrame({"t": t, "S": S, "Z": Z, "R": N - S - Z})


def final_zombies(N: float, Z0: float, alpha: float) -> float:
    """ODE end state when zombies win (α < 1): all humans gone, Z = Z0 + (1 − α)(N − Z0)."""
    return Z0 + (1.0 - alpha) * (N - Z0)


def final_zombies_exact(N: int, Z0: int, alpha: float) -> tuple[float, float]:
    """Exact P(zombies win) and mean final Z when they win, for the stochastic model.

    The order of bites and kills is the embedded jump chain of the Gillespie model: from
    (S, Z) a bite (S - 1, Z + 1) with probability 1 / (1 + α), a kill (S, Z - 1) with
    α / (1 + α). With ``f(s, z)`` = E[Z at the end; zombies win] from (s, z): ``f(0, z) = z``,
    ``f(s, 0) = 0`` and ``f(s, z) = q f(s - 1, z + 1) + p f(s, z - 1)``, a first-order
    recursion in z for each s, solved as a linear filter; likewise the probability. The
    conditional mean is not the ODE's ``final_zombies``: runs in which zombies nearly died
    out early are the ones that end as human wins.
    """
    from scipy.signal import lfilter

    q, p = 1.0 / (1.0 + alpha), alpha / (1.0 + alpha)
    S0 = N - Z0
    zmax = Z0 + S0 + 1
    z = np.arange(zmax + 1, dtype=float)
    mean, prob = z.copy(), np.ones_like(z)  # s = 0: zombies have won with Z = z
    mean[0] = prob[0] = 0.0
    for _ in range(S0):
        for f in (mean, prob):
            g = np.r_[f[1:], 0.0]  # f(s - 1, z + 1)
            new = lfilter([q], [1.0, -p], g[1:])  # z = 1, 2, ...
            f[1:] = new
            f[0] = 0.0
    return float(prob[Z0]), float(mean[Z0] / prob[Z0])


def humans_win_probability(Z0: int, alpha: float) -> float:
    """Gambler's ruin for N → ∞: humans win (zombies die out) with probability min(1, α)^Z0."""
    return min(1.0, alpha) ** Z0


@njit(cache=True)
def _gillespie(N, Z0, alpha, beta, runs, seed, out):
    np.random.seed(seed)
    p_bite = 1.0 / (1.0 + alpha)
    for r in range(runs):
        s = N - Z0
        z = Z0
        rem = 0
        t = 0.0
        while s > 0 and z > 0:
            rate = beta * (1.0 + alpha) * s * z / N
            t += np.random.exponential(1.0 / rate)
            if np.random.random() < p_bite:
                s -= 1
                z += 1
            else:
                z -= 1
                rem += 1
        out[r, 0] = s
        out[r, 1] = z
        out[r, 2] = rem
        out[r, 3] = t


def alemi_stochastic(
    N: int, Z0: int, alpha: float, beta: float = 1.0, runs: int = 1, seed: int = 0
) -> pd.DataFrame:
    """Exact stochastic simulation (Gillespie) of the fully connected model.

    Returns one row per run with the final ``S``, ``Z``, ``R`` and the time ``t_end`` of the
    last event. Humans win in a run when ``Z`` ends at 0.
    """
    if not (0 <= Z0 <= N) or runs < 0 or alpha < 0 or beta <= 0:
        raise ValueError("need 0 <= Z0 <= N, runs >= 0, alpha >= 0, beta > 0")
    out = np.zeros((runs, 4))
    _gillespie(int(N), int(Z0), float(alpha), float(beta), int(runs), int(seed), out)
    return pd.DataFrame(
        {
            "S": out[:, 0].astype(np.int64),
            "Z": out[:, 1].astype(np.int64),
            "R": out[:, 2].astype(np.int64),
            "t_end": out[:, 3],
        }
    )


_S, _Z, _R = 0, 1, 2


@njit(cache=True)
def _turn(site, size, x, bz, bs, nb):
    """Make site ``x`` a zombie and add its bonds to susceptible neighbours.

    Returns the new bond count and whether ``x`` lies on the border.
    """
    site[x] = _Z
    r, q = divmod(x, size)
    for dr, dq in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        rr, qq = r + dr, q + dq
        if 0 <= rr < size and 0 <= qq < size and site[rr * size + qq] == _S:
            bz[nb] = x
            bs[nb] = rr * size + qq
            nb += 1
    return nb, r == 0 or q == 0 or r == size - 1 or q == size - 1


@njit(cache=True)
def _lattice(size, alpha, seed):
    np.random.seed(seed)
    n = size * size
    site = np.zeros(n, np.int8)  # all susceptible
    bz = np.empty(4 * n + 4, np.int64)  # bonds: zombie site, susceptible site
    bs = np.empty(4 * n + 4, np.int64)
    nb, edge = _turn(site, size, (size // 2) * size + size // 2, bz, bs, 0)
    infected = 1
    killed = 0
    p_bite = 1.0 / (1.0 + alpha)
    while nb > 0:
        j = np.random.randint(nb)
        z, s = bz[j], bs[j]
        if site[z] != _Z or site[s] != _S:  # stale bond: drop it, pick again
            nb -= 1
            bz[j] = bz[nb]
            bs[j] = bs[nb]
            continue
        if np.random.random() < p_bite:
            nb, border = _turn(site, size, s, bz, bs, nb)
            edge = edge or border
            infected += 1
        else:
            site[z] = _R
            killed += 1
    return infected, killed, edge


def alemi_lattice(size: int, alpha: float, seed: int = 0) -> dict:
    """The 2-D lattice model: one human per site, one zombie at the centre.

    Repeatedly pick a uniformly random human-zombie nearest-neighbour pair; it is a bite
    (the human turns) with probability 1 / (1 + α), else the zombie is destroyed (its site is
    removed and blocks). Stops when no pair is left.

    Returns
    -------
    dict
        ``infected`` (sites that were ever zombies, the first included), ``killed`` (zombies
        destroyed), ``reached_edge`` (a zombie ever stood on the border), ``size``, ``alpha``.
    """
    if size < 1 or alpha < 0:
        raise ValueError("need size >= 1 and alpha >= 0")
    infected, killed, edge = _lattice(int(size), float(alpha), int(seed))
    return {
        "infected": int(infected),
        "killed": int(killed),
        "reached_edge": bool(edge),
        "size": int(size),
        "alpha": float(alpha),
    }
