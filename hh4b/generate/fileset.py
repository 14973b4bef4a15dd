"""fileset.json (coffea's shape) and `hh4b generate --fileset`: make every missing file with Dask.

Each dataset's `metadata.generate` block says how to (re)make its files:
`{"sample": ..., "events": N, "seed": S, "mass"/"kappa_lambda"/"lhe"/...: ...}` (`"heft_mixture": true`:
a non-resonant sample at the five-coupling mixture, `hh4b generate --heft-mixture`); the k-th file of
a dataset uses seed S + k. Relative file paths are taken relative to the fileset's folder.
Missing files become Dask tasks (a LocalCluster by default, any scheduler by address, or batch jobs
of a dask-jobqueue configuration, hh4b.jobqueue); when
they are done, the metadata (xsec_pb, br_forced, sumw, n_events, sqrt_s, seed, and heft_generation of
mixture files) of every dataset whose files all exist is refreshed from the files and the fileset is
rewritten in place.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from tqdm import tqdm

from hh4b.config import PROCESSES
from hh4b.errors import ConfigError, InputFileError

START_TIMEOUT_S = 60.0
QCD4B_OPTIONS = ("shower_veto", "jet_filter", "higgs_window")
GENERATE_OPTIONS = ("mass", "kappa_lambda", "lhe", "sqrt_s", "xsec_pb", "process", "scheme", "heft_mixture",
                    *QCD4B_OPTIONS)


def load_fileset(path: str | os.PathLike) -> dict:
    """The fileset as written (paths unresolved), read and checked by the one fileset loader
    (hh4b.analysis.processing.load_fileset), with the generation's checks on top; errors name the
    file and the dataset at fault."""
    from hh4b.analysis.processing import load_fileset as read

    path = Path(path)
    fileset = read(path, resolve_paths=False)
    for name, dataset in fileset.items():
        _validate_dataset(path, name, dataset)
    return fileset


def _validate_dataset(path: Path, name: str, dataset) -> None:
    where = f"fileset {path}, dataset {name!r}"
    if not isinstance(dataset, dict) or not isinstance(dataset.get("files"), dict) or not dataset["files"]:
        raise InputFileError(f"{where}: needs a non-empty 'files' object {{path: 'Events'}}")
    metadata = dataset.get("metadata", {})
    if metadata.get("process") not in PROCESSES:
        raise InputFileError(f"{where}: metadata.process must be one of {', '.join(PROCESSES)}")
    generate = metadata.get("generate")
    if generate is not None:
        for key in ("sample", "events", "seed"):
            if key not in generate:
                raise InputFileError(f"{where}: metadata.generate lacks {key!r}")


def resolve(fileset_path: str | os.PathLike, file: str) -> Path:
    """A fileset entry's path on disk (relative entries are relative to the fileset's folder)."""
    p = Path(file)
    return p if p.is_absolute() else Path(fileset_path).resolve().parent / p


def missing_jobs(fileset_path: str | os.PathLike, fileset: dict) -> list[dict]:
    """generate_file keyword sets for every file that does not exist yet."""
    jobs = []
    for name, dataset in fileset.items():
        for k, file in enumerate(dataset["files"]):
            target = resolve(fileset_path, file)
            if target.exists():
                continue
            generate = dataset["metadata"].get("generate")
            if generate is None:
                raise InputFileError(f"fileset {fileset_path}: {file} of dataset {name!r} is missing and has no "
                                     "metadata.generate block to make it")
            options = {key: generate[key] for key in GENERATE_OPTIONS if key in generate}
            for option in QCD4B_OPTIONS:
                if option in options and generate["sample"] != "qcd4b":
                    raise ConfigError(f"fileset {fileset_path}: dataset {name!r}: generate option {option} "
                                      f"applies to sample qcd4b only, not {generate['sample']!r}")
            _check_heft_mixture(fileset_path, name, generate)
            jobs.append({"sample": generate["sample"], "output": str(target), "events": int(generate["events"]),
                         "seed": int(generate["seed"]) + k, "progress": False, **options})
    return jobs


def _check_heft_mixture(fileset_path, name: str, generate: dict) -> None:
    """The generate option heft_mixture is true or false, and true only for sample nonresonant without kappa_lambda."""
    where = f"fileset {fileset_path}: dataset {name!r}: generate option heft_mixture"
    value = generate.get("heft_mixture", False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, not {value!r}")
    if value and generate["sample"] != "nonresonant":
        raise ConfigError(f"{where} applies to sample nonresonant only, not {generate['sample']!r}")
    if value and "kappa_lambda" in generate:
        raise ConfigError(f"{where} and kappa_lambda: give one (the mixture sets all five couplings)")


def _run_job(job: dict) -> str:
    if job["sample"] == "qcd4b":
        from hh4b.generate.qcd4b import generate_qcd4b

        options = {k: v for k, v in job.items() if k not in ("sample", "output", "events", "seed", "mass",
                                                                "kappa_lambda", "lhe", "process", "xsec_pb",
                                                                "heft_mixture")}
        generate_qcd4b(job["output"], job["events"], job["seed"], **options)
    else:
        from hh4b.generate.pythia_driver import generate_file

        generate_file(**job)
    return job["output"]


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int, jobqueue: str | os.PathLike | None, timeout: float):
    """A Client on the scheduler, on `workers` batch jobs of the jobqueue file, or on a LocalCluster."""
    from distributed import Client, LocalCluster

    from hh4b.jobqueue import cluster_client

    if jobqueue is not None:
        with cluster_client(jobqueue, workers, timeout) as client:
            yield client
        return
    cluster = None if scheduler else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                  dashboard_address=":0")
    client = Client(scheduler or cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_jobs(jobs: list[dict], scheduler: str | None = None, workers: int = 2, progress: bool = True,
             jobqueue: str | os.PathLike | None = None, timeout: float = START_TIMEOUT_S) -> list[str]:
    """Run generate_file jobs as Dask tasks with a progress bar; returns the files written. With
    `jobqueue`, the workers are batch jobs, and none started after `timeout` seconds is an error."""
    if not jobs:
        return []
    from distributed import as_completed

    done = []
    with _client(scheduler, workers, jobqueue, timeout) as client:
        futures = [client.submit(_run_job, job, key=f"generate-{Path(job['output']).name}", pure=False) for job in jobs]
        with tqdm(total=len(futures), desc="generate", unit="file", disable=not progress) as bar:
            for future in as_completed(futures):
                done.append(future.result())
                bar.update(1)
    return done


def refresh_metadata(fileset_path: str | os.PathLike, fileset: dict) -> dict:
    """Copy xsec_pb, br_forced, sumw, n_events, sqrt_s, seed from the files into each complete dataset,
    and the files' heft_generation (how a five-coupling mixture sample was generated, which the
    analysis reweights from) when they have one."""
    from hh4b.generate.writer import read_metadata

    for dataset in fileset.values():
        paths = [resolve(fileset_path, f) for f in dataset["files"]]
        if not all(p.exists() for p in paths):
            continue
        try:
            found = [read_metadata(p) for p in paths]
        except (OSError, KeyError, ValueError):
            continue  # not a file of ours (e.g. real NanoAOD): leave its metadata alone
        md = dataset["metadata"]
        md["xsec_pb"] = sum(m["xsec_pb"] for m in found) / len(found)
        md["br_forced"] = found[0]["br_forced"]
        md["sumw"] = sum(m["sumw"] for m in found)
        md["n_events"] = sum(m["n_events"] for m in found)
        md["sqrt_s"] = found[0]["sqrt_s"]
        md["seed"] = found[0]["seed"]
        generations = [m.get("heft_generation") for m in found]
        if any(g is not None for g in generations):
            if any(g != generations[0] for g in generations):
                raise InputFileError(f"fileset {fileset_path}: the files of one dataset were generated at different "
                                     "five-coupling mixtures (metadata heft_generation)")
            md["heft_generation"] = generations[0]
    return fileset


def write_fileset(path: str | os.PathLike, fileset: dict) -> None:
    """Rewrite the fileset atomically (temporary file + rename)."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(fileset, indent=2) + "\n")
    os.replace(tmp, path)


def materialise(fileset_path: str | os.PathLike, scheduler: str | None = None, workers: int = 2,
                progress: bool = True, jobqueue: str | os.PathLike | None = None,
                timeout: float = START_TIMEOUT_S) -> list[str]:
    """Generate every missing file of the fileset, then refresh its metadata; returns new files."""
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if scheduler and jobqueue:
        raise ConfigError("--scheduler and --jobqueue/--cluster: give one")
    fileset = load_fileset(fileset_path)
    made = run_jobs(missing_jobs(fileset_path, fileset), scheduler, workers, progress, jobqueue, timeout)
    write_fileset(fileset_path, refresh_metadata(fileset_path, fileset))
    return made
