"""Leading-order gg -> hh with five HEFT couplings and the full top-mass dependence.

Couplings. Points are written (kappa_lambda, kappa_t, c_2, c_g, c_2g), the convention of the
shape-benchmark tables (hh4b.constants.HEFT_BENCHMARKS):

    L > -kappa_lambda (m_h^2 / 2v) h^3 - (m_t / v)(v + kappa_t h + (c_2 / v) h h) t t~
        + (alpha_s / 12 pi)(c_g h / v - c_2g h h / 2 v^2) G G.

The electroweak chiral Lagrangian (EWChL) writes the same operators with
(c_hhh, c_t, c_tt, c_ggh, c_gghh) = (kappa_lambda, kappa_t, c_2, 2 c_g / 3, -c_2g / 3)
(`to_ewchl`), whose gluon normalisation alpha_s / 8 pi makes the amplitude short. With the form
factors F_tri, F_box, G_box and C_tri = 3 m_h^2 / (s - m_h^2 + i m_h Gamma_h) of hh4b.theory.gghh:

    M_0 = c_t^2 F_box + c_tt (2 F_tri) + c_t c_hhh (C_tri F_tri) + c_ggh c_hhh C_tri + c_gghh (2),
    M_2 = c_t^2 G_box,        dsigma/dt = P alpha_s^2 (|M_0|^2 + |M_2|^2)

(P = G_F^2 / (512 (2 pi)^3) as in hh4b.theory.gghh). The ttHH vertex carries 2 m_t c_tt / v^2 against
m_t c_t c_hhh C_tri / v^2 of the s-channel Higgs, hence 2 F_tri; the gluon contact terms are the
heavy-top limits of the loops, F_tri -> 2/3 and F_box -> -2/3, i.e. the top loop alone gives
c_ggh = 2 c_t / 3 and c_gghh = (c_tt - c_t^2 / 2) 2/3 (in the table convention: c_g = kappa_t,
c_2g = kappa_t^2 - 2 c_2), which the tests check.

Terms. |M|^2 is a polynomial in the couplings with 15 monomials, the LO subset A_1 ... A_15 of
the 23-term NLO parametrisation (same numbering, EWChL couplings; A_16 ... A_23 need real
emission): with the amplitude monomials u = (c_t^2, c_tt, c_t c_hhh, c_ggh c_hhh, c_gghh) and
pieces p = (F_box, 2 F_tri, C_tri F_tri, C_tri, 2), term k is u_i u_j times |p_i|^2 (+ |G_box|^2
for A_1) or 2 Re(p_i p_j*) (`TERM_PAIRS`). At kappa_t = 1, c_2 = c_g = c_2g = 0 the polynomial is
A_1 + A_7 kappa_lambda + A_3 kappa_lambda^2: the (a, b, c) of hh4b.theory.gghh.

Cross sections. `sigma_terms` integrates the 15 terms with the quadrature of hh4b.theory.xsec (the same
nodes, so the kappa_lambda plane reproduces `hh4b xsec`); sigma(point) = sum_k A_k u_k(point).

Reweighting. An event generated with |M|^2_gen = sum_k g_k T_k (a coupling point or a mixture of
points, `generation_vector`) and stored terms T_k has the weight sum_k u_k T_k / sum_k g_k T_k at
any point (`weight_factors`); `effective_fraction` gives Kish's N_eff / N of that weight from the
quadrature table, for choosing the generation vector.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from hh4b import constants, weights
from hh4b.errors import ConfigError, InputFileError
from hh4b.theory import gghh, loops, xsec

COUPLING_NAMES = ("kappa_lambda", "kappa_t", "c_2", "c_g", "c_2g")
EWCHL_NAMES = ("c_hhh", "c_t", "c_tt", "c_ggh", "c_gghh")
# (i, j) of the amplitude monomials u_i u_j for A_1 ... A_15
TERM_PAIRS = ((0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (0, 1), (0, 2), (1, 2), (1, 3), (1, 4),
              (0, 3), (0, 4), (2, 3), (2, 4), (3, 4))
TERM_NAMES = tuple(f"A{k + 1}" for k in range(len(TERM_PAIRS)))
TERM_MONOMIALS = ("c_t^4", "c_tt^2", "c_t^2 c_hhh^2", "c_ggh^2 c_hhh^2", "c_gghh^2", "c_tt c_t^2",
                  "c_t^3 c_hhh", "c_t c_hhh c_tt", "c_ggh c_hhh c_tt", "c_tt c_gghh", "c_ggh c_hhh c_t^2",
                  "c_gghh c_t^2", "c_hhh^2 c_ggh c_t", "c_gghh c_t c_hhh", "c_ggh c_gghh c_hhh")
KL_TERMS = (0, 6, 2)  # A_1, A_7, A_3: the kappa_lambda polynomial's a, b, c
COUPLING_BOUND = 30.0  # |coupling| above this is refused as a typo


@dataclass(frozen=True)
class Point:
    """A coupling point (kappa_lambda, kappa_t, c_2, c_g, c_2g) with a label."""

    kappa_lambda: float
    kappa_t: float = 1.0
    c_2: float = 0.0
    c_g: float = 0.0
    c_2g: float = 0.0
    label: str = ""

    def couplings(self) -> tuple[float, float, float, float, float]:
        return (self.kappa_lambda, self.kappa_t, self.c_2, self.c_g, self.c_2g)


def to_ewchl(couplings) -> np.ndarray:
    """(c_hhh, c_t, c_tt, c_ggh, c_gghh) from (kappa_lambda, kappa_t, c_2, c_g, c_2g); last axis 5."""
    c = np.asarray(couplings, dtype=float)
    return np.stack([c[..., 0], c[..., 1], c[..., 2], 2.0 * c[..., 3] / 3.0, -c[..., 4] / 3.0], axis=-1)


def from_ewchl(ewchl) -> np.ndarray:
    """Inverse of `to_ewchl`."""
    c = np.asarray(ewchl, dtype=float)
    return np.stack([c[..., 0], c[..., 1], c[..., 2], 1.5 * c[..., 3], -3.0 * c[..., 4]], axis=-1)


def benchmark(name) -> Point:
    """Benchmark `name` ('1' ... '12', '8a', 'SM') as a Point."""
    key = str(name)
    if key.upper() == "SM":
        return Point(*constants.HEFT_SM, label="SM")
    if key not in constants.HEFT_BENCHMARKS:
        raise ConfigError(f"unknown HEFT benchmark '{name}' (known: SM, {', '.join(constants.HEFT_BENCHMARKS)})")
    return Point(*constants.HEFT_BENCHMARKS[key], label=f"BM{key}")


def benchmarks(include_sm: bool = True) -> list[Point]:
    """The benchmarks of hh4b.constants in table order, SM first."""
    names = (["SM"] if include_sm else []) + list(constants.HEFT_BENCHMARKS)
    return [benchmark(n) for n in names]


def check_couplings(couplings) -> np.ndarray:
    c = np.asarray(couplings, dtype=float)
    if c.shape[-1] != 5 or not np.all(np.isfinite(c)) or np.any(np.abs(c) > COUPLING_BOUND):
        raise ConfigError(f"HEFT couplings must be five finite numbers within +-{COUPLING_BOUND:g}, got {c.tolist()}")
    return c


def amplitude_monomials(couplings) -> np.ndarray:
    """u = (c_t^2, c_tt, c_t c_hhh, c_ggh c_hhh, c_gghh) of table-convention couplings; last axis 5."""
    c_hhh, c_t, c_tt, c_ggh, c_gghh = np.moveaxis(to_ewchl(couplings), -1, 0)
    return np.stack([c_t * c_t, c_tt, c_t * c_hhh, c_ggh * c_hhh, c_gghh], axis=-1)


def term_monomials(couplings) -> np.ndarray:
    """The 15 monomials u_i u_j multiplying A_1 ... A_15; last axis 15."""
    u = amplitude_monomials(couplings)
    return np.stack([u[..., i] * u[..., j] for i, j in TERM_PAIRS], axis=-1)


def amplitude_pieces(s, f_tri, f_box, params: gghh.HiggsPairParameters = gghh.HiggsPairParameters()) -> np.ndarray:
    """p = (F_box, 2 F_tri, C_tri F_tri, C_tri, 2) (complex, leading axis 5): M_0 = sum_i u_i p_i."""
    c_tri = gghh.triangle_propagator(s, params)
    f_box = np.asarray(f_box, dtype=complex)
    return np.stack([f_box, 2.0 * f_tri, c_tri * f_tri, c_tri * np.ones_like(f_box), 2.0 * np.ones_like(f_box)])


def terms_from_form_factors(s, f_tri, f_box, g_box,
                            params: gghh.HiggsPairParameters = gghh.HiggsPairParameters()) -> np.ndarray:
    """The 15 terms T_k(s, t) of |M|^2 = sum_k u_k T_k (real, leading axis 15)."""
    p = amplitude_pieces(s, f_tri, f_box, params)
    terms = []
    for i, j in TERM_PAIRS:
        if i == j:
            terms.append(np.abs(p[i]) ** 2)
        else:
            terms.append(2.0 * np.real(p[i] * np.conj(p[j])))
    terms[0] = terms[0] + np.abs(g_box) ** 2
    return np.stack(terms)


def me_terms(s, t, params: gghh.HiggsPairParameters = gghh.HiggsPairParameters(),
             box_nodes: int = loops.N_GAUSS_D0) -> np.ndarray:
    """T_1 ... T_15 at phase-space points (s, t) in GeV^2 (exact loop integrals)."""
    s = np.asarray(s, dtype=float)
    f_tri, f_box, g_box = gghh.form_factors(s, t, params, box_nodes)
    return terms_from_form_factors(np.broadcast_to(s, np.shape(f_box)), f_tri, f_box, g_box, params)


def msq_direct(s, t, couplings, params: gghh.HiggsPairParameters = gghh.HiggsPairParameters(),
               box_nodes: int = loops.N_GAUSS_D0) -> np.ndarray:
    """|M_0|^2 + |M_2|^2 from the amplitude itself at one coupling point (no term expansion)."""
    s = np.asarray(s, dtype=float)
    f_tri, f_box, g_box = gghh.form_factors(s, t, params, box_nodes)
    c_hhh, c_t, c_tt, c_ggh, c_gghh = to_ewchl(check_couplings(couplings))
    c_tri = gghh.triangle_propagator(np.broadcast_to(s, np.shape(f_box)), params)
    m_0 = c_t**2 * f_box + 2.0 * c_tt * f_tri + c_t * c_hhh * c_tri * f_tri + c_ggh * c_hhh * c_tri + 2.0 * c_gghh
    return np.abs(m_0) ** 2 + np.abs(c_t**2 * g_box) ** 2


def msq(terms, couplings) -> np.ndarray:
    """sum_k u_k(couplings) T_k; `terms` has the 15 terms on its leading axis."""
    return np.tensordot(term_monomials(couplings), np.asarray(terms), axes=(0, 0))


# --- cross sections ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _partonic_terms(m_t: float, m_h: float, gamma_h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """m_hh nodes, their weights, cos theta weights and T_k at (m_hh, cos theta) times dt/dcos (GeV^2).

    The nodes and the box rule are those of hh4b.theory.xsec; the last array has shape (15, n_m, n_cos)."""
    params = gghh.HiggsPairParameters(m_t=m_t, m_h=m_h, gamma_h=gamma_h)
    m_hh, m_weights = xsec._m_hh_rule(m_h, m_t)
    cos_nodes, cos_weights = np.polynomial.legendre.leggauss(xsec.N_COS)
    cos_nodes, cos_weights = 0.5 * (cos_nodes + 1.0), 0.5 * cos_weights
    s = (m_hh**2)[:, None] * np.ones_like(cos_nodes)
    t = gghh.t_from_cos_theta(s, cos_nodes[None, :], m_h)
    terms = me_terms(s, t, params, xsec.BOX_NODES_XSEC)
    beta = np.sqrt(1.0 - 4.0 * m_h**2 / m_hh**2)
    # int dt over the full range = 2 * int_0^1 dcos (s beta / 2) T  (T even in cos theta)
    return m_hh, m_weights, cos_weights, terms * (m_hh**2 * beta)[None, :, None]


def _options(m_t, m_h, gamma_h):
    return float(m_t), float(m_h), float(gamma_h)


@functools.lru_cache(maxsize=8)
def cell_cross_sections(sqrt_s: float = constants.SQRT_S, pdf_set: int = constants.PYTHIA_PDF_SET,
                        alpha_s_mz: float = constants.ALPHA_S_MZ, alpha_s_order: int = 2,
                        scale_factor: float = 1.0, m_t: float = constants.M_T, m_h: float = constants.M_H,
                        gamma_h: float = constants.GAMMA_H) -> tuple[np.ndarray, np.ndarray]:
    """(m_hh nodes, sigma_k per quadrature cell in fb, shape (15, n_m, n_cos)); summed: `sigma_terms`."""
    xsec._check(sqrt_s, m_t, m_h, scale_factor)
    m_hh, m_weights, cos_weights, terms = _partonic_terms(*_options(m_t, m_h, gamma_h))
    weight = xsec.hadronic_weights(m_hh, m_weights, sqrt_s, pdf_set, alpha_s_mz, alpha_s_order, scale_factor)
    return m_hh, terms * weight[None, :, None] * cos_weights[None, None, :]


def sigma_terms(sqrt_s: float = constants.SQRT_S, **options) -> np.ndarray:
    """A_1 ... A_15 in fb: sigma(point) = sum_k A_k u_k(point) at LO (options as hh4b.theory.xsec)."""
    return cell_cross_sections(sqrt_s, **options)[1].sum(axis=(1, 2))


def sigma(couplings, sqrt_s: float = constants.SQRT_S, **options) -> float:
    """LO sigma(gg -> hh) in fb at table-convention couplings."""
    return float(term_monomials(check_couplings(couplings)) @ sigma_terms(sqrt_s, **options))


def generation_vector(points, fractions=None, sqrt_s: float = constants.SQRT_S, **options) -> np.ndarray:
    """g_k of |M|^2_gen = sum_k g_k T_k for a mixture of coupling points.

    Each point enters normalised to its cross section, sum_j f_j u_k(point_j) sigma_0 / sigma_j with
    sigma_0 = the mixture's mean sigma, so one point gives its own monomials and a mixture samples
    the fraction f_j of its events from point j's distribution."""
    couplings = np.array([p.couplings() if isinstance(p, Point) else p for p in points], dtype=float)
    check_couplings(couplings)
    fractions = np.full(len(couplings), 1.0 / len(couplings)) if fractions is None else np.asarray(fractions, float)
    if fractions.shape != (len(couplings),) or np.any(fractions < 0) or not fractions.sum() > 0:
        raise ConfigError("mixture fractions must be one non-negative number per point, not all zero")
    fractions = fractions / fractions.sum()
    monomials = term_monomials(couplings)
    sigmas = monomials @ sigma_terms(sqrt_s, **options)
    sigma_0 = float(fractions @ sigmas)
    return (fractions * sigma_0 / sigmas) @ monomials


