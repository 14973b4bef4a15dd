"""`hh4b generate`: one sample into one NanoAOD-style ROOT file, or every missing file of a fileset."""

from __future__ import annotations

import argparse
import json
import logging

from hh4b import constants as C, jobqueue
from hh4b.errors import ConfigError
from hh4b.generate.fileset import START_TIMEOUT_S
from hh4b.generate.pythia_driver import FAMILIES

SAMPLES = (*FAMILIES, "qcd4b")
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sample", help=f"sample family: {', '.join(SAMPLES)} (default: lhe when --lhe is given)")
    parser.add_argument("--mass", type=float, help="resonant: heavy scalar mass in GeV, in "
                        f"[{C.RESONANT_MASS_RANGE[0]:g}, {C.RESONANT_MASS_RANGE[1]:g}]")
    parser.add_argument("--kappa-lambda", type=float, default=None,
                        help=f"nonresonant: generation kappa_lambda (default {C.NONRESONANT_GENERATION_KL:g})")
    parser.add_argument("--heft-mixture", action="store_true",
                        help="nonresonant: sample the five-coupling HEFT mixture of hh4b.constants."
                        "HEFT_GENERATION_MIXTURE (SM and benchmarks, docs/heft.md) instead of one kappa_lambda; "
                        "the file metadata 'heft_generation' records it and the analysis reweights from it "
                        "(not with --kappa-lambda)")
    parser.add_argument("--lhe", help="shower, cluster and detector-simulate this Les Houches file (.lhe or .lhe.gz)")
    parser.add_argument("--process", help="physics process recorded in the metadata (default: from the sample)")
    parser.add_argument("--xsec-pb", type=float, help="override the cross section written to the metadata (pb)")
    parser.add_argument("--scheme", choices=("5fs", "4fs"), default="5fs",
                        help="qcd4b: flavour scheme, 5fs (massless b, generator cuts) or 4fs (b mass 4.7 GeV, "
                        "no generator cuts) (default: %(default)s)")
    parser.add_argument("--no-shower-veto", action="store_true",
                        help="qcd4b: shower every event fully (default: stop early those that cannot give four "
                        "quality jets, hh4b.generate.shower_veto)")
    parser.add_argument("--no-jet-filter", action="store_true",
                        help="qcd4b: also write the events with fewer than four quality jets (default: not written, "
                        "counted in sumw and n_generated)")
    parser.add_argument("--no-higgs-window", action="store_true",
                        help="qcd4b: sample the whole phase space at the same rate (default: favour quark "
                        "configurations near the mass-plane regions, with 1/g weights; "
                        "hh4b.generate.qcd4b.window)")
    parser.add_argument("--sqrt-s", type=float, default=C.SQRT_S,
                        help="centre-of-mass energy in GeV (default: %(default)g)")
    parser.add_argument("--events", type=int, default=1000, help="number of events (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="random seed, also the `run` number (default: %(default)s)")
    parser.add_argument("--output", help="output ROOT file")
    parser.add_argument("--fileset", help="instead: generate every missing file of this fileset.json")
    parser.add_argument("--scheduler", help="with --fileset: address of an existing Dask scheduler")
    parser.add_argument("--workers", type=int, default=2,
                        help="with --fileset: LocalCluster workers, or batch jobs with --jobqueue/--cluster "
                             "(default: %(default)s)")
    jobqueue.add_arguments(parser)
    parser.add_argument("--dask-worker-timeout", type=float, default=START_TIMEOUT_S,
                        help="with --jobqueue/--cluster: stop with an error when no worker job has started "
                             "after this many seconds (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    if args.fileset:
        from hh4b.generate.fileset import materialise

        made = materialise(args.fileset, scheduler=args.scheduler, workers=args.workers, progress=not args.no_progress,
                           jobqueue=jobqueue.config_path(args.jobqueue, args.cluster),
                           timeout=args.dask_worker_timeout)
        log.info("fileset %s: generated %d missing file(s)%s", args.fileset, len(made),
                 "".join(f"\n  {p}" for p in made))
        return 0
    sample = args.sample or ("lhe" if args.lhe else None)
    if sample is None:
        raise ConfigError("give --sample (or --lhe FILE, or --fileset FILE)")
    if sample not in SAMPLES:
        raise ConfigError(f"unknown sample {sample!r}: choose one of {', '.join(SAMPLES)}")
    if args.lhe and sample != "lhe":
        raise ConfigError(f"--lhe goes with --sample lhe, not {sample!r}")
    if not args.output:
        raise ConfigError("give --output FILE.root")
    if args.heft_mixture:
        from hh4b.generate.nonresonant import check_heft_mixture

        check_heft_mixture(sample, args.kappa_lambda)
    if sample == "qcd4b":
        from hh4b.generate.qcd4b import generate_qcd4b

        metadata = generate_qcd4b(args.output, args.events, args.seed, sqrt_s=args.sqrt_s, scheme=args.scheme,
                                  shower_veto=not args.no_shower_veto, jet_filter=not args.no_jet_filter,
                                  higgs_window=not args.no_higgs_window, progress=not args.no_progress)
        summary = {k: metadata[k] for k in ("sample", "n_events", "xsec_pb", "sumw")}
        log.info("wrote %s: %s", args.output, json.dumps(summary))
        return 0
    from hh4b.generate.pythia_driver import generate_file

    metadata = generate_file(sample, args.output, args.events, args.seed, sqrt_s=args.sqrt_s, mass=args.mass,
                             kappa_lambda=args.kappa_lambda, lhe=args.lhe, xsec_pb=args.xsec_pb, process=args.process,
                             progress=not args.no_progress, heft_mixture=args.heft_mixture)
    summary = {k: metadata[k] for k in ("sample", "process", "n_events", "xsec_pb", "sumw", "seed")}
    log.info("wrote %s: %s", args.output, json.dumps(summary))
    return 0
