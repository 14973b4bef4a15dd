"""Five-coupling HEFT results of the limits stage (hh4b.theory.heft; docs/heft.md).

The signal-region yield of any coupling point is linear in the 15 term templates of the
processor's `mhh_heft_terms`: s_i(point) = sum_k u_k(point) T_ki (hh4b.theory.heft.term_monomials).

- Benchmarks: for SM and each benchmark the template s(point) gets a free strength mu; its expected
  95% CL CLs upper limit (hh4b.stats.limits.upper_limit) times the point's predicted cross section
  sigma(point) = sigma_file * sigma_LO(point) / sigma_LO(generation point) is the limit on sigma.
- Couplings as parameters: the signal enters the pyhf model as the 15 term samples, each scaled by a
  fixed normfactor u_k (and by mu = 1); -2 Delta ln L(point) is twice_nll with every nuisance
  parameter profiled, on the Asimov data set of SM signal plus background (expected results).
  The c_2 interval (others SM) is where -2 Delta ln L < 3.84 (chi^2, 1 dof), the (kappa_lambda,
  c_2) contours (kappa_t = 1, c_g = c_2g = 0) are the 2.30 and 5.99 lines (68% and 95%, 2 dof).
As for kappa_lambda, the signal's MC statistical uncertainty is not in the coupling fits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyhf
from scipy.optimize import brentq
from scipy.stats import chi2

from hh4b import constants
from hh4b.analysis.heft_histograms import TERMS_HIST
from hh4b.stats import outputs, projections
from hh4b.stats.kappa import CHI2_95_1DOF, Interval
from hh4b.stats.limits import upper_limit, use_backend
from hh4b.stats.model import Template, model_and_data
from hh4b.theory import heft

CHI2_68_2DOF = float(chi2.ppf(0.68, 2))  # 2.28
CHI2_95_2DOF = float(chi2.ppf(0.95, 2))  # 5.99
# Scan grids: ~0.15 s per profiled fit (10 bins, staterror), so the defaults (61 + 26 x 21 points) take
# ~1.5 min per method; the c_2 crossings are refined by root finding between scan points.
C2_SCAN = np.round(np.arange(-3.0, 3.0001, 0.1), 4)
KL_GRID_2D = np.round(np.arange(-10.0, 15.0001, 1.0), 4)
C2_GRID_2D = np.round(np.arange(-3.0, 3.0001, 0.3), 4)
FACTOR_BOUND = 1.0e6


def term_templates(inputs, datasets) -> np.ndarray:
    """(15, n_bins) SR 4b term yields of `datasets` on the fit bins of `inputs`, at its luminosity."""
    rows = []
    for name in heft.TERM_NAMES:
        edges, template = outputs.template(inputs.out, datasets, inputs.method, TERMS_HIST, "SR", "4b", term=name)
        rows.append(np.add.reduceat(np.asarray(template.yields, float), np.searchsorted(edges, inputs.edges[:-1])))
    return np.array(rows) * inputs.scale


def point_yields(terms: np.ndarray, couplings) -> np.ndarray:
    """s_i = sum_k u_k(couplings) T_ki."""
    return heft.msq(terms, couplings)


def coupling_spec(inputs, terms: np.ndarray, asimov_couplings=constants.HEFT_SM) -> dict:
    """Workspace with the 15 term samples scaled by fixed normfactors u_<A_k> (at the SM as saved)
    and by mu; data: the Asimov set at `asimov_couplings`."""
    background = np.sum([t.yields for t in inputs.backgrounds.values()], axis=0)
    signals = {f"heft_{name}": (Template(terms[k]), (f"u_{name}", "mu")) for k, name in enumerate(heft.TERM_NAMES)}
    sm = heft.term_monomials(constants.HEFT_SM)
    parameters = [{"name": f"u_{name}", "bounds": [[-FACTOR_BOUND, FACTOR_BOUND]], "inits": [float(sm[k])],
                   "fixed": True} for k, name in enumerate(heft.TERM_NAMES)]
    parameters.append({"name": "mu", "bounds": [[0.0, 10.0]], "inits": [1.0], "fixed": True})
    return inputs.spec(signals, observed=background + point_yields(terms, asimov_couplings), signal_staterror=False,
                       parameters=parameters, poi="mu")


class CouplingLikelihood:
    """twice_nll(couplings) of a `coupling_spec` workspace, nuisance parameters profiled."""

    def __init__(self, spec: dict):
        use_backend(spec)
        self.model, self.data = model_and_data(spec)
        names = [f"u_{n}" for n in heft.TERM_NAMES]
        self.index = [self.model.config.par_slice(n).start for n in names]
        self.mu = self.model.config.par_slice("mu").start
        self.fixed = list(self.model.config.suggested_fixed())
        for i in (*self.index, self.mu):
            self.fixed[i] = True
        self.free = not all(self.fixed)

    def __call__(self, couplings) -> float:
        pars = np.asarray(self.model.config.suggested_init(), dtype=float)
        pars[self.index] = heft.term_monomials(heft.check_couplings(couplings))
        pars[self.mu] = 1.0
        if not self.free:
            return float(-2.0 * self.model.logpdf(pyhf.tensorlib.astensor(pars), self.data)[0])
        _, twice_nll = pyhf.infer.mle.fit(self.data, self.model, init_pars=list(pars), fixed_params=self.fixed,
                                          return_fitted_val=True)
        return float(twice_nll)


def c2_interval(nll: CouplingLikelihood, scan=C2_SCAN, threshold: float = CHI2_95_1DOF) -> Interval:
    """-2 Delta ln L in c_2 (others SM) and its outermost crossings of `threshold` (kappas = c_2 values)."""
    scan = np.asarray(scan, dtype=float)

    def point(c_2):
        return (1.0, 1.0, float(c_2), 0.0, 0.0)

    values = np.array([nll(point(c)) for c in scan])
    best = int(np.argmin(values))
    minimum = float(values[best])
    delta = values - minimum
    inside = np.flatnonzero(delta <= threshold)
    first, last = int(inside[0]), int(inside[-1])

    def excess(c_2):
        return nll(point(c_2)) - minimum - threshold

    lower = brentq(excess, scan[first - 1], scan[first], xtol=1e-5) if first > 0 else -np.inf
    upper = brentq(excess, scan[last], scan[last + 1], xtol=1e-5) if last < scan.size - 1 else np.inf
    return Interval(float(lower), float(upper), scan, delta, best=float(scan[best]))


def kl_c2_scan(nll: CouplingLikelihood, kl_grid=KL_GRID_2D, c2_grid=C2_GRID_2D) -> dict:
    """-2 Delta ln L on the (kappa_lambda, c_2) grid (kappa_t = 1, c_g = c_2g = 0), shape (n_kl, n_c2)."""
    values = np.array([[nll((float(k), 1.0, float(c), 0.0, 0.0)) for c in c2_grid] for k in kl_grid])
    return {"kappa_lambda": np.asarray(kl_grid, float), "c_2": np.asarray(c2_grid, float),
            "delta": values - values.min(), "levels": {"68": CHI2_68_2DOF, "95": CHI2_95_2DOF}}


def benchmark_limits(inputs, terms: np.ndarray, sigma_of, points=None) -> list[dict]:
    """Expected 95% CL limits on mu and on sigma (fb, sigma_of(point) the prediction) per point."""
    rows = []
    for point in points or heft.benchmarks():
        signal = np.clip(point_yields(terms, point.couplings()), 1e-12, None)
        result = upper_limit(inputs.spec({"signal": (Template(signal), "mu")}))
        sigma_fb = float(sigma_of(point))
        rows.append({"point": point.label, "couplings": list(point.couplings()), "signal_yield": float(signal.sum()),
                     "sigma_pred_fb": sigma_fb, "mu95": result.as_dict(),
                     "sigma95_fb": result.scaled(sigma_fb).as_dict()})
    return rows


def heft_results(out: outputs.ProcessorOutput, inputs, report: Path, options, kl_grid=KL_GRID_2D,
                 c2_grid=C2_GRID_2D, c2_scan=C2_SCAN, points=None) -> dict | None:
    """Benchmark limits, the c_2 interval and the (kappa_lambda, c_2) scan of one method.

    `points`: the coupling points (hh4b.theory.heft.Point) of the limits, default SM and the 13 benchmarks.

    `inputs`: the limits stage's MethodInputs of the method (its fit bins, backgrounds, luminosity);
    `options`: its FitOptions (the cross sections' energy is options.config.sqrt_s). None when the
    output has no `mhh_heft_terms` or the inputs are score-binned (the term histograms are in m_hh only). Writes
    heft_<method>.json, a Markdown table and the figures into `report`; returns the same dict.
    """
    from hh4b.stats.inputs import branching_ratio

    datasets = out.datasets("nonresonant")
    if not datasets or TERMS_HIST not in out.hists or hasattr(inputs, "slices"):
        return None
    meta = out.metadata[datasets[0]]
    xfac = projections.sqrt_s_factor(out.sqrt_s, options.config.sqrt_s)
    terms = term_templates(inputs, datasets) * xfac
    lo_terms = heft.sigma_terms(float(options.config.sqrt_s))
    sigma_file_fb = float(meta["xsec_pb"]) * 1000.0 / branching_ratio(out, datasets[0]) * xfac
    sigma_gen_lo = float(heft.file_generation(meta) @ lo_terms)

    def sigma_of(point):
        return sigma_file_fb * float(heft.term_monomials(point.couplings()) @ lo_terms) / sigma_gen_lo

    rows = benchmark_limits(inputs, terms, sigma_of, points)
    nll = CouplingLikelihood(coupling_spec(inputs, terms))
    interval = c2_interval(nll, c2_scan)
    scan = kl_c2_scan(nll, kl_grid, c2_grid)
    result = {"method": inputs.method, "benchmarks": rows, "c2_interval": interval.as_dict(),
              "c2_scan": {"c_2": interval.kappas.tolist(), "delta": interval.values.tolist()},
              "kl_c2": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in scan.items()}}
    write_report(result, Path(report))
    return result


def markdown_table(result: dict) -> str:
    """The benchmark limits and the c_2 interval as a Markdown table."""
    lines = ["| point | kappa_lambda, kappa_t, c_2, c_g, c_2g | sigma LO [fb] | expected mu_95 | "
             "expected sigma_95 [fb] (-1 / +1 sigma) |", "|---|---|---|---|---|"]
    for row in result["benchmarks"]:
        s95 = row["sigma95_fb"]
        couplings = ", ".join(f"{c:g}" for c in row["couplings"])
        lines.append(f"| {row['point']} | {couplings} | {row['sigma_pred_fb']:.4g} | "
                     f"{row['mu95']['expected']:.3g} | {s95['expected']:.4g} ({s95['expected_m1']:.4g} / "
                     f"{s95['expected_p1']:.4g}) |")
    c2 = result["c2_interval"]
    lines.append("")
    lines.append(f"Expected 95% CL interval on c_2 (others SM): [{c2['lower']:.3g}, {c2['upper']:.3g}]")
    return "\n".join(lines) + "\n"


def write_report(result: dict, report: Path) -> list[Path]:
    """heft_<method>.json, heft_<method>.md and the c_2 and (kappa_lambda, c_2) figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report.mkdir(parents=True, exist_ok=True)
    stem = report / f"heft_{result['method']}"
    paths = [stem.with_suffix(".json"), stem.with_suffix(".md")]
    paths[0].write_text(json.dumps(result, indent=1) + "\n")
    paths[1].write_text(markdown_table(result))
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(result["c2_scan"]["c_2"], result["c2_scan"]["delta"], color="k")
    ax.axhline(CHI2_95_1DOF, color="r", ls="--", lw=1, label="95% CL")
    ax.set(xlabel="$c_2$", ylabel=r"$-2\Delta\ln L$ (expected)", ylim=(0, 3 * CHI2_95_1DOF))
    ax.legend()
    paths.append(report / f"heft_c2_scan_{result['method']}.png")
    fig.savefig(paths[-1], dpi=150, bbox_inches="tight")
    plt.close(fig)
    scan = result["kl_c2"]
    fig, ax = plt.subplots(figsize=(5, 4))
    contour = ax.contour(scan["kappa_lambda"], scan["c_2"], np.asarray(scan["delta"]).T,
                         levels=[scan["levels"]["68"], scan["levels"]["95"]], colors=["k", "k"],
                         linestyles=["-", "--"])
    ax.clabel(contour, fmt={scan["levels"]["68"]: "68%", scan["levels"]["95"]: "95%"})
    ax.plot([1.0], [0.0], "r*", label="SM")
    ax.set(xlabel=r"$\kappa_\lambda$", ylabel="$c_2$")
    ax.legend()
    paths.append(report / f"heft_kl_c2_{result['method']}.png")
    fig.savefig(paths[-1], dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths
