import math

import numpy as np
import pytest

from seoulfall.reference import (
    alemi_closed_form,
    alemi_lattice,
    alemi_ode,
    alemi_stochastic,
    final_zombies,
    humans_win_probability,
    munz,
    quarantine_r0,
    treatment_equilibrium,
)

MUNZ = {"alpha": 0.005, "beta": 0.0095, "zeta": 0.0001, "delta": 0.0001}


def test_munz_columns_and_end_time():
    for model, cols in [
        ("basic", "SZR"),
        ("latent", "SIZR"),
        ("quarantine", "SIZRQ"),
        ("treatment", "SIZR"),
        ("impulsive", "SZR"),
    ]:
        df = munz(model, 3.0, dict(MUNZ, rho=0.005), {"S": 500, "Z": 1})
        assert list(df.columns) == ["t", *cols]
        assert df["t"].iloc[-1] == 3.0 and df["t"].iloc[0] == 0.0


def test_munz_basic_needs_a_seed_zombie_for_the_papers_takeover():
    # The printed initial condition (S = 500, no zombie) stays near the disease-free state
    # for days; the resurrection term (zeta > 0) eventually seeds zombies all the same, which
    # is the paper's "the disease-free equilibrium is unstable" result.
    none = munz("basic", 5.0, MUNZ, {"S": 500})
    seeded = munz("basic", 5.0, MUNZ, {"S": 499, "Z": 1})
    assert none["S"].iloc[-1] > 0.99 * 500
    assert seeded["S"].iloc[-1] < 0.01 * 500
    later = munz("basic", 20.0, MUNZ, {"S": 500})
    assert later["S"].iloc[-1] < 1.0  # the unstable DFE: humans lose without any seed
    no_resurrection = munz("basic", 20.0, dict(MUNZ, zeta=0.0), {"S": 500})
    assert no_resurrection["Z"].abs().max() == 0.0
    assert no_resurrection["S"].iloc[-1] == pytest.approx(500 * math.exp(-1e-4 * 20), rel=1e-8)


def test_munz_euler_matches_hand_computed_first_step():
    df = munz("basic", 0.02, MUNZ, {"S": 500, "Z": 1}, dt=0.01)
    S, Z, R = 500.0, 1.0, 0.0
    a, b, z, d = MUNZ["alpha"], MUNZ["beta"], MUNZ["zeta"], MUNZ["delta"]
    S1 = S + 0.01 * (-b * S * Z - d * S)
    Z1 = Z + 0.01 * (b * S * Z + z * R - a * S * Z)
    assert df["S"].iloc[1] == pytest.approx(S1, rel=1e-12)
    assert df["Z"].iloc[1] == pytest.approx(Z1, rel=1e-12)


def test_munz_population_is_conserved_without_births():
    for model in ("basic", "latent", "quarantine", "treatment"):
        p = dict(MUNZ, rho=0.3, kappa=0.1, sigma=0.1, gamma=0.05, c=0.2)
        df = munz(model, 30.0, p, {"S": 499, "Z": 1})
        total = df.drop(columns="t").sum(axis=1)
        assert np.allclose(total, 500, rtol=1e-8), model


def test_munz_impulsive_strike_removes_k_n_of_the_zombies():
    p = {
        "alpha": 0.0075,
        "beta": 0.0055,
        "zeta": 0.09,
        "delta": 0.0001,
        "k": 0.25,
        "strikes": [2.5, 5.0],
    }
    df = munz("impulsive", 6.0, p, {"S": 999, "Z": 1})
    for n, t in enumerate([2.5, 5.0], start=1):
        rows = df[df["t"] == t]
        assert len(rows) == 2
        assert rows["Z"].iloc[1] == pytest.approx(rows["Z"].iloc[0] * (1 - 0.25 * n), rel=1e-12)


def test_quarantine_r0_formula_and_treatment_equilibrium():
    assert quarantine_r0(0.0095, 500, 0.005, 0.0, 0.005, 0.0) == pytest.approx(0.0095 / 0.005)
    assert quarantine_r0(2.0, 10, 1.0, 1.0, 1.0, 10.0) == pytest.approx(20 / (2 * 20))
    eq = treatment_equilibrium(0.01, 0.5, 0.25, 0.02, 0.1, Z=4.0)
    assert eq == pytest.approx({"S": 50.0, "I": 8.0, "Z": 4.0, "R": 0.02 * 0.5 / (0.1 * 0.01) * 4})
    # it is a fixed point of the treatment right-hand side (Pi = delta = 0)
    p = dict(alpha=0.02, beta=0.01, zeta=0.1, delta=0.0, rho=0.25, c=0.5)
    df = munz("treatment", 50.0, p, {k: v for k, v in eq.items()})
    assert np.allclose(
        df.iloc[-1][["S", "I", "Z", "R"]].to_numpy(),
        [eq["S"], eq["I"], eq["Z"], eq["R"]],
        rtol=1e-6,
    )


