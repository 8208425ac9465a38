"""``seoulfall validate``: check the reference models and the engine against closed forms.

Each check computes a value, the value it should have (derived in ``docs/validation.md``)
and a tolerance, and passes when ``|value - expected| <= tolerance``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seoulfall.engine import kernels as K
from seoulfall.reference import (
    alemi_closed_form,
    alemi_lattice,
    alemi_ode,
    alemi_stochastic,
    final_zombies_exact,
    munz,
    quarantine_r0,
    treatment_equilibrium,
)
from seoulfall.reference.munz import basic_jacobian_at_dfe
from seoulfall.scenario import Scenario
from seoulfall.simulation import Simulation

#: The parameters printed in Munz et al. (2009).
MUNZ = {"alpha": 0.005, "beta": 0.0095, "zeta": 0.0001, "delta": 0.0001}


@dataclass
class Check:
    """One validation check and its outcome."""

    name: str
    value: float
    expected: float
    tolerance: float
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True when the value lies within the tolerance of the expectation."""
        return bool(abs(self.value - self.expected) <= self.tolerance)


# -- Munz et al. (2009) -----------------------------------------------------------------------
def check_munz_basic_takeover() -> Check:
    """Basic model, the paper's values, N = 500 and one seed zombie: humans are gone by day 10."""
    df = munz("basic", 10.0, MUNZ, {"S": 499, "Z": 1})
    return Check("munz basic: S(10)/N, one seed zombie", df["S"].iloc[-1] / 500, 0.0, 1e-3)


def check_munz_basic_euler() -> Check:
    """The paper's Euler scheme (dt = 0.01 day) agrees with the adaptive solution."""
    exact = munz("basic", 10.0, MUNZ, {"S": 499, "Z": 1})
    euler = munz("basic", 10.0, MUNZ, {"S": 499, "Z": 1}, dt=0.01)
    zt = np.interp(exact["t"], euler["t"], euler["Z"])
    return Check(
        "munz basic: Euler dt=0.01 vs LSODA, max |dZ|/N",
        float(np.max(np.abs(zt - exact["Z"])) / 500),
        0.0,
        0.01,
    )


def check_munz_dfe_unstable() -> Check:
    """With ζ > 0 the disease-free equilibrium is unstable even when α > β."""
    p = dict(MUNZ, alpha=0.02)  # alpha > beta
    N = 500.0
    lam = float(np.max(np.linalg.eigvals(basic_jacobian_at_dfe(p, N)).real))
    b, a, z = p["beta"], p["alpha"], p["zeta"]
    tr = (b - a) * N - z
    formula = (tr + math.sqrt(tr * tr + 4 * b * N * z)) / 2
    return Check(
        "munz basic: DFE growth rate with alpha > beta (> 0)",
        lam,
        formula,
        1e-9 * max(1.0, abs(formula)),
    )


def check_munz_conservation() -> Check:
    """Latent model with Π = 0: S + I + Z + R stays N."""
    df = munz("latent", 20.0, dict(MUNZ, rho=0.005), {"S": 499, "Z": 1})
    total = df[["S", "I", "Z", "R"]].sum(axis=1)
    return Check(
        "munz latent: max |S+I+Z+R - N|/N", float((total - 500).abs().max() / 500), 0.0, 1e-8
    )


