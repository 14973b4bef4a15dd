"""`hh4b run FILESET`: the coffea processor over a fileset with an iterative, futures or Dask executor
(the library is hh4b.analysis.processing).

The command exits with status 1 when any chunk failed, after writing OUTPUT/output.coffea
(coffea.util.save) and OUTPUT/summary.json. The output directory is made, checked for writing and
cleared of a previous run's output.coffea and summary.json before any processing; run_options
carries a run id and the fileset's SHA-256. With --jobqueue CONFIG (or --cluster slurm|htcondor)
the Dask workers are --workers batch jobs (hh4b.jobqueue): a job that ends is replaced, and workers
that never start stop the run after --dask-worker-timeout.
"""

from __future__ import annotations

import argparse
import logging
import time
import uuid
from pathlib import Path

from hh4b import console, jobqueue as batch
from hh4b.analysis.processing import (
    DASK_WORKER_TIMEOUT_S,
    EXECUTORS,
    fileset_digest,
    load_fileset,
    neural_methods,
    prepare_output,
    process_fileset,
    save,
)
from hh4b.config import (
    ANALYSES,
    CENTRES,
    DATA,
    DEFAULT,
    AnalysisConfig,
    add_config_argument,
    from_options,
    other_analysis,
)
from hh4b.constants import CMS_BTAG_TAGGERS
from hh4b.errors import ConfigError

ALL = "all"


log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fileset", help="fileset JSON (docs/formats.md section 2)")
    parser.add_argument("--executor", choices=EXECUTORS, default="futures", help="default: %(default)s")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes, or batch jobs with --jobqueue/--cluster (default: %(default)s)")
    parser.add_argument("--chunksize", type=int, default=100_000, help="entries per chunk (default: %(default)s)")
    parser.add_argument("--output", default="outputs", help="output directory (default: %(default)s)")
    add_config_argument(parser, "working point, centre, luminosity, kappa_lambda training points")
    parser.add_argument("--lumi", type=float, default=None,
                        help=f"luminosity in fb^-1 (default: the --config file's, else {DEFAULT.lumi_fb})")
    parser.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler (implies dask)")
    batch.add_arguments(parser)
    parser.add_argument("--retries", type=int, default=1, help="retries of a failing chunk (default: %(default)s)")
    parser.add_argument("--btag-wp", default=None,
                        help="b-tag working point: 70/77 on hh4b files, L/M/T on CMS NanoAOD, a key of "
                             "--btag-threshold or --delphes-btag-bit (default: from the fileset)")
    parser.add_argument("--btag-tagger", default=None, choices=tuple(CMS_BTAG_TAGGERS),
                        help="CMS NanoAOD tagger (default: fileset btag_tagger, else the first whose branch the "
                             "file has, in this order)")
    parser.add_argument("--btag-era", default=None,
                        help="era of the CMS BTV thresholds, e.g. 2018UL, 2022preEE, 2024 (default: fileset "
                             "btag_era, else the tagger's default era; docs/formats.md section 2)")
    parser.add_argument("--btag-threshold", action="append", default=[], metavar="WP=X",
                        help="CMS NanoAOD: tag score threshold of working point WP (repeatable)")
    parser.add_argument("--delphes-btag-bit", action="append", default=[], metavar="WP=BIT",
                        help="Delphes: bit of Jet.BTag for working point WP (repeatable)")
    parser.add_argument("--dask-worker-timeout", type=float, default=DASK_WORKER_TIMEOUT_S,
                        help="dask: stop with an error when no worker is left for this many seconds "
                             "(default: %(default)s)")
    parser.add_argument("--centre", choices=tuple(CENTRES), default=None,
                        help="X_hh / D_hh centre: paper (120, 110) or atlas (124, 117) GeV (default: the --config "
                             "file's, else paper)")
    parser.add_argument("--methods", default="cut_mindr,cut_dhh", help="comma-separated methods (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--analysis", choices=(ALL, *ANALYSES), default=ALL,
                        help="resonant: resonant signals + backgrounds at the MV2c10 70%% WP; nonresonant: "
                             "non-resonant signal + backgrounds at the DL1r 77%% WP (paper II.A); all: every "
                             "dataset at its fileset WP (default: %(default)s)")
    parser.add_argument("--models", default="models",
                        help="directory of ONNX models: spanet_<analysis>.onnx, dnn_mindr_<analysis>.onnx, "
                             "dnn_spanet_<analysis>.onnx, deepsets_<analysis>.onnx enable the neural methods "
                             "(default: %(default)s)")
    parser.add_argument("--no-nn", action="store_true", help="cut-based methods only, even when models exist")
    parser.add_argument("--kappa-lambda-input", type=float, default=1.0,
                        help="kappa_lambda fed to the non-resonant networks (default: SM, %(default)s)")
    parser.add_argument("--network-tags", default="4",
                        help="comma-separated tag categories (2, 3, 4) the networks score; the neural selections "
                             "select four-tag events, the data-driven background of a neural method needs 2,3,4 "
                             "(default: %(default)s)")
    parser.add_argument("--save-columns", action="store_true",
                        help="keep per-event columns for the data-driven background (`hh4b background`)")
    parser.add_argument("--truth-tagging", default="",
                        help="comma-separated datasets or processes (e.g. qcd4b) whose events enter every tag "
                             "category weighted by its probability from the jets' true flavours instead of "
                             "their drawn b-tags (needs Jet_hadronFlavour; hh4b.analysis.truthtag; default: none)")


