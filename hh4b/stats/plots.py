"""Figures of the limits stage (mplhep style), each written as PNG and PDF.

- `plot_resonant_limits`: expected 95% CL upper limit on sigma(gg -> H -> hh) vs m_H, all methods
  on one figure, the first method with its +-1 (green) and +-2 sigma (yellow) bands (paper Fig. 7),
  the others as lines; observed as solid markers when available.
- `plot_kappa_xsec_limits`: sigma_HH limit vs kappa_lambda with the theory curve (paper Fig. 13).
- `plot_kappa_scans`: -2 Delta ln L vs kappa_lambda per method with the 3.84 line (paper Fig. 14).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

from hh4b.stats.kappa import CHI2_95_1DOF  # noqa: E402


def _save(fig, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for p in paths:
        fig.savefig(p, dpi=150 if p.suffix == ".png" else None, bbox_inches="tight")
    plt.close(fig)
    return paths


def _label(ax, lumi: float, sqrt_s: float) -> None:
    ax.text(0.98, 1.01, rf"{lumi:g} fb$^{{-1}}$ ({sqrt_s / 1000:g} TeV)", transform=ax.transAxes, ha="right",
            va="bottom", fontsize=14)


LINE_STYLES = ("--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))


def method_styles(methods) -> dict:
    """(colour, line style) per method, no two methods alike (colours cycle, then line styles)."""
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: (colours[i % len(colours)], LINE_STYLES[(i // len(colours)) % len(LINE_STYLES)])
            for i, m in enumerate(methods)}


def _legend_outside(ax) -> None:
    ax.legend(fontsize=10, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def plot_resonant_limits(rows: list[dict], stem: Path, lumi: float, sqrt_s: float) -> list[Path]:
    """rows: dicts with method, mass and the limit columns (fb) of LimitResult.as_dict()."""
    plt.style.use(mplhep.style.ATLAS)
    fig, ax = plt.subplots(figsize=(8, 6))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    styles = method_styles(methods)
    for i, method in enumerate(methods):
        sel = sorted((r for r in rows if r["method"] == method), key=lambda r: r["mass"])
        m = np.array([r["mass"] for r in sel], dtype=float)
        col = {k: np.array([r[k] for r in sel], dtype=float) for k in
               ("expected_m2", "expected_m1", "expected", "expected_p1", "expected_p2")}
        if i == 0:
            ax.fill_between(m, col["expected_m2"], col["expected_p2"], color="#FFDF00",
                            label=rf"Expected $\pm 2\sigma$, {method}")
            ax.fill_between(m, col["expected_m1"], col["expected_p1"], color="#00CC00",
                            label=rf"Expected $\pm 1\sigma$, {method}")
        colour, style = styles[method]
        ax.plot(m, col["expected"], linestyle=style, color=colour, marker="o", ms=4, label=f"Expected, {method}")
        observed = [r.get("observed") for r in sel]
        if all(o is not None for o in observed):
            ax.plot(m, np.array(observed, dtype=float), "-", color=colour, marker="s", ms=4,
                    label=f"Observed, {method}")
    ax.set_yscale("log")
    ax.set_xlabel(r"$m_H$ [GeV]")
    ax.set_ylabel(r"95% CL upper limit on $\sigma(gg \to H \to hh)$ [fb]")
    _legend_outside(ax)
    _label(ax, lumi, sqrt_s)
    return _save(fig, Path(stem))


def plot_kappa_xsec_limits(curves: dict, theory: tuple, stem: Path, lumi: float, sqrt_s: float) -> list[Path]:
    """curves: method -> (kappas, expected sigma limit in fb); theory: (kappas, sigma(k) in fb)."""
    plt.style.use(mplhep.style.ATLAS)
    fig, ax = plt.subplots(figsize=(8, 6))
    styles = method_styles(curves)
    for method, (k, limit) in curves.items():
        ax.plot(k, limit, linestyle=styles[method][1], color=styles[method][0], label=f"Expected limit, {method}")
    ax.plot(*theory, "-", color="red", label=r"Theory (LO), $\sigma(gg \to hh)$")
    ax.set_yscale("log")
    ax.set_xlabel(r"$\kappa_\lambda$")
    ax.set_ylabel(r"95% CL upper limit on $\sigma(gg \to hh)$ [fb]")
    _legend_outside(ax)
    _label(ax, lumi, sqrt_s)
    return _save(fig, Path(stem))


def plot_kappa_scans(scans: dict, stem: Path, lumi: float, sqrt_s: float) -> list[Path]:
    """scans: method -> (kappas, -2 Delta ln L)."""
    plt.style.use(mplhep.style.ATLAS)
    fig, ax = plt.subplots(figsize=(8, 6))
    styles = method_styles(scans)
    for method, (k, delta) in scans.items():
        ax.plot(k, delta, linestyle=styles[method][1], color=styles[method][0], label=method)
    ax.axhline(CHI2_95_1DOF, color="black", lw=1, label=r"95% CL ($-2\Delta\ln L = 3.84$)")
    ax.set_ylim(0, max(3 * CHI2_95_1DOF, 1.0))
    ax.set_xlabel(r"$\kappa_\lambda$")
    ax.set_ylabel(r"$-2\Delta\ln L$")
    _legend_outside(ax)
    _label(ax, lumi, sqrt_s)
    return _save(fig, Path(stem))
