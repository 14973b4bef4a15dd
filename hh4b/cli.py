"""The `hh4b` command: one subcommand per stage, each implemented in its own module.

Each module named in SUBCOMMANDS provides `add_arguments(parser)` and `main(args) -> int`.
Modules are imported only when their subcommand runs, so `hh4b --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from hh4b import __version__, console
from hh4b.errors import HH4bError

SUBCOMMANDS = {
    "generate": ("hh4b.generate.cli", "generate events with Pythia 8 into NanoAOD-style ROOT files"),
    "xsec": ("hh4b.theory.xsec", "leading-order gg -> hh cross section vs kappa_lambda"),
    "run": ("hh4b.run", "run the coffea processor over a fileset"),
    "limits": ("hh4b.limits", "pyhf limits from processor outputs (same as python -m hh4b.limits)"),
    "export-h5": ("hh4b.nn.export_h5", "write SPA-NET training HDF5 from a fileset"),
    "train": ("hh4b.nn.train_cli", "train SPA-NET, the DNN baseline or the Deep Sets classifier"),
    "evaluate": ("hh4b.nn.evaluate", "pairing and classification metrics of a trained model"),
    "export-onnx": ("hh4b.nn.export_onnx", "export a trained checkpoint to ONNX with a card"),
    "background": ("hh4b.background.cli", "data-driven multijet background: 2b -> 4b reweighting with an ensemble"),
    "report": ("hh4b.report", "markdown report with the paper side by side"),
    "main": ("hh4b.mainjob", "the README's main job: generate if needed, process, limits"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hh4b", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"hh4b {__version__}",
                        help="print the version of hh4b and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    if argv[0] == "--version":
        console.result(f"hh4b {__version__}")
        return 0
    if argv[0] not in SUBCOMMANDS:
        parser.print_usage(sys.stderr)
        console.error(f"hh4b: error: unknown command {argv[0]!r} (choose from {', '.join(SUBCOMMANDS)})")
        return 2
    name, rest = argv[0], argv[1:]
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("hh4b").setLevel(logging.INFO)  # hh4b's messages; other packages' warnings only
    module_name, help_text = SUBCOMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith("hh4b"):
            console.error(f"hh4b {name}: not available in this version ({err.name} missing)")
            return 2
        raise
    sub_parser = argparse.ArgumentParser(prog=f"hh4b {name}", description=help_text)
    module.add_arguments(sub_parser)
    args = sub_parser.parse_args(rest)
    try:
        return int(module.main(args) or 0)
    except HH4bError as err:
        console.error(f"hh4b {name}: error: {err}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
