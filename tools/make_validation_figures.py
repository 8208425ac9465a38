"""Figures for docs/validation.md: the engine overlaid on the reference models.

Usage: python tools/make_validation_figures.py   (about two minutes on 2 cores)
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from seoulfall.reference import alemi_stochastic, munz
from seoulfall.validate import (
    MUNZ,
    engine_lattice_edge_probability,
    engine_well_mixed_replicas,
    lattice_edge_probability,
)

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def munz_figure():
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, y0, title in (
        (axes[0], {"S": 500}, "printed initial condition (no zombie)"),
        (axes[1], {"S": 499, "Z": 1}, "one seed zombie"),
    ):
        exact = munz("basic", 10, MUNZ, y0)
        euler = munz("basic", 10, MUNZ, y0, dt=0.01)
        for c, col in (("S", "C0"), ("Z", "C3"), ("R", "0.4")):
            ax.plot(exact["t"], exact[c], color=col, label=f"{c} (LSODA)")
            ax.plot(euler["t"][::50], euler[c][::50], "o", ms=3, color=col, label=f"{c} (Euler)")
        ax.set_title(f"Munz basic model: {title}", fontsize=10)
        ax.set_xlabel("days")
    axes[0].set_ylabel("population")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "munz_basic.png", dpi=110)


def odds_figure():
    alphas = np.array([0.3, 0.5, 0.7, 0.9])
    gil = [(alemi_stochastic(100, 1, a, runs=20_000, seed=1)["Z"] == 0).mean() for a in alphas]
    eng = [(engine_well_mixed_replicas(a, 100, 400, dt=0.05, seed=2) == 0).mean() for a in alphas]
    fig, ax = plt.subplots(figsize=(5, 3.8))
    grid = np.linspace(0, 1, 100)
    ax.plot(grid, grid, "k-", lw=1, label="alpha^Z0 (N -> infinity)")
    ax.plot(alphas, gil, "s", label="Gillespie, N = 100")
    ax.plot(alphas, eng, "o", mfc="none", label="engine, well-mixed, N = 100, dt = 0.05")
    ax.set_xlabel("alpha = kappa / beta")
    ax.set_ylabel("P(humans win), Z0 = 1")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "well_mixed_odds.png", dpi=110)


def lattice_figure():
    alphas = np.array([0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7])
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for size in (33, 65, 129):
        ax.plot(
            alphas,
            [lattice_edge_probability(a, size, 300) for a in alphas],
            "-o",
            ms=3,
            label=f"reference lattice, L = {size}",
        )
    eng = [engine_lattice_edge_probability(a, 33, 60, seed=50) for a in alphas]
    ax.plot(alphas, eng, "k^", mfc="none", label="engine, lattice world, L = 33")
    ax.set_xlabel("alpha")
    ax.set_ylabel("P(a zombie reaches the border)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "lattice_edge.png", dpi=110)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    munz_figure()
    odds_figure()
    lattice_figure()
    print(OUT)
