"""`hh4b main`: the README's main job on the built-in default fileset.

Chains the stages through their own subcommands, so it does exactly what a person typing them
would: materialise missing files of the fileset, run the processor, compute limits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hh4b.errors import HH4bError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fileset", default="fileset.json", help="fileset to process (default: %(default)s)")
    parser.add_argument("--output", default="outputs", help="directory for histograms, limits and report")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes (default: %(default)s)")
    parser.add_argument("--lumi", type=float, default=300.0, help="integrated luminosity in fb^-1 for the limits")
    parser.add_argument("--sqrt-s", type=float, default=14000.0, help="centre-of-mass energy of the limits in GeV")


def _stage(argv: list[str]) -> None:
    from hh4b.cli import main as cli_main

    print(f"==> hh4b {' '.join(argv)}", flush=True)
    status = cli_main(argv)
    if status:
        raise HH4bError(f"stage `hh4b {argv[0]}` failed with status {status}")


def main(args: argparse.Namespace) -> int:
    output = Path(args.output)
    workers = str(args.workers)
    _stage(["generate", "--fileset", args.fileset, "--workers", workers])
    _stage(["run", args.fileset, "--executor", "futures", "--workers", workers, "--output", str(output)])
    _stage(["limits", str(output), "--lumi", str(args.lumi), "--sqrt-s", str(args.sqrt_s),
            "--report", str(output / "limits")])
    print(f"main job done: histograms in {output}/, limits and plots in {output / 'limits'}/")
    return 0