def parse_assignments(option: str, values: list[str], convert) -> dict:
    """`WP=VALUE` command-line entries -> {WP: convert(VALUE)}, with a one-line error naming the option."""
    out = {}
    for item in values:
        wp, sep, value = item.partition("=")
        try:
            if not sep or not wp:
                raise ValueError
            out[wp] = convert(value)
        except ValueError:
            raise ConfigError(f"{option} {item!r}: expected WP=VALUE with a {convert.__name__} value") from None
    return out


def analysis_config(args: argparse.Namespace) -> AnalysisConfig:
    """The run's AnalysisConfig from the command line."""
    return from_options(args.config, analysis=None if args.analysis == ALL else args.analysis,
                        btag_wp=args.btag_wp, dhh_centre=CENTRES.get(args.centre), lumi_fb=args.lumi)


def run_options(args: argparse.Namespace, proc, run_id: str) -> dict:
    """How the output was made, for stages that rerun the processor (`hh4b background`)."""
    config = proc.config
    return {"fileset": str(Path(args.fileset).resolve()), "analysis": config.analysis or ALL,
            "config": config.as_dict(),
            "btag_wp": config.fixed_working_point, "dhh_centre": list(config.dhh_centre),
            "methods": list(proc.methods), "lumi_fb": config.lumi_fb,
            "models": str(Path(args.models).resolve()), "no_nn": bool(args.no_nn),
            "kappa_lambda_input": args.kappa_lambda_input, "chunksize": args.chunksize,
            "truth_tagging": list(proc.truth_tagging), "btag_options": dict(proc.btag),
            "network_tags": list(proc.network_tags),
            "fileset_sha256": fileset_digest(args.fileset), "run_id": run_id}


