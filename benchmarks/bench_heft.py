"""Cost of the five-coupling matrix element: generation and reweighting (hh4b.theory.heft).

    python benchmarks/bench_heft.py [--events 2000] [--chunk 250] [--points 14] [--json out.json]

Generation: hard-process-only Pythia (no shower, no hadronisation, h not decayed) with the
kappa_lambda process at k = 0 and with the five-coupling process at the default generation mixture,
in one Python process, alternating chunks of `--chunk` events so that load changes hit both alike;
CPU seconds per event of `pythia.next()` plus the accepted events' coefficient look-up (3 or 15
terms). The grid builds are timed separately (once per process in production).
Reweighting: CPU seconds per event per coupling point of sum_k u_k T_k / (generation |M|^2) for
`--points` points on stored terms, point by point (`heft.weight_factors`) and all points in one
matrix product (`heft.weight_matrix`), against the kappa_lambda ratio (`weights.kl_ratio`); and the
per-event cost of the processor's truth recomputation (15-term grid look-up).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from hh4b import constants, weights
from hh4b.theory import gghh, heft


def _pythia(process_kwargs: dict, seed: int):
    import pythia8mc

    from hh4b.generate.nonresonant import configure_nonresonant

    pythia = pythia8mc.Pythia("", False)
    for line in ("Beams:eCM = 13000", "PartonLevel:all = off", "HadronLevel:all = off",
                 "ProcessLevel:resonanceDecays = off", "Print:quiet = on", "Random:setSeed = on",
                 f"Random:seed = {seed}"):
        pythia.readString(line)
    process = configure_nonresonant(pythia, **process_kwargs)
    if not pythia.init():
        raise RuntimeError("Pythia initialisation failed")
    return pythia, process


def _chunk(pythia, process, n: int) -> tuple[float, int]:
    """CPU seconds of n accepted events (next() + the accepted point's coefficients)."""
    start = time.process_time()
    for _ in range(n):
        if not pythia.next():
            raise RuntimeError("Pythia failed to generate an event")
        info = pythia.infoPython()
        process.coefficients_for(info.sHat(), info.tHat())
    return time.process_time() - start, int(pythia.infoPython().nTried())


def generation(events: int, chunk: int) -> dict:
    from hh4b.generate.nonresonant import matrix_element_grid

    gghh.me_coefficients(np.array([400.0**2]), np.array([-5.0e4]))  # numba start-up, not a grid cost
    build = {}
    for name, five in (("kappa_lambda", False), ("five_couplings", True)):
        start = time.process_time()
        matrix_element_grid(five_couplings=five)
        build[name] = time.process_time() - start
    runs = {"kappa_lambda": _pythia({"kappa_lambda": 0.0}, 1),
            "five_couplings": _pythia({"generation": heft.default_generation()}, 1)}
    cpu = {name: 0.0 for name in runs}
    tried = {}
    done = 0
    while done < events:
        n = min(chunk, events - done)
        for name, (pythia, process) in runs.items():
            seconds, tried[name] = _chunk(pythia, process, n)
            cpu[name] += seconds
        done += n
    per_event = {name: cpu[name] / events for name in runs}
    per_trial = {name: cpu[name] / tried[name] for name in runs}
    sigma_fb = {name: pythia.infoPython().sigmaGen() * 1e12 for name, (pythia, _) in runs.items()}
    return {"events": events, "grid_build_cpu_s": build, "cpu_s": cpu, "cpu_s_per_event": per_event,
            "cpu_s_per_trial": per_trial, "ratio_per_trial": per_trial["five_couplings"] / per_trial["kappa_lambda"],
            "trials": tried, "sigma_gen_fb": sigma_fb,
            "ratio_five_over_kl": per_event["five_couplings"] / per_event["kappa_lambda"]}


def reweighting(n_events: int, n_points: int, repeats: int = 5) -> dict:
    from hh4b.generate.nonresonant import matrix_element_grid

    rng = np.random.default_rng(3)
    m_hh = rng.uniform(260.0, 1500.0, n_events)
    s = m_hh**2
    t = gghh.t_from_cos_theta(s, rng.uniform(-1.0, 1.0, n_events))
    grid = matrix_element_grid(five_couplings=True)
    start = time.process_time()
    terms = np.array(grid.coefficients_array(s, t))
    lookup = time.process_time() - start
    points = [p.couplings() for p in heft.benchmarks()]
    points = (points * (n_points // len(points) + 1))[:n_points]
    generation = heft.default_generation()
    start = time.process_time()
    for _ in range(repeats):
        for point in points:
            heft.weight_factors(terms, point, generation)
    five = (time.process_time() - start) / (repeats * n_points * n_events)
    start = time.process_time()
    for _ in range(repeats):
        matrix = heft.weight_matrix(terms, points, generation)
    five_matrix = (time.process_time() - start) / (repeats * n_points * n_events)
    np.testing.assert_allclose(matrix[-1], heft.weight_factors(terms, points[-1], generation), rtol=1e-12)
    a, b, c = terms[0], terms[6], terms[2]
    start = time.process_time()
    for _ in range(repeats):
        for point in points:
            weights.kl_ratio(a, b, c, point[0], 0.0)
    kl = (time.process_time() - start) / (repeats * n_points * n_events)
    return {"events": n_events, "points": n_points, "repeats": repeats,
            "cpu_s_per_event_point_five": five, "cpu_s_per_event_point_five_matrix": five_matrix,
            "cpu_s_per_event_point_kl": kl, "ratio_five_over_kl": five / kl, "ratio_matrix_over_kl": five_matrix / kl,
            "truth_terms_lookup_cpu_s_per_event": lookup / n_events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="generated events per process")
    parser.add_argument("--chunk", type=int, default=250, help="events per alternating chunk")
    parser.add_argument("--reweight-events", type=int, default=100000, help="events of the reweighting timing")
    parser.add_argument("--points", type=int, default=len(constants.HEFT_BENCHMARKS) + 1,
                        help="coupling points of the reweighting timing")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    result = {"generation": generation(args.events, args.chunk),
              "reweighting": reweighting(args.reweight_events, args.points)}
    gen, rew = result["generation"], result["reweighting"]
    print(f"grid build CPU s: kappa_lambda {gen['grid_build_cpu_s']['kappa_lambda']:.2f}, "
          f"five couplings {gen['grid_build_cpu_s']['five_couplings']:.2f}")
    for name in ("kappa_lambda", "five_couplings"):
        print(f"generation {name:15s}: {gen['cpu_s'][name]:.2f} CPU s for {gen['events']} events "
              f"({1e3 * gen['cpu_s_per_event'][name]:.3f} ms/event, {gen['trials'][name]} trials, "
              f"sigma_gen {gen['sigma_gen_fb'][name]:.4g} fb)")
    print(f"generation ratio five / kappa_lambda: {gen['ratio_five_over_kl']:.3f} per event, "
          f"{gen['ratio_per_trial']:.3f} per trial point")
    print(f"reweighting: {1e9 * rew['cpu_s_per_event_point_five']:.2f} ns per event per point (five couplings) "
          f"against {1e9 * rew['cpu_s_per_event_point_kl']:.2f} ns (kappa_lambda): "
          f"ratio {rew['ratio_five_over_kl']:.2f}"
          f" ({rew['events']} events x {rew['points']} points x {rew['repeats']})")
    print(f"reweighting, all points in one matrix product: {1e9 * rew['cpu_s_per_event_point_five_matrix']:.2f} ns "
          f"per event per point: ratio {rew['ratio_matrix_over_kl']:.2f} to kappa_lambda")
    print(f"truth recomputation of the 15 terms: {1e6 * rew['truth_terms_lookup_cpu_s_per_event']:.2f} us per event")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