def weight_factors(terms, couplings, generation) -> np.ndarray:
    """Per-event sum_k u_k T_k / sum_k g_k T_k (0 where the generation |M|^2 vanishes)."""
    terms = np.asarray(terms, dtype=float)
    denominator = np.tensordot(np.asarray(generation, dtype=float), terms, axes=(0, 0))
    numerator = msq(terms, couplings)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, 0.0)


def weight_matrix(terms, points, generation) -> np.ndarray:
    """`weight_factors` for many points at once, shape (n_points, n_events): one matrix product
    (n_points, 15) x (15, n_events) over one shared denominator."""
    terms = np.asarray(terms, dtype=float)
    denominator = np.tensordot(np.asarray(generation, dtype=float), terms, axes=(0, 0))
    inverse = np.where(denominator > 0, 1.0 / np.where(denominator > 0, denominator, 1.0), 0.0)
    return (term_monomials(check_couplings(points)) @ terms) * inverse


def effective_fraction(couplings, generation, sqrt_s: float = constants.SQRT_S, **options) -> float:
    """Kish N_eff / N of the events of the generation vector reweighted to `couplings`:
    sigma_B^-2 sigma_gen int p_B^2 / p_gen, on the quadrature cells of `cell_cross_sections`."""
    cells = cell_cross_sections(sqrt_s, **options)[1]
    target = np.tensordot(term_monomials(check_couplings(couplings)), cells, axes=(0, 0))
    source = np.tensordot(np.asarray(generation, dtype=float), cells, axes=(0, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        second = np.where(source > 0, target**2 / source, np.where(target > 0, np.inf, 0.0)).sum()
    return float(target.sum() ** 2 / (source.sum() * second)) if second > 0 else 0.0


# --- parton-level kinematics -----------------------------------------------------------------

def cos_theta_from_t(s, t, m_h: float = constants.M_H) -> np.ndarray:
    """cos theta in the hh rest frame from (s, t), inverse of hh4b.theory.gghh.t_from_cos_theta."""
    s, t = np.asarray(s, dtype=float), np.asarray(t, dtype=float)
    beta = np.sqrt(np.maximum(1.0 - 4.0 * m_h**2 / s, 0.0))
    return np.where(beta > 0, (t - m_h**2 + 0.5 * s) / (0.5 * s * np.where(beta > 0, beta, 1.0)), 0.0)


def higgs_pt(m_hh, cos_theta, m_h: float = constants.M_H) -> np.ndarray:
    """p_T of either Higgs boson at parton level (no initial-state radiation)."""
    m_hh = np.asarray(m_hh, dtype=float)
    momentum = 0.5 * m_hh * np.sqrt(np.maximum(1.0 - 4.0 * m_h**2 / m_hh**2, 0.0))
    return momentum * np.sqrt(np.maximum(1.0 - np.asarray(cos_theta) ** 2, 0.0))


def mhh_cos_theta_cs(pt, eta, phi, mass) -> tuple[np.ndarray, np.ndarray]:
    """m_hh and the Collins-Soper |cos theta*| of two Higgs bosons (arrays of shape (n, 2)).

    The Collins-Soper angle is the scattering angle of the hard process with the initial-state
    radiation's transverse recoil divided symmetrically between the two gluons; it equals the
    partonic cos theta when the pair has no p_T."""
    pt, eta, phi, mass = (np.asarray(x, dtype=float) for x in (pt, eta, phi, mass))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    total = [x.sum(axis=1) for x in (energy, px, py, pz)]
    m2 = np.maximum(total[0] ** 2 - total[1] ** 2 - total[2] ** 2 - total[3] ** 2, 0.0)
    m_hh = np.sqrt(m2)
    pt2 = total[1] ** 2 + total[2] ** 2
    plus, minus = (energy + pz) / np.sqrt(2.0), (energy - pz) / np.sqrt(2.0)
    numerator = 2.0 * (plus[:, 0] * minus[:, 1] - minus[:, 0] * plus[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_cs = np.where(m_hh > 0, numerator / (m_hh * np.sqrt(m2 + pt2)), 0.0)
    return m_hh, np.minimum(np.abs(cos_cs), 1.0)


class PartonSampler:
    """Unweighted parton-level gg -> hh events (m_hh, cos theta) from the interpolated terms.

    Proposal: m_hh from the gluon luminosity times alpha_s^2 P s beta / 2 (tabulated in log m_hh,
    piecewise-linear inverse CDF), cos theta uniform; weight |M|^2_gen = sum_k g_k T_k, accepted with
    probability weight / max weight of the batch. For tests and benchmarks of the reweighting."""

    def __init__(self, grid, sqrt_s: float = constants.SQRT_S, m_hh_max: float = 3000.0, nodes: int = 400):
        self.grid = grid
        m_h = grid.params.m_h
        self.m_nodes = np.geomspace(2.0 * m_h + 1e-3, m_hh_max, nodes)
        density = xsec.hadronic_weights(self.m_nodes, np.ones_like(self.m_nodes), sqrt_s) \
            * self.m_nodes**2 * np.sqrt(1.0 - 4.0 * m_h**2 / self.m_nodes**2)
        cells = 0.5 * (density[1:] + density[:-1]) * np.diff(self.m_nodes)
        self._cdf = np.concatenate([[0.0], np.cumsum(cells) / cells.sum()])

    def proposals(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(m_hh, cos theta, terms (15, n)) of n proposal points."""
        m_hh = np.interp(rng.uniform(size=n), self._cdf, self.m_nodes)
        cos_theta = rng.uniform(-1.0, 1.0, n)
        s = m_hh**2
        terms = np.array(self.grid.coefficients_array(s, gghh.t_from_cos_theta(s, cos_theta, self.grid.params.m_h)))
        return m_hh, cos_theta, terms

    def sample(self, generation, n_proposals: int, rng: np.random.Generator):
        """Unweighted events at the generation vector: (m_hh, cos theta, terms)."""
        m_hh, cos_theta, terms = self.proposals(n_proposals, rng)
        weight = np.tensordot(np.asarray(generation, dtype=float), terms, axes=(0, 0))
        keep = rng.uniform(size=n_proposals) * weight.max() < weight
        return m_hh[keep], cos_theta[keep], terms[:, keep]


def print_cross_sections(sqrt_s: float, couplings=None, benchmark_name=None, coefficients: bool = False,
                         **options) -> int:
    """`hh4b xsec --heft / --benchmark / --coefficients`: sigma in fb and the A_i (CLI output)."""
    terms = sigma_terms(sqrt_s, **options)
    sigma_sm = float(term_monomials(constants.HEFT_SM) @ terms)
    energy = f"sqrt(s) = {sqrt_s / 1000:g} TeV"
    points = []
    if couplings is not None:
        points.append(Point(*check_couplings(couplings), label="point"))
    if benchmark_name is not None:
        points.append(benchmark(benchmark_name))
    for point in points:
        value = float(term_monomials(point.couplings()) @ terms)
        print(f"sigma(gg -> hh, LO, {point.label}: kappa_lambda, kappa_t, c_2, c_g, c_2g = "
              f"{', '.join(f'{c:g}' for c in point.couplings())}; {energy}) = {value:.4g} fb"
              f"  ({value / sigma_sm:.4g} x SM)")
    if coefficients:
        print(f"LO coefficients, {energy}: sigma = sum_i A_i monomial_i with c_ggh = 2 c_g / 3, "
              f"c_gghh = -c_2g / 3 (SM: {sigma_sm:.4g} fb)")
        print(f"{'i':>3} {'monomial':<20} {'A_i [fb]':>11} {'A_i / sigma_SM':>15}")
        for k, (name, monomial) in enumerate(zip(TERM_NAMES, TERM_MONOMIALS)):
            print(f"{name[1:]:>3} {monomial:<20} {terms[k]:11.5g} {terms[k] / sigma_sm:15.5g}")
    return 0


def default_generation(sqrt_s: float = constants.SQRT_S, **options) -> np.ndarray:
    """The generation vector of constants.HEFT_GENERATION_MIXTURE."""
    mixture = constants.HEFT_GENERATION_MIXTURE
    return generation_vector([benchmark(name) for name in mixture], list(mixture.values()), sqrt_s, **options)


def kappa_lambda_generation(kappa_lambda: float) -> np.ndarray:
    """The generation vector of a kappa_lambda-only sample (kappa_t = 1, c_2 = c_g = c_2g = 0)."""
    return term_monomials((float(kappa_lambda), 1.0, 0.0, 0.0, 0.0))


def file_generation(metadata: dict) -> np.ndarray:
    """The generation vector of a non-resonant sample from its metadata: the 15 g_k of `heft_generation`
    (a five-coupling mixture, `hh4b generate --heft-mixture`), else the kappa_lambda polynomial at the
    generation kappa_lambda (hh4b.weights.generation_kappa_lambda)."""
    record = metadata.get("heft_generation")
    if record is None:
        return kappa_lambda_generation(weights.generation_kappa_lambda(metadata))
    vector = np.asarray(record.get("vector", ()) if isinstance(record, dict) else (), dtype=float)
    if vector.shape != (len(TERM_NAMES),) or not np.all(np.isfinite(vector)):
        raise InputFileError(f"{metadata.get('filename') or 'non-resonant dataset'}: metadata heft_generation needs "
                             f"'vector', {len(TERM_NAMES)} finite numbers g_k")
    return vector