def test_munz_rejects_bad_names():
    with pytest.raises(ValueError, match="unknown model"):
        munz("vampire", 1.0, {}, {"S": 1})
    with pytest.raises(ValueError, match="unknown parameter"):
        munz("basic", 1.0, {"betta": 1}, {"S": 1})
    with pytest.raises(ValueError, match="no compartment"):
        munz("basic", 1.0, {}, {"Q": 1})


def test_alemi_ode_conserves_z_plus_one_minus_alpha_s_and_matches_closed_form():
    df = alemi_ode(1000, 5, 0.3, 2.0, 40.0)
    q = df["Z"] + (1 - 0.3) * df["S"]
    assert np.allclose(q, 5 + 0.7 * 995, rtol=1e-8)
    cf = alemi_closed_form(1000, 5, 0.3, 2.0, df["t"])
    assert np.allclose(df[["S", "Z", "R"]], cf[["S", "Z", "R"]], rtol=1e-6, atol=1e-6)
    assert df["S"].iloc[-1] < 1e-3 and df["Z"].iloc[-1] == pytest.approx(
        final_zombies(1000, 5, 0.3)
    )


def test_alemi_stochastic_odds_are_alpha_to_the_z0():
    for z0, alpha in ((1, 0.8), (2, 0.6)):
        df = alemi_stochastic(2000, z0, alpha, runs=10_000, seed=z0)
        p = (df["Z"] == 0).mean()
        want = humans_win_probability(z0, alpha)
        assert abs(p - want) < 4 * math.sqrt(want * (1 - want) / 10_000)
        assert ((df["S"] == 0) | (df["Z"] == 0)).all()
        assert (df["S"] + df["Z"] + df["R"] == 2000).all()


def test_alemi_stochastic_is_reproducible_and_fast():
    import time

    a = alemi_stochastic(1000, 1, 0.8, runs=200, seed=3)
    assert a.equals(alemi_stochastic(1000, 1, 0.8, runs=200, seed=3))
    t = time.perf_counter()
    alemi_stochastic(1000, 1, 0.8, runs=20_000, seed=4)
    assert time.perf_counter() - t < 20  # "seconds": generous for a loaded CI machine


def test_alemi_lattice_counts_and_edges():
    res = alemi_lattice(31, 0.0, seed=1)  # alpha = 0: every pair is a bite, all turn
    assert res == {"infected": 31 * 31, "killed": 0, "reached_edge": True, "size": 31, "alpha": 0.0}
    big = alemi_lattice(31, 1e9, seed=1)  # effectively no bite: the first zombie dies
    assert big["infected"] == 1 and big["killed"] == 1 and not big["reached_edge"]
    runs = [alemi_lattice(41, 0.3, seed=s) for s in range(50)]
    for r in runs:
        assert 1 <= r["infected"] <= 41 * 41 and 0 <= r["killed"] <= r["infected"]


def test_lattice_critical_alpha_lies_well_below_one():
    p_low = np.mean([alemi_lattice(65, 0.2, seed=s)["reached_edge"] for s in range(200)])
    p_high = np.mean([alemi_lattice(65, 0.7, seed=s)["reached_edge"] for s in range(200)])
    assert p_low > 0.6 and p_high < 0.03


def test_exact_final_zombies_by_hand_and_against_gillespie():
    from seoulfall.reference import alemi_stochastic, final_zombies_exact

    # N = 3, one zombie, alpha = 0.5 (bite 2/3, kill 1/3), by hand over the jump chain:
    # zombies win with q^2 (1 + p) = 16/27, ending with 3 or 2 zombies: mean 11/4
    p_win, mean = final_zombies_exact(3, 1, 0.5)
    assert abs(p_win - 16 / 27) < 1e-12 and abs(mean - 11 / 4) < 1e-12
    assert final_zombies_exact(50, 1, 0.0) == (1.0, 50.0)  # nobody fights back
    # a Gillespie sample agrees within 4 standard errors (N = 200, alpha = 0.6)
    p_win, mean = final_zombies_exact(200, 1, 0.6)
    df = alemi_stochastic(200, 1, 0.6, runs=4000, seed=21)
    won = df[df["S"] == 0]["Z"]
    assert abs(len(won) / 4000 - p_win) < 4 * (p_win * (1 - p_win) / 4000) ** 0.5
    assert abs(won.mean() - mean) < 4 * won.std() / len(won) ** 0.5
