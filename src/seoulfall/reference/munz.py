"""Munz, Hudea, Imad & Smith? (2009), "When zombies attack!": the five ODE models.

Mass action; time in days. S susceptible, I infected (latent), Z zombie, R removed, Q
quarantined. Parameter names are the paper's: ``alpha`` (zombies destroyed per S-Z
encounter), ``beta`` (transmission), ``zeta`` (resurrection of the removed), ``delta``
(natural death), ``Pi`` (birth rate), ``rho`` (latent to zombie), ``kappa`` (quarantine of
infected), ``sigma`` (quarantine of zombies), ``gamma`` (killed in quarantine), ``c`` (cure),
and for ``impulsive`` ``k`` and ``strikes``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

MODELS = {
    "basic": ("S", "Z", "R"),
    "latent": ("S", "I", "Z", "R"),
    "quarantine": ("S", "I", "Z", "R", "Q"),
    "treatment": ("S", "I", "Z", "R"),
    "impulsive": ("S", "Z", "R"),
}
PARAMS = ("alpha", "beta", "zeta", "delta", "Pi", "rho", "kappa", "sigma", "gamma", "c")


def _rhs(model: str, p: dict):
    a, b, z, d, Pi = p["alpha"], p["beta"], p["zeta"], p["delta"], p["Pi"]
    rho, kap, sig, gam, c = p["rho"], p["kappa"], p["sigma"], p["gamma"], p["c"]
    if model in ("basic", "impulsive"):

        def f(t, y):
            S, Z, R = y
            return [
                Pi - b * S * Z - d * S,
                b * S * Z + z * R - a * S * Z,
                d * S + a * S * Z - z * R,
            ]
    elif model == "latent":

        def f(t, y):
            S, I, Z, R = y
            return [
                Pi - b * S * Z - d * S,
                b * S * Z - rho * I - d * I,
                rho * I + z * R - a * S * Z,
                d * S + d * I + a * S * Z - z * R,
            ]
    elif model == "quarantine":

        def f(t, y):
            S, I, Z, R, Q = y
            return [
                Pi - b * S * Z - d * S,
                b * S * Z - rho * I - d * I - kap * I,
                rho * I + z * R - a * S * Z - sig * Z,
                d * S + d * I + a * S * Z - z * R + gam * Q,
                kap * I + sig * Z - gam * Q,
            ]
    else:  # treatment

        def f(t, y):
            S, I, Z, R = y
            return [
                Pi - b * S * Z - d * S + c * Z,
                b * S * Z - rho * I - d * I,
                rho * I + z * R - a * S * Z - c * Z,
                d * S + d * I + a * S * Z - z * R,
            ]

    return f


def munz(model: str, t_end: float, params: dict, y0: dict, dt: float | None = None) -> pd.DataFrame:
    """Solve one of the Munz et al. (2009) models.

    Parameters
    ----------
    model : {"basic", "latent", "quarantine", "treatment", "impulsive"}
    t_end : float
        End time (days).
    params : dict
        The paper's parameter names (missing ones are 0). ``impulsive`` also takes ``k`` (the
        kill fraction per strike number) and ``strikes`` (a list of strike times, days): at
        the n-th strike Z drops by the fraction min(1, k n).
    y0 : dict
        Initial values by compartment letter; missing ones are 0.
    dt : float, optional
        If given, forward Euler with this step, as the paper did; else an adaptive solver
        (LSODA, rtol 1e-10, atol 1e-12).

    Returns
    -------
    DataFrame
        Columns ``t`` and one per compartment of the model; the last row is at ``t_end``.
        A strike time has two rows: the state just before the strike, then just after.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; allowed: {', '.join(MODELS)}")
    unknown = set(params) - set(PARAMS) - {"k", "strikes"}
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)}; allowed: {', '.join(PARAMS)}")
    comps = MODELS[model]
    bad = set(y0) - set(comps)
    if bad:
        raise ValueError(f"model {model!r} has no compartment(s) {sorted(bad)}")
    p = {k: float(params.get(k, 0.0)) for k in PARAMS}
    f = _rhs(model, p)
    y = np.array([float(y0.get(c, 0.0)) for c in comps])
    strikes = sorted(float(s) for s in params.get("strikes", [])) if model == "impulsive" else []
    k = float(params.get("k", 0.0))
    zi = comps.index("Z")
    bounds = [0.0] + [s for s in strikes if 0.0 < s < t_end] + [float(t_end)]
    ts, ys = [np.array([0.0])], [y[None, :]]
    for n, (t0, t1) in enumerate(zip(bounds[:-1], bounds[1:])):
        if n > 0:  # the n-th strike at t0
            y = y.copy()
            y[zi] *= 1.0 - min(1.0, k * n)
            ts.append(np.array([t0]))
            ys.append(y[None, :])
        tt, yy = _integrate(f, t0, t1, y, dt)
        ts.append(tt[1:])
        ys.append(yy[1:])
        y = yy[-1]
    out = pd.DataFrame(np.vstack(ys), columns=list(comps))
    out.insert(0, "t", np.concatenate(ts))
    return out


def _integrate(f, t0: float, t1: float, y: np.ndarray, dt: float | None):
    if t1 <= t0:
        return np.array([t0]), y[None, :]
    if dt is not None:
        if dt <= 0:
            raise ValueError(f"dt = {dt}: must be positive")
        n = int(np.ceil((t1 - t0) / dt - 1e-9))
        tt = np.minimum(t0 + dt * np.arange(n + 1), t1)
        yy = np.empty((n + 1, y.size))
        yy[0] = y
        for i in range(n):
            h = tt[i + 1] - tt[i]
            yy[i + 1] = yy[i] + h * np.asarray(f(tt[i], yy[i]))
        return tt, yy
    npts = max(2, int(np.ceil((t1 - t0) * 20)) + 1)
    sol = solve_ivp(
        f, (t0, t1), y, method="LSODA", rtol=1e-10, atol=1e-12, t_eval=np.linspace(t0, t1, npts)
    )
    if not sol.success:
        raise RuntimeError(f"ODE solver failed: {sol.message}")
    return sol.t, sol.y.T


def quarantine_r0(
    beta: float, N: float, rho: float, kappa: float, alpha: float, sigma: float
) -> float:
    """Basic reproduction number of the quarantine model: β N ρ / ((ρ + κ)(α N + σ))."""
    return beta * N * rho / ((rho + kappa) * (alpha * N + sigma))


def treatment_equilibrium(
    beta: float, c: float, rho: float, alpha: float, zeta: float, Z: float
) -> dict:
    """Endemic equilibrium of the treatment model for a given zombie level Z̄ (Π = δ = 0).

    S̄ = c / β, Ī = (c / ρ) Z̄, R̄ = (α c / (ζ β)) Z̄ (the paper's result).
    """
    return {"S": c / beta, "I": c / rho * Z, "Z": Z, "R": alpha * c / (zeta * beta) * Z}


def basic_jacobian_at_dfe(params: dict, N: float) -> np.ndarray:
    """Jacobian of the basic model at the disease-free equilibrium (N, 0, 0), with Π = δ = 0."""
    a, b, z = params["alpha"], params["beta"], params["zeta"]
    return np.array([[0.0, -b * N, 0.0], [0.0, (b - a) * N, z], [0.0, a * N, -z]])
