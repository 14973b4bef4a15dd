"""Shared fixtures: small generated samples, made once per test session and reused by every test file.

- `sample_file(sample, events=400, seed=1, **options)` -> Path of a generated ROOT file
  (any family of hh4b.generate.generate_file; same arguments -> same cached file).
- `resonant_file(mass=500, events=1000, seed=1)` -> Path (shortcut for the resonant family).
- `small_fileset` -> Path of a fileset.json (coffea shape, metadata filled) with resonant M500,
  qcd and ttbar files of a few hundred events.
Each file takes a few seconds on one core.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURE_EVENTS = 400


@pytest.fixture(scope="session")
def generated_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generated")


@pytest.fixture(scope="session")
def sample_file(generated_dir):
    from hh4b.generate import generate_file

    cache: dict[tuple, tuple[Path, dict]] = {}

    def make(sample: str, events: int = FIXTURE_EVENTS, seed: int = 1, **options) -> Path:
        key = (sample, events, seed, tuple(sorted(options.items())))
        if key not in cache:
            tag = "_".join(f"{k}{v}" for k, v in sorted(options.items()) if k != "lhe")
            path = generated_dir / f"{sample}_{tag}_n{events}_s{seed}.root"
            metadata = generate_file(sample, path, events, seed, progress=False, **options)
            cache[key] = (path, metadata)
        return cache[key][0]

    make.metadata = lambda path: next(md for p, md in cache.values() if p == path)
    return make


@pytest.fixture(scope="session")
def resonant_file(sample_file):
    def make(mass: float = 500.0, events: int = 1000, seed: int = 1) -> Path:
        return sample_file("resonant", events=events, seed=seed, mass=float(mass))

    return make


@pytest.fixture(scope="session")
def small_fileset(sample_file, generated_dir) -> Path:
    datasets = {
        "resonant_M500": ("resonant", {"mass": 500.0}, "70"),
        "qcd": ("qcd", {}, "70"),
        "ttbar": ("ttbar", {}, "70"),
    }
    fileset = {}
    for name, (sample, options, wp) in datasets.items():
        path = sample_file(sample, **options)
        md = sample_file.metadata(path)
        fileset[name] = {"files": {str(path): "Events"}, "metadata": {
            "process": md["process"], "xsec_pb": md["xsec_pb"], "br_forced": md["br_forced"], "sumw": md["sumw"],
            "n_events": md["n_events"],
            "btag_wp": wp, "sqrt_s": md["sqrt_s"], "seed": md["seed"], **options,
            "generate": {"sample": sample, "events": md["n_events"], "seed": md["seed"], **options}}}
    out = generated_dir / "small_fileset.json"
    out.write_text(json.dumps(fileset, indent=2))
    return out