def parse_tags(option: str) -> tuple[int, ...]:
    """--network-tags "2,3,4" -> (2, 3, 4), with a one-line error naming the option."""
    try:
        return tuple(int(x) for x in option.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--network-tags {option!r}: expected comma-separated tag counts, e.g. 4 or 2,3,4") from None


def truth_tagged_names(option: str, fileset: dict) -> tuple[str, ...]:
    """The --truth-tagging names; each must be a dataset or a process of the fileset."""
    names = tuple(x for x in option.split(",") if x)
    known = set(fileset) | {e["metadata"].get("process") for e in fileset.values()}
    unknown = [x for x in names if x not in known]
    if unknown:
        raise ConfigError(f"--truth-tagging {unknown[0]!r} is neither a dataset nor a process of the fileset "
                          f"(datasets: {', '.join(sorted(fileset))})")
    return names


def main(args: argparse.Namespace) -> int:
    from hh4b.analysis.processor import HH4bProcessor

    if args.workers < 1 or args.chunksize < 1 or args.retries < 0:
        raise ConfigError("--workers and --chunksize must be >= 1, --retries >= 0")
    jobqueue = batch.config_path(args.jobqueue, args.cluster)
    if args.scheduler and jobqueue:
        raise ConfigError("--scheduler and --jobqueue/--cluster: give one (an existing scheduler, or batch "
                          "workers with a scheduler of their own)")
    kind = "dask" if args.scheduler or jobqueue else args.executor
    if not args.dask_worker_timeout > 0:
        raise ConfigError(f"--dask-worker-timeout must be > 0, not {args.dask_worker_timeout}")
    fileset = load_fileset(args.fileset)
    config = analysis_config(args)
    analysis = config.analysis or ALL
    dropped = None if config.analysis is None else other_analysis(config.analysis)
    left_out = sorted(d for d, e in fileset.items() if dropped is not None and e["metadata"]["process"] == dropped)
    if left_out:
        log.warning("--analysis %s leaves out the %s datasets %s", analysis, dropped, ", ".join(left_out))
    fileset = {d: e for d, e in fileset.items() if d not in left_out}
    if not fileset:
        raise ConfigError(f"--analysis {analysis}: no dataset of {args.fileset} is left to process")
    methods = [m for m in args.methods.split(",") if m]
    truth_tagging = truth_tagged_names(args.truth_tagging, fileset)
    models = {} if args.no_nn else neural_methods(Path(args.models), analysis, args.kappa_lambda_input)
    methods += [m for m in models if m not in methods]
    btag = {"tagger": args.btag_tagger, "era": args.btag_era,
            "thresholds": parse_assignments("--btag-threshold", args.btag_threshold, float),
            "delphes_bits": parse_assignments("--delphes-btag-bit", args.delphes_btag_bit, int)}
    proc = HH4bProcessor(config, methods=tuple(methods), models=models, retries=args.retries,
                         save_columns=args.save_columns, truth_tagging=truth_tagging,
                         network_tags=parse_tags(args.network_tags),
                         btag={k: v for k, v in btag.items() if v})
    run_id = uuid.uuid4().hex
    prepare_output(args.output)
    log.info("analysis %s: %d datasets, methods %s", analysis, len(fileset), ", ".join(methods))
    for dataset, entry in fileset.items():
        meta = entry["metadata"]
        if meta.get("process") != DATA and (meta.get("xsec_pb") is None or not meta.get("sumw")):
            log.warning("note: dataset %s has no xsec_pb/sumw in %s: its histograms are sums of genWeight, not "
                        "events at %s fb^-1 (hh4b generate --fileset fills them)", dataset, args.fileset,
                        config.lumi_fb)
    start = time.perf_counter()
    output = process_fileset(fileset, proc, kind, args.workers, args.chunksize, args.scheduler,
                             progress=not args.no_progress, worker_timeout=args.dask_worker_timeout,
                             jobqueue=jobqueue)
    seconds = time.perf_counter() - start
    output["run_options"] = run_options(args, proc, run_id)
    coffea_path, summary_path = save(output, args.output)
    book = output["bookkeeping"]
    console.result(f"events in fileset {book['events_in']} = processed {book['events_processed']} "
                   f"+ in failed chunks {book['events_failed']} ({seconds:.1f} s, "
                   f"{book['events_processed'] / max(seconds, 1e-9):.0f} events/s)")
    for chunk in book["failed_chunks"]:
        console.result(f"FAILED {chunk['file']} entries {chunk['entry_start']}-{chunk['entry_stop']}: {chunk['error']}")
    for dataset, n in book["nonfinite_jets"].items():
        if n:
            log.warning("dataset %s: %d jets with NaN or infinite kinematics failed the jet quality cut", dataset, n)
    log.info("wrote %s and %s (run %s)", coffea_path, summary_path, run_id)
    return 1 if book["failed_chunks"] else 0
