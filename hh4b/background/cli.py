"""`hh4b background OUTPUT_DIR`: train the 2b -> 4b reweighters on a `hh4b run --save-columns` output,
validate them, export them to ONNX and apply them in a processor pass (hh4b.background.datadriven)."""

from __future__ import annotations

import logging
import time

from hh4b import console
from hh4b.background.datadriven import (
    bkgmodel_histogram,
    check_scored_two_tag,
    gather_columns,
    multijet_columns,
    processor_pass,
    run_config,
    save_models,
    train_models,
)
from hh4b.background.model import HIST_NAME
from hh4b.background.reweighter import ReweightConfig
from hh4b.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("output_dir", help="directory with output.coffea from `hh4b run --save-columns`")
    parser.add_argument("--method", action="append", help="pairing/selection method(s) to model (default: cut_mindr)")
    parser.add_argument("--ensemble", type=int, default=10,
                        help="bootstrap retrainings (talk: 100; default %(default)s)")
    parser.add_argument("--epochs", type=int, default=ReweightConfig.epochs,
                        help="max epochs per training (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every training and bootstrap")
    parser.add_argument("--fileset", default=None,
                        help="fileset of the processor pass that applies the models (default: the one `hh4b run` used)")
    parser.add_argument("--workers", type=int, default=2, help="processor worker processes (default: %(default)s)")
    parser.add_argument("--no-validation", action="store_true",
                        help="skip the 3-tag and shifted-centre validation trainings")


def _run_options(output: dict, path, fileset) -> dict:
    options = output.get("run_options")
    if not options:
        raise InputFileError(f"{path}: no run_options (made by an older `hh4b run`): rerun `hh4b run --save-columns`")
    if fileset is not None:
        options = {**options, "fileset": str(fileset)}
    return options


def main(args) -> int:
    import shutil
    from pathlib import Path

    from coffea.util import load, save

    from hh4b.background.validation import check_processor_fill, template_stat, validation_table, write_report

    if args.ensemble < 0 or args.workers < 1:
        raise ConfigError("--ensemble must be >= 0 and --workers >= 1")
    path = Path(args.output_dir) / "output.coffea"
    if not path.is_file():
        raise InputFileError(f"{path}: not found (run `hh4b run --save-columns` first)")
    output = load(path)
    options = _run_options(output, path, args.fileset)
    analysis = run_config(options)
    columns = gather_columns(output)
    config = ReweightConfig(epochs=args.epochs)
    report_dir = Path(args.output_dir) / "background"
    models_dir = report_dir / "models"
    shutil.rmtree(models_dir, ignore_errors=True)
    methods, rows, reference, timings, process = args.method or ["cut_mindr"], {}, {}, {}, None
    check_scored_two_tag(options, methods)
    for method in methods:
        selected, datasets, process = multijet_columns(columns, output.get("metadata", {}), method)
        start = time.perf_counter()
        models = train_models(selected, args.ensemble, config, args.seed)
        timings[f"train {method} ({len(models)} models)"] = time.perf_counter() - start
        save_models(models, models_dir, method, card={
            "process": process, "trained_on": datasets, "seed": args.seed, "dhh_centre": list(analysis.dhh_centre),
            "btag_wp": analysis.fixed_working_point, "epochs": args.epochs})
        start = time.perf_counter()
        rows[method] = validation_table(selected, models, config, args.seed, analysis.dhh_centre,
                                        extra=not args.no_validation)
        timings[f"validation {method}"] = time.perf_counter() - start
        reference[method] = bkgmodel_histogram(selected, models, method)
    start = time.perf_counter()
    h = processor_pass(options, options["fileset"], process, methods, models_dir, args.workers)
    timings["processor pass"] = time.perf_counter() - start
    output["hists"][HIST_NAME] = h
    for method in methods:
        deviation = check_processor_fill(h, reference[method], method)
        stat = template_stat(h, method)
        write_report(report_dir, method, rows[method], stat, deviation, timings)
        for r in rows[method]:
            console.result(f"{method} {r['region']:>17}: observed {r['observed']:.4g} +- {r['observed_err']:.2g}, "
                           f"predicted {r['predicted']:.4g} +- {r['predicted_stat']:.2g} (stat), "
                           f"non-closure {r['non_closure_pct']:.1f} +- {r['non_closure_err_pct']:.1f} %")
        console.result(f"{method}: processor fill vs torch on the columns, largest relative bin difference "
                       f"{deviation:.1e}; SR template stat. uncertainty per bin {stat['summary']}")
    save(output, path)
    log.info("timings: %s", ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    log.info("wrote %s (processor pass with %s) into %s and validation tables under %s", HIST_NAME, models_dir, path,
             report_dir)
    return 0