def check_munz_quarantine_r0() -> Check:
    """Quarantine model: the early growth of I + Z changes sign where R0 crosses 1."""
    N = 500.0
    base = dict(MUNZ, zeta=0.0, delta=0.0, rho=0.5, sigma=0.5, gamma=0.1)
    # choose kappa so that R0 = 1 exactly, then perturb either way
    k1 = base["beta"] * N * base["rho"] / (base["alpha"] * N + base["sigma"]) - base["rho"]
    signs = []
    for f in (0.9, 1.1):
        p = dict(base, kappa=k1 * f)
        df = munz("quarantine", 40.0, p, {"S": N - 1e-3, "Z": 1e-3})
        iz = (df["I"] + df["Z"]).to_numpy()
        grow = iz[-1] > iz[len(iz) // 2]  # past the initial transient: days 20 to 40
        signs.append(
            grow == (quarantine_r0(p["beta"], N, p["rho"], p["kappa"], p["alpha"], p["sigma"]) > 1)
        )
    return Check(
        "munz quarantine: R0 > 1 iff outbreak grows (2 cases)", float(sum(signs)), 2.0, 0.0
    )


def check_munz_treatment_equilibrium() -> Check:
    """Treatment model: the long-run state is the endemic equilibrium S̄ = c / β."""
    p = dict(MUNZ, delta=0.0, rho=0.5, c=0.5)
    df = munz("treatment", 3000.0, p, {"S": 499, "Z": 1})
    eq = treatment_equilibrium(p["beta"], p["c"], p["rho"], p["alpha"], p["zeta"], df["Z"].iloc[-1])
    return Check(
        "munz treatment: S(3000) vs c/beta", float(df["S"].iloc[-1]), eq["S"], 1e-3 * eq["S"]
    )


def check_munz_impulsive() -> Check:
    """Impulsive strikes (k = 0.25 every 2.5 days): the 4th strike kills every zombie."""
    p = {
        "alpha": 0.0075,
        "beta": 0.0055,
        "zeta": 0.09,
        "delta": 0.0001,
        "k": 0.25,
        "strikes": [2.5, 5.0, 7.5, 10.0],
    }
    df = munz("impulsive", 10.5, p, {"S": 999, "Z": 1})
    after = df[df["t"] == 10.0]["Z"].iloc[-1]  # a strike time has a row before and after
    return Check("munz impulsive: Z right after the 4th strike", float(after), 0.0, 1e-12)


# -- Alemi et al. (2015) ----------------------------------------------------------------------
def check_alemi_ode_closed_form() -> Check:
    """The ODE solver agrees with the closed form S(t) = C S0 / ((1-α) S0 + Z0 e^{βCt/N})."""
    ode = alemi_ode(1000, 1, 0.5, 1.0, 60.0)
    cf = alemi_closed_form(1000, 1, 0.5, 1.0, ode["t"])
    return Check(
        "alemi ODE vs closed form, max |dS|/N",
        float(np.abs(ode["S"] - cf["S"]).max() / 1000),
        0.0,
        1e-6,
    )


def check_alemi_odds(runs: int = 20_000) -> Check:
    """Gillespie: humans win with probability α^Z0 (gambler's ruin), here α = 0.8, Z0 = 1."""
    df = alemi_stochastic(1000, 1, 0.8, runs=runs, seed=12)
    p = float((df["Z"] == 0).mean())
    return Check(
        f"alemi stochastic: P(humans win), alpha=0.8, {runs} runs",
        p,
        0.8,
        4 * math.sqrt(0.8 * 0.2 / runs),
    )


def check_alemi_final_size(runs: int = 2000) -> Check:
    """Gillespie: when zombies win, the mean final Z is the exact one (α = 0.5, N = 1000).

    The exact conditional mean (``final_zombies_exact``: 502.0) lies above the ODE's
    Z0 + (1-α)(N-Z0) = 500.5; tolerance 4 σ, σ the standard error of the runs' mean.
    """
    df = alemi_stochastic(1000, 1, 0.5, runs=runs, seed=13)
    won = df[df["S"] == 0]["Z"]
    _, expected = final_zombies_exact(1000, 1, 0.5)
    return Check(
        "alemi stochastic: mean final Z when zombies win, alpha=0.5 (exact)",
        float(won.mean()),
        expected,
        4 * float(won.std()) / math.sqrt(won.size),
    )


def lattice_edge_probability(alpha: float, size: int, runs: int, seed: int = 0) -> float:
    """Share of reference lattice runs in which a zombie reaches the border."""
    return float(
        np.mean([alemi_lattice(size, alpha, seed=seed + r)["reached_edge"] for r in range(runs)])
    )


def check_lattice_critical(runs: int = 300) -> Check:
    """Lattice: spreading below the critical α, contained above; the critical α lies below 1.

    Counts how many of three facts hold: P(edge) at α = 0.2 on L = 65 exceeds 0.6; at α = 0.7
    it is under 0.02; and at α = 0.5 it falls as L grows from 33 to 129 (so α_c < 0.5 < 1).
    """
    facts = [
        lattice_edge_probability(0.2, 65, runs) > 0.6,
        lattice_edge_probability(0.7, 65, runs) < 0.02,
        lattice_edge_probability(0.5, 129, runs) < lattice_edge_probability(0.5, 33, runs),
    ]
    return Check(
        "alemi lattice: spreads at 0.2, contained at 0.7, alpha_c < 0.5",
        float(sum(facts)),
        3.0,
        0.0,
    )


# -- the engine against them --------------------------------------------------------------
def _quiet(sim: Simulation, block: int = 100, max_steps: int = 200_000) -> int:
    """Step until no cell holds both humans and zombies (nothing can change any more)."""
    step = 0
    while step < max_steps:
        c = sim.cnt
        if not (
            (c[:, K.HUMAN] > 0) & (c[:, K.ZOMBIE] + c[:, K.INFECTED] > 0)
        ).any() and not _neighbour_contacts(sim):
            break
        sim.advance(step, block)
        step += block
    return step


def _neighbour_contacts(sim: Simulation) -> bool:
    if sim.P[K.P_W_NEIGHBOUR] == 0:
        return False
    ny, nx = sim.world.shape
    h = (sim.cnt[:, K.HUMAN] > 0).reshape(ny, nx)
    z = (sim.cnt[:, K.ZOMBIE] > 0).reshape(ny, nx)
    return bool(
        (h[1:] & z[:-1]).any()
        or (h[:-1] & z[1:]).any()
        or (h[:, 1:] & z[:, :-1]).any()
        or (h[:, :-1] & z[:, 1:]).any()
    )


def engine_well_mixed_replicas(
    alpha: float, agents: int, replicas: int, dt: float, seed: int = 0
) -> np.ndarray:
    """Final zombies in ``replicas`` independent well-mixed cells of ``agents`` each.

    The cells of a lattice with no movement and own-cell contacts only are independent
    copies of the ``well-mixed`` world; each starts with one zombie.
    """
    side = int(math.ceil(math.sqrt(replicas)))
    sc = Scenario.load(
        "well-mixed",
        {
            "world.map": "lattice",
            "world.size": side,
            "population.agents": side * side * agents,
            "outbreak.zombies": 0,
            "zombie.bite_rate": 1.0,
            "human.kill_rate": alpha,
            "time.dt_min": dt,
            "zombie.speed_mps": 0.0,
            "zombie.wander_mps": 0.0,
            "human.flee_mps": 0.0,
            "human.drift_mps": 0.0,
            "infection.turn_median_min": 0.0,
            "zombie.night_factor": 1.0,
        },
    )
    sim = Simulation(sc, seed=seed)
    a = sim.agents
    first = np.r_[0, np.flatnonzero(np.diff(a.cell)) + 1]
    a.state[first] = K.ZOMBIE
    sim.recount()
    _quiet(sim)
    z = np.bincount(a.cell[a.states() == K.ZOMBIE], minlength=side * side)
    return z


def check_engine_well_mixed_odds(replicas: int = 900) -> Check:
    """Engine, single-cell limit: humans win with the exact probability (α = 0.8, N = 100).

    Tolerance 4 σ, σ = sqrt(p (1 - p) / runs), the binomial error of the engine's share.
    """
    z = engine_well_mixed_replicas(0.8, 100, replicas, dt=0.05, seed=3)
    p = float((z == 0).mean())
    ref = 1.0 - final_zombies_exact(100, 1, 0.8)[0]
    sd = math.sqrt(ref * (1 - ref) / z.size)
    return Check(
        f"engine well-mixed: P(humans win), alpha=0.8, N=100, {z.size} runs", p, ref, 4 * sd
    )


def check_engine_well_mixed_final_size(replicas: int = 400) -> Check:
    """Engine, single-cell limit: mean final zombies when they win is the exact one (α = 0.5).

    Against the exact conditional mean (``final_zombies_exact``, N = 100: 52.0); tolerance
    4 σ, σ the standard error of the engine runs' mean.
    """
    z = engine_well_mixed_replicas(0.5, 100, replicas, dt=0.05, seed=4)
    won = z[z > 0]
    _, want = final_zombies_exact(100, 1, 0.5)
    return Check(
        "engine well-mixed: mean final Z when zombies win, alpha=0.5, N=100",
        float(won.mean()),
        want,
        4 * float(won.std()) / math.sqrt(won.size),
    )


def engine_lattice_edge_probability(
    alpha: float, size: int, runs: int, dt: float = 0.05, seed: int = 0
) -> float:
    """Share of engine runs in the lattice world where a zombie reaches the border."""
    hits = 0
    for r in range(runs):
        sc = Scenario.load(
            "lattice",
            {
                "world.size": size,
                "population.agents": size * size,
                "human.kill_rate": alpha,
                "time.dt_min": dt,
            },
        )
        sim = Simulation(sc, seed=seed + r)
        _quiet(sim, block=50)
        a = sim.agents
        touched = (a.states() == K.ZOMBIE) | (a.state == K.DEAD)
        row, col = np.divmod(a.cell[touched], size)
        hits += bool(((row == 0) | (col == 0) | (row == size - 1) | (col == size - 1)).any())
    return hits / runs


def _engine_lattice(alpha: float, runs: int = 400, ref_runs: int = 2000) -> Check:
    """Engine, lattice limit: P(edge) at ``alpha`` matches the reference lattice (L = 33).

    Tolerance 4 σ, σ the binomial error of the difference of two shares, sqrt(p (1 - p)
    (1/runs + 1/ref_runs)) at the pooled share p.
    """
    eng = engine_lattice_edge_probability(alpha, 33, runs, seed=100)
    ref = lattice_edge_probability(alpha, 33, ref_runs, seed=7)
    p = (eng * runs + ref * ref_runs) / (runs + ref_runs)
    sd = math.sqrt(p * (1 - p) * (1 / runs + 1 / ref_runs))
    return Check(f"engine lattice: P(edge), alpha={alpha}, L=33, {runs} runs", eng, ref, 4 * sd)


def check_engine_lattice_spreading() -> Check:
    """Engine, lattice limit, below the critical α: P(edge) as the reference's (α = 0.25)."""
    return _engine_lattice(0.25)


def check_engine_lattice_contained() -> Check:
    """Engine, lattice limit, above the critical α: P(edge) as the reference's (α = 0.7)."""
    return _engine_lattice(0.7)


CHECKS: list[Callable[[], Check]] = [
    check_munz_basic_takeover,
    check_munz_basic_euler,
    check_munz_dfe_unstable,
    check_munz_conservation,
    check_munz_quarantine_r0,
    check_munz_treatment_equilibrium,
    check_munz_impulsive,
    check_alemi_ode_closed_form,
    check_alemi_odds,
    check_alemi_final_size,
    check_lattice_critical,
    check_engine_well_mixed_odds,
    check_engine_well_mixed_final_size,
    check_engine_lattice_spreading,
    check_engine_lattice_contained,
]


def run_checks(progress: Callable[[Check], None] | None = None) -> list[Check]:
    """Run every check; ``progress(check)`` is called after each."""
    out = []
    for fn in CHECKS:
        t = time.perf_counter()
        c = fn()
        c.seconds = time.perf_counter() - t
        out.append(c)
        if progress:
            progress(c)
    return out


def format_row(c: Check) -> str:
    """One table row: status, name, value, expected, tolerance."""
    return (
        f"{'PASS' if c.passed else 'FAIL'}  {c.name:<66} {c.value:>12.6g} "
        f"{c.expected:>12.6g} {c.tolerance:>10.3g}"
    )
