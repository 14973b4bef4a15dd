"""The `hh4b` command itself: version, unknown subcommands, help that is fast and complete."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import subprocess
import sys

import pytest

import hh4b
from hh4b import cli

HEAVY = ("torch", "coffea", "pyhf", "pythia8")
# the others' --help still loads their libraries (torch, coffea or pyhf at module level)
LIGHT_SUBCOMMANDS = ("generate", "xsec", "run", "export-h5", "train", "report", "main")


def test_version_prints_the_package_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"hh4b {hh4b.__version__}\n"
    assert importlib.metadata.version("hh4b") == hh4b.__version__


def test_unknown_subcommand_is_named_in_the_error(capsys):
    assert cli.main(["frobnicate", "--fast"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'frobnicate'" in err and "export-onnx" in err


def _modules_loaded_by(argv: list[str]) -> list[str]:
    code = ("import json, sys\nfrom hh4b import cli\ntry:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], *([name, "--help"] for name in LIGHT_SUBCOMMANDS)])
def test_help_imports_no_heavy_package(argv):
    assert _modules_loaded_by(argv) == []


@pytest.mark.parametrize("name", list(cli.SUBCOMMANDS))
def test_every_option_has_help_with_its_default(name):
    parser = argparse.ArgumentParser(prog=f"hh4b {name}")
    importlib.import_module(cli.SUBCOMMANDS[name][0]).add_arguments(parser)
    for action in parser._actions:
        label = "/".join(action.option_strings) or action.dest
        assert action.help, f"hh4b {name} {label}: no help text"
        if action.default not in (None, False, "", [], argparse.SUPPRESS):
            assert "default" in action.help, f"hh4b {name} {label}: help does not give the default {action.default!r}"
